"""The demo mission's script: how the flatsat is configured, and what happens when.

A real operations team flies from pass predictions: it knows when each ground station will see
the spacecraft, when it will be in the Earth's shadow and when it crosses the South Atlantic
Anomaly, and it plans uplinks and downloads around them. The mission does the same with the
world model the flatsat itself runs (:mod:`hil.world` is a pure function of time for geometry),
so the plan printed at the start is the one the flight then follows.

The defaults fly about three orbits of a 650 km dawn-dusk orbit at the June solstice — the
eclipse season of that orbit (β ≈ 59°, about 20 minutes of shadow per orbit) — from an epoch
whose ground track crosses the SAA once an orbit and passes over Svalbard and Troll.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hil.testbed import FLATSAT_OVERRIDES

#: June solstice 2027, 06:00 UTC: eclipse season, the SAA crossed every orbit.
DEFAULT_EPOCH = "2027-06-21T06:00:00Z"
DEFAULT_SPEED = 200.0
DEFAULT_ORBITS = 3.0
#: Upsets per bit per day outside the SAA: the rate measured on Alsat-1's SRAM (FIELD_NOTES),
#: the world's own default. With the SAA crossed once an orbit, a few dozen a mission.
DEFAULT_UPSET_RATE = 4e-7
#: Downlink rate in wall-clock bits per second. Time runs 200x faster than the wall clock,
#: so a pass lasts seconds: the rate is raised so that a pass still drains what the spacecraft
#: stored since the last one, as a real X-band pass does.
DEFAULT_LINK_RATE_BPS = 20_000_000
#: The kill happens at the first moment after this share of the mission with a job running.
KILL_AT = 0.4
#: Payload radiator (m²) and battery (Wh) of the demo's spacecraft (world defaults: 2, 800).
RADIATOR_M2 = 1.3
BATTERY_WH = 640.0
#: Prediction step (mission seconds): pass and shadow edges to within 10 s.
PREDICT_STEP_S = 10.0


class PlanError(ValueError):
    """The mission cannot be planned as asked (bad option, nothing to fly)."""


@dataclass(frozen=True)
class Window:
    """An interval of mission time (UNIX seconds): a pass, an eclipse, an SAA crossing."""

    start: float
    end: float
    label: str = ""

    def contains(self, t: float) -> bool:
        return self.start <= t < self.end

    @property
    def length_s(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Settings:
    """What the operator asked for on the command line."""

    speed: float = DEFAULT_SPEED
    orbits: float | None = DEFAULT_ORBITS
    duration_s: float | None = None  #: wall seconds; exact (no stretch to the next pass)
    seed: int = 1
    epoch: str = DEFAULT_EPOCH
    upset_rate: float = DEFAULT_UPSET_RATE
    link_rate_bps: int = DEFAULT_LINK_RATE_BPS
    kill: str | None = "jobs"
    jobs: bool = True
    sets: tuple[str, ...] = ()

    def check(self) -> None:
        """Refuse options that cannot make a mission, with the reason."""
        if not (math.isfinite(self.speed) and 1.0 <= self.speed <= 5000.0):
            raise PlanError(f"--speed must be between 1 and 5000, not {self.speed:g}")
        if self.orbits is not None and not (0.05 <= self.orbits <= 50):
            raise PlanError(f"--orbits must be between 0.05 and 50, not {self.orbits:g}")
        if self.duration_s is not None and not (1.0 <= self.duration_s <= 86_400):
            raise PlanError(f"--duration must be between 1 and 86400 s, not "
                            f"{self.duration_s:g}")
        if not 0 <= self.seed <= 2**32 - 1:
            raise PlanError(f"--seed must be between 0 and {2**32 - 1}, not {self.seed}")
        if not (1e-11 <= self.upset_rate <= 1e-6):
            raise PlanError(f"--upset-rate must be between 1e-11 and 1e-6 per bit per day, "
                            f"not {self.upset_rate:g}")
        try:
            from flight.app.clock import parse_epoch

            parse_epoch(self.epoch)
        except ValueError:
            raise PlanError(f"--epoch must be an ISO 8601 UTC time such as {DEFAULT_EPOCH}, "
                            f"not {self.epoch!r}") from None

    def overrides(self) -> tuple[str, ...]:
        """The stack's ``--set`` list: the bench's fast supervision, then the mission's."""
        bench = [o for o in FLATSAT_OVERRIDES
                 if not o.startswith(("apps.comms.contact=", "time.speed="))]
        mission = [
            f"time.speed={self.speed:g}", f'time.epoch="{self.epoch}"',
            "apps.comms.contact=world", f"apps.comms.link_rate_bps={self.link_rate_bps}",
            # The job runner is the payload: no stand-in load when it reports nothing.
            "apps.world.demand=0",
            # A spacecraft sized for its average load, not its peak (the world's defaults,
            # 2 m² and 800 Wh, carry the payload through three orbits untouched): computing
            # flat out, it outruns its radiator in sunlight and its battery in eclipse, so
            # the thermal governor throttles and the power manager sheds.
            f"apps.world.radiator_area_m2={RADIATOR_M2:g}",
            f"apps.world.battery_capacity_wh={BATTERY_WH:g}",
            # A wall-clock hiccup of a busy bench is minutes of mission time at 200x: readings
            # go stale after two wall seconds, not after 60 mission seconds.
            f"hal.stale_s={max(60.0, 2.0 * self.speed):g}",
            f"apps.world.seed={self.seed}",
            f"apps.world.upset_rate_per_bit_day={self.upset_rate:g}",
            # One BLAS thread for the payload: the ground recomputes every job the same way
            # (bitwise the same result) while the flight runs, on the same two cores.
            "apps.jobs.blas_threads=1", "apps.jobs.housekeeping_period_s=0.3",
            "apps.radiation.housekeeping_period_s=0.3",
        ]
        return (*bench, *mission, *self.sets)


