"""Sensor, power and thermal faults: the world lies or degrades, the stack's telemetry shows it."""

from __future__ import annotations

import random
from typing import Any

import pytest

from hil.faults import FaultError, get_fault
from hil.testbed import Testbed


def _series(bed: Testbed, app: str, channel: str, count: int) -> list[Any]:
    """The next ``count`` values of ``app.channel`` in housekeeping (from now on)."""
    assert bed.tap is not None
    known = {id(e) for e in bed.tap.seen}
    values = []
    while len(values) < count:
        envelope = bed.tap.wait(lambda e: id(e) not in known and e.topic == f"tlm.{app}",
                                10, f"housekeeping of {app}")
        known.add(id(envelope))
        values.append(envelope.data.get(channel))
    return values


def _snapshot(bed: Testbed) -> dict[str, Any]:
    return dict(bed.stack.command("world", "snapshot").data["sensors"])


def test_stuck_sensor_stops_changing_in_telemetry(bed: Testbed, rng: random.Random) -> None:
    fault = get_fault("sensor_stuck")
    assert "chip_temp_c" in fault.targets(bed) and "t" not in fault.targets(bed)
    assert len(set(_series(bed, "thermal", "chip_temp_c", 4))) > 1  # it moves by itself
    injection = fault.run(bed, "chip_temp_c", rng=rng)
    try:
        _series(bed, "thermal", "chip_temp_c", 2)  # a sample already on its way
        stuck = _series(bed, "thermal", "chip_temp_c", 5)
        assert len(set(stuck)) == 1
        assert stuck[0] == pytest.approx(injection.evidence["true_value_at_injection"], abs=0.5)
        assert len(set(_series(bed, "world", "chip_temp_c", 4))) > 1  # the physics goes on
    finally:
        fault.clear(bed, injection)
    assert len(set(_series(bed, "thermal", "chip_temp_c", 4))) > 1


def test_offline_sensor_is_flagged_by_the_app(bed: Testbed, rng: random.Random) -> None:
    fault = get_fault("sensor_offline")
    injection = fault.run(bed, "battery_temp_c", rng=rng)
    try:
        assert bed.tap is not None
        bed.tap.wait_telemetry("thermal", lambda d: d.get("sensor_faults", 0) >= 1, 10)
        assert _series(bed, "thermal", "battery_temp_c", 2)[-1] is None  # unavailable, not 0
    finally:
        fault.clear(bed, injection)
    bed.tap.wait_telemetry("thermal", lambda d: d.get("sensor_faults") == 0
                           and d.get("battery_temp_c") is not None, 10)


def test_noisy_sensor_departs_from_the_truth(bed: Testbed, rng: random.Random) -> None:
    fault = get_fault("sensor_noisy")
    injection = fault.run(bed, "plate_temp_c", {"sigma": 20.0}, rng)
    try:
        reported = _series(bed, "thermal", "plate_temp_c", 6)
        truth = _snapshot(bed)["plate_temp_c"]
        assert max(abs(v - truth) for v in reported if v is not None) > 3.0
    finally:
        fault.clear(bed, injection)


def test_power_and_thermal_knobs_change_the_world_and_clear_restores(
        bed: Testbed, rng: random.Random) -> None:
    before = _snapshot(bed)
    solar_before = _series(bed, "world", "solar_power_w", 1)[0]
    strings = get_fault("solar_string_loss").run(bed, "solar_array", {"strings": 4}, rng)
    fade = get_fault("battery_fade").run(bed, "battery", {"fraction": 0.5}, rng)
    radiator = get_fault("radiator_degradation").run(bed, "radiator", {"fraction": 0.8}, rng)
    try:
        now = _snapshot(bed)
        assert now["failed_strings"] == before["failed_strings"] + 4 == strings.evidence["after"]
        assert now["battery_capacity_wh"] == pytest.approx(before["battery_capacity_wh"] / 2)
        assert now["radiator_degradation"] == pytest.approx(0.8)
        assert fade.evidence["before"] == before["battery_fade"]
        solar = _series(bed, "world", "solar_power_w", 2)[-1]  # after a step of the physics
        if before["in_sun"] and now["in_sun"] and solar_before > 0:  # 4 of 8 strings left
            assert solar / solar_before == pytest.approx(0.5, abs=0.1)
    finally:
        for fault, injection in (("solar_string_loss", strings), ("battery_fade", fade),
                                 ("radiator_degradation", radiator)):
            get_fault(fault).clear(bed, injection)
    after = _snapshot(bed)
    assert after["failed_strings"] == before["failed_strings"]
    assert after["battery_capacity_wh"] == pytest.approx(before["battery_capacity_wh"])
    assert after["radiator_degradation"] == before["radiator_degradation"]


def test_sensor_faults_name_real_sensors(bed: Testbed) -> None:
    with pytest.raises(FaultError, match="did you mean 'chip_temp_c'"):
        get_fault("sensor_stuck").run(bed, "chip_temp")
    with pytest.raises(FaultError, match="sigma"):
        get_fault("sensor_noisy").run(bed, "chip_temp_c", {"sigma": -1})
