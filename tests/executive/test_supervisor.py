"""The supervisor with real child processes and a fake clock: crashes, hangs, flapping, stops.

Time inside the supervisor (backoffs, heartbeat silence, grace periods) is a fake clock the test
moves; only a real process's exit is waited for, always with a deadline.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from flight.executive.supervisor import Child, Policy, ProcState, Supervisor

CRASH = ["sh", "-c", "exit 3"]
SLEEP = ["sleep", "30"]
#: Survives SIGTERM (and says so on stdout), so only SIGKILL ends it.
STUBBORN = [sys.executable, "-S", "-c", """
import signal, sys, time
def on_term(*_):
    sys.stdout.write("term\\n"); sys.stdout.flush()
signal.signal(signal.SIGTERM, on_term)
sys.stdout.write("ready\\n"); sys.stdout.flush()
while True:
    time.sleep(1)
"""]
WAIT_S = 10.0  # generous deadline for a real process to exit or speak


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Recorder:
    """A Listener that writes down everything it is told."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def child_started(self, child: Child) -> None:
        self.events.append(("started", child.name, child.pid))

    def child_running(self, child: Child) -> None:
        self.events.append(("running", child.name))

    def child_exited(self, child: Child, how: str) -> None:
        self.events.append(("exited", child.name, how))

    def child_hung(self, child: Child, silent_s: float) -> None:
        self.events.append(("hung", child.name, silent_s))

    def child_restart_scheduled(self, child: Child, delay_s: float) -> None:
        self.events.append(("backoff", child.name, delay_s))

    def child_flapping(self, child: Child) -> None:
        self.events.append(("flapping", child.name))

    def of(self, kind: str) -> list[tuple[Any, ...]]:
        return [e for e in self.events if e[0] == kind]

    def kinds(self) -> list[str]:
        return [e[0] for e in self.events]


