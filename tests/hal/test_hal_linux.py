"""The linux backend against recorded trees, broken files and this machine."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from flight.hal import linux
from flight.hal.base import (
    BATTERY_SOC,
    BOARD_POWER,
    CHIP_TEMP,
    COMPUTE_POWER,
    CPU_FREQ,
    CPU_PERCENT,
    IN_SUN,
    SOLAR_POWER,
    DvfsResult,
    SensorStatus,
)
from flight.hal.linux import LinuxHal
from tests.hal.boards import BOARDS, Clock, assert_complete_and_honest, copy_tree, tree, write

POLICY = "sys/devices/system/cpu/cpufreq/policy{}/scaling_max_freq"
PKG_TEMP = "sys/class/thermal/thermal_zone4/temp"  # x86_pkg_temp in the x86_laptop tree
ENERGY = "sys/class/powercap/intel-rapl:0/energy_uj"


@pytest.mark.parametrize("board", BOARDS)
def test_every_tree_gives_every_name(board: str) -> None:
    hal = LinuxHal(tree(board))
    readings = hal.read()
    assert_complete_and_honest(readings)
    for world in (BATTERY_SOC, SOLAR_POWER, IN_SUN):  # another layer supplies these
        assert readings[world].status is SensorStatus.UNSUPPORTED
    assert readings[CPU_PERCENT].status is SensorStatus.UNSUPPORTED  # psutil is not the tree
    assert hal.describe()["backend"] == "linux"


def test_bare_board_is_unsupported_not_zero() -> None:
    hal = LinuxHal(tree("bare"), dvfs_allowed=True)
    readings = hal.read()
    assert all(r.status is SensorStatus.UNSUPPORTED and r.value is None
               for r in readings.values())
    assert hal.temperatures() == {} and hal.rails() == {}
    assert hal.edac() is None and hal.throttling() is None
    assert hal.set_frequency_cap(0.5) is DvfsResult.UNSUPPORTED
    info = hal.describe()
    assert info["thermal_zones"] == {} and info["cpufreq_policies"] == []
    assert info["edac"] is False and info["rapl"] is False


def test_chip_is_the_hottest_compute_zone_not_the_hottest_zone() -> None:
    hal = LinuxHal(tree("x86_laptop"))
    chip = hal.read()[CHIP_TEMP]
    assert chip.value == 62.0 and chip.source == "thermal:x86_pkg_temp"
    assert hal.temperatures()["acpitz"].value == 70.0  # hotter, but not a compute die


def test_configured_chip_zone_by_type_or_name() -> None:
    assert LinuxHal(tree("x86_laptop"), chip_zone="acpitz").read()[CHIP_TEMP].value == 70.0
    by_name = LinuxHal(tree("x86_laptop"), chip_zone="thermal_zone2").read()[CHIP_TEMP]
    assert by_name.value == 55.0
    missing = LinuxHal(tree("x86_laptop"), chip_zone="nope").read()[CHIP_TEMP]
    assert missing.status is SensorStatus.UNSUPPORTED


def test_hottest_zone_when_none_looks_like_a_die(tmp_path: Path) -> None:
    for n, (kind, mc) in enumerate([("acpitz", 41000), ("iwlwifi_1", 44000)]):
        write(tmp_path, f"sys/class/thermal/thermal_zone{n}/type", kind)
        write(tmp_path, f"sys/class/thermal/thermal_zone{n}/temp", str(mc))
    assert LinuxHal(tmp_path).read()[CHIP_TEMP].value == 44.0


@pytest.mark.parametrize(("raw", "status"), [
    ("garbage\n", SensorStatus.INVALID),
    ("200000\n", SensorStatus.INVALID),  # 200 °C: not a die that still runs
    ("-41000\n", SensorStatus.INVALID),
    ("-256000\n", SensorStatus.OFFLINE),  # Jetson's "sensor powered down"
])
def test_broken_zone_is_not_a_value(tmp_path: Path, raw: str, status: SensorStatus) -> None:
    root = copy_tree("x86_laptop", tmp_path)
    write(root, PKG_TEMP, raw)
    hal = LinuxHal(root)
    pkg = hal.temperatures()["x86_pkg_temp"]
    assert pkg.status is status and pkg.value is None
    assert hal.read()[CHIP_TEMP].value == 70.0  # falls back to the hottest valid zone


def test_unreadable_zone_is_offline(tmp_path: Path) -> None:
    root = copy_tree("x86_laptop", tmp_path)
    (root / PKG_TEMP).unlink()
    (root / PKG_TEMP).mkdir()  # reading it fails like EIO from a powered-down sensor
    assert LinuxHal(root).temperatures()["x86_pkg_temp"].status is SensorStatus.OFFLINE


def test_all_zones_offline_reads_offline(tmp_path: Path) -> None:
    write(tmp_path, "sys/class/thermal/thermal_zone0/type", "gpu-thermal")
    write(tmp_path, "sys/class/thermal/thermal_zone0/temp", "-256000")
    chip = LinuxHal(tmp_path).read()[CHIP_TEMP]
    assert chip.status is SensorStatus.OFFLINE and chip.value is None


def test_repeated_zone_types_are_told_apart(tmp_path: Path) -> None:
    for n in range(2):
        write(tmp_path, f"sys/class/thermal/thermal_zone{n}/type", "acpitz")
        write(tmp_path, f"sys/class/thermal/thermal_zone{n}/temp", f"4{n}000")
    assert set(LinuxHal(tmp_path).temperatures()) == {"acpitz:thermal_zone0",
                                                      "acpitz:thermal_zone1"}


def test_cpu_frequency_is_the_fastest_policy() -> None:
    freq = LinuxHal(tree("x86_laptop")).read()[CPU_FREQ]
    assert freq.value == 2100.0 and freq.source == "cpufreq"


def test_rapl_power_from_energy_difference(tmp_path: Path) -> None:
    root = copy_tree("x86_laptop", tmp_path)
    clock = Clock()
    hal = LinuxHal(root, clock=clock)
    assert hal.read()[BOARD_POWER].status is SensorStatus.STALE  # no interval yet
    clock.t += 2.0
    write(root, ENERGY, str(123456789 + 30_000_000))  # 30 J in 2 s
    power = hal.read()[BOARD_POWER]
    assert power.value == pytest.approx(15.0) and power.source == "rapl"
    clock.t += 0.01  # too short an interval to measure: the last value stands
    assert hal.read()[BOARD_POWER].value == pytest.approx(15.0)
    clock.t += 1.0
    write(root, ENERGY, str(262143328850 - 10_000_000))
    assert hal.read()[BOARD_POWER].status is SensorStatus.INVALID  # 262 kJ in 1 s: no
    clock.t += 2.0
    write(root, ENERGY, "5000000")  # wrapped at max_energy_range_uj: 15 J in 2 s
    assert hal.read()[BOARD_POWER].value == pytest.approx(7.5)
    assert hal.read()[COMPUTE_POWER].status is SensorStatus.UNSUPPORTED


def test_no_rapl_is_unsupported() -> None:
    assert LinuxHal(tree("pi4")).read()[BOARD_POWER].status is SensorStatus.UNSUPPORTED


def test_edac_present_and_absent() -> None:
    assert LinuxHal(tree("x86_laptop")).edac() == {"ce": 4, "ue": 0}
    assert LinuxHal(tree("pi4")).edac() is None


# --- DVFS ------------------------------------------------------------------------------------


def _max_freqs(root: Path) -> list[int]:
    return [int((root / POLICY.format(p)).read_text()) for p in range(4)]


def test_dvfs_applied_then_unchanged(tmp_path: Path) -> None:
    root = copy_tree("x86_laptop", tmp_path)
    hal = LinuxHal(root, dvfs_allowed=True)
    assert hal.set_frequency_cap(0.5) is DvfsResult.APPLIED
    assert _max_freqs(root) == [2350000] * 4
    assert hal.set_frequency_cap(0.5) is DvfsResult.UNCHANGED
    assert hal.set_frequency_cap(0.01) is DvfsResult.APPLIED
    assert _max_freqs(root) == [400000] * 4  # never below cpuinfo_min_freq
    assert hal.set_frequency_cap(1.0) is DvfsResult.APPLIED
    assert _max_freqs(root) == [4700000] * 4


def test_dvfs_unchanged_when_the_kernel_rounded_our_write(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = copy_tree("x86_laptop", tmp_path)
    hal = LinuxHal(root, dvfs_allowed=True)
    real_write = linux._write_sysfs

    def rounding_write(path: Path, value: str) -> None:
        real_write(path, str(int(value) // 100000 * 100000))  # like a frequency table

    monkeypatch.setattr(linux, "_write_sysfs", rounding_write)
    assert hal.set_frequency_cap(0.5) is DvfsResult.APPLIED
    assert _max_freqs(root) == [2300000] * 4
    assert hal.set_frequency_cap(0.5) is DvfsResult.UNCHANGED


def test_dvfs_denied_by_configuration(tmp_path: Path) -> None:
    root = copy_tree("x86_laptop", tmp_path)
    assert LinuxHal(root).set_frequency_cap(0.5) is DvfsResult.DENIED
    assert _max_freqs(root) == [4700000] * 4


def test_dvfs_denied_when_not_writable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = copy_tree("x86_laptop", tmp_path)
    hal = LinuxHal(root, dvfs_allowed=True)
    monkeypatch.setattr(linux.os, "access", lambda path, mode: False)
    assert hal.set_frequency_cap(0.5) is DvfsResult.DENIED
    assert _max_freqs(root) == [4700000] * 4


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write a read-only file")
def test_dvfs_denied_on_read_only_file(tmp_path: Path) -> None:
    root = copy_tree("x86_laptop", tmp_path)
    (root / POLICY.format(2)).chmod(0o444)
    assert LinuxHal(root, dvfs_allowed=True).set_frequency_cap(0.5) is DvfsResult.DENIED


@pytest.mark.parametrize(("error", "result"), [
    (PermissionError(13, "Permission denied"), DvfsResult.DENIED),
    (OSError(22, "Invalid argument"), DvfsResult.FAILED),
])
def test_dvfs_write_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: OSError,
                           result: DvfsResult) -> None:
    def failing_write(path: Path, value: str) -> None:
        raise error

    monkeypatch.setattr(linux, "_write_sysfs", failing_write)
    hal = LinuxHal(copy_tree("x86_laptop", tmp_path), dvfs_allowed=True)
    assert hal.set_frequency_cap(0.5) is result


def test_dvfs_unsupported_without_cpufreq() -> None:
    assert LinuxHal(tree("bare"), dvfs_allowed=True).set_frequency_cap(0.5) \
        is DvfsResult.UNSUPPORTED


@pytest.mark.parametrize("fraction", [0.0, -0.1, 1.5, math.nan, math.inf])
def test_dvfs_rejects_a_nonsense_fraction(fraction: float) -> None:
    with pytest.raises(ValueError):
        LinuxHal(tree("x86_laptop"), dvfs_allowed=True).set_frequency_cap(fraction)


# --- this machine ----------------------------------------------------------------------------


def test_this_machine() -> None:
    """The live root: whatever it lacks (here: thermal zones, cpufreq) is unsupported."""
    hal = LinuxHal(Path("/"))
    readings = hal.read()
    assert_complete_and_honest(readings)
    assert hal.use_psutil
    assert readings[CPU_PERCENT].ok
    if not list(Path("/sys/class/thermal").glob("thermal_zone*")):
        assert readings[CHIP_TEMP].status is SensorStatus.UNSUPPORTED
    if not hal.sysfs.cpufreq_policies():
        assert hal.set_frequency_cap(0.5) is DvfsResult.UNSUPPORTED
    assert hal.describe()["root"] == "/"
    hal.close()
