"""Process faults: an app's process crashes (SIGKILL) or hangs (SIGSTOP).

The executive must notice (exit status, missed heartbeats) and restart the app on its own.
"""

from __future__ import annotations

import os
import random
import signal
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hil.faults.base import Fault, FaultClass, FaultError, Injection, register

if TYPE_CHECKING:
    from hil.testbed import Testbed


def supervised_apps(bed: Testbed) -> list[str]:
    """The apps the executive runs right now (with a pid)."""
    return sorted(row["name"] for row in bed.stack.status()["processes"] if row.get("pid"))


def _signal(bed: Testbed, fault: str, target: str, sig: signal.Signals) -> Injection:
    pid = bed.pid(target)
    if pid is None:
        raise FaultError(f"{target} has no process to signal right now")
    os.kill(pid, sig)
    return Injection(fault, FaultClass.PROCESS.value, target, {},
                     f"{sig.name} {target} (pid {pid})", evidence={"pid": pid})


@register
class Crash(Fault):
    name = "crash"
    fault_class = FaultClass.PROCESS
    doc = "SIGKILL an app's process: the executive must restart it and it must resume."

    def targets(self, bed: Testbed) -> list[str]:
        return supervised_apps(bed)

    def inject(self, bed: Testbed, target: str, params: Mapping[str, Any],
               rng: random.Random) -> Injection:
        return _signal(bed, self.name, target, signal.SIGKILL)


@register
class Hang(Fault):
    name = "hang"
    fault_class = FaultClass.PROCESS
    doc = ("SIGSTOP an app's process: its heartbeats stop, the executive must declare it hung, "
           "kill and restart it.")

    def targets(self, bed: Testbed) -> list[str]:
        return supervised_apps(bed)

    def inject(self, bed: Testbed, target: str, params: Mapping[str, Any],
               rng: random.Random) -> Injection:
        return _signal(bed, self.name, target, signal.SIGSTOP)
