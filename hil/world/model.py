"""The coupled world: orbit, sun, eclipse, power, thermal, radiation, stations, in one model.

``World`` is a pure, deterministic model: no bus, no processes, no wall clock. The world app
(a separate process) owns one, calls :meth:`World.step` with the onboard inputs, publishes
:meth:`World.sensors` and the upsets, and saves :meth:`World.state` for restarts.

Each internal step of ``step_s`` seconds evaluates the geometry at the *end* of the step (so
the sensors after a step describe the current time), routes power (solar → loads → battery),
integrates the thermal network with the step's heat inputs, and draws upsets.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from hil.world.battery import Battery, BatteryConfig, PowerFlow
from hil.world.constants import BITS_PER_KIB, BITS_PER_MIB, ZERO_C_K
from hil.world.eclipse import eclipse_fraction, in_shadow
from hil.world.loads import BATTERY_HEATER, COMPUTE, DEFAULT_LOADS, LoadBank, LoadSpec
from hil.world.orbit import (
    CircularOrbit,
    OrbitConfig,
    eci_to_ecef,
    gmst_rad,
)
from hil.world.radiation import RadiationConfig, RadiationModel, Upset, restore_rng, rng_state
from hil.world.saa import SaaRegion
from hil.world.solar import ArrayConfig, SolarArray
from hil.world.stations import in_contact, stations_from_names
from hil.world.sun import sun_state
from hil.world.thermal import ThermalConfig, ThermalNetwork

STATE_VERSION = 1
_RAD2DEG = 180.0 / math.pi


# --------------------------------------------------------------------------- configuration

def _opt_float(value: Any) -> float | None:
    """None, '' and 'sso'/'none' mean "not set" (e.g. inclination → sun-synchronous)."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "sso", "none")):
        return None
    return float(value)


