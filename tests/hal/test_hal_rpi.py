"""The rpi backend: recorded Pi 4/Pi 5 trees plus a stand-in vcgencmd."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from flight.hal.base import BOARD_POWER, CHIP_TEMP, COMPUTE_POWER, CPU_FREQ, SensorStatus
from flight.hal.rpi import RpiHal
from tests.hal.boards import (
    assert_complete_and_honest,
    copy_tree,
    prefer_test_python,
    standins,
    tree,
)

CORE_W = 0.92871990 * 0.72097620


@pytest.fixture(autouse=True)
def _pi5(monkeypatch: pytest.MonkeyPatch) -> None:
    prefer_test_python(monkeypatch)
    monkeypatch.setenv("SUNLIT_STANDIN_BOARD", "pi5")


def test_pi5_pmic_rails_board_and_compute_power() -> None:
    hal = RpiHal(tree("pi5"), programs=standins())
    readings = hal.read()
    assert_complete_and_honest(readings)
    chip = readings[CHIP_TEMP]
    assert chip.value == 52.35 and chip.source == "thermal:cpu-thermal"
    assert readings[CPU_FREQ].value == 2400.0
    rails = hal.rails()
    assert rails["VDD_CORE"].value == pytest.approx(CORE_W)
    assert readings[COMPUTE_POWER].value == pytest.approx(CORE_W)
    assert readings[BOARD_POWER].value == pytest.approx(sum(r.value or 0 for r in rails.values()))
    assert hal.describe()["pmic"] is True


def test_throttling_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    hal = RpiHal(tree("pi5"), programs=standins())
    flags = hal.throttling()
    assert flags is not None
    assert {name for name, on in flags.items() if on} == {
        "under_voltage", "throttled", "under_voltage_occurred", "throttled_occurred"}
    monkeypatch.setenv("SUNLIT_STANDIN_THROTTLED", "0x0")
    cleared = hal.throttling()
    assert cleared is not None and not any(cleared.values())


def test_pi4_has_no_pmic(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUNLIT_STANDIN_BOARD", "pi4")
    hal = RpiHal(tree("pi4"), programs=standins())
    readings = hal.read()
    assert_complete_and_honest(readings)
    assert hal.rails() == {}
    assert readings[BOARD_POWER].status is SensorStatus.UNSUPPORTED
    assert readings[COMPUTE_POWER].status is SensorStatus.UNSUPPORTED
    assert readings[CHIP_TEMP].value == 48.686
    assert hal.throttling() is not None


def test_missing_vcgencmd(tmp_path: Path) -> None:
    hal = RpiHal(tree("pi5"), programs=standins(vcgencmd=str(tmp_path / "none")))
    readings = hal.read()
    assert_complete_and_honest(readings)
    assert hal.throttling() is None and hal.rails() == {}
    assert readings[BOARD_POWER].status is SensorStatus.UNSUPPORTED
    assert readings[CHIP_TEMP].value == 52.35


@pytest.mark.parametrize("mode", ["garbage", "fail"])
def test_vcgencmd_garbage_or_failure(monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    monkeypatch.setenv("SUNLIT_STANDIN_VCGENCMD", mode)
    hal = RpiHal(tree("pi5"), programs=standins())
    assert_complete_and_honest(hal.read())
    assert hal.throttling() is None and hal.rails() == {}


def test_hanging_vcgencmd_costs_one_timeout_per_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUNLIT_STANDIN_VCGENCMD", "hang")
    start = time.monotonic()
    hal = RpiHal(tree("pi5"), programs=standins(timeout_s=0.3))  # probes pmic_read_adc once
    readings = hal.read()  # pmic unsupported after the probe: no further waits
    assert hal.throttling() is None
    assert time.monotonic() - start < 3.0
    assert readings[BOARD_POWER].status is SensorStatus.UNSUPPORTED
    assert readings[CHIP_TEMP].ok


def test_pmic_failing_after_start_reads_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    hal = RpiHal(tree("pi5"), programs=standins())
    monkeypatch.setenv("SUNLIT_STANDIN_VCGENCMD", "fail")
    readings = hal.read()
    assert readings[BOARD_POWER].status is SensorStatus.OFFLINE
    assert readings[COMPUTE_POWER].status is SensorStatus.OFFLINE


def test_measure_temp_when_the_kernel_has_no_zone(tmp_path: Path) -> None:
    root = copy_tree("pi5", tmp_path)
    for f in (root / "sys/class/thermal/thermal_zone0").iterdir():
        f.unlink()
    (root / "sys/class/thermal/thermal_zone0").rmdir()
    hal = RpiHal(root, programs=standins())
    chip = hal.read()[CHIP_TEMP]
    assert chip.value == 48.3 and chip.source == "vcgencmd measure_temp"
    assert hal.describe()["measure_temp"] is True
