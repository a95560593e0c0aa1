"""A full disk, for real: a flatsat on a small tmpfs, filled until ENOSPC, then freed."""

from __future__ import annotations

import errno
import os
import random
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from hil.faults import FaultError, get_fault
from hil.faults.disk import filesystem, small_filesystem
from hil.stack import wait_until
from hil.testbed import Testbed, start_testbed


@pytest.fixture(scope="module")
def bed() -> Iterator[Testbed]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    try:
        mount = small_filesystem(size_mb=48)
        root = mount.__enter__()
    except FaultError as exc:
        pytest.skip(str(exc))
    ground = Path(tempfile.mkdtemp(prefix="sl-gnd-", dir="/tmp"))
    try:  # the ground's state and archive are the operator's: not on the flatsat's disk
        with start_testbed(run_dir=root, timeout=60.0, ground_dir=ground) as testbed:
            yield testbed
    finally:
        mount.__exit__(None, None, None)
        shutil.rmtree(ground, ignore_errors=True)


def _newest_world_generation(bed: Testbed) -> int:
    names = [p.name for p in (bed.run_dir / "state" / "world").glob("world.*.ckpt")]
    return max((int(n.split(".")[1]) for n in names), default=0)


def test_small_filesystem_is_a_tmpfs_of_that_size(bed: Testbed) -> None:
    fs = filesystem(bed.run_dir)
    assert fs["mount"] == str(bed.run_dir) and 40 << 20 < int(fs["size"]) <= 48 << 20


def test_disk_full_then_cleared(bed: Testbed, rng: random.Random) -> None:
    fault = get_fault("disk_full")
    injection = fault.run(bed, "run_dir", rng=rng)
    try:
        assert injection.lasting and injection.evidence["written"] > 0
        assert int(filesystem(bed.run_dir)["free"]) == 0
        with pytest.raises(OSError) as full:
            (bed.run_dir / "probe").write_bytes(b"x" * 65536)
        assert full.value.errno == errno.ENOSPC
        with pytest.raises(FaultError, match="already filled"):
            fault.run(bed, "run_dir", rng=rng)
        # The stack lives on while nothing can be saved: FDIR sees the disk, the radio takes
        # telecommands (an ARSN it cannot persist does not close the uplink).
        assert bed.tap is not None
        bed.tap.wait_event("executive", "FDIR_TRIPPED", 20,
                           where=lambda a: "disk" in str(a.get("rule")))
        assert bed.ground is not None
        bed.ground.command("health", "noop", timeout=10)
    finally:
        (bed.run_dir / "probe").unlink(missing_ok=True)
        fault.clear(bed, injection)
    assert not (bed.run_dir / "disk-filler.bin").exists()
    assert injection.evidence["free_at_clear"] > 30 << 20
    # Saving works again: the world checkpoints once a mission minute (1 s here).
    seen = _newest_world_generation(bed)
    wait_until(lambda: _newest_world_generation(bed) > seen, 20, "a new world checkpoint")
    for app in ("world", "comms", "power", "thermal"):
        bed.stack.wait_running(app, timeout=20)