class Spawner:
    """The supervisor's spawn: real small processes, all remembered so the test can end them."""

    def __init__(self) -> None:
        self.programs: dict[str, list[str]] = {}
        self.procs: list[subprocess.Popen[bytes]] = []
        self._out: dict[int, bytes] = {}

    def __call__(self, name: str) -> subprocess.Popen[bytes]:
        argv = self.programs[name]
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
        self.procs.append(proc)
        return proc

    def expect(self, proc: subprocess.Popen[bytes], line: str) -> None:
        """Wait (with a deadline) until ``proc`` has written ``line`` on stdout."""
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        want = line.encode() + b"\n"
        deadline = time.monotonic() + WAIT_S
        while want not in self._out.get(proc.pid, b""):
            left = deadline - time.monotonic()
            assert left > 0, f"{proc.args!r} never wrote {line!r}"
            readable, _, _ = select.select([fd], [], [], left)
            if readable:
                chunk = os.read(fd, 4096)
                assert chunk, f"{proc.args!r} closed stdout before writing {line!r}"
                self._out[proc.pid] = self._out.get(proc.pid, b"") + chunk
        self._out[proc.pid] = self._out[proc.pid].replace(want, b"", 1)

    def cleanup(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            try:
                proc.wait(WAIT_S)
            finally:
                if proc.stdout is not None:
                    proc.stdout.close()


class Rig:
    def __init__(self, policy: Policy, **kw: Any) -> None:
        self.clock = FakeClock()
        self.recorder = Recorder()
        self.spawner = Spawner()
        self.sup = Supervisor(policy, self.spawner, self.recorder, clock=self.clock, **kw)

    def add(self, name: str, program: list[str]) -> Child:
        self.spawner.programs[name] = program
        return self.sup.add(name)

    def proc(self, name: str) -> subprocess.Popen[bytes]:
        proc = self.sup.children[name].process
        assert proc is not None
        return proc

    def reap(self, name: str) -> None:
        """Wait for the child's current process to exit, then let the supervisor see it."""
        proc = self.proc(name)
        proc.wait(WAIT_S)
        self.sup.tick()
        assert self.sup.children[name].process is not proc  # reaped (and maybe relaunched)


@pytest.fixture
def make_rig() -> Iterator[Callable[..., Rig]]:
    rigs: list[Rig] = []

    def make(policy: Policy | None = None, **kw: Any) -> Rig:
        rig = Rig(policy or Policy(), **kw)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        rig.spawner.cleanup()


# ---------------------------------------------------------------- crashes and backoff

def test_crash_is_restarted_with_exponential_backoff(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(Policy(backoff_initial_s=0.5, backoff_max_s=2.0, flap_max_restarts=10))
    child = rig.add("app", CRASH)
    rig.sup.start("app")
    delays = []
    for launches in range(1, 6):
        assert child.state is ProcState.STARTING and len(rig.spawner.procs) == launches
        rig.reap("app")
        assert rig.recorder.events[-2] == ("exited", "app", "exit status 3")
        delay = rig.recorder.events[-1][2]
        delays.append(delay)
        assert child.state is ProcState.BACKOFF and child.last_exit == "exit status 3"
        rig.clock.advance(delay / 2)
        rig.sup.tick()
        assert child.state is ProcState.BACKOFF and len(rig.spawner.procs) == launches
        rig.clock.advance(delay / 2)
        rig.sup.tick()  # due now
    assert delays == [0.5, 1.0, 2.0, 2.0, 2.0]
    assert child.restarts == 5 and child.state is ProcState.STARTING
    assert child.last_pid == rig.spawner.procs[-2].pid


def test_too_many_restarts_in_the_window_is_flapping(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(Policy(backoff_initial_s=0.5, flap_max_restarts=2, flap_window_s=60))
    child = rig.add("app", CRASH)
    rig.sup.start("app")
    for _ in range(2):
        rig.reap("app")
        rig.clock.advance(rig.recorder.events[-1][2])
        rig.sup.tick()
    rig.reap("app")  # the third failure within the window
    assert child.state is ProcState.FLAPPING
    assert rig.recorder.kinds()[-2:] == ["exited", "flapping"]
    assert [e[2] for e in rig.recorder.of("backoff")] == [0.5, 1.0]
    for _ in range(3):  # left down, however long we wait
        rig.clock.advance(1000)
        rig.sup.tick()
    assert len(rig.spawner.procs) == 3 and child.state is ProcState.FLAPPING
    rig.sup.start("app")  # a command re-enables it, with a clean slate
    assert child.state is ProcState.STARTING and len(rig.spawner.procs) == 4
    assert child.failures == 0 and not child.restart_log


def test_failures_spread_beyond_the_window_never_flap(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(Policy(flap_max_restarts=1, flap_window_s=10, backoff_max_s=4))
    child = rig.add("app", CRASH)
    rig.sup.start("app")
    for _ in range(4):
        rig.reap("app")
        assert child.state is ProcState.BACKOFF
        rig.clock.advance(20)
        rig.sup.tick()
    assert not rig.recorder.of("flapping")


def test_backoff_resets_after_a_long_healthy_run(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(Policy(backoff_initial_s=0.5, backoff_reset_s=30, heartbeat_period_s=0.5))
    child = rig.add("app", SLEEP)
    rig.sup.start("app")
    for expected in (0.5, 1.0):  # two quick deaths: the backoff grows
        rig.proc("app").kill()
        rig.reap("app")
        assert rig.recorder.events[-1] == ("backoff", "app", expected)
        rig.clock.advance(expected)
        rig.sup.tick()
    rig.sup.heartbeat("app", rig.proc("app").pid)
    rig.clock.advance(31)
    rig.sup.heartbeat("app", rig.proc("app").pid)  # alive and well all along
    rig.proc("app").kill()
    rig.reap("app")
    assert rig.recorder.events[-2] == ("exited", "app", "killed by SIGKILL")
    assert rig.recorder.events[-1] == ("backoff", "app", 0.5)
    assert child.failures == 1


def test_spawn_failure_counts_as_a_failure(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    child = rig.add("app", ["/nonexistent/sunlit-app"])
    rig.sup.start("app")
    assert child.state is ProcState.BACKOFF and child.process is None
    assert child.last_exit.startswith("spawn failed")
    assert rig.recorder.kinds() == ["backoff"]


def test_death_by_an_unnamed_signal_is_reported(make_rig: Callable[..., Rig]) -> None:
    """Regression: a real-time signal (no name in signal.Signals) used to crash _reap."""
    rig = make_rig()
    child = rig.add("app", SLEEP)
    rig.sup.start("app")
    sig = signal.SIGRTMIN + 1
    os.kill(rig.proc("app").pid, sig)
    rig.reap("app")
    assert rig.recorder.of("exited") == [("exited", "app", f"killed by signal {sig}")]
    assert child.state is ProcState.BACKOFF


@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="needs pidfd_open")
def test_exit_is_seen_through_the_pidfd_without_a_tick(make_rig: Callable[..., Rig]) -> None:
    watched: dict[int, Callable[[], None]] = {}
    unwatched: list[int] = []
    rig = make_rig(watch_fd=watched.__setitem__, unwatch_fd=unwatched.append)
    child = rig.add("app", CRASH)
    rig.sup.start("app")
    ((fd, callback),) = watched.items()
    assert child.pidfd == fd
    readable, _, _ = select.select([fd], [], [], WAIT_S)
    assert readable, "the pidfd never became readable"
    callback()
    assert rig.recorder.kinds() == ["started", "exited", "backoff"]
    assert unwatched == [fd] and child.pidfd is None
    with pytest.raises(OSError):
        os.fstat(fd)  # closed by the supervisor


# ---------------------------------------------------------------- hangs and stops

def test_hung_child_gets_sigterm_then_sigkill_after_grace(make_rig: Callable[..., Rig]) -> None:
    policy = Policy(heartbeat_period_s=0.5, hang_misses=3, stop_grace_s=2.0)
    rig = make_rig(policy)
    child = rig.add("app", STUBBORN)
    rig.sup.start("app")
    proc = rig.proc("app")
    rig.spawner.expect(proc, "ready")
    rig.sup.heartbeat("app", proc.pid)
    assert child.state is ProcState.RUNNING and rig.recorder.of("running")

    rig.clock.advance(policy.hang_after_s)  # exactly hang_misses periods: not yet
    rig.sup.tick()
    assert child.state is ProcState.RUNNING and not rig.recorder.of("hung")
    rig.clock.advance(0.25)
    rig.sup.tick()
    assert rig.recorder.of("hung") == [("hung", "app", 1.75)]
    assert child.state is ProcState.STOPPING

    rig.spawner.expect(proc, "term")  # SIGTERM arrived, and was shrugged off
    rig.clock.advance(policy.stop_grace_s / 2)
    rig.sup.tick()
    assert proc.poll() is None and child.state is ProcState.STOPPING
    rig.clock.advance(policy.stop_grace_s / 2)
    rig.sup.tick()  # grace over: SIGKILL
    assert proc.wait(WAIT_S) == -signal.SIGKILL
    rig.sup.tick()
    assert rig.recorder.of("exited") == [("exited", "app", "killed by SIGKILL")]
    assert rig.recorder.events[-1] == ("backoff", "app", policy.backoff_initial_s)
    assert child.state is ProcState.BACKOFF  # a hang is a failure: restarted after backoff


def test_heartbeats_keep_a_child_running(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(Policy(heartbeat_period_s=0.5, hang_misses=3))
    child = rig.add("app", SLEEP)
    rig.sup.start("app")
    for _ in range(20):
        rig.sup.heartbeat("app", rig.proc("app").pid)
        rig.clock.advance(1.0)
        rig.sup.tick()
    assert child.state is ProcState.RUNNING and not rig.recorder.of("hung")
    assert rig.sup.table()[0]["heartbeat_age_s"] == 1.0


def test_child_that_never_heartbeats_times_out(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(Policy(start_timeout_s=10))
    child = rig.add("app", SLEEP)
    rig.sup.start("app")
    rig.clock.advance(10)
    rig.sup.tick()
    assert child.state is ProcState.STARTING
    rig.clock.advance(1)
    rig.sup.tick()
    assert rig.recorder.of("hung") == [("hung", "app", 11)]
    rig.reap("app")  # sleep dies of the SIGTERM
    assert rig.recorder.kinds()[-2:] == ["exited", "backoff"]
    assert child.last_exit == "killed by SIGTERM"


def test_stale_heartbeat_from_an_old_pid_is_ignored(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    child = rig.add("app", SLEEP)
    rig.sup.start("app")
    old_pid = rig.proc("app").pid
    rig.sup.restart("app")
    rig.reap("app")
    new_pid = rig.proc("app").pid
    assert new_pid != old_pid and child.last_pid == old_pid
    rig.sup.heartbeat("app", old_pid)  # the previous incarnation, late
    assert child.state is ProcState.STARTING and child.last_heartbeat is None
    rig.sup.heartbeat("nobody", new_pid)  # an unknown name: ignored, not an error
    rig.sup.heartbeat("app", new_pid)
    assert child.state is ProcState.RUNNING and child.last_heartbeat == rig.clock.now
    rig.proc("app").kill()
    rig.reap("app")
    rig.sup.heartbeat("app", None)  # nobody to credit while in backoff
    assert child.state is ProcState.BACKOFF and child.last_heartbeat == 1000.0


def test_restart_of_a_running_child_relaunches_without_backoff(
        make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    child = rig.add("app", SLEEP)
    rig.sup.start("app")
    first = rig.proc("app")
    rig.sup.heartbeat("app", first.pid)
    rig.sup.restart("app")
    assert child.state is ProcState.STOPPING
    rig.reap("app")
    assert first.returncode == -signal.SIGTERM
    assert rig.recorder.kinds() == ["started", "running", "exited", "started"]
    assert child.state is ProcState.STARTING and rig.proc("app") is not first
    assert child.restarts == 1 and child.failures == 0


def test_restart_of_a_stopped_child_starts_it(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    child = rig.add("app", SLEEP)
    rig.sup.restart("app")
    assert child.state is ProcState.STARTING and len(rig.spawner.procs) == 1


def test_stop_keeps_it_down(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    child = rig.add("app", SLEEP)
    rig.sup.start("app")
    rig.sup.stop("app")
    rig.reap("app")
    assert child.state is ProcState.STOPPED and child.last_exit == "killed by SIGTERM"
    rig.clock.advance(1000)
    rig.sup.tick()
    assert len(rig.spawner.procs) == 1 and not rig.recorder.of("backoff")


def test_stop_during_backoff_cancels_the_restart(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    child = rig.add("app", CRASH)
    rig.sup.start("app")
    rig.reap("app")
    assert child.state is ProcState.BACKOFF
    rig.sup.stop("app")
    rig.clock.advance(1000)
    rig.sup.tick()
    assert child.state is ProcState.STOPPED and len(rig.spawner.procs) == 1


def test_shutdown_stops_every_child(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    for name in ("a", "b", "c"):
        rig.add(name, SLEEP)
    rig.add("d", CRASH)
    rig.sup.start_all()
    rig.sup.heartbeat("a", rig.proc("a").pid)
    procs = [rig.proc(n) for n in ("a", "b", "c")]
    rig.sup.shutdown(timeout=WAIT_S)
    assert all(c.process is None and c.state is ProcState.STOPPED
               for c in rig.sup.children.values())
    assert [p.returncode for p in procs] == [-signal.SIGTERM] * 3
    assert len(rig.spawner.procs) == 4  # nothing was restarted on the way out


def test_shutdown_kills_what_ignores_sigterm(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    rig.add("app", STUBBORN)
    rig.sup.start("app")
    proc = rig.proc("app")
    rig.spawner.expect(proc, "ready")
    started = time.monotonic()
    rig.sup.shutdown(timeout=0.3)
    assert proc.returncode == -signal.SIGKILL
    assert 0.3 <= time.monotonic() - started < WAIT_S
    assert rig.sup.children["app"].state is ProcState.STOPPED


def test_policy_from_config_ignores_unknown_keys() -> None:
    policy = Policy.from_config({"heartbeat_period_s": 0.2, "hang_misses": 4, "other": 1})
    assert (policy.heartbeat_period_s, policy.hang_misses) == (0.2, 4)
    assert policy.hang_after_s == pytest.approx(0.8)


# ---------------------------------------------------------------- deadlines and loops

def test_next_deadline_is_the_moment_a_hang_would_be_declared(
        make_rig: Callable[..., Rig]) -> None:
    policy = Policy(heartbeat_period_s=0.5, hang_misses=3, start_timeout_s=10)
    rig = make_rig(policy, watch_fd=lambda fd, cb: None, unwatch_fd=lambda fd: None)
    rig.add("app", SLEEP)
    assert rig.sup.next_deadline() is None  # nothing started, nothing due
    rig.sup.start("app")
    assert rig.sup.next_deadline() == pytest.approx(rig.clock.now + 10, abs=0.01)
    rig.sup.heartbeat("app", rig.proc("app").pid)
    assert rig.sup.next_deadline() == pytest.approx(rig.clock.now + 1.5, abs=0.01)


def test_a_child_surviving_sigkill_does_not_make_the_supervisor_spin(
        make_rig: Callable[..., Rig]) -> None:
    policy = Policy(stop_grace_s=2.0)
    rig = make_rig(policy, watch_fd=lambda fd, cb: None, unwatch_fd=lambda fd: None)
    child = rig.add("app", SLEEP)
    rig.sup.start("app")
    rig.proc("app").send_signal(signal.SIGSTOP)  # as good as stuck in D state for SIGTERM
    rig.sup.stop("app")
    rig.clock.advance(policy.stop_grace_s)
    signals: list[int] = []
    rig.sup._signal = lambda c, sig: signals.append(sig)  # type: ignore[method-assign]
    rig.sup.tick()  # grace over: SIGKILL (swallowed here, as by an unkillable process)
    assert signals == [signal.SIGKILL] and child.state is ProcState.STOPPING
    due = rig.sup.next_deadline()
    assert due is not None and due >= rig.clock.now + policy.stop_grace_s - 0.01
    rig.sup.tick()
    assert signals == [signal.SIGKILL]  # not again at once


def test_commanded_restarts_count_towards_flapping(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(Policy(flap_max_restarts=2, flap_window_s=60))
    child = rig.add("app", SLEEP)
    rig.sup.start("app")
    for _ in range(2):
        rig.sup.restart("app")
        rig.reap("app")
        assert child.state is ProcState.STARTING
    rig.sup.restart("app")  # the third restart within the window: an FDIR loop, say
    rig.reap("app")
    assert child.state is ProcState.FLAPPING and rig.recorder.kinds()[-1] == "flapping"
