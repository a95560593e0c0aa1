"""Bring a local onboard stack up as a real process tree, talk to it, and take it down.

Used by ``sunlit-hil flatsat``, by the integration tests and by anyone scripting a flatsat on
one machine: it starts ``sunlit-flight run`` as a child process, waits (with deadlines, never
bare sleeps) until the executive answers and has left BOOT, and offers the bus to the caller:
commands to any app, and a tap on telemetry and events.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import psutil
import zmq

from flight.app.clock import MissionClock
from flight.bus import CommandClient, Envelope, Reply, RunDir, Subscriber

T = TypeVar("T")


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def _kill_survivors(processes: list[psutil.Process], grace: float) -> None:
    """Give ``processes`` ``grace`` seconds to be gone, then SIGKILL whatever is left."""
    _, alive = psutil.wait_procs(processes, timeout=grace)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=grace)


class StackError(RuntimeError):
    """The stack did not come up, or did not do what was awaited in time."""


def wait_until(check: Callable[[], T | None], timeout: float, what: str,
               interval: float = 0.05) -> T:
    """Call ``check`` until it returns something other than None/False, or raise StackError."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value is not None and value is not False:
            return value
        if time.monotonic() >= deadline:
            raise StackError(f"timed out after {timeout:.1f} s waiting for {what}")
        time.sleep(interval)


class BusTap:
    """A subscriber on a running stack's bus with 'wait for' helpers."""

    def __init__(self, ctx: zmq.Context[Any], run_dir: RunDir, prefixes: Iterable[str]):
        self.subscriber = Subscriber(ctx, run_dir.sub_endpoint, prefixes)
        self.seen: deque[Envelope] = deque(maxlen=10_000)

    def wait(self, predicate: Callable[[Envelope], bool], timeout: float, what: str) -> Envelope:
        """Return the first message (already seen or new) that satisfies ``predicate``."""
        for envelope in self.seen:
            if predicate(envelope):
                return envelope
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            envelope = self.subscriber.recv(timeout_ms=max(1, int(left * 1000)))
            if envelope is None:
                continue
            self.seen.append(envelope)
            if predicate(envelope):
                return envelope
        raise StackError(f"timed out after {timeout:.1f} s waiting for {what}")

    def wait_event(self, app: str, name: str, timeout: float = 10.0,
                   where: Callable[[dict[str, Any]], bool] = lambda _: True) -> Envelope:
        return self.wait(
            lambda e: e.topic == f"evt.{app}" and isinstance(e.data, dict)
            and e.data.get("name") == name and where(e.data.get("args") or {}),
            timeout, f"event {app}.{name}")

    def wait_telemetry(self, app: str, where: Callable[[dict[str, Any]], bool],
                       timeout: float = 10.0) -> Envelope:
        return self.wait(lambda e: e.topic == f"tlm.{app}" and isinstance(e.data, dict)
                         and where(e.data), timeout, f"telemetry from {app}")

    def close(self) -> None:
        self.subscriber.close()


