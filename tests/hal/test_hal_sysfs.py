"""Never-raising sysfs reads, against recorded trees and broken files."""

from __future__ import annotations

import os
from pathlib import Path

from flight.hal.sysfs import Sysfs, parse_int, read_path_text
from tests.hal.boards import copy_tree, tree, write


def test_read_text_and_int_return_none_instead_of_raising(tmp_path: Path) -> None:
    fs = Sysfs(tmp_path)
    write(tmp_path, "ok", " 42\n")
    write(tmp_path, "neg", "-256000\n")
    write(tmp_path, "garbage", "4x2\n")
    write(tmp_path, "empty", "")
    (tmp_path / "adir").mkdir()
    (tmp_path / "binary").write_bytes(b"\xff\xfe\x00\x01")
    assert fs.read_int("ok") == 42
    assert fs.read_int("/ok") == 42  # absolute-looking paths stay under the root
    assert fs.read_int("neg") == -256000
    for rel in ("garbage", "empty", "adir", "binary", "missing", "missing/deeper", "ok/not-a-dir"):
        assert fs.read_int(rel) is None, rel
    assert fs.read_text("adir") is None
    assert fs.read_text("missing") is None
    assert fs.read_text("empty") == ""


def test_device_tree_strings_lose_their_nul_padding() -> None:
    model = read_path_text(tree("pi5") / "proc/device-tree/model")
    assert model == "Raspberry Pi 5 Model B Rev 1.0"


def test_parse_int_rejects_what_the_kernel_never_writes() -> None:
    assert parse_int(None) is None
    assert parse_int("0x10") is None
    assert parse_int("1" * 100) is None
    assert parse_int("12 34") is None


def test_thermal_zones_in_kernel_order(tmp_path: Path) -> None:
    for n in (0, 2, 10, 1, 11, 9):
        write(tmp_path, f"sys/class/thermal/thermal_zone{n}/type", f"z{n}\n")
        write(tmp_path, f"sys/class/thermal/thermal_zone{n}/temp", f"{n}000\n")
    zones = Sysfs(tmp_path).thermal_zones()
    assert [z.zone for z in zones] == [f"thermal_zone{n}" for n in (0, 1, 2, 9, 10, 11)]
    assert zones[-1].type == "z11" and zones[-1].millidegrees == 11000


def test_thermal_zone_without_temp_or_type(tmp_path: Path) -> None:
    (tmp_path / "sys/class/thermal/thermal_zone0").mkdir(parents=True)
    [zone] = Sysfs(tmp_path).thermal_zones()
    assert zone.type == "" and zone.raw is None and zone.millidegrees is None


def test_cpufreq_policies_and_per_cpu_fallback() -> None:
    orin = Sysfs(tree("jetson_orin")).cpufreq_policies()
    assert [p.name for p in orin] == ["policy0", "policy4"]
    assert orin[0].hw_max_khz == 1510400 and orin[0].hw_min_khz == 115200
    xavier = Sysfs(tree("jetson_xavier_jp4")).cpufreq_policies()
    assert [p.name for p in xavier] == ["cpu0", "cpu1"]  # no policy dirs on that kernel
    assert xavier[0].cur_khz == 1190400
    assert Sysfs(tree("bare")).cpufreq_policies() == []


def test_edac_totals_present_absent_and_unreadable(tmp_path: Path) -> None:
    assert Sysfs(tree("x86_laptop")).edac_counts() == {"ce": 4, "ue": 0}
    assert Sysfs(tree("bare")).edac_counts() is None
    root = copy_tree("x86_laptop", tmp_path)
    write(root, "sys/devices/system/edac/mc/mc0/ce_count", "lots\n")
    assert Sysfs(root).edac_counts() == {"ce": 1, "ue": 0}  # mc0 left out, not counted as 0
    write(root, "sys/devices/system/edac/mc/mc1/ue_count", "")
    assert Sysfs(root).edac_counts() is None


def test_hwmon_found_by_class_and_by_driver_once(tmp_path: Path) -> None:
    root = copy_tree("jetson_orin", tmp_path)
    driver_dir = root / "sys/bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon1"
    os.symlink(driver_dir, root / "sys/class/hwmon/hwmon1")  # how the kernel links it
    names = [d.name for d in Sysfs(root).hwmon()]
    assert sorted(names) == ["ina3221", "soctherm_cpu"]


def test_iio_devices_found_via_driver() -> None:
    [dev] = Sysfs(tree("jetson_xavier_jp4")).iio_devices()
    assert dev.name == "iio:device0"
