"""Supervision of the onboard app processes: start, watch, stop, restart, give up.

Each app is a child process. A crash is seen at once (the child's pidfd becomes readable when
it exits); a hang is seen when ``hang_misses`` heartbeat periods pass without a heartbeat. A
hung child gets SIGTERM (and SIGCONT, in case it was stopped), then SIGKILL after a grace
period. A child that died is restarted after an exponential backoff; one that needs more than
``flap_max_restarts`` restarts within ``flap_window_s`` is *flapping*: it is left down and the
executive is told, so it can enter SAFE instead of burning the battery on a restart loop.
"""

from __future__ import annotations

import contextlib
import enum
import os
import signal
import subprocess
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

#: Past a deadline by this much before acting on it, so "more than N periods" holds.
_EPSILON_S = 0.001
#: Without a pidfd to watch, a child's exit is polled for this often.
_EXIT_POLL_S = 0.1


class ProcState(str, enum.Enum):
    STARTING = "STARTING"  # spawned, no heartbeat yet
    RUNNING = "RUNNING"
    STOPPING = "STOPPING"  # SIGTERM sent, waiting for the exit
    BACKOFF = "BACKOFF"  # died; waiting to be restarted
    FLAPPING = "FLAPPING"  # restarted too often: left down until commanded
    STOPPED = "STOPPED"  # stopped on purpose


class AfterStop(str, enum.Enum):
    """What a stopping child becomes once it has exited."""

    STAY_DOWN = "STAY_DOWN"  # stopped on purpose
    RESTART = "RESTART"  # a commanded restart: start again at once
    FAILURE = "FAILURE"  # killed because it hung: counts as a failure, with backoff


@dataclass(frozen=True)
class Policy:
    """Supervision timings, from the ``[executive]`` config section."""

    heartbeat_period_s: float = 0.5
    hang_misses: int = 3
    start_timeout_s: float = 10.0
    stop_grace_s: float = 2.0
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    backoff_reset_s: float = 30.0
    flap_max_restarts: int = 5
    flap_window_s: float = 60.0

    @classmethod
    def from_config(cls, section: dict[str, Any]) -> Policy:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in section.items() if k in names})

    @property
    def hang_after_s(self) -> float:
        return self.hang_misses * self.heartbeat_period_s


@dataclass
class Child:
    """Everything the supervisor knows about one app process."""

    name: str
    state: ProcState = ProcState.STOPPED
    process: subprocess.Popen[bytes] | None = None
    pidfd: int | None = None
    started_at: float = 0.0
    last_heartbeat: float | None = None
    restarts: int = 0
    failures: int = 0  # consecutive, drives the backoff
    restart_log: deque[float] = field(default_factory=deque)
    next_start: float = 0.0
    stop_deadline: float = 0.0
    after_stop: AfterStop = AfterStop.STAY_DOWN
    last_exit: str = ""
    last_pid: int | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None


class Listener(Protocol):
    """What the supervisor tells its owner (the executive turns these into events)."""

    def child_started(self, child: Child) -> None: ...
    def child_running(self, child: Child) -> None: ...
    def child_exited(self, child: Child, how: str) -> None: ...
    def child_hung(self, child: Child, silent_s: float) -> None: ...
    def child_restart_scheduled(self, child: Child, delay_s: float) -> None: ...
    def child_flapping(self, child: Child) -> None: ...


Spawn = Callable[[str], "subprocess.Popen[bytes]"]


