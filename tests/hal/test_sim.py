"""The sim backend and co-simulation over the world's sample."""

from __future__ import annotations

from typing import Any

from flight.bus import Envelope
from flight.hal import SENSORS, CoSimHal, Hal, Reading, SensorStatus, SimHal


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _env(data: Any, src: str = "world") -> Envelope:
    return Envelope("env.sensors", src, 1, 0.0, data)


SAMPLE = {"t": 100.0, "chip_temp_c": 60.0, "battery_soc": 0.8, "in_sun": True,
          "solar_power_w": float("nan"), "loads_w": {"obc": 15.0, "radio": "x"}}


def test_values_missing_values_and_nan() -> None:
    hal = SimHal(Clock(101.0), stale_s=30.0)
    assert all(r.status is SensorStatus.UNSUPPORTED for r in hal.read().values())
    hal.feed(_env(SAMPLE))
    readings = hal.read()
    assert set(readings) == set(SENSORS)
    assert readings["chip_temp_c"] == Reading(60.0, SensorStatus.OK, "world")
    assert readings["in_sun"].value == 1.0
    assert readings["solar_power_w"].status is SensorStatus.INVALID
    assert readings["cpu_percent"].status is SensorStatus.UNSUPPORTED  # never 0.0
    assert hal.rails() == {"obc": Reading(15.0, SensorStatus.OK, "world")}


def test_samples_go_stale_and_impostors_are_counted() -> None:
    clock = Clock(101.0)
    hal = SimHal(clock, stale_s=30.0)
    hal.feed(_env(SAMPLE))
    clock.t = 200.0
    assert hal.read()["chip_temp_c"].status is SensorStatus.STALE
    for bad in (_env(SAMPLE, src="power"), _env([1, 2]), _env({"t": "now"})):
        hal.feed(bad)
    assert hal.rejected == 3


class Board(Hal):
    backend = "linux"

    def read(self) -> dict[str, Reading]:
        out = {name: Reading(None, SensorStatus.UNSUPPORTED) for name in SENSORS}
        out["chip_temp_c"] = Reading(47.0, SensorStatus.OK, "thermal_zone0")
        out["cpu_percent"] = Reading(12.0, SensorStatus.OK, "psutil")
        out["battery_soc"] = Reading(0.1, SensorStatus.OK, "bogus")  # world keeps this one
        return out


def test_cosim_board_measurements_win_for_measurable_quantities() -> None:
    world = SimHal(Clock(101.0))
    world.feed(_env(SAMPLE))
    hal = CoSimHal(Board(), world)
    readings = hal.read()
    assert readings["chip_temp_c"].value == 47.0  # the real chip
    assert readings["cpu_percent"].value == 12.0  # the world has none
    assert readings["battery_soc"].value == 0.8  # the world's battery
    assert hal.measured() == {"chip_temp_c": 47.0}
    assert hal.backend == "linux"
