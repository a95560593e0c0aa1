"""What injectors share about the onboard stack: its apps, its commands, its processes.

An injector talks to the stack the way the harness does — commands over the onboard bus, signals
to the processes the executive runs — and turns every failure into a :class:`FaultError` that
names what went wrong, so a scenario, a campaign or the CLI can report it in one line.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import psutil

from hil.faults.base import FaultError

if TYPE_CHECKING:
    from hil.testbed import Testbed

#: How long a process gets to reach the stopped state after SIGSTOP.
FREEZE_TIMEOUT_S = 2.0


def process_table(bed: Testbed) -> list[dict[str, Any]]:
    """The executive's process rows (name, pid, state, restarts ...)."""
    reply = bed.stack.command("executive", "status")
    if not reply.ok:
        why = f"{reply.reason.name}: {reply.message}" if reply.message else reply.reason.name
        raise FaultError(f"the executive does not answer status ({why})")
    return [dict(row) for row in reply.data.get("processes", [])]


def supervised_apps(bed: Testbed) -> list[str]:
    """The apps the executive runs right now (with a pid)."""
    return sorted(row["name"] for row in process_table(bed) if row.get("pid"))


def is_running(bed: Testbed, app: str) -> bool:
    """``app`` is in the process table with a live process."""
    return app in supervised_apps(bed)


def call(bed: Testbed, app: str, name: str, args: dict[str, Any] | None = None,
         timeout: float = 5.0) -> Any:
    """``app.name(args)`` over the bus; its data, or :class:`FaultError` with the app's reason."""
    reply = bed.stack.command(app, name, args, timeout=timeout)
    if not reply.ok:
        message = f": {reply.message}" if reply.message else ""
        raise FaultError(f"{app}.{name} failed ({reply.reason.name}{message})")
    return reply.data


def flatsat_pid(bed: Testbed, app: str) -> int:
    """The pid of ``app``, checked to be one of this flatsat's processes.

    An injector that writes into a process's memory or freezes it must never reach a process
    outside the flatsat: the pid must be the executive's or one of its descendants.
    """
    pid = bed.pid(app)
    executive = bed.pid("executive")
    if pid is None or executive is None:
        raise FaultError(f"{app} has no process right now")
    if pid != executive:
        try:
            ancestors = {parent.pid for parent in psutil.Process(pid).parents()}
        except psutil.Error:
            raise FaultError(f"{app} (pid {pid}) is gone") from None
        if executive not in ancestors:
            raise FaultError(f"pid {pid} ({app}) is not a process of this flatsat "
                             f"(executive {executive})")
    return pid


def _state(pid: int) -> str:
    """The one-letter state from /proc/PID/stat (R, S, T, t, Z ...)."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        data = f.read()
    return data[data.rindex(b")") + 2:][:1].decode()


def is_stopped(pid: int) -> bool:
    try:
        return _state(pid) in ("T", "t")
    except (OSError, ValueError):
        return False


@contextlib.contextmanager
def frozen(pid: int) -> Iterator[bool]:
    """Hold ``pid`` stopped (SIGSTOP) for the body, then let it go on (SIGCONT).

    Yields whether it was already stopped (by a hang fault, say): such a process is left
    stopped afterwards, so a freeze never undoes another fault. While frozen, nothing the
    process does can race the harness's read-modify-write of its memory or files.
    """
    already = is_stopped(pid)
    if not already:
        os.kill(pid, signal.SIGSTOP)
        deadline = time.monotonic() + FREEZE_TIMEOUT_S
        while not is_stopped(pid):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGCONT)
                raise FaultError(f"pid {pid} did not stop within {FREEZE_TIMEOUT_S} s")
            time.sleep(0.001)
    try:
        yield already
    finally:
        if not already:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


def fresh_housekeeping(bed: Testbed, app: str, timeout: float = 3.0) -> dict[str, Any] | None:
    """The next housekeeping packet ``app`` publishes (None if none comes within ``timeout``).

    Uses the testbed's bus tap (only what arrives from now on counts: the tap keeps what it
    saw earlier), or a short-lived tap of its own on an attached flatsat.
    """
    from hil.stack import StackError

    own = bed.tap is None
    try:
        tap = bed.stack.tap(f"tlm.{app}") if own else bed.tap
    except StackError:
        return None
    assert tap is not None
    known = {id(e) for e in tap.seen}
    try:
        envelope = tap.wait(lambda e: id(e) not in known and e.topic == f"tlm.{app}"
                            and isinstance(e.data, dict), timeout, f"housekeeping of {app}")
    except StackError:
        return None
    finally:
        if own:
            tap.close()
    return dict(envelope.data)