def _names(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(p.strip() for p in value.split(",") if p.strip())
    return tuple(str(v).strip() for v in value)


def _regions(value: Any) -> tuple[tuple[str, int], ...]:
    """'jobs=8MiB,tables=64KiB,x=4096' (bits, or KiB/MiB of bytes) or a mapping name → bits."""
    if isinstance(value, Mapping):
        return tuple((str(k), int(v)) for k, v in value.items())
    out = []
    for part in str(value).split(","):
        if not part.strip():
            continue
        name, _, size = part.partition("=")
        size = size.strip()
        if size.lower().endswith("mib"):
            bits = int(float(size[:-3]) * BITS_PER_MIB)
        elif size.lower().endswith("kib"):
            bits = int(float(size[:-3]) * BITS_PER_KIB)
        else:
            bits = int(size)
        out.append((name.strip(), bits))
    return tuple(out)


#: flat key → (section of WorldConfig or None for top level, field name, converter)
FLAT_KEYS: dict[str, tuple[str | None, str, Any]] = {
    "altitude_km": ("orbit", "altitude_km", float),
    "inclination_deg": ("orbit", "inclination_deg", _opt_float),
    "ltan_h": ("orbit", "ltan_h", float),
    "raan_deg": ("orbit", "raan_deg", _opt_float),
    "arg_latitude_deg": ("orbit", "arg_latitude_deg", float),
    "array_area_m2": ("array", "area_m2", float),
    "array_efficiency": ("array", "efficiency", float),
    "packing_factor": ("array", "packing_factor", float),
    "degradation_per_year": ("array", "degradation_per_year", float),
    "years_in_orbit": ("array", "years_in_orbit", float),
    "strings": ("array", "strings", int),
    "failed_strings": ("array", "failed_strings", int),
    "pointing": ("array", "pointing", str),
    "pointing_error_deg": ("array", "pointing_error_deg", float),
    "battery_capacity_wh": ("battery", "capacity_wh", float),
    "initial_soc": ("battery", "initial_soc", float),
    "eta_charge": ("battery", "eta_charge", float),
    "eta_discharge": ("battery", "eta_discharge", float),
    "max_charge_w": ("battery", "max_charge_w", float),
    "max_discharge_w": ("battery", "max_discharge_w", float),
    "cells_series": ("battery", "cells_series", int),
    "internal_resistance_ohm": ("battery", "internal_resistance_ohm", float),
    "battery_fade": ("battery", "fade", float),
    "chip_heat_capacity_j_k": ("thermal", "chip_heat_capacity_j_k", float),
    "plate_heat_capacity_j_k": ("thermal", "plate_heat_capacity_j_k", float),
    "battery_heat_capacity_j_k": ("thermal", "battery_heat_capacity_j_k", float),
    "chip_plate_w_k": ("thermal", "chip_plate_w_k", float),
    "battery_plate_w_k": ("thermal", "battery_plate_w_k", float),
    "radiator_area_m2": ("thermal", "radiator_area_m2", float),
    "radiator_emissivity": ("thermal", "radiator_emissivity", float),
    "radiator_absorptivity": ("thermal", "radiator_absorptivity", float),
    "radiator_sun_fraction": ("thermal", "radiator_sun_fraction", float),
    "radiator_earth_view": ("thermal", "radiator_earth_view", float),
    "battery_radiator_area_m2": ("thermal", "battery_radiator_area_m2", float),
    "battery_emissivity": ("thermal", "battery_emissivity", float),
    "albedo": ("thermal", "albedo", float),
    "earth_ir_w_m2": ("thermal", "earth_ir_w_m2", float),
    "sink_temp_k": ("thermal", "sink_temp_k", float),
    "initial_temp_c": ("thermal", "initial_temp_c", float),
    "upset_rate_per_bit_day": ("radiation", "upset_rate_per_bit_day", float),
    "saa_multiplier": ("radiation", "saa_multiplier", float),
    "memory_regions": ("radiation", "regions", _regions),
    "saa_center_lat_deg": ("saa", "center_lat_deg", float),
    "saa_center_lon_deg": ("saa", "center_lon_deg", float),
    "saa_semi_lat_deg": ("saa", "semi_lat_deg", float),
    "saa_semi_lon_deg": ("saa", "semi_lon_deg", float),
    "compute_max_w": ("loads", COMPUTE, float),
    "stations": (None, "stations", _names),
    "seed": (None, "seed", int),
    "step_s": (None, "step_s", float),
}


@dataclass(frozen=True)
class WorldConfig:
    """Everything that defines a world run; a tree of per-model dataclasses.

    Defaults (FIELD_NOTES-consistent, see docs/world.md): 650 km dawn-dusk SSO (LTAN 18:00);
    4.0 m² array, η 0.298, packing 0.9, sun-tracking (≈1460 W at 1 AU), 8 strings; 800 Wh
    battery, η 0.95/0.95, ≤400 W charge, ≤1500 W discharge, SoC 0.9; 2.0 m² radiator ε 0.88
    alpha 0.2; chip 1500 J/K with 18 W/K to the plate; plate 25 000 J/K; battery 8000 J/K with
    0.2 W/K to the plate; all nodes at 20 °C; upsets 4e-7 /bit/day x50 in the SAA over
    jobs 8 MiB, checkpoints 8 MiB, tables 64 KiB; stations svalbard and troll; seed 0; 1 s step.

    :meth:`from_flat` accepts these flat keys (units in the names):

    - orbit: ``altitude_km``, ``inclination_deg`` (None/absent/'sso' = sun-synchronous),
      ``ltan_h``, ``raan_deg`` (overrides ltan_h), ``arg_latitude_deg``
    - array: ``array_area_m2``, ``array_efficiency``, ``packing_factor``,
      ``degradation_per_year``, ``years_in_orbit``, ``strings``, ``failed_strings``,
      ``pointing`` ('tracking' | 'body_fixed'), ``pointing_error_deg``
    - battery: ``battery_capacity_wh``, ``initial_soc``, ``eta_charge``, ``eta_discharge``,
      ``max_charge_w``, ``max_discharge_w``, ``cells_series``, ``internal_resistance_ohm``,
      ``battery_fade``
    - thermal: ``chip_heat_capacity_j_k``, ``plate_heat_capacity_j_k``,
      ``battery_heat_capacity_j_k``, ``chip_plate_w_k``, ``battery_plate_w_k``,
      ``radiator_area_m2``, ``radiator_emissivity``, ``radiator_absorptivity``,
      ``radiator_sun_fraction``, ``radiator_earth_view``, ``battery_radiator_area_m2``,
      ``battery_emissivity``, ``albedo``, ``earth_ir_w_m2``, ``sink_temp_k``,
      ``initial_temp_c``
    - radiation: ``upset_rate_per_bit_day``, ``saa_multiplier``, ``memory_regions``
      ('name=bits' or 'name=8MiB' / 'name=64KiB', comma-separated, or a mapping name → bits)
    - SAA: ``saa_center_lat_deg``, ``saa_center_lon_deg``, ``saa_semi_lat_deg``,
      ``saa_semi_lon_deg``
    - loads: ``compute_max_w`` (compute power at full duty)
    - run: ``stations`` (comma-separated catalogue names, or a list), ``seed``, ``step_s``
    """

    orbit: OrbitConfig = field(default_factory=OrbitConfig)
    array: ArrayConfig = field(default_factory=ArrayConfig)
    battery: BatteryConfig = field(default_factory=BatteryConfig)
    thermal: ThermalConfig = field(default_factory=ThermalConfig)
    radiation: RadiationConfig = field(default_factory=RadiationConfig)
    saa: SaaRegion = field(default_factory=SaaRegion)
    loads: tuple[LoadSpec, ...] = DEFAULT_LOADS
    stations: tuple[str, ...] = ("svalbard", "troll")
    seed: int = 0
    step_s: float = 1.0

    def __post_init__(self) -> None:
        if not (self.step_s > 0.0 and math.isfinite(self.step_s)):
            raise ValueError("step_s must be > 0")
        stations_from_names(self.stations)  # validates the names early

    @property
    def compute_max_w(self) -> float:
        """Compute power at full duty (the ``compute`` entry of the load table), W."""
        return next(s.power_w for s in self.loads if s.name == COMPUTE)

    @classmethod
    def from_flat(cls, flat: Mapping[str, Any]) -> WorldConfig:
        """Build from flat keys (see the class docstring); unknown key → ValueError."""
        unknown = sorted(set(flat) - set(FLAT_KEYS))
        if unknown:
            raise ValueError(f"unknown world config keys: {', '.join(unknown)}; "
                             f"known: {', '.join(FLAT_KEYS)}")
        sections: dict[str, dict[str, Any]] = {}
        top: dict[str, Any] = {}
        compute_w: float | None = None
        for key, value in flat.items():
            section, name, conv = FLAT_KEYS[key]
            try:
                converted = conv(value)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"world config {key}={value!r}: {exc}") from None
            if section is None:
                top[name] = converted
            elif section == "loads":
                compute_w = converted
            else:
                sections.setdefault(section, {})[name] = converted
        base = cls()
        kwargs: dict[str, Any] = dict(top)
        for section, values in sections.items():
            kwargs[section] = dataclasses.replace(getattr(base, section), **values)
        if compute_w is not None:
            kwargs["loads"] = tuple(
                dataclasses.replace(s, power_w=compute_w) if s.name == COMPUTE else s
                for s in base.loads)
        return cls(**kwargs)


