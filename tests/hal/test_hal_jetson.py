"""The jetson backend: Orin (JetPack 5, hwmon) and Xavier NX (JetPack 4, IIO) trees, stand-in
nvpmodel and tegrastats."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from flight.hal.base import BOARD_POWER, CHIP_TEMP, COMPUTE_POWER, DvfsResult, SensorStatus
from flight.hal.jetson import JetsonHal
from tests.hal.boards import (
    Clock,
    assert_complete_and_honest,
    copy_tree,
    prefer_test_python,
    standins,
    tree,
    write,
)

ZONE = "sys/class/thermal/thermal_zone{}/temp"  # Orin: 0 cpu, 1 gpu, 8 tj
HWMON = "sys/bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon1"


@pytest.fixture(autouse=True)
def _fast_standins(monkeypatch: pytest.MonkeyPatch) -> None:
    prefer_test_python(monkeypatch)


@pytest.fixture
def nvp_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the stand-in nvpmodel keeps its current mode (0 = 15W at start)."""
    state = tmp_path / "nvpmodel.state"
    state.write_text("0")
    monkeypatch.setenv("SUNLIT_STANDIN_NVPMODEL_STATE", str(state))
    return state


def test_orin_zones_rails_and_mode() -> None:
    hal = JetsonHal(tree("jetson_orin"), programs=standins())
    readings = hal.read()
    assert_complete_and_honest(readings)
    chip = readings[CHIP_TEMP]
    assert chip.value == 48.031 and chip.source == "thermal:tj-thermal"
    temps = hal.temperatures()
    gpu = temps["gpu-thermal"]
    assert gpu.status is SensorStatus.OFFLINE and gpu.value is None
    assert temps["cpu-thermal"].value == 47.468
    rails = hal.rails()
    assert set(rails) == {"VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC"}  # not "sum of shunt voltages"
    assert readings[BOARD_POWER].value == pytest.approx(5.064 * 0.912)
    assert readings[COMPUTE_POWER].value == pytest.approx(5.056 * 0.096)
    info = hal.describe()
    assert info["nvpmodel"] == {"name": "15W", "id": 0}
    assert info["tegrastats"] is False  # sysfs has everything


def test_chip_without_tj_is_the_hotter_of_cpu_and_gpu(tmp_path: Path) -> None:
    root = copy_tree("jetson_orin", tmp_path)
    write(root, ZONE.format(8), "-256000")  # tj offline
    write(root, ZONE.format(1), "47900")  # GPU awake and hotter than the CPU
    chip = JetsonHal(root, programs=standins()).read()[CHIP_TEMP]
    assert chip.value == 47.9 and chip.source == "thermal:gpu-thermal"


def test_chip_offline_cpu_gpu_and_tj_fall_back_to_generic(tmp_path: Path) -> None:
    root = copy_tree("jetson_orin", tmp_path)
    for n in (0, 1, 8):
        write(root, ZONE.format(n), "-256000")
    chip = JetsonHal(root, programs=standins()).read()[CHIP_TEMP]
    assert chip.value == 45.562 and chip.source == "thermal:soc0-thermal"


def test_xavier_jetpack4_iio_rails_and_per_cpu_cpufreq() -> None:
    hal = JetsonHal(tree("jetson_xavier_jp4"), programs=standins())
    readings = hal.read()
    assert_complete_and_honest(readings)
    assert readings[CHIP_TEMP].value == 39.5  # CPU-therm; PMIC-Die's fixed 100 °C is ignored
    assert readings[BOARD_POWER].value == pytest.approx(5.032 * 1.240)
    assert readings[COMPUTE_POWER].value == pytest.approx(5.024 * 0.310)
    assert hal.rails()["VDD_SOC"].source == "ina3221:iio"
    assert hal.describe()["cpufreq_policies"] == ["cpu0", "cpu1"]


def test_garbage_rail_is_invalid_not_zero(tmp_path: Path) -> None:
    root = copy_tree("jetson_orin", tmp_path)
    write(root, f"{HWMON}/curr1_input", "n/a")
    readings = JetsonHal(root, programs=standins()).read()
    assert readings[BOARD_POWER].status is SensorStatus.INVALID
    assert readings[BOARD_POWER].value is None
    assert readings[COMPUTE_POWER].ok


def test_tegrastats_when_sysfs_has_nothing() -> None:
    hal = JetsonHal(tree("bare"), programs=standins(), tegrastats_interval_ms=20)
    readings = hal.read()
    assert_complete_and_honest(readings)
    assert readings[CHIP_TEMP].value == 45.5 and readings[CHIP_TEMP].source == "tegrastats"
    assert hal.temperatures()["GPU"].status is SensorStatus.OFFLINE
    assert readings[BOARD_POWER].value == pytest.approx(4.291)
    assert readings[COMPUTE_POWER].value == pytest.approx(0.487)
    assert hal.describe()["tegrastats"] is True


