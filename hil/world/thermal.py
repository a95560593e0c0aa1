"""Lumped thermal network: chip, payload plate (the radiator), battery.

Each node obeys FIELD_NOTES "Thermal": C·dT/dt = P_elec + absorbed - ε·sigma·A·(T⁴ - T_sink⁴)
± Σ G·ΔT, with sigma = 5.670e-8 W/m²K⁴ and ε = 0.88.

- chip (C ≈ 1500 J/K): takes the compute power; conducts to the plate through G ≈ 18 W/K.
  At full compute (900 W) the chip sits ~50 K over the plate, well above an 85 °C limit;
  at ~85 % duty it sits near 80 °C (see docs/world.md for the numbers).
- plate (C ≈ 25 000 J/K): the payload plate is the radiator (2.0 m², ε 0.88, alpha_solar 0.2).
  Takes the other bus loads, absorbed sunlight on its sun-facing fraction, albedo (0.3) and
  Earth IR (237 W/m²) through its view factor to the Earth (Gilmore, *Spacecraft Thermal
  Control Handbook*, ch. 2: orbit-average albedo 0.3, OLR 237 W/m²).
- battery (C ≈ 8000 J/K): weakly coupled to the plate (0.2 W/K), with a small radiator of its
  own facing deep space; takes the battery losses and its 30 W heater. Its time constant is
  hours: with compute shed the plate runs cold and the battery drifts down through 0 °C unless
  the heater runs.

Integration: explicit Euler with sub-steps no longer than half the smallest node time constant
(linearised radiation at ≥ 400 K), so it is stable and non-oscillating for any step; at steady
state Euler has exactly the true fixed point. Plain floats: for three nodes they are ~10x faster
than numpy arrays.

Radiator degradation (a fault knob) scales the plate's ε·A for emission and for Earth-IR
absorption (Kirchhoff), not its solar absorption.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hil.world.constants import (
    EARTH_ALBEDO,
    EARTH_IR_W_M2,
    SIGMA_W_M2_K4,
    SOLAR_CONSTANT_W_M2,
    T_SINK_K,
    ZERO_C_K,
)

NODES = ("chip", "plate", "battery")
_T_REF_K = 400.0


@dataclass(frozen=True)
class ThermalConfig:
    """Thermal design. Heat capacities J/K, conductances W/K, areas m², fractions 0..1."""

    chip_heat_capacity_j_k: float = 1500.0
    plate_heat_capacity_j_k: float = 25000.0
    battery_heat_capacity_j_k: float = 8000.0
    chip_plate_w_k: float = 18.0
    battery_plate_w_k: float = 0.2
    radiator_area_m2: float = 2.0
    radiator_emissivity: float = 0.88
    radiator_absorptivity: float = 0.2
    radiator_sun_fraction: float = 0.1
    radiator_earth_view: float = 0.1
    battery_radiator_area_m2: float = 0.05
    battery_emissivity: float = 0.88
    albedo: float = EARTH_ALBEDO
    earth_ir_w_m2: float = EARTH_IR_W_M2
    sink_temp_k: float = T_SINK_K
    initial_temp_c: float = 20.0

    def __post_init__(self) -> None:
        for name in ("chip_heat_capacity_j_k", "plate_heat_capacity_j_k",
                     "battery_heat_capacity_j_k"):
            if not getattr(self, name) > 0.0:
                raise ValueError(f"{name} must be > 0")
        for name in ("chip_plate_w_k", "battery_plate_w_k", "radiator_area_m2",
                     "battery_radiator_area_m2", "earth_ir_w_m2", "sink_temp_k"):
            if not getattr(self, name) >= 0.0:
                raise ValueError(f"{name} must be >= 0")
        for name in ("radiator_emissivity", "radiator_absorptivity", "radiator_sun_fraction",
                     "radiator_earth_view", "battery_emissivity", "albedo"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within 0..1")


class ThermalNetwork:
    """Node temperatures (K) and their integration; see the module docstring."""

    def __init__(self, config: ThermalConfig) -> None:
        self.config = config
        t0 = config.initial_temp_c + ZERO_C_K
        self.t_chip = self.t_plate = self.t_battery = t0
        self.radiator_degradation = 0.0
        self._recompute()

    def _recompute(self) -> None:
        """Precompute the radiative couplings (W/K⁴) and the constant environment terms."""
        c = self.config
        keep = 1.0 - self.radiator_degradation
        self._k_plate = c.radiator_emissivity * keep * SIGMA_W_M2_K4 * c.radiator_area_m2
        self._k_batt = c.battery_emissivity * SIGMA_W_M2_K4 * c.battery_radiator_area_m2
        self._ts4 = c.sink_temp_k ** 4
        # Earth IR absorbed (absorptivity = emissivity in the IR); solar and albedo
        # coefficients, to be multiplied by S·(1/r)².
        self._ir_w = (c.radiator_emissivity * keep * c.earth_ir_w_m2 * c.radiator_area_m2
                      * c.radiator_earth_view)
        self._sun_w = c.radiator_absorptivity * c.radiator_area_m2 * c.radiator_sun_fraction
        self._alb_w = (c.radiator_absorptivity * c.radiator_area_m2 * c.radiator_earth_view
                       * c.albedo)

    def set_radiator_degradation(self, fraction: float) -> None:
        """Lose ``fraction`` (0..1) of the radiator's effective ε·A (coating damage, blockage)."""
        if not 0.0 <= fraction <= 1.0:
            raise ValueError("radiator degradation must be within 0..1")
        self.radiator_degradation = float(fraction)
        self._recompute()

    def environment_w(self, in_sun: bool, flux_factor: float, cos_zenith: float) -> float:
        """Heat absorbed by the plate from the Sun, albedo and Earth IR, W.

        ``cos_zenith`` is r̂·ŝ, the cosine of the sun's zenith angle at the sub-satellite point:
        albedo scales with it and vanishes over the night side.
        """
        q = self._ir_w
        s = SOLAR_CONSTANT_W_M2 * flux_factor
        if in_sun:
            q += self._sun_w * s
        if cos_zenith > 0.0:
            q += self._alb_w * s * cos_zenith
        return q

    def _max_substep_s(self) -> float:
        """Half the smallest node time constant, radiation linearised at ≥ 400 K."""
        c = self.config
        t = max(_T_REF_K, self.t_plate, self.t_battery)
        rad = 4.0 * t * t * t
        rates = (
            c.chip_plate_w_k / c.chip_heat_capacity_j_k,
            (c.chip_plate_w_k + c.battery_plate_w_k + self._k_plate * rad)
            / c.plate_heat_capacity_j_k,
            (c.battery_plate_w_k + self._k_batt * rad) / c.battery_heat_capacity_j_k,
        )
        k = max(rates)
        return math.inf if k <= 0.0 else 0.5 / k

    def step(self, dt_s: float, chip_w: float, plate_w: float, battery_w: float,
             env_w: float, chip_held_k: float | None = None) -> None:
        """Advance ``dt_s`` with constant heat inputs (W) per node and plate environment ``env_w``.

        ``chip_held_k``: a measured chip temperature (co-simulation). The chip node is held at it;
        its heat flow into the plate follows from it, and ``chip_w`` is ignored.
        """
        c = self.config
        n = max(1, math.ceil(dt_s / self._max_substep_s()))
        h = dt_s / n
        g_cp, g_bp = c.chip_plate_w_k, c.battery_plate_w_k
        hc = h / c.chip_heat_capacity_j_k
        hp = h / c.plate_heat_capacity_j_k
        hb = h / c.battery_heat_capacity_j_k
        k_p, k_b, ts4 = self._k_plate, self._k_batt, self._ts4
        tc, tp, tb = self.t_chip, self.t_plate, self.t_battery
        if chip_held_k is not None:
            tc = chip_held_k
        plate_in = plate_w + env_w
        for _ in range(n):
            q_cp = g_cp * (tc - tp)
            q_bp = g_bp * (tb - tp)
            tp2 = tp * tp
            tb2 = tb * tb
            d_p = (plate_in + q_cp + q_bp - k_p * (tp2 * tp2 - ts4)) * hp
            d_b = (battery_w - q_bp - k_b * (tb2 * tb2 - ts4)) * hb
            if chip_held_k is None:
                tc += (chip_w - q_cp) * hc
            tp += d_p
            tb += d_b
        self.t_chip, self.t_plate, self.t_battery = tc, tp, tb
