"""The executive speaks sd_notify to systemd: READY once booted, WATCHDOG while alive."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from flight.executive.notify import Notifier
from hil.stack import LocalStack
from tests.conftest import FAST


def _receive_until(sock: socket.socket, wanted: str, timeout: float) -> list[str]:
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            seen.append(sock.recv(4096).decode())
        except TimeoutError:
            break
        if any(wanted in message for message in seen):
            return seen
    raise AssertionError(f"{wanted!r} not received within {timeout} s; got {seen}")


def test_ready_watchdog_and_stopping(run_dir: Path) -> None:
    path = run_dir / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        stack = LocalStack(run_dir / "rd", overrides=FAST, log_to=run_dir / "out",
                           env={"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "400000"})
        stack.start()
        try:
            ready = _receive_until(sock, "READY=1", 10)
            assert any("STATUS=mode NOMINAL" in m for m in ready)
            _receive_until(sock, "WATCHDOG=1", 2)
        finally:
            stack.stop()
        _receive_until(sock, "STOPPING=1", 5)


def test_abstract_socket_address_and_no_socket() -> None:
    assert Notifier({"NOTIFY_SOCKET": "@sunlit/test"}).address == "\0sunlit/test"
    quiet = Notifier({})
    assert not quiet.enabled and not quiet.ready() and quiet.watchdog_interval_s is None
    assert Notifier({"WATCHDOG_USEC": "3000000", "NOTIFY_SOCKET": "/x"}).watchdog_interval_s \
        == 1.5
