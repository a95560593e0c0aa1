"""The stack as an operator sees it: up, commanded, observed, stopped cleanly."""

from __future__ import annotations

import json
import subprocess
import sys

import psutil

from flight.bus import Reason, Status
from hil.stack import LocalStack


def test_boots_to_nominal_and_reports_each_process(stack: LocalStack) -> None:
    status = stack.status()
    assert status["mode"] == "NOMINAL"
    rows = {row["name"]: row for row in status["processes"]}
    assert rows["health"]["state"] == "RUNNING"
    assert psutil.pid_exists(rows["health"]["pid"])
    assert rows["health"]["heartbeat_age_s"] < 3.0


def test_noop_completes_and_emits_event(stack: LocalStack) -> None:
    tap = stack.tap("evt.health")
    reply = stack.command("health", "noop")
    assert reply.status is Status.COMPLETED
    tap.wait_event("health", "NOOP", timeout=5)


def test_bad_commands_are_refused_with_reasons_and_counted(stack: LocalStack) -> None:
    tap = stack.tap("tlm.health")
    assert stack.command("health", "no_such").reason is Reason.UNKNOWN_COMMAND
    assert stack.command("health", "param_load", {"name": "disk_path", "value": [1]}).reason \
        is Reason.BAD_ARGUMENTS
    assert stack.command("health", "param_load", {"name": "nope", "value": 1}).reason \
        is Reason.BAD_ARGUMENTS
    tap.wait_telemetry("health", lambda t: t["cmd_error_count"] == 3)
    assert stack.command("health", "reset_counters").ok
    tap.wait_telemetry("health", lambda t: t["cmd_error_count"] == 0 and t["cmd_count"] == 0)


def test_health_telemetry_covers_board_and_processes(stack: LocalStack) -> None:
    tap = stack.tap("tlm.health")
    tlm = tap.wait_telemetry("health", lambda t: set(t["process_uss_mib"]) >= {
        "executive", "health"}).data
    assert 0.0 <= tlm["cpu_percent"] <= 100.0
    assert tlm["mem_available_mib"] > 0
    assert tlm["disk_free_mib"] > 0
    assert tlm["mode"] == "NOMINAL"
    # Temperatures are absent (unsupported) where the machine has none, never zero.
    if "temp_max_c" in tlm:
        assert tlm["temp_max_c"] != 0.0


def test_sigterm_stops_every_process(run_dir) -> None:
    stack = LocalStack(run_dir, log_to=run_dir / "stack.out").start()
    pids = [row["pid"] for row in stack.status()["processes"]] + [stack.process.pid]
    assert stack.stop() == 0
    for pid in pids:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"
    assert not (run_dir / "executive.pid").read_text()  # emptied and unlocked


def test_cli_status_json_and_stop(stack: LocalStack) -> None:
    rd = str(stack.run_dir.root)
    out = subprocess.run([sys.executable, "-m", "flight.cli", "status", "--run-dir", rd,
                          "--json"], capture_output=True, text=True, timeout=30, check=True)
    status = json.loads(out.stdout)
    assert status["mode"] == "NOMINAL"
    assert {"name", "pid", "state", "restarts", "heartbeat_age_s"} <= set(status["processes"][0])
    text = subprocess.run([sys.executable, "-m", "flight.cli", "status", "--run-dir", rd],
                          capture_output=True, text=True, timeout=30, check=True).stdout
    assert "health" in text and "RUNNING" in text
    stopped = subprocess.run([sys.executable, "-m", "flight.cli", "stop", "--run-dir", rd],
                             capture_output=True, text=True, timeout=60)
    assert stopped.returncode == 0, stopped.stderr
    assert stack.process.wait(10) == 0
    gone = subprocess.run([sys.executable, "-m", "flight.cli", "status", "--run-dir", rd],
                          capture_output=True, text=True, timeout=30)
    assert gone.returncode == 3


def test_second_stack_in_same_run_dir_is_refused(stack: LocalStack) -> None:
    out = subprocess.run([sys.executable, "-m", "flight.cli", "run", "--run-dir",
                          str(stack.run_dir.root)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 1
    assert "already running" in out.stderr


def test_dictionary_is_versioned_json_with_ids() -> None:
    out = subprocess.run([sys.executable, "-m", "flight.cli", "dictionary"],
                         capture_output=True, text=True, timeout=60, check=True)
    d = json.loads(out.stdout)
    assert d["spec_version"] and d["framework_version"] and len(d["hash"]) == 64
    assert d["apps"]["executive"]["id"] != d["apps"]["health"]["id"]
    health = d["apps"]["health"]
    names = [c["name"] for c in health["commands"]]
    assert names[:2] == ["noop", "reset_counters"]
    assert [c["opcode"] for c in health["commands"]] == list(range(len(names)))
    channels = {c["name"]: c for c in health["telemetry"]}
    assert channels["cpu_percent"]["unit"] == "%" and "limits" in channels["cpu_percent"]
    assert {e["severity"] for e in health["events"]} <= {
        "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
    assert any(p["name"] == "disk_path" for p in health["parameters"])
    exit_safe = next(c for c in d["apps"]["executive"]["commands"] if c["name"] == "exit_safe")
    assert exit_safe["hazardous"] is True