@dataclass
class Plan:
    """The mission in mission time: its span, the predicted windows, when things happen."""

    t0: float  #: mission start (the clock's epoch)
    end: float  #: when the mission ends (the LOS of its last pass, as a rule)
    period_s: float
    speed: float
    passes: list[Window] = field(default_factory=list)
    eclipses: list[Window] = field(default_factory=list)
    saa: list[Window] = field(default_factory=list)

    @property
    def length_s(self) -> float:
        return self.end - self.t0

    def fraction(self, t: float) -> float:
        """How far the mission is at mission time ``t`` (0..1)."""
        return min(1.0, max(0.0, (t - self.t0) / self.length_s)) if self.length_s > 0 else 1.0

    def at(self, share: float) -> float:
        """The mission time at ``share`` of the mission."""
        return self.t0 + share * self.length_s

    def orbit(self, t: float) -> int:
        """1-based orbit number at mission time ``t``."""
        return int(max(0.0, t - self.t0) // self.period_s) + 1

    def pass_at(self, t: float) -> Window | None:
        """The predicted pass in progress at ``t`` (with 60 s of slack at its edges)."""
        return next((p for p in self.passes if p.start - 60 <= t < p.end + 60), None)

    def describe(self) -> list[str]:
        """The plan in a few lines, for the start of the timeline."""
        def clock(t: float) -> str:
            return met(t - self.t0)

        orbits = self.length_s / self.period_s
        lines = [f"{orbits:.1f} orbits of {self.period_s / 60:.1f} min "
                 f"({self.length_s / 60:.0f} min of mission time, "
                 f"{self.length_s / self.speed:.0f} s of wall time at {self.speed:g}x)"]
        lines.append("passes:   " + ", ".join(
            f"{p.label} {clock(p.start)}-{clock(p.end)}" for p in self.passes
            if p.start < self.end) or "none")
        lines.append("eclipses: " + ", ".join(
            f"{clock(e.start)}-{clock(e.end)}" for e in self.eclipses if e.start < self.end))
        lines.append("SAA:      " + (", ".join(
            f"{clock(s.start)}-{clock(s.end)}" for s in self.saa if s.start < self.end)
            or "not crossed"))
        return lines


def met(seconds: float) -> str:
    """Mission elapsed time as ``T+HH:MM``."""
    minutes = int(max(0.0, seconds) // 60)
    return f"T+{minutes // 60:02d}:{minutes % 60:02d}"


def world_config(world_section: Mapping[str, Any]) -> Any:
    """The :class:`~hil.world.WorldConfig` the world app builds from its resolved settings."""
    from hil.world.model import WorldConfig
    from hil.world.settings import model_settings

    return WorldConfig.from_flat(model_settings(world_section))


def predict(config: Any, world_epoch: float, until: float) -> tuple[list[Window], ...]:
    """Passes, eclipses and SAA crossings from ``world_epoch`` to ``until`` (mission time).

    ``world_epoch`` is when the world app made its world (the orbit starts at the ascending
    node then); geometry is a pure function of time, so this is what the flight will see.
    """
    from hil.world.model import World
    from hil.world.orbit import eci_to_ecef
    from hil.world.stations import in_contact

    world = World(config, world_epoch)
    opened: dict[str, tuple[float, str]] = {}
    found: dict[str, list[Window]] = {"pass": [], "eclipse": [], "saa": []}
    t = world_epoch
    while t <= until:
        env = world.environment(t)
        station = in_contact(world.stations, eci_to_ecef(env.r_eci, t)) or ""
        states = {"pass": station, "eclipse": "" if env.in_sun else "eclipse",
                  "saa": "SAA" if env.in_saa else ""}
        for kind, label in states.items():
            _edge(found[kind], opened, kind, label, t)
        t += PREDICT_STEP_S
    for kind in found:
        _edge(found[kind], opened, kind, "", t)
    return found["pass"], found["eclipse"], found["saa"]


def _edge(out: list[Window], opened: dict[str, tuple[float, str]], kind: str, label: str,
          t: float) -> None:
    """Open, close or switch a window of ``kind`` as its label changes at ``t``."""
    current = opened.get(kind)
    if current is not None and current[1] != label:
        out.append(Window(current[0], t, current[1]))
        del opened[kind]
        current = None
    if current is None and label:
        opened[kind] = (t, label)


def make_plan(settings: Settings, config: Mapping[str, Any], t0: float,
              world_epoch: float) -> Plan:
    """The plan for a stack configured with ``config`` whose clock started at ``t0``."""
    from hil.world.orbit import period_s

    world = config["apps"].get("world")
    if not isinstance(world, Mapping):
        raise PlanError("this configuration has no world app: nothing to plan the mission on")
    wc = world_config(world)
    period = period_s(wc.orbit.altitude_km)
    if settings.duration_s is not None:
        nominal = t0 + settings.duration_s * settings.speed
    else:
        nominal = t0 + (settings.orbits or DEFAULT_ORBITS) * period
    passes, eclipses, saa = predict(wc, world_epoch, nominal + 0.7 * period)
    end = nominal
    if settings.duration_s is None:
        end = _end_on_a_pass(passes, nominal, period)
    return Plan(t0, end, period, settings.speed, passes, eclipses, saa)


def _end_on_a_pass(passes: list[Window], nominal: float, period: float) -> float:
    """End at the LOS of the pass in progress at ``nominal`` or the next one (within 0.6
    orbit), so the mission closes with everything stored on board downlinked."""
    for p in passes:
        if p.end >= nominal and p.start <= nominal + 0.6 * period:
            return p.end
    return nominal