class LocalStack:
    """One ``sunlit-flight run`` process tree on this machine."""

    def __init__(self, run_dir: str | os.PathLike[str], *, config: str | None = None,
                 overrides: Iterable[str] = (), env: dict[str, str] | None = None,
                 log_to: Path | None = None):
        self.run_dir = RunDir(Path(run_dir))
        self._argv = [sys.executable, "-m", "flight.cli", "run", "--run-dir", str(run_dir),
                      "--quiet"]
        if config:
            self._argv += ["--config", config]
        for item in overrides:
            self._argv += ["--set", item]
        self._env = {**os.environ, **(env or {})}
        self._log_to = log_to
        self.process: subprocess.Popen[bytes] | None = None
        self._ctx: zmq.Context[Any] = zmq.Context()
        self._clients: dict[str, CommandClient] = {}
        self._taps: list[BusTap] = []

    # ------------------------------------------------------------------ life cycle
    def start(self, timeout: float = 30.0, *, wait_mode: bool = True) -> LocalStack:
        """Start the tree and wait until it answers (and has left BOOT).

        If it does not come up, whatever was started is stopped before the error is raised,
        so a failed start never leaves an executive and its apps running.
        """
        out = open(self._log_to, "ab") if self._log_to else subprocess.DEVNULL  # noqa: SIM115
        try:
            self.process = subprocess.Popen(self._argv, stdin=subprocess.DEVNULL, stdout=out,
                                            stderr=subprocess.STDOUT if self._log_to else None,
                                            env=self._env)
        finally:
            if self._log_to:
                out.close()  # type: ignore[union-attr]
        try:
            wait_until(lambda: self._alive_status(), timeout, "the executive to answer")
            if wait_mode:
                wait_until(lambda: self.mode() != "BOOT", timeout, "the stack to leave BOOT")
        except BaseException:
            self.stop()
            raise
        return self

    def _alive_status(self) -> dict[str, Any] | None:
        if self.process is not None and self.process.poll() is not None:
            raise StackError(f"sunlit-flight run exited with {self.process.returncode}")
        reply = self.command("executive", "status", timeout=0.5)
        return reply.data if reply.ok else None

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM the executive and wait for the whole tree to exit; return its status.

        Safe to call more than once (a failed ``start`` has already called it). Apps the
        executive leaves behind, because it had to be killed or died, are killed too.
        """
        for tap in self._taps:
            tap.close()
        self._taps.clear()
        for client in self._clients.values():
            client.close()
        self._clients.clear()
        code = 0
        if self.process is not None and self.process.poll() is None:
            descendants = _descendants(self.process.pid)
            self.process.send_signal(signal.SIGTERM)
            try:
                code = self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                code = self.process.wait()
            _kill_survivors(descendants, grace=1.0)
        elif self.process is not None:
            code = self.process.returncode
        if not self._ctx.closed:
            self._ctx.term()
        return code

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ talking to it
    def command(self, app: str, name: str, args: dict[str, Any] | None = None, *,
                timeout: float = 5.0) -> Reply:
        """Send ``app.name(args)`` and return its final reply."""
        client = self._clients.get(app)
        if client is None:
            client = CommandClient(self._ctx, self.run_dir.command_endpoint(app),
                                   f"hil-{os.getpid()}", MissionClock())
            self._clients[app] = client
        return client.call(name, args, timeout=timeout)

    def hazardous(self, app: str, name: str, args: dict[str, Any] | None = None, *,
                  timeout: float = 5.0) -> Reply:
        """Arm ``app.name`` then send it: the two steps an operator takes for a hazardous one."""
        armed = self.command(app, "arm", {"command": name}, timeout=timeout)
        if not armed.ok:
            return armed
        return self.command(app, name, args, timeout=timeout)

    def status(self) -> dict[str, Any]:
        reply = self.command("executive", "status")
        if not reply.ok:
            raise StackError(f"status failed: {reply.reason.name} {reply.message}")
        return dict(reply.data)

    def mode(self) -> str:
        reply = self.command("executive", "status", timeout=1.0)
        return str(reply.data["mode"]) if reply.ok else "UNKNOWN"

    def process_row(self, app: str) -> dict[str, Any]:
        for row in self.status()["processes"]:
            if row["name"] == app:
                return dict(row)
        raise StackError(f"no app {app!r} in the process table")

    def wait_running(self, app: str, timeout: float = 15.0, *, not_pid: int | None = None
                     ) -> dict[str, Any]:
        """Wait until ``app`` is RUNNING (with a pid other than ``not_pid``)."""
        def check() -> dict[str, Any] | None:
            row = self.process_row(app)
            ok = row["state"] == "RUNNING" and row["pid"] is not None and row["pid"] != not_pid
            return row if ok else None
        return wait_until(check, timeout, f"{app} to be running")

    def tap(self, *prefixes: str) -> BusTap:
        """Subscribe to bus topics (``evt.``, ``tlm.health`` ...); waits until subscribed."""
        tap = BusTap(self._ctx, self.run_dir, prefixes or ("",))
        self._taps.append(tap)
        # A SUB joins late: prove it receives by waiting for the executive's heartbeat.
        tap.subscriber.subscribe("hb.executive")
        tap.wait(lambda e: e.topic == "hb.executive", 5.0, "the bus tap to join")
        return tap
