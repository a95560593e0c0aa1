"""Periodic work on mission time: control loops that run every N *mission* seconds.

A power or thermal loop reasons in mission time (the battery drains per mission second), so at
300x time acceleration its 10 s period is 33 ms of wall time. :class:`MissionTimer` tells the
app's main loop when the next period is due (as a monotonic deadline, which the loop sleeps
on) and counts the periods the loop could not keep up with — the figure that says whether the
stack still keeps up at this speed.
"""

from __future__ import annotations

import math

from flight.app.clock import MissionClock


class MissionTimer:
    """Fires once per ``period_s`` of mission time; late firings are counted as overruns."""

    def __init__(self, clock: MissionClock, period_s: float):
        self.clock = clock
        self.period_s = period_s
        self.next_t = clock.now()
        self.overruns = 0  # periods skipped because the loop came too late
        self.fired = 0
        self.last_dt = period_s  # mission seconds since the previous firing

    def next_deadline(self) -> float:
        """The monotonic instant of the next firing."""
        return self.clock.monotonic_at(self.next_t)

    def due(self) -> bool:
        """True (once) when a period has come; schedules the next one."""
        now = self.clock.now()
        if now < self.next_t:
            return False
        late = now - self.next_t
        missed = math.floor(late / self.period_s)
        if self.fired and missed:
            self.overruns += missed
        self.last_dt = self.period_s * (1 + missed) if self.fired else self.period_s
        self.next_t += self.period_s * (1 + missed)
        self.fired += 1
        return True

    def set_period(self, period_s: float) -> None:
        self.period_s = period_s
        self.next_t = min(self.next_t, self.clock.now() + period_s)
