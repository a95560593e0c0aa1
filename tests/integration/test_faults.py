"""Faults the onboard core must survive, each with real processes and real signals."""

from __future__ import annotations

import os
import random
import signal
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from flight.app.clock import MissionClock
from flight.bus import Reason
from hil.stack import LocalStack, StackError, wait_until
from tests.conftest import FAST

#: The hang test's own supervision settings: the profile's real hang threshold.
PERIOD = 0.5  # executive.heartbeat_period_s
HANG_MISSES = 3  # executive.hang_misses


def _set_param(stack: LocalStack, name: str, value: object) -> bool:
    staged = stack.command("health", "param_load", {"name": name, "value": value}, timeout=3)
    return staged.ok and stack.command("health", "param_activate", timeout=3).ok


def test_sigkill_restarts_app_and_keeps_its_parameters(stack: LocalStack) -> None:
    tap = stack.tap("evt.executive")
    assert _set_param(stack, "disk_path", "/tmp")
    old = stack.wait_running("health")
    os.kill(old["pid"], signal.SIGKILL)
    exited = tap.wait_event("executive", "APP_EXITED", timeout=2,
                            where=lambda a: a["pid"] == old["pid"])
    assert "SIGKILL" in exited.data["text"]
    new = stack.wait_running("health", not_pid=old["pid"])
    assert new["restarts"] == 1
    report = stack.command("health", "param_report").data
    assert report["active"]["disk_path"] == "/tmp"


def test_sigkill_at_random_moments_loses_no_completed_parameter_change(
        run_dir: Path) -> None:
    """Every change the app answered COMPLETED survives a SIGKILL at any moment."""
    with LocalStack(run_dir, overrides=(*FAST, "executive.flap_max_restarts=50"),
                    log_to=run_dir / "stack.out") as stack:
        _kill_while_changing_parameters(stack, random.Random(1234), rounds=8)


def _kill_while_changing_parameters(stack: LocalStack, rng: random.Random, rounds: int) -> None:
    last_completed = None
    for round_ in range(rounds):
        pid = stack.wait_running("health", timeout=20)["pid"]
        kill_at = time.monotonic() + rng.uniform(0.0, 0.4)
        value = 0
        while time.monotonic() < kill_at:
            value += 1
            path = f"/tmp/round{round_}-{value}"
            if _set_param(stack, "disk_path", path):
                last_completed = path
        os.kill(pid, signal.SIGKILL)
        stack.wait_running("health", timeout=20, not_pid=pid)
        active = stack.command("health", "param_report").data["active"]["disk_path"]
        # The kill may land after the write but before the reply: then the newer value wins.
        assert active == last_completed or active.startswith(f"/tmp/round{round_}-")
        if active != last_completed:
            assert int(active.rsplit("-", 1)[1]) == int(last_completed.rsplit("-", 1)[1]) + 1
            last_completed = active


def test_sigstop_is_detected_as_hang_within_three_periods_and_restarted(
        run_dir: Path) -> None:
    # FAST tolerates long stalls (hang_misses=10); this test is about the real threshold.
    overrides = (*FAST, f"executive.hang_misses={HANG_MISSES}",
                 f"executive.heartbeat_period_s={PERIOD}")
    with LocalStack(run_dir, overrides=overrides, log_to=run_dir / "stack.out") as stack:
        tap = stack.tap("evt.executive", "hb.health")
        old = stack.wait_running("health")
        last_hb = tap.wait(lambda e: e.topic == "hb.health", 2, "a heartbeat").t
        os.kill(old["pid"], signal.SIGSTOP)
        stopped_at = MissionClock.from_file(stack.run_dir.clock_file).now()
        hung = tap.wait_event("executive", "APP_HUNG", timeout=5)
        # Declared hung within three periods of the last beat (plus scheduling slack).
        detected_after = hung.t - max(last_hb, stopped_at - PERIOD)
        assert detected_after <= HANG_MISSES * PERIOD + 0.3, detected_after
        tap.wait_event("executive", "APP_EXITED", timeout=5,
                       where=lambda a: a["pid"] == old["pid"])
        new = stack.wait_running("health", timeout=10, not_pid=old["pid"])
        assert new["restarts"] == 1