def test_tegrastats_jetpack4_format(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUNLIT_STANDIN_BOARD", "xavier")
    readings = JetsonHal(tree("bare"), programs=standins(), tegrastats_interval_ms=20).read()
    assert readings[CHIP_TEMP].value == 36.0  # max(CPU 36, GPU 35.5)
    assert readings[BOARD_POWER].value == pytest.approx(3.901)


def test_tegrastats_sample_is_shared_within_a_read() -> None:
    clock = Clock()
    hal = JetsonHal(tree("bare"), programs=standins(), clock=clock, tegrastats_interval_ms=20)
    first = hal._tegra()
    assert hal._tegra() is first  # same instant: not a second process
    clock.t += 1.0
    assert hal._tegra() is not first


@pytest.mark.parametrize("mode", ["hang", "garbage", "fail"])
def test_tegrastats_broken(monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    monkeypatch.setenv("SUNLIT_STANDIN_TEGRASTATS", mode)
    start = time.monotonic()
    hal = JetsonHal(tree("bare"), programs=standins(timeout_s=0.3), tegrastats_interval_ms=20)
    readings = hal.read()
    assert time.monotonic() - start < 3.0
    assert all(r.status is SensorStatus.UNSUPPORTED for r in readings.values())
    assert hal.describe()["tegrastats"] is False


def test_tegrastats_failing_after_start_reads_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    hal = JetsonHal(tree("bare"), programs=standins(), clock=clock, tegrastats_interval_ms=20)
    monkeypatch.setenv("SUNLIT_STANDIN_TEGRASTATS", "fail")
    clock.t += 1.0  # past the shared sample's age
    readings = hal.read()
    for name in (CHIP_TEMP, BOARD_POWER, COMPUTE_POWER):
        assert readings[name].status is SensorStatus.OFFLINE, name


# --- nvpmodel DVFS ---------------------------------------------------------------------------


def test_nvpmodel_switches_between_full_and_low(nvp_state: Path) -> None:
    hal = JetsonHal(tree("jetson_orin"), programs=standins(), dvfs_allowed=True, nvpmodel_low=1)
    assert hal.set_frequency_cap(0.3) is DvfsResult.APPLIED
    assert nvp_state.read_text() == "1"
    assert hal.set_frequency_cap(0.4) is DvfsResult.UNCHANGED
    assert hal.set_frequency_cap(0.8) is DvfsResult.APPLIED
    assert nvp_state.read_text() == "0"
    assert hal.set_frequency_cap(1.0) is DvfsResult.UNCHANGED


def test_nvpmodel_denied_by_configuration(nvp_state: Path) -> None:
    hal = JetsonHal(tree("jetson_orin"), programs=standins(), nvpmodel_low=1)
    assert hal.set_frequency_cap(0.3) is DvfsResult.DENIED
    assert nvp_state.read_text() == "0"


def test_nvpmodel_set_fails(nvp_state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUNLIT_STANDIN_NVPMODEL", "noset")
    hal = JetsonHal(tree("jetson_orin"), programs=standins(), dvfs_allowed=True, nvpmodel_low=1)
    assert hal.set_frequency_cap(0.3) is DvfsResult.FAILED


def test_restart_while_in_low_mode_restores_the_configured_default(nvp_state: Path) -> None:
    nvp_state.write_text("1")
    hal = JetsonHal(tree("jetson_orin"), programs=standins(), dvfs_allowed=True, nvpmodel_low=1)
    assert hal.set_frequency_cap(1.0) is DvfsResult.APPLIED  # PM_CONFIG DEFAULT=0
    assert nvp_state.read_text() == "0"


def test_without_nvpmodel_or_low_mode_cpufreq_is_capped(tmp_path: Path) -> None:
    root = copy_tree("jetson_orin", tmp_path)
    no_tool = standins(nvpmodel=str(tmp_path / "none"))
    hal = JetsonHal(root, programs=no_tool, dvfs_allowed=True, nvpmodel_low=1)
    assert hal.describe()["nvpmodel"] is None
    assert hal.set_frequency_cap(0.5) is DvfsResult.APPLIED
    policy = root / "sys/devices/system/cpu/cpufreq/policy4/scaling_max_freq"
    assert policy.read_text() == "755200"
    hal = JetsonHal(root, programs=standins(), dvfs_allowed=True)  # no low mode configured
    assert hal.set_frequency_cap(0.5) is DvfsResult.UNCHANGED

