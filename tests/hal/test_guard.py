"""The sensor guard: NaN, stuck, out of range and vanished sensors are each named once."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from flight.hal.base import UNSUPPORTED, Reading, SensorStatus, measured
from flight.hal.guard import SensorGuard, SensorRule


def _guard(stuck: int = 3) -> SensorGuard:
    return SensorGuard([SensorRule("t", -50.0, 150.0, stuck)])


def test_faults_are_reported_once_when_they_start_and_once_when_they_clear() -> None:
    guard = _guard()
    seq = [Reading(20.0), Reading(None, SensorStatus.INVALID), Reading(None, SensorStatus.INVALID),
           Reading(21.0), Reading(400.0), Reading(22.0), UNSUPPORTED, Reading(23.0)]
    log = []
    for reading in seq:
        _, transitions = guard.check({"t": reading})
        log += [(t.fault, t.previous) for t in transitions]
    assert log == [("invalid", None), (None, "invalid"), ("out_of_range", None),
                   (None, "out_of_range"), ("disappeared", None), (None, "disappeared")]
    assert guard.fault_count == 3


def test_a_sensor_never_seen_is_missing_not_zero() -> None:
    values, transitions = _guard().check({})
    assert values == {"t": None}
    assert transitions[0].fault == "missing"


def test_stuck_only_while_motion_is_expected() -> None:
    guard = _guard(stuck=3)
    for _ in range(10):
        values, _ = guard.check({"t": Reading(30.0)})  # a full battery may sit still
    assert values["t"] == 30.0
    faults = []
    for _ in range(4):
        values, transitions = guard.check({"t": Reading(30.0)}, moving=frozenset({"t"}))
        faults += [t.fault for t in transitions]
    assert faults == ["stuck"] and values["t"] is None
    values, transitions = guard.check({"t": Reading(30.5)}, moving=frozenset({"t"}))
    assert values["t"] == 30.5 and transitions[0].fault is None


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_measured_never_passes_a_non_finite_or_out_of_range_value(x: float) -> None:
    reading = measured(x, "test", -40.0, 150.0)
    if reading.ok:
        assert reading.value is not None and math.isfinite(reading.value)
        assert -40.0 <= reading.value <= 150.0
    else:
        assert reading.value is None and reading.status is SensorStatus.INVALID