# --------------------------------------------------------------------------- inputs, ledger

@dataclass
class Inputs:
    """What the onboard side commands, held constant over a :meth:`World.step` call.

    loads: switch requests, name → on; loads not named keep their state. A request to switch a
        critical load off is ignored and counted.
    compute_duty: 0..1 (clamped); compute power = duty x its maximum.
    battery_heater: sets the ``battery_heater`` load when not None.
    chip_temp_c: measured chip temperature (co-simulation): the chip node is held at it.
    compute_power_w: measured compute power: replaces duty x maximum for load and heat.
    """

    loads: dict[str, bool] = field(default_factory=dict)
    compute_duty: float = 0.0
    battery_heater: bool | None = None
    chip_temp_c: float | None = None
    compute_power_w: float | None = None

    def __post_init__(self) -> None:
        for name in ("compute_duty", "chip_temp_c", "compute_power_w"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise ValueError(f"{name} must be finite, got {value}")

    def as_dict(self) -> dict[str, Any]:
        """Plain dict (msgpack/JSON)."""
        return {"loads": dict(self.loads), "compute_duty": self.compute_duty,
                "battery_heater": self.battery_heater, "chip_temp_c": self.chip_temp_c,
                "compute_power_w": self.compute_power_w}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Inputs:
        """Inverse of :meth:`as_dict`; missing keys take their defaults."""
        return cls(loads={str(k): bool(v) for k, v in (d.get("loads") or {}).items()},
                   compute_duty=float(d.get("compute_duty", 0.0)),
                   battery_heater=d.get("battery_heater"),
                   chip_temp_c=_opt_float(d.get("chip_temp_c")),
                   compute_power_w=_opt_float(d.get("compute_power_w")))


@dataclass
class Ledger:
    """Energy accounts since the start, Wh.

    Closes by construction: battery_delta_wh = solar_used_wh - load_wh - loss_wh.
    solar_available = solar_used + curtailed; load_wh is the energy delivered to the loads,
    unmet_wh what they asked for and did not get (brownout). fade_lost_wh: stored energy
    clipped by a capacity-fade fault (outside the balance).
    """

    solar_available_wh: float = 0.0
    solar_used_wh: float = 0.0
    load_wh: float = 0.0
    loss_wh: float = 0.0
    curtailed_wh: float = 0.0
    unmet_wh: float = 0.0
    battery_delta_wh: float = 0.0
    fade_lost_wh: float = 0.0

    def as_dict(self) -> dict[str, float]:
        """Plain dict (msgpack/JSON)."""
        return dataclasses.asdict(self)


class Env(NamedTuple):
    """Geometry at one instant (see :meth:`World.environment`)."""

    t: float
    r_eci: tuple[float, float, float]
    sun: tuple[float, float, float]
    flux_factor: float
    in_sun: bool
    sin_beta: float
    cos_zenith: float
    lat_deg: float
    lon_deg: float
    in_saa: bool


# --------------------------------------------------------------------------- the world

class World:
    """The coupled model; see the module docstring. ``t`` is UNIX seconds of mission time."""

    def __init__(self, config: WorldConfig, epoch_unix: float) -> None:
        self.config = config
        self.epoch = float(epoch_unix)
        self.t = self.epoch
        self.orbit = CircularOrbit.from_config(config.orbit, self.epoch)
        self.stations = stations_from_names(config.stations)
        self.array = SolarArray(config.array)
        self.battery = Battery(config.battery)
        self.thermal = ThermalNetwork(config.thermal)
        self.loads = LoadBank(config.loads)
        self.radiation = RadiationModel(config.radiation, np.random.default_rng(config.seed))
        self.ledger = Ledger()
        self.inputs = Inputs()
        self.brownout = False
        self.brownout_events = 0
        self.brownout_s = 0.0
        self._compute_w = 0.0
        self._env = self.environment(self.t)
        self._flow = self._preview_flow()
        o = self.orbit
        # Orbit constants for the inlined position in environment().
        self._o = (o.a_km, o.n_rad_s, o.arg_lat0_rad, o.raan0_rad, o.raan_rate_rad_s, o.cos_i,
                   o.sin_i, o.epoch_unix)

    # ---- geometry

    def environment(self, t: float) -> Env:
        """Geometry at UNIX time ``t``: position, sun, shadow, β, ground track, SAA.

        A pure function of ``t`` and the configuration (the orbit and sun formulas of
        :mod:`orbit` and :mod:`sun`, inlined here because it runs every step).
        """
        o = self.orbit
        dt = t - o.epoch_unix
        u = o.arg_lat0_rad + o.n_rad_s * dt
        raan = o.raan0_rad + o.raan_rate_rad_s * dt
        cu, su = math.cos(u), math.sin(u)
        co, so = math.cos(raan), math.sin(raan)
        a = o.a_km
        sui = su * o.cos_i
        r = (a * (co * cu - so * sui), a * (so * cu + co * sui), a * su * o.sin_i)
        sx, sy, sz, ff = sun_state(t)
        sun = (sx, sy, sz)
        in_sun = not in_shadow(r, sun)
        sin_beta = (so * o.sin_i) * sx - (co * o.sin_i) * sy + o.cos_i * sz
        cos_zenith = (r[0] * sx + r[1] * sy + r[2] * sz) / a
        lat = math.asin(r[2] / a) * _RAD2DEG
        lon = ((math.atan2(r[1], r[0]) - gmst_rad(t)) * _RAD2DEG + 180.0) % 360.0 - 180.0
        saa = self.config.saa.contains(lat, lon)
        return Env(t, r, sun, ff, in_sun, sin_beta, cos_zenith, lat, lon, saa)

    # ---- stepping

    def step(self, dt: float, inputs: Inputs | None = None) -> list[Upset]:
        """Advance exactly ``dt`` seconds in internal steps of ``step_s`` (the last one shorter).

        ``inputs`` None keeps the previous inputs. Returns the upsets drawn, oldest first.
        Deterministic for a given seed, configuration and sequence of (dt, inputs).
        """
        if not (dt >= 0.0 and math.isfinite(dt)):
            raise ValueError(f"dt must be finite and >= 0, got {dt}")
        if inputs is not None:
            self._apply(inputs)
        upsets: list[Upset] = []
        t_end = self.t + dt
        step_s = self.config.step_s
        tiny = min(1e-6, 1e-3 * step_s)  # below a UNIX-time ulp (2.4e-7 s) is rounding, not time
        while t_end - self.t > tiny:
            self._advance(min(step_s, t_end - self.t), upsets)
        self.t = t_end
        return upsets

    def _apply(self, inputs: Inputs) -> None:
        """Take new inputs: switch loads (critical-off refused and counted), set duty."""
        self.inputs = inputs
        requests = dict(inputs.loads)
        if inputs.battery_heater is not None:
            requests[BATTERY_HEATER] = inputs.battery_heater
        self.loads.switch(requests)
        if inputs.compute_power_w is not None:
            self._compute_w = max(0.0, inputs.compute_power_w)
        else:
            self._compute_w = min(1.0, max(0.0, inputs.compute_duty)) * self.loads.compute_max_w

    def _advance(self, h: float, upsets: list[Upset]) -> None:
        """One internal step of ``h`` seconds ending at t + h."""
        t0 = self.t
        env = self.environment(t0 + h)
        compute_w, heater_w, other_w = self.loads.split(self._compute_w)
        load_w = compute_w + heater_w + other_w
        solar_w = self.array.power_w(env.in_sun, env.flux_factor, env.sin_beta)
        e0 = self.battery.energy_wh
        flow = self.battery.step(solar_w, load_w, h)
        self._account(flow, self.battery.energy_wh - e0, h)
        # In a brownout every load gets the same fraction of its demand (and dissipates it).
        frac = flow.load_delivered_w / load_w if load_w > 0.0 else 1.0
        chip = self.inputs.chip_temp_c
        self.thermal.step(
            h, compute_w * frac, other_w * frac, heater_w * frac + flow.loss_w,
            self.thermal.environment_w(env.in_sun, env.flux_factor, env.cos_zenith),
            None if chip is None else chip + ZERO_C_K)
        got = self.radiation.step(t0, h, env.in_saa, env.lat_deg, env.lon_deg)
        if got:
            upsets.extend(got)
        self.t = t0 + h
        self._env = env
        self._flow = flow

    def _preview_flow(self) -> PowerFlow:
        """The power flow a step would have now: the sensors before the first step."""
        compute_w, heater_w, other_w = self.loads.split(self._compute_w)
        env = self._env
        solar_w = self.array.power_w(env.in_sun, env.flux_factor, env.sin_beta)
        return self.battery.route(solar_w, compute_w + heater_w + other_w, self.config.step_s)

    def _account(self, flow: PowerFlow, delta_wh: float, h: float) -> None:
        """Add one step to the ledger and the brownout counters."""
        k = h / 3600.0
        lg = self.ledger
        lg.solar_available_wh += flow.solar_available_w * k
        lg.solar_used_wh += flow.solar_used_w * k
        lg.load_wh += flow.load_delivered_w * k
        lg.loss_wh += flow.loss_w * k
        lg.curtailed_wh += flow.curtailed_w * k
        lg.unmet_wh += flow.unmet_w * k
        lg.battery_delta_wh += delta_wh
        short = flow.unmet_w > 1e-9
        if short:
            if not self.brownout:
                self.brownout_events += 1
            self.brownout_s += h
        self.brownout = short

    # ---- fault knobs

    def fail_strings(self, n: int) -> int:
        """``n`` array strings failed in all (absolute, clamped; 0 repairs); returns that."""
        return self.array.fail_strings(n)

    def set_battery_fade(self, fraction: float) -> None:
        """Battery loses ``fraction`` of its nameplate capacity (absolute; 0 restores it)."""
        self.ledger.fade_lost_wh += self.battery.set_fade(fraction)

    def set_radiator_degradation(self, fraction: float) -> None:
        """Radiator loses ``fraction`` of its effective emissivity x area (absolute)."""
        self.thermal.set_radiator_degradation(fraction)

    # ---- outputs

    def sensors(self) -> dict[str, Any]:
        """Everything a sensor or the HAL could read, at the current time.

        Power values are the averages over the last internal step; ``solar_power_w`` is what
        the array can give, ``solar_used_w`` what the bus took. Temperatures °C.
        """
        env, flow, th, bat = self._env, self._flow, self.thermal, self.battery
        volts, amps = bat.terminal(flow.charge_w, flow.discharge_w)
        frac = flow.load_delivered_w / flow.load_requested_w if flow.load_requested_w else 1.0
        loads_w = {k: v * frac for k, v in self.loads.powers(self._compute_w).items()}
        chip_c = (self.inputs.chip_temp_c if self.inputs.chip_temp_c is not None
                  else th.t_chip - ZERO_C_K)
        contact = in_contact(self.stations, eci_to_ecef(env.r_eci, env.t))
        beta = math.asin(max(-1.0, min(1.0, env.sin_beta)))
        return {
            "t": self.t,
            "in_sun": env.in_sun,
            "beta_deg": beta * _RAD2DEG,
            "lat_deg": env.lat_deg,
            "lon_deg": env.lon_deg,
            "in_saa": env.in_saa,
            "contact": contact or "",
            "orbit_number": self.orbit.orbit_number(env.t),
            "eclipse_fraction_closed_form": eclipse_fraction(beta, self.orbit.altitude_km),
            "sun_flux_factor": env.flux_factor,
            "solar_power_w": flow.solar_available_w,
            "solar_used_w": flow.solar_used_w,
            "curtailed_w": flow.curtailed_w,
            "battery_soc": bat.soc,
            "battery_voltage_v": volts,
            "battery_current_a": amps,
            "battery_energy_wh": bat.energy_wh,
            "battery_capacity_wh": bat.capacity_wh,
            "battery_loss_w": flow.loss_w,
            "load_power_w": flow.load_delivered_w,
            "load_unmet_w": flow.unmet_w,
            "compute_power_w": loads_w[COMPUTE],
            "compute_duty": min(1.0, max(0.0, self.inputs.compute_duty)),
            "chip_temp_c": chip_c,
            "plate_temp_c": th.t_plate - ZERO_C_K,
            "battery_temp_c": th.t_battery - ZERO_C_K,
            "loads_w": loads_w,
            "brownout": self.brownout,
            "brownout_events": self.brownout_events,
            "critical_off_ignored": self.loads.critical_off_ignored,
            "failed_strings": self.array.failed_strings,
            "battery_fade": bat.fade,
            "radiator_degradation": th.radiator_degradation,
            "upsets_total": self.radiation.count,
            "upsets_saa": self.radiation.count_saa,
        }

    # ---- persistence

    def state(self) -> dict[str, Any]:
        """Everything needed to continue exactly (plain types: msgpack/JSON-able)."""
        th = self.thermal
        return {
            "version": STATE_VERSION,
            "epoch": self.epoch,
            "t": self.t,
            "env_t": self._env.t,
            "inputs": self.inputs.as_dict(),
            "loads_on": dict(self.loads.on),
            "critical_off_ignored": self.loads.critical_off_ignored,
            "compute_w": self._compute_w,
            "battery": {"energy_wh": self.battery.energy_wh, "fade": self.battery.fade},
            "failed_strings": self.array.failed_strings,
            "thermal": {"chip_k": th.t_chip, "plate_k": th.t_plate, "battery_k": th.t_battery,
                        "radiator_degradation": th.radiator_degradation},
            "radiation": {"rng": rng_state(self.radiation.rng),
                          "to_next": self.radiation.to_next, "count": self.radiation.count,
                          "count_saa": self.radiation.count_saa},
            "ledger": self.ledger.as_dict(),
            "brownout": {"active": self.brownout, "events": self.brownout_events,
                         "seconds": self.brownout_s},
            "flow": list(self._flow),
        }

    @classmethod
    def from_state(cls, config: WorldConfig, state: Mapping[str, Any]) -> World:
        """A world that continues bit-identically from ``state`` (same ``config`` required)."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported world state version {state.get('version')!r}")
        w = cls(config, float(state["epoch"]))
        w.t = float(state["t"])
        w.inputs = Inputs.from_dict(state["inputs"])
        unknown = set(state["loads_on"]) - set(w.loads.on)
        if unknown:
            raise ValueError(f"state names loads not in the config: {sorted(unknown)}")
        w.loads.on.update({k: bool(v) for k, v in state["loads_on"].items()})
        w.loads.critical_off_ignored = int(state["critical_off_ignored"])
        w._compute_w = float(state["compute_w"])
        w.battery.set_fade(float(state["battery"]["fade"]))
        w.battery.energy_wh = float(state["battery"]["energy_wh"])
        w.array.fail_strings(int(state["failed_strings"]))
        th = state["thermal"]
        w.thermal.set_radiator_degradation(float(th["radiator_degradation"]))
        w.thermal.t_chip = float(th["chip_k"])
        w.thermal.t_plate = float(th["plate_k"])
        w.thermal.t_battery = float(th["battery_k"])
        rad = state["radiation"]
        w.radiation.rng = restore_rng(rad["rng"])
        w.radiation.to_next = float(rad["to_next"])
        w.radiation.count = int(rad["count"])
        w.radiation.count_saa = int(rad["count_saa"])
        w.ledger = Ledger(**{k: float(v) for k, v in state["ledger"].items()})
        bo = state["brownout"]
        w.brownout = bool(bo["active"])
        w.brownout_events = int(bo["events"])
        w.brownout_s = float(bo["seconds"])
        w._flow = PowerFlow(*(float(x) for x in state["flow"]))
        w._env = w.environment(float(state["env_t"]))
        return w
