"""Mission time.

Everything onboard stamps its messages and logs with mission time, the one time base the
ground, the archive and the world simulation agree on. Until a world process drives it (time
acceleration arrives with the world simulation), mission time is UTC seconds since the UNIX
epoch. Supervision never uses it: heartbeats and timeouts run on the monotonic wall clock, so a
time jump or a fast-forwarded simulation cannot make a healthy app look hung.
"""

from __future__ import annotations

import time


class MissionClock:
    """Returns mission time in seconds; ``offset`` lets a flatsat be set to a chosen epoch."""

    def __init__(self, offset: float = 0.0):
        self.offset = offset

    def now(self) -> float:
        return time.time() + self.offset

    __call__ = now