def test_app_crashing_at_start_backs_off_then_flaps_into_safe(run_dir: Path) -> None:
    config = run_dir / "flap.toml"
    config.write_text(textwrap.dedent("""
        [executive]
        flap_max_restarts = 3
        flap_window_s = 30.0
        [apps.crasher]
        class = "tests.support.apps:CrashAtStart"
    """))
    stack = LocalStack(run_dir, config=str(config), overrides=FAST,
                       env={"PYTHONPATH": str(Path(__file__).parents[2])},
                       log_to=run_dir / "stack.out")
    try:
        stack.start(wait_mode=False)
        tap = stack.tap("evt.executive")
        delays = []
        for _ in range(3):
            event = tap.wait_event("executive", "APP_RESTART_SCHEDULED", timeout=10,
                                   where=lambda a: a["app"] == "crasher" and a["delay_s"]
                                   not in delays)
            delays.append(event.data["args"]["delay_s"])
        assert delays == sorted(delays) and delays[1] == pytest.approx(2 * delays[0])
        tap.wait_event("executive", "APP_FLAPPING", timeout=10)
        wait_until(lambda: stack.mode() == "SAFE", 5, "SAFE mode")
        rows = {r["name"]: r for r in stack.status()["processes"]}
        assert rows["crasher"]["state"] == "FLAPPING"
        assert rows["health"]["state"] == "RUNNING"  # the rest of the stack keeps running
        assert stack.command("health", "noop").ok
        # SAFE is left only by the explicit, hazardous command.
        refused = stack.command("executive", "set_mode", {"mode": "NOMINAL"})
        assert refused.reason is Reason.NOT_PERMITTED
        assert stack.hazardous("executive", "exit_safe", {"mode": "NOMINAL"}).ok
        assert stack.mode() == "NOMINAL"
    finally:
        stack.stop()


def test_restarted_app_learns_the_current_mode(stack: LocalStack) -> None:
    tap = stack.tap("tlm.health")
    assert stack.command("executive", "set_mode", {"mode": "POWER_SAVE"}).ok
    tap.wait_telemetry("health", lambda t: t["mode"] == "POWER_SAVE")
    old = stack.wait_running("health")
    os.kill(old["pid"], signal.SIGKILL)
    stack.wait_running("health", not_pid=old["pid"])
    # Sent after the new process was running (the old one's telemetry is still in the tap).
    since = MissionClock.from_file(stack.run_dir.clock_file).now()
    fresh = tap.wait(lambda e: e.topic == "tlm.health" and e.t >= since
                     and e.data["uptime_s"] < 10.0 and e.data["mode"] != "BOOT",
                     10.0, "telemetry from the restarted health app")
    assert fresh.data["mode"] == "POWER_SAVE"


def test_safe_survives_an_executive_restart(run_dir: Path) -> None:
    stack = LocalStack(run_dir, overrides=FAST, log_to=run_dir / "stack.out").start()
    assert stack.command("executive", "set_mode", {"mode": "SAFE"}).ok
    assert stack.stop() == 0
    again = LocalStack(run_dir, overrides=FAST, log_to=run_dir / "stack.out").start()
    try:
        assert again.mode() == "SAFE"
    finally:
        again.stop()


def test_fdir_rule_changes_mode_and_restarts_app(run_dir: Path) -> None:
    config = run_dir / "fdir.toml"
    config.write_text(textwrap.dedent("""
        [[fdir.rules]]
        name = "bad-commands"
        monitor = "health.cmd_error_count >= 2"
        samples = 2
        action = "mode"
        mode = "POWER_SAVE"
        message = "operator typing errors"

        [[fdir.rules]]
        name = "restart-on-error"
        monitor = "health.cmd_error_count >= 4"
        action = "restart"
        app = "health"
    """))
    stack = LocalStack(run_dir, config=str(config), overrides=FAST,
                       log_to=run_dir / "stack.out").start()
    try:
        tap = stack.tap("evt.executive")
        pid = stack.wait_running("health")["pid"]
        for _ in range(2):
            stack.command("health", "no_such_command")
        tripped = tap.wait_event("executive", "FDIR_TRIPPED", timeout=5,
                                 where=lambda a: a["rule"] == "bad-commands")
        assert tripped.data["args"]["values"]["health.cmd_error_count"] >= 2
        wait_until(lambda: stack.mode() == "POWER_SAVE", 5, "POWER_SAVE")
        for _ in range(2):
            stack.command("health", "no_such_command")
        tap.wait_event("executive", "FDIR_TRIPPED", timeout=5,
                       where=lambda a: a["rule"] == "restart-on-error")
        stack.wait_running("health", not_pid=pid)
        report = {r["name"]: r for r in stack.command("executive", "fdir_report").data}
        assert report["bad-commands"]["trip_count"] == 1
    finally:
        stack.stop()


