"""The radiation monitor in a running stack: scrubbing, statistics, and policy escalation."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from hil.stack import LocalStack, wait_until
from tests.conftest import FAST
from tests.hal.boards import copy_tree

QUIET = (*FAST, "apps.world.upset_rate_per_bit_day=1e-11",
         "apps.radiation.housekeeping_period_s=0.2", "apps.jobs.housekeeping_period_s=0.2")

#: A policy that escalates at once, so a test sees each action after one or two pieces of
#: evidence; the first responses are the flown ones.
ESCALATING = """
[[apps.radiation.policy]]
evidence = "abft_multiple"
action = "rollback"

[[apps.radiation.policy]]
evidence = "rollback"
action = "restart_jobs"
count = 2
window_s = 86400

[[apps.radiation.policy]]
evidence = "jobs_crash"
action = "safe"
count = 2
window_s = 86400
"""


@pytest.fixture
def quiet(run_dir: Path) -> Iterator[LocalStack]:
    with LocalStack(run_dir, overrides=QUIET, log_to=run_dir / "stack.out") as stack:
        yield stack


@pytest.fixture
def escalating(run_dir: Path) -> Iterator[LocalStack]:
    config = run_dir / "escalating.toml"
    config.write_text(ESCALATING)
    with LocalStack(run_dir, config=str(config), overrides=QUIET,
                    log_to=run_dir / "stack.out") as stack:
        yield stack


def test_an_upset_in_a_protected_table_is_scrubbed_and_counted(quiet: LocalStack) -> None:
    tap = quiet.tap("evt.radiation", "tlm.radiation")
    tap.wait_telemetry("radiation", lambda t: t["upsets"] == 0)
    assert quiet.command("world", "inject_upset", {"region": "tables", "bit": 1234}).ok
    reply = wait_until(lambda: (r := quiet.command("radiation", "scrub")).ok
                       and r.data["table_repairs"] and r, 10, "a repair")
    assert reply.data["table_repairs"] == 1
    event = tap.wait_event("radiation", "TABLE_REPAIRED")
    assert event.data["args"]["bits"] == 1 and event.data["args"]["copy"] == "live"
    tap.wait_event("radiation", "UPSET", where=lambda a: a["evidence"] == "table_mismatch")
    tlm = tap.wait_telemetry("radiation", lambda t: t["upsets"] == 1)
    assert tlm.data["by_evidence"] == {"table_mismatch": 1}
    assert quiet.command("radiation", "scrub").data["table_repairs"] == 0  # repaired for good


def test_the_estimate_reaches_the_job_runner(quiet: LocalStack) -> None:
    quiet.command("radiation", "param_load", {"name": "estimate_period_s", "value": 1.0})
    quiet.command("radiation", "param_load", {"name": "prior_rate_per_day", "value": 86400.0})
    quiet.command("radiation", "param_activate")
    tap = quiet.tap("tlm.jobs")
    tap.wait_telemetry("jobs", lambda t: 0.5 < t["mtbf_s"] < 2.0, timeout=15)


def test_repeated_rollbacks_restart_the_job_runner(escalating: LocalStack) -> None:
    tap = escalating.tap("evt.radiation", "evt.executive")
    escalating.command("jobs", "param_load", {"name": "duty_cap", "value": 0.2})
    escalating.command("jobs", "param_activate")
    reply = escalating.command("jobs", "submit", {"kind": "matmul", "params": {
        "n": 3072, "panel_rows": 16}, "priority": 5})
    assert reply.ok, reply.message
    job = reply.data["job"]
    pid = escalating.wait_running("jobs")["pid"]
    for _ in range(2):
        wait_until(lambda: escalating.command("jobs", "rollback", {"job": job}).ok, 10,
                   "a rollback accepted")
    fired = tap.wait_event("radiation", "POLICY_FIRED")
    assert fired.data["args"]["action"] == "restart_jobs"
    tap.wait_event("executive", "APP_EXITED", where=lambda a: a["app"] == "jobs")
    escalating.wait_running("jobs", not_pid=pid)


def test_a_job_runner_that_keeps_crashing_sends_the_spacecraft_to_safe(
        escalating: LocalStack) -> None:
    tap = escalating.tap("evt.radiation")
    for _ in range(2):
        pid = escalating.wait_running("jobs")["pid"]
        os.kill(pid, signal.SIGKILL)
        escalating.wait_running("jobs", not_pid=pid)
    fired = tap.wait_event("radiation", "POLICY_FIRED")
    assert fired.data["args"]["action"] == "safe"
    wait_until(lambda: escalating.mode() == "SAFE", 10, "SAFE")


def test_what_the_boards_edac_counters_add_is_evidence(run_dir: Path, tmp_path: Path) -> None:
    """On a board with EDAC (a recorded x86 sysfs tree: 4 corrected errors at boot) the monitor
    takes what the counters add since it last looked as evidence, not what they held."""
    root = copy_tree("x86_laptop", tmp_path)
    board = (*QUIET, "hal.backend=linux", f"hal.sysfs_root={root}")
    with LocalStack(run_dir, overrides=board, log_to=run_dir / "stack.out") as stack:
        tap = stack.tap("evt.radiation", "tlm.radiation")
        before = tap.wait_telemetry("radiation", lambda t: t["edac"] == "4/0").data["upsets"]
        (root / "sys/devices/system/edac/mc/mc1/ce_count").write_text("3\n")  # 1 → 3
        assert stack.command("radiation", "scrub").ok
        event = tap.wait_event("radiation", "EDAC")
        assert (event.data["args"]["ce"], event.data["args"]["ue"]) == (2, 0)
        tap.wait_telemetry("radiation", lambda t: t["edac"] == "6/0"
                           and t["upsets"] == before + 2)
