"""sd_notify: tell systemd the stack is READY and still alive (WATCHDOG), without libsystemd.

The protocol is one datagram of ``KEY=value`` lines to the unix socket named by
``$NOTIFY_SOCKET`` (an ``@`` prefix means the abstract namespace). Outside systemd the
variable is unset and every call is a no-op.
"""

from __future__ import annotations

import os
import socket


class Notifier:
    """Sends notifications to ``$NOTIFY_SOCKET`` when it is set."""

    def __init__(self, environ: dict[str, str] | None = None):
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        self.address = "\0" + address[1:] if address.startswith("@") else address
        usec = env.get("WATCHDOG_USEC", "")
        self.watchdog_interval_s = int(usec) / 1e6 / 2 if usec.isdigit() and int(usec) else None
        self.sent = 0
        self.failed = 0

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def notify(self, *lines: str) -> bool:
        if not self.enabled:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto("\n".join(lines).encode(), self.address)
        except OSError:
            self.failed += 1
            return False
        self.sent += 1
        return True

    def ready(self, status: str = "") -> bool:
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")
