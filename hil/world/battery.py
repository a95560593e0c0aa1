"""Li-ion battery and the power bus that routes solar power to loads and battery.

State of charge follows FIELD_NOTES "Power": SoC += (η_c·P_charge - P_discharge/η_d)·dt/E_Wh,
clamped to [0, 1]. The state kept is the stored energy (Wh); SoC is energy / current capacity.
Routing (a direct-energy-transfer bus with a charge regulator):

1. the array feeds the loads first;
2. a surplus charges the battery, up to ``max_charge_w`` and up to what fills it this step;
   the rest is curtailed (the array is off-pointed or shunted) and counted;
3. a deficit is drawn from the battery, up to ``max_discharge_w`` and what it holds; whatever
   is still missing is unmet: a brownout, counted with its energy.

Because charge and discharge are limited to what fits, the clamp never throws energy away, and
the energy ledger closes exactly: ΔE = solar used - load delivered - losses.

Terminal voltage: an 8-series Li-ion open-circuit curve (3.0 V/cell empty .. 4.2 V/cell full,
with the usual knee below 10 % and the flat plateau around 3.6-3.8 V), plus I·R_internal.
The η factors carry all conversion and I²R losses; the resistance only shapes the voltage.

Capacity fade removes a fraction of the nameplate capacity; the stored energy is kept (clamped
to the new capacity, the clipped part counted as ``fade_lost_wh``), so SoC jumps up when the
battery fades, as a coulomb-counting gauge re-learning its capacity would show.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import NamedTuple

#: Per-cell open-circuit voltage against SoC: knee below 10 %, plateau, rise to 4.2 V.
_OCV_SOC = (0.0, 0.05, 0.10, 0.20, 0.40, 0.60, 0.80, 0.95, 1.0)
_OCV_CELL_V = (3.00, 3.30, 3.45, 3.55, 3.65, 3.78, 3.95, 4.10, 4.20)


def ocv_v(soc: float, cells_series: int = 8) -> float:
    """Open-circuit pack voltage, piecewise linear (8s: 24.0 V empty .. 33.6 V full)."""
    soc = 0.0 if soc < 0.0 else min(soc, 1.0)
    i = max(1, bisect.bisect_left(_OCV_SOC, soc))
    s0, s1 = _OCV_SOC[i - 1], _OCV_SOC[i]
    v0, v1 = _OCV_CELL_V[i - 1], _OCV_CELL_V[i]
    return cells_series * (v0 + (v1 - v0) * (soc - s0) / (s1 - s0))


@dataclass(frozen=True)
class BatteryConfig:
    """Battery design. Energies Wh, powers W, resistance Ω; efficiencies and SoC fractions."""

    capacity_wh: float = 800.0
    initial_soc: float = 0.9
    eta_charge: float = 0.95
    eta_discharge: float = 0.95
    max_charge_w: float = 400.0
    max_discharge_w: float = 1500.0
    cells_series: int = 8
    internal_resistance_ohm: float = 0.08
    fade: float = 0.0

    def __post_init__(self) -> None:
        if not self.capacity_wh > 0.0:
            raise ValueError("battery capacity must be > 0 Wh")
        if not 0.0 <= self.initial_soc <= 1.0:
            raise ValueError("initial_soc must be within 0..1")
        if not (0.0 < self.eta_charge <= 1.0 and 0.0 < self.eta_discharge <= 1.0):
            raise ValueError("battery efficiencies must be within (0, 1]")
        if not (self.max_charge_w >= 0.0 and self.max_discharge_w >= 0.0):
            raise ValueError("battery power limits must be >= 0")
        if not 0.0 <= self.fade < 1.0:
            raise ValueError("fade must be within [0, 1)")


class PowerFlow(NamedTuple):
    """Bus powers over one step, W. ``charge_w``/``discharge_w`` are on the bus side."""

    solar_available_w: float
    solar_used_w: float
    load_requested_w: float
    load_delivered_w: float
    charge_w: float
    discharge_w: float
    loss_w: float
    curtailed_w: float
    unmet_w: float


class Battery:
    """Stored energy and the bus routing of one step (see the module docstring)."""

    def __init__(self, config: BatteryConfig) -> None:
        self.config = config
        self.fade = config.fade
        self.capacity_wh = config.capacity_wh * (1.0 - self.fade)
        self.energy_wh = config.initial_soc * self.capacity_wh

    @property
    def soc(self) -> float:
        """State of charge, 0..1, against the current (faded) capacity."""
        return self.energy_wh / self.capacity_wh

    def set_fade(self, fraction: float) -> float:
        """Lose ``fraction`` of the nameplate capacity (absolute, 0..<1); returns Wh clipped."""
        if not 0.0 <= fraction < 1.0:
            raise ValueError("fade must be within [0, 1)")
        self.fade = float(fraction)
        self.capacity_wh = self.config.capacity_wh * (1.0 - self.fade)
        lost = max(0.0, self.energy_wh - self.capacity_wh)
        self.energy_wh -= lost
        return lost

    def route(self, solar_w: float, load_w: float, dt_s: float) -> PowerFlow:
        """How ``solar_w`` and the battery would serve ``load_w`` for ``dt_s`` s (no change)."""
        c = self.config
        surplus = solar_w - load_w
        charge = discharge = curtailed = unmet = 0.0
        if surplus >= 0.0:
            room_w = (self.capacity_wh - self.energy_wh) * 3600.0 / (c.eta_charge * dt_s)
            charge = min(surplus, c.max_charge_w, max(0.0, room_w))
            curtailed = surplus - charge
            solar_used = load_w + charge
        else:
            held_w = self.energy_wh * 3600.0 * c.eta_discharge / dt_s
            discharge = min(-surplus, c.max_discharge_w, held_w)
            unmet = -surplus - discharge
            solar_used = solar_w
        loss = (1.0 - c.eta_charge) * charge + discharge * (1.0 / c.eta_discharge - 1.0)
        return PowerFlow(solar_w, solar_used, load_w, load_w - unmet, charge, discharge, loss,
                         curtailed, unmet)

    def step(self, solar_w: float, load_w: float, dt_s: float) -> PowerFlow:
        """Route power for ``dt_s`` seconds (see :meth:`route`) and update the stored energy."""
        c = self.config
        flow = self.route(solar_w, load_w, dt_s)
        e = self.energy_wh + (c.eta_charge * flow.charge_w
                              - flow.discharge_w / c.eta_discharge) * dt_s / 3600.0
        # Guard only against rounding: route() already keeps the energy in range.
        self.energy_wh = min(self.capacity_wh, max(0.0, e))
        return flow

    def terminal(self, charge_w: float, discharge_w: float) -> tuple[float, float]:
        """Terminal voltage and current (+ = charging) for the bus-side battery power.

        Solves P = I·(OCV + I·R) for I, i.e. the voltage sags with discharge current and rises
        with charge current. Where no real solution exists (more power than the cell can give
        through R), the current at maximum power is returned.
        """
        ocv = ocv_v(self.soc, self.config.cells_series)
        r = self.config.internal_resistance_ohm
        p = charge_w - discharge_w
        if r <= 0.0:
            current = p / ocv
        else:
            disc = ocv * ocv + 4.0 * r * p
            current = (-ocv + math.sqrt(max(0.0, disc))) / (2.0 * r)
        return ocv + current * r, current
