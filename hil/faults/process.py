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
from hil.faults.onboard import flatsat_pid, supervised_apps

if TYPE_CHECKING:
    from hil.testbed import Testbed

__all__ = ["Crash", "Hang", "supervised_apps"]


def _signal(bed: Testbed, fault: str, target: str, sig: signal.Signals) -> Injection:
    try:
        pid = flatsat_pid(bed, target)
        os.kill(pid, sig)
    except ProcessLookupError:
        raise FaultError(f"{target} exited before it could be signalled") from None
    return Injection(fault, FaultClass.PROCESS.value, target, {},
                     f"{sig.name} {target} (pid {pid})", evidence={"pid": pid})


@register
class Crash(Fault):
    name = "crash"
    fault_class = FaultClass.PROCESS
    doc = "SIGKILL an app's process: the executive must restart it and it must resume."
    target_doc = "an app the executive runs"

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
    target_doc = "an app the executive runs"

    def targets(self, bed: Testbed) -> list[str]:
        return supervised_apps(bed)

    def inject(self, bed: Testbed, target: str, params: Mapping[str, Any],
               rng: random.Random) -> Injection:
        return _signal(bed, self.name, target, signal.SIGSTOP)
