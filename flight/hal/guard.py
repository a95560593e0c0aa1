"""Sensor plausibility: the gate between a HAL reading and a control loop.

A controller fed a NaN, a frozen value or a sensor that vanished will steer the spacecraft by
a number that is not true. :class:`SensorGuard` checks every reading a loop uses — status,
physical range, and (where the physics says the value must move) a stuck value — and reports
each fault once when it starts and once when it clears, so the app can fall back to a safe
output and say which sensor is at fault.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from flight.app.model import Event, Severity
from flight.hal.base import Reading, SensorStatus


@dataclass(frozen=True)
class SensorRule:
    """What a plausible value of one sensor looks like."""

    name: str
    lo: float
    hi: float
    #: Identical consecutive values (while motion is expected) that count as stuck; 0 = never.
    stuck_samples: int = 0


@dataclass(frozen=True)
class Transition:
    """A sensor became faulty (``fault`` set) or recovered (``fault`` None)."""

    sensor: str
    fault: str | None
    previous: str | None
    value: float | None


@dataclass
class _Track:
    last: float | None = None
    repeats: int = 0
    seen_ok: bool = False


@dataclass
class SensorGuard:
    """Checks readings against rules; keeps the current fault of each sensor."""

    rules: Iterable[SensorRule]
    faults: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._rules = {rule.name: rule for rule in self.rules}
        self._tracks = {name: _Track() for name in self._rules}
        self.fault_count = 0

    def check(self, readings: dict[str, Reading], moving: frozenset[str] = frozenset()
              ) -> tuple[dict[str, float | None], list[Transition]]:
        """Plausible values (None where faulty) and the fault transitions of this sample.

        ``moving`` names the sensors whose value must change between samples right now
        (a battery with current flowing must change its state of charge).
        """
        values: dict[str, float | None] = {}
        transitions: list[Transition] = []
        for name, rule in self._rules.items():
            reading = readings.get(name, Reading(None, SensorStatus.UNSUPPORTED))
            fault = self._judge(rule, reading, name in moving)
            values[name] = None if fault else reading.value
            previous = self.faults.get(name)
            if fault != previous:
                transitions.append(Transition(name, fault, previous, reading.value))
                if fault:
                    self.faults[name] = fault
                    self.fault_count += 1
                else:
                    del self.faults[name]
        return values, transitions

    def _judge(self, rule: SensorRule, reading: Reading, moving: bool) -> str | None:
        track = self._tracks[rule.name]
        if not reading.ok or reading.value is None:
            track.last, track.repeats = None, 0
            if reading.status is SensorStatus.UNSUPPORTED:
                return "disappeared" if track.seen_ok else "missing"
            return reading.status.value  # offline, stale, invalid
        value = reading.value
        track.seen_ok = True
        if not rule.lo <= value <= rule.hi:
            track.last, track.repeats = None, 0
            return "out_of_range"
        if value == track.last and moving:
            track.repeats += 1
        elif value != track.last:
            track.repeats = 0
        track.last = value
        if rule.stuck_samples and track.repeats >= rule.stuck_samples:
            return "stuck"
        return None


def report_transitions(emit: Callable[..., None], transitions: Iterable[Transition],
                       fallbacks: Mapping[str, str], default: str) -> None:
    """Emit SENSOR_FAULT (with the fallback the app takes for that sensor) or SENSOR_OK."""
    for t in transitions:
        if t.fault:
            emit("SENSOR_FAULT", sensor=t.sensor, fault=t.fault, value=t.value,
                 fallback=fallbacks.get(t.sensor, default))
        else:
            emit("SENSOR_OK", sensor=t.sensor, previous=t.previous)


#: The events every app that guards its sensors declares.
SENSOR_EVENTS: tuple[Event, ...] = (
    Event("SENSOR_FAULT", Severity.WARNING,
          "Sensor {sensor} is {fault} (value {value}): {fallback}"),
    Event("SENSOR_OK", Severity.INFO, "Sensor {sensor} is plausible again (was {previous})"),
)