class Supervisor:
    """Owns the child processes and their life cycle; driven by :meth:`tick` and callbacks."""

    def __init__(self, policy: Policy, spawn: Spawn, listener: Listener, *,
                 watch_fd: Callable[[int, Callable[[], None]], None] | None = None,
                 unwatch_fd: Callable[[int], None] | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.policy = policy
        self._spawn = spawn
        self._listener = listener
        self._watch_fd = watch_fd
        self._unwatch_fd = unwatch_fd
        self._clock = clock
        self.children: dict[str, Child] = {}

    # ------------------------------------------------------------------ commands
    def add(self, name: str) -> Child:
        child = Child(name)
        self.children[name] = child
        return child

    def start(self, name: str) -> None:
        """Start (or, if flapping/stopped, re-enable) one app now."""
        child = self.children[name]
        if child.state in (ProcState.STARTING, ProcState.RUNNING, ProcState.STOPPING):
            return
        child.failures = 0
        child.restart_log.clear()
        self._launch(child)

    def start_all(self) -> None:
        for name in self.children:
            self.start(name)

    def stop(self, name: str, then: AfterStop = AfterStop.STAY_DOWN) -> None:
        """Ask one app to stop (SIGTERM, then SIGKILL after the grace period)."""
        child = self.children[name]
        if child.process is None:
            if then is AfterStop.STAY_DOWN:
                child.state = ProcState.STOPPED
            return
        if child.state is ProcState.STOPPING:
            if then is AfterStop.STAY_DOWN:
                child.after_stop = then  # an explicit stop wins; a hang stays a failure
            return
        child.after_stop = then
        self._signal(child, signal.SIGTERM)
        self._signal(child, signal.SIGCONT)  # a SIGSTOPped child must run to handle SIGTERM
        child.state = ProcState.STOPPING
        child.stop_deadline = self._clock() + self.policy.stop_grace_s

    def restart(self, name: str) -> None:
        """Stop and start again at once (an operator's or FDIR's restart)."""
        if self.children[name].process is None:
            self.start(name)
        else:
            self.stop(name, then=AfterStop.RESTART)

    def shutdown(self, timeout: float) -> list[str]:
        """Stop every child and wait for them (blocking: used only on the way out).

        SIGKILL follows after ``timeout``; a child that survives another ``timeout`` after
        that (stuck in uninterruptible I/O) is given up on. Returns the names of those.
        Wall-clock monotonic time on purpose: this must end even under a test's fake clock.
        """
        for name in self.children:
            self.stop(name)
        deadline = time.monotonic() + timeout
        killed = False
        while any(c.process is not None for c in self.children.values()):
            self.tick()
            if time.monotonic() > deadline:
                if killed:
                    break
                for child in self.children.values():
                    self._signal(child, signal.SIGKILL)
                killed, deadline = True, time.monotonic() + timeout
            time.sleep(0.02)
        return [c.name for c in self.children.values() if c.process is not None]

    # ------------------------------------------------------------------ inputs
    def heartbeat(self, name: str, pid: int | None) -> None:
        child = self.children.get(name)
        if child is None or child.process is None or (pid is not None and pid != child.pid):
            return  # a late heartbeat from a previous incarnation
        child.last_heartbeat = self._clock()
        if child.state is ProcState.STARTING:
            child.state = ProcState.RUNNING
            self._listener.child_running(child)

    def exited(self, name: str) -> None:
        """Called when a child's pidfd becomes readable; reaps and reacts at once."""
        child = self.children[name]
        if child.process is not None and child.process.poll() is not None:
            self._reap(child)

    def tick(self) -> None:
        """Reap exits, detect hangs, enforce stop deadlines and start due restarts."""
        now = self._clock()
        for child in self.children.values():
            if child.process is not None and child.process.poll() is not None:
                self._reap(child)
            if child.state is ProcState.RUNNING and child.last_heartbeat is not None:
                silent = now - child.last_heartbeat
                if silent > self.policy.hang_after_s:
                    self._hung(child, silent)
            elif child.state is ProcState.STARTING:
                silent = now - child.started_at
                if silent > self.policy.start_timeout_s:
                    self._hung(child, silent)
            elif child.state is ProcState.STOPPING and now >= child.stop_deadline:
                self._signal(child, signal.SIGKILL)
                child.stop_deadline = now + self.policy.stop_grace_s  # not again at once
            elif child.state is ProcState.BACKOFF and now >= child.next_start:
                self._launch(child)

    def next_deadline(self) -> float | None:
        """The earliest time at which :meth:`tick` has something to do, or None."""
        due: list[float] = []
        for child in self.children.values():
            if child.state is ProcState.RUNNING and child.last_heartbeat is not None:
                due.append(child.last_heartbeat + self.policy.hang_after_s + _EPSILON_S)
            elif child.state is ProcState.STARTING:
                due.append(child.started_at + self.policy.start_timeout_s + _EPSILON_S)
            elif child.state is ProcState.STOPPING:
                due.append(child.stop_deadline)
            elif child.state is ProcState.BACKOFF:
                due.append(child.next_start)
            if child.process is not None and child.pidfd is None:
                due.append(self._clock() + _EXIT_POLL_S)  # no pidfd: poll for the exit
        return min(due) if due else None

    # ------------------------------------------------------------------ internals
    def _launch(self, child: Child) -> None:
        try:
            child.process = self._spawn(child.name)
        except OSError as exc:
            child.started_at = self._clock()
            child.last_exit = f"spawn failed: {exc}"
            self._failed(child)
            return
        child.state = ProcState.STARTING
        child.started_at = self._clock()
        child.last_heartbeat = None
        child.after_stop = AfterStop.STAY_DOWN
        child.pidfd = self._open_pidfd(child)
        self._listener.child_started(child)

    def _open_pidfd(self, child: Child) -> int | None:
        if self._watch_fd is None or not hasattr(os, "pidfd_open") or child.pid is None:
            return None
        try:
            fd = os.pidfd_open(child.pid)
        except OSError:
            return None  # old kernel: tick() polls instead
        name = child.name
        self._watch_fd(fd, lambda: self.exited(name))
        return fd

    def _close_pidfd(self, child: Child) -> None:
        if child.pidfd is not None:
            if self._unwatch_fd is not None:
                self._unwatch_fd(child.pidfd)
            os.close(child.pidfd)
            child.pidfd = None

    def _reap(self, child: Child) -> None:
        assert child.process is not None
        code = child.process.returncode
        if code < 0:
            try:
                how = f"killed by {signal.Signals(-code).name}"
            except ValueError:  # a real-time signal has no name in signal.Signals
                how = f"killed by signal {-code}"
        else:
            how = f"exit status {code}"
        child.last_exit = how
        child.last_pid = child.process.pid
        child.process = None
        self._close_pidfd(child)
        after = child.after_stop if child.state is ProcState.STOPPING else AfterStop.FAILURE
        self._listener.child_exited(child, how)
        if after is AfterStop.STAY_DOWN:
            child.state = ProcState.STOPPED
        elif after is AfterStop.RESTART:
            if self._flapping(child):  # commanded restarts count too: an FDIR loop is a fault
                return
            child.restarts += 1
            child.failures = 0
            self._launch(child)
        else:
            self._failed(child)

    def _failed(self, child: Child) -> None:
        now = self._clock()
        ran = now - child.started_at
        if ran >= self.policy.backoff_reset_s:
            child.failures = 0
        if self._flapping(child):
            return
        delay = min(self.policy.backoff_initial_s * 2 ** child.failures, self.policy.backoff_max_s)
        child.failures += 1
        child.restarts += 1
        child.state = ProcState.BACKOFF
        child.next_start = now + delay
        self._listener.child_restart_scheduled(child, delay)

    def _flapping(self, child: Child) -> bool:
        """Record a restart; if there were too many in the window, leave the child down."""
        now = self._clock()
        log = child.restart_log
        log.append(now)
        while log and now - log[0] > self.policy.flap_window_s:
            log.popleft()
        if len(log) <= self.policy.flap_max_restarts:
            return False
        child.state = ProcState.FLAPPING
        self._listener.child_flapping(child)
        return True

    def _hung(self, child: Child, silent: float) -> None:
        self._listener.child_hung(child, silent)
        self.stop(child.name, then=AfterStop.FAILURE)

    def _signal(self, child: Child, sig: signal.Signals) -> None:
        if child.process is not None and child.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                child.process.send_signal(sig)

    def table(self) -> list[dict[str, Any]]:
        """One row per app for ``status``: name, pid, state, restarts, heartbeat age."""
        now = self._clock()
        return [{
            "name": c.name,
            "pid": c.pid,
            "state": c.state.value,
            "restarts": c.restarts,
            "heartbeat_age_s": None if c.last_heartbeat is None
            else round(now - c.last_heartbeat, 3),
            "last_exit": c.last_exit,
        } for c in self.children.values()]
