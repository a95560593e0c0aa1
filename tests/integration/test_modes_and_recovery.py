"""Modes across restarts and boot, commands between apps, and loops that must end in SAFE."""

from __future__ import annotations

import socket
import textwrap
import time
from pathlib import Path

import msgpack
import zmq

from flight.bus import Reason
from hil.stack import LocalStack, wait_until
from tests.conftest import FAST

ROOT = Path(__file__).parents[2]
HANG_SENSITIVE = (*FAST, "executive.hang_misses=3")  # 0.6 s without a heartbeat is a hang


def _stack(run_dir: Path, toml: str = "", *, overrides: tuple[str, ...] = FAST,
           env: dict[str, str] | None = None) -> LocalStack:
    config = None
    if toml:
        path = run_dir / "extra.toml"
        path.write_text(textwrap.dedent(toml))
        config = str(path)
    return LocalStack(run_dir / "rd", config=config, overrides=overrides,
                      env={"PYTHONPATH": str(ROOT), **(env or {})},
                      log_to=run_dir / "stack.out")


def test_an_app_waiting_on_a_dead_peer_keeps_heartbeating(run_dir: Path) -> None:
    stack = _stack(run_dir, """
        [apps.asker]
        class = "tests.support.apps:Asker"
    """, overrides=HANG_SENSITIVE).start()
    try:
        tap = stack.tap("evt.asker")
        assert stack.command("asker", "ask", {"app": "nobody", "timeout": 2.0}).ok
        answer = tap.wait_event("asker", "ANSWER", timeout=10)
        assert answer.data["args"]["reason"] == "TIMEOUT"
        assert stack.process_row("asker")["restarts"] == 0  # 2 s > the 0.6 s hang limit
        assert stack.command("asker", "ask", {"app": "health", "timeout": 2.0}).ok
        tap.wait_event("asker", "ANSWER", timeout=10, where=lambda a: a["app"] == "health"
                       and a["status"] == "COMPLETED")
    finally:
        stack.stop()


def test_persisted_safe_holds_from_the_first_instant_of_the_next_boot(run_dir: Path) -> None:
    first = _stack(run_dir).start()
    assert first.command("executive", "set_mode", {"mode": "SAFE"}).ok
    assert first.stop() == 0
    again = _stack(run_dir).start(wait_mode=False)
    try:
        assert again.mode() == "SAFE"
        refused = again.command("executive", "set_mode", {"mode": "NOMINAL"})
        assert refused.reason is Reason.NOT_PERMITTED
        again.wait_running("health")
        assert again.mode() == "SAFE"
    finally:
        again.stop()


def test_ready_is_sent_when_boot_ends_in_safe(run_dir: Path) -> None:
    path = run_dir / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        stack = _stack(run_dir, """
            [executive]
            flap_max_restarts = 2
            [apps.crasher]
            class = "tests.support.apps:CrashAtStart"
        """, env={"NOTIFY_SOCKET": str(path)})
        stack.start(wait_mode=False)
        try:
            sock.settimeout(15)
            message = sock.recv(4096).decode()
            while "READY=1" not in message:
                message = sock.recv(4096).decode()
            assert "STATUS=mode SAFE" in message
        finally:
            stack.stop()


def test_an_fdir_restart_loop_ends_in_flapping_and_safe(run_dir: Path) -> None:
    stack = _stack(run_dir, """
        [executive]
        flap_max_restarts = 3
        [[fdir.rules]]
        name = "always-restart"
        monitor = "health.uptime_s >= 0"
        action = "restart"
        app = "health"
        rearm = "always"
    """).start(wait_mode=False)
    try:
        tap = stack.tap("evt.executive")
        tap.wait_event("executive", "APP_FLAPPING", timeout=30)
        wait_until(lambda: stack.mode() == "SAFE", 5, "SAFE")
        assert stack.process_row("health")["state"] == "FLAPPING"
    finally:
        stack.stop()


def test_shared_state_from_anyone_but_the_executive_is_refused(run_dir: Path) -> None:
    stack = _stack(run_dir).start()
    try:
        tap = stack.tap("tlm.health")
        before = tap.wait_telemetry("health", lambda t: True).data["bus_rx_malformed"]
        ctx = zmq.Context.instance()
        rogue = ctx.socket(zmq.PUB)
        rogue.setsockopt(zmq.LINGER, 0)
        rogue.connect(stack.run_dir.pub_endpoint)
        forged = msgpack.packb(["rogue", 1, time.time(),
                                {"seq": 10**6, "key": "mode", "value": "POWER_SAVE"}])
        try:
            tap.wait_telemetry("health", lambda t: _send(rogue, forged)
                               and t["bus_rx_malformed"] > before, timeout=10)
        finally:
            rogue.close()
        assert stack.command("health", "sample").ok
        latest = tap.wait_telemetry("health", lambda t: True).data
        assert latest["mode"] == "NOMINAL"
    finally:
        stack.stop()


def _send(sock: zmq.Socket, body: bytes) -> bool:  # type: ignore[type-arg]
    sock.send_multipart([b"state.mode", body])
    return True