@pytest.mark.parametrize(("override", "key"), [
    ("executive.heartbeat_period_s=-1", "executive.heartbeat_period_s"),
    ("executive.hang_misses='three'", "executive.hang_misses"),
    ("bus.bogus=1", "bus.bogus"),
    ("apps.nosuch.enabled=true", "apps.nosuch.class"),
])
def test_malformed_config_fails_fast_naming_key(run_dir: Path, override: str, key: str) -> None:
    stack = LocalStack(run_dir / "rd", overrides=[override], log_to=run_dir / "out.txt")
    with pytest.raises(StackError, match="exited with 2"):
        stack.start(timeout=20)
    stack.stop()
    message = (run_dir / "out.txt").read_text()
    assert key in message and "expected" in message
    assert not (run_dir / "rd").exists()  # nothing was started or created


def test_malformed_config_file_names_the_file(run_dir: Path) -> None:
    config = run_dir / "bad.toml"
    config.write_text('[[fdir.rules]]\nname = "x"\nmonitor = "health.cpu_percent >"\n'
                      'action = "event"\n')
    stack = LocalStack(run_dir / "rd", config=str(config), log_to=run_dir / "out.txt")
    with pytest.raises(StackError):
        stack.start(timeout=20)
    stack.stop()
    message = (run_dir / "out.txt").read_text()
    assert str(config) in message and "fdir.rules[0].monitor" in message


def test_corrupted_newest_parameter_checkpoint_falls_back_with_event(
        stack: LocalStack) -> None:
    """Both copies of the newest generation damaged: the older generation, and an event."""
    assert _set_param(stack, "disk_path", "/tmp/older")
    assert _set_param(stack, "disk_path", "/tmp/newest")
    state = stack.run_dir.state_dir / "health"
    for pattern in ("params.*.ckpt", "params-mirror.*.ckpt"):
        newest = sorted(state.glob(pattern))[-1]
        data = bytearray(newest.read_bytes())
        data[-3] ^= 0x40  # one flipped bit in the payload
        newest.write_bytes(bytes(data))
    tap = stack.tap("evt.health")
    pid = stack.wait_running("health")["pid"]
    os.kill(pid, signal.SIGKILL)
    event = tap.wait_event("health", "CHECKPOINT_FALLBACK", timeout=10)
    assert "digest" in event.data["text"] or "sha" in event.data["text"].lower()
    stack.wait_running("health", not_pid=pid)
    assert stack.command("health", "param_report").data["active"]["disk_path"] == "/tmp/older"


def test_checkpoint_torn_by_sigkill_mid_write_costs_nothing_with_the_mirror(
        stack: LocalStack) -> None:
    """Truncate the newest file as a torn write would, and leave a half-written temp file: the
    damage is reported, and the newest value comes from the other copy."""
    assert _set_param(stack, "disk_path", "/tmp/intact")
    assert _set_param(stack, "disk_path", "/tmp/torn")
    state = stack.run_dir.state_dir / "health"
    newest = sorted(state.glob("params.*.ckpt"))[-1]
    newest.write_bytes(newest.read_bytes()[: len(newest.read_bytes()) // 2])
    (state / ".params.99.999999.tmp").write_bytes(b"SLCKPT01 half")
    tap = stack.tap("evt.health")
    pid = stack.wait_running("health")["pid"]
    os.kill(pid, signal.SIGKILL)
    tap.wait_event("health", "CHECKPOINT_FALLBACK", timeout=10)
    stack.wait_running("health", not_pid=pid)
    assert stack.command("health", "param_report").data["active"]["disk_path"] == "/tmp/torn"


def test_sigkilled_executive_leaves_no_orphans_and_a_restart_recovers_state(
        run_dir: Path) -> None:
    stack = LocalStack(run_dir, overrides=FAST, log_to=run_dir / "stack.out").start()
    assert _set_param(stack, "disk_path", "/tmp/kept")
    health_pid = stack.wait_running("health")["pid"]
    os.kill(stack.process.pid, signal.SIGKILL)
    stack.process.wait(5)
    # The orphaned app notices its executive is gone at its next heartbeat and exits.
    wait_until(lambda: not _alive(health_pid), 5, "the orphaned app to exit")
    stack.stop()
    again = LocalStack(run_dir, overrides=FAST, log_to=run_dir / "stack.out").start()
    try:
        report = again.command("health", "param_report").data
        assert report["active"]["disk_path"] == "/tmp/kept"
    finally:
        again.stop()


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
