"""Storage and data faults: damaged checkpoints, telemetry store, protected tables; full disk
refused on a real disk."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from flight.checkpoint import CheckpointStore
from hil.faults import FaultError, get_fault
from hil.faults.disk import MAX_FILESYSTEM_BYTES, filesystem
from hil.stack import wait_until
from hil.testbed import Testbed


def _set_param(bed: Testbed, app: str, name: str, value: float) -> None:
    assert bed.stack.command(app, "param_load", {"name": name, "value": value}).ok
    assert bed.stack.command(app, "param_activate").ok


def test_corrupt_checkpoint_is_found_and_the_mirror_keeps_the_newest_state(
        bed: Testbed, rng: random.Random) -> None:
    _set_param(bed, "thermal", "kp", 0.061)  # two generations of thermal's parameters
    _set_param(bed, "thermal", "kp", 0.072)
    fault = get_fault("checkpoint_corrupt")
    assert "thermal/params" in fault.targets(bed)
    old = bed.stack.wait_running("thermal")["pid"]
    injection = fault.run(bed, "thermal/params", {"bits": 3, "restart": True}, rng)
    newest = injection.evidence["generation"]
    assert injection.evidence["killed_pid"] == old and len(injection.evidence["flips"]) == 3
    assert bed.tap is not None
    fallback = bed.tap.wait_event("thermal", "CHECKPOINT_FALLBACK", 20,
                                  where=lambda a: a.get("store") == "thermal/params")
    args = fallback.data["args"]
    # Parameters are kept in two copies: the damaged file is skipped and reported, and the
    # newest generation comes from the intact copy — the activation is not forgotten.
    assert args["generation"] == newest and args["used"] == newest
    bed.stack.wait_running("thermal", not_pid=old)
    active = bed.stack.command("thermal", "param_report").data["active"]
    assert active["kp"] == pytest.approx(0.072)


def test_truncated_checkpoint_is_rejected_by_the_store(bed: Testbed,
                                                       rng: random.Random) -> None:
    injection = get_fault("checkpoint_corrupt").run(bed, "executive/mode", {"how": "truncate"},
                                                    rng)
    path = Path(injection.evidence["path"])
    assert path.stat().st_size == injection.evidence["new_size"] < injection.evidence["old_size"]
    store = CheckpointStore(path.parent, "mode")
    store.load()
    assert any(r.path == path for r in store.last_rejections)


def test_garbled_telemetry_store_is_set_aside(bed: Testbed, rng: random.Random) -> None:
    old = bed.stack.wait_running("comms")["pid"]
    injection = get_fault("tmstore_corrupt").run(bed, "comms", {"how": "garble",
                                                                "restart": True}, rng)
    assert "tm-store.sqlite" in injection.evidence["damage"]
    assert bed.tap is not None
    recovered = bed.tap.wait_event("comms", "STORE_RECOVERED", 20)
    assert Path(recovered.data["args"]["path"]).exists()
    bed.stack.wait_running("comms", not_pid=old)
    assert bed.ground is not None
    bed.ground.ping(timeout=10)  # the radio is up again, and telemetry flows
    bed.ground.await_telemetry("comms", "tc_accepted", timeout=10)


def test_upset_in_tables_is_found_by_the_scrubber(bed: Testbed, rng: random.Random) -> None:
    injection = get_fault("upset").run(bed, "tables", {"bit": 1234}, rng)
    assert injection.evidence["bit"] == 1234 and injection.evidence["owner"] == "radiation"
    before = injection.evidence["owner_counters_before"]["table_repairs"]

    def repaired() -> bool:  # the upset travels on the bus, the scrub command on its own path
        bed.stack.command("radiation", "scrub")
        return bool(bed.stack.command("radiation", "status").data["table_repairs"] > before)
    wait_until(repaired, 10, "the scrubber to repair the flipped table bit", interval=0.2)


def test_disk_full_refuses_a_real_disk(bed: Testbed) -> None:
    if int(filesystem(bed.run_dir)["size"]) < MAX_FILESYSTEM_BYTES:
        pytest.skip("the run dir is on a small filesystem here: it would really be filled")
    with pytest.raises(FaultError, match="not a small filesystem"):
        get_fault("disk_full").run(bed, "run_dir")
    assert not (bed.run_dir / "disk-filler.bin").exists()


def test_upset_in_job_data_reports_the_runner_counters(bed: Testbed,
                                                       rng: random.Random) -> None:
    injection = get_fault("upset").run(bed, "jobs", rng=rng)
    assert 0 <= injection.evidence["bit"] < 8 * 2**20 * 8
    assert "sim_flips" in injection.evidence["owner_counters_before"]


def test_flipped_telemetry_store_leaves_the_radio_up(bed: Testbed, rng: random.Random) -> None:
    bed.stack.wait_running("comms")
    injection = get_fault("tmstore_corrupt").run(bed, "comms", {"bits": 16}, rng)
    flips = [f for each in injection.evidence["damage"].values() for f in each]
    assert len(flips) == 16 and all(f["old"] ^ f["new"] == 1 << f["bit"] for f in flips)
    assert bed.ground is not None
    bed.ground.ping(timeout=10)
