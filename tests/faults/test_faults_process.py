"""Process and memory faults against a real flatsat: the executive must restart what breaks."""

from __future__ import annotations

import os
import random

import pytest

from hil.faults import FaultError, get_fault
from hil.testbed import Testbed


def _read_byte(pid: int, address: int) -> int:
    fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY)
    try:
        return os.pread(fd, 1, address)[0]
    finally:
        os.close(fd)


def test_crash_is_detected_and_the_app_restarted(bed: Testbed, rng: random.Random) -> None:
    old = bed.stack.wait_running("health")["pid"]
    injection = get_fault("crash").run(bed, "health", rng=rng)
    assert injection.evidence["pid"] == old and "SIGKILL" in injection.detail
    assert bed.tap is not None
    exited = bed.tap.wait_event("executive", "APP_EXITED", 15,
                                where=lambda a: a.get("app") == "health" and a.get("pid") == old)
    assert "SIGKILL" in str(exited.data["args"]["how"])
    bed.tap.wait_event("executive", "APP_RUNNING", 15, where=lambda a: a.get("app") == "health")
    assert bed.stack.wait_running("health", not_pid=old)["pid"] != old


def test_hang_is_detected_and_memflip_changes_a_stopped_process(bed: Testbed,
                                                                 rng: random.Random) -> None:
    old = bed.stack.wait_running("power")["pid"]
    get_fault("hang").run(bed, "power", rng=rng)
    # While power is stopped, its memory holds still: the flipped byte must read back changed.
    flip = get_fault("memflip").run(bed, "power", {"flips": 3}, rng)
    assert flip.evidence["was_stopped"] is True
    for one in flip.evidence["flips"]:
        assert one["old"] ^ one["new"] == 1 << one["bit"]
        assert _read_byte(old, one["address_int"]) == one["new"]
    assert bed.tap is not None
    bed.tap.wait_event("executive", "APP_HUNG", 20, where=lambda a: a.get("app") == "power")
    assert bed.stack.wait_running("power", timeout=20, not_pid=old)["pid"] != old


def test_memflip_in_a_running_app(bed: Testbed, rng: random.Random) -> None:
    pid = bed.stack.wait_running("thermal")["pid"]
    injection = get_fault("memflip").run(bed, "thermal", {"region": "heap", "flips": 2}, rng)
    assert injection.evidence["pid"] == pid and injection.evidence["was_stopped"] is False
    for one in injection.evidence["flips"]:
        assert one["mapping_path"] == "[heap]" and one["old"] ^ one["new"] == 1 << one["bit"]
    # Masked, or a crash the executive repairs: either way thermal runs again, not stopped.
    assert bed.stack.wait_running("thermal", timeout=20)["state"] == "RUNNING"


def test_process_faults_refuse_unknown_targets(bed: Testbed) -> None:
    with pytest.raises(FaultError, match="did you mean 'thermal'"):
        get_fault("crash").run(bed, "thermale")
    assert "executive" not in get_fault("memflip").targets(bed)
