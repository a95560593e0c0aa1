"""Mission time.

Everything onboard stamps its messages and logs with mission time, the one time base the
ground, the archive and the world simulation agree on. On a flight profile mission time is UTC.
A simulated flatsat starts it at a chosen epoch and may run it ``speed`` times faster than
the wall clock, so three orbits pass in a minute: the executive fixes the *anchor* (mission
time at a monotonic instant, and the speed) once per boot, writes it into the run directory,
and every process of that boot derives the same mission time from it.

Supervision never uses mission time: heartbeats and timeouts run on the monotonic wall clock,
so a time jump or a fast-forwarded simulation cannot make a healthy app look hung.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ClockAnchor:
    """Mission time ``mission0`` at monotonic time ``mono0``, advancing ``speed`` times real time.

    ``time.monotonic()`` is CLOCK_MONOTONIC, which all processes of one boot of the machine
    share, so one anchor gives every onboard process the same mission time.
    """

    mission0: float
    mono0: float
    speed: float = 1.0

    def to_json(self) -> dict[str, Any]:
        return {"mission0": self.mission0, "mono0": self.mono0, "speed": self.speed}

    @classmethod
    def from_json(cls, data: Any) -> ClockAnchor:
        """Parse a stored anchor; ValueError when it is not one (a corrupt file)."""
        if not isinstance(data, dict):
            raise ValueError("clock anchor: expected an object")
        try:
            values = [float(data[k]) for k in ("mission0", "mono0", "speed")]
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"clock anchor: {exc}") from None
        if not all(math.isfinite(v) for v in values) or values[2] <= 0:
            raise ValueError("clock anchor: values must be finite and the speed positive")
        return cls(*values)


def parse_epoch(text: str) -> float | None:
    """``"2027-06-21T00:00:00Z"`` → UNIX seconds; ``""`` → None (start at the current UTC)."""
    if not text:
        return None
    stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=timezone.utc)
    return stamp.timestamp()


class MissionClock:
    """Returns mission time in UNIX seconds.

    Without an anchor it is UTC (plus ``offset``); with one it runs from the anchor's epoch at
    the anchor's speed.
    """

    def __init__(self, offset: float = 0.0, *, anchor: ClockAnchor | None = None):
        self.offset = offset
        self.anchor = anchor

    @classmethod
    def starting(cls, epoch: float | None, speed: float) -> MissionClock:
        """A new anchor: mission time ``epoch`` (None: now, UTC) from this instant on."""
        mission0 = time.time() if epoch is None else epoch
        return cls(anchor=ClockAnchor(mission0, time.monotonic(), speed))

    @classmethod
    def from_file(cls, path: Path) -> MissionClock:
        """The clock of the boot whose anchor is stored at ``path`` (UTC when absent)."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        return cls(anchor=ClockAnchor.from_json(data))

    def save(self, path: Path) -> None:
        """Store the anchor atomically for this boot's other processes."""
        if self.anchor is None:
            path.unlink(missing_ok=True)
            return
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.anchor.to_json()), encoding="utf-8")
        os.replace(tmp, path)

    @property
    def speed(self) -> float:
        return 1.0 if self.anchor is None else self.anchor.speed

    def now(self) -> float:
        anchor = self.anchor
        if anchor is None:
            return time.time() + self.offset
        return anchor.mission0 + anchor.speed * (time.monotonic() - anchor.mono0)

    __call__ = now

    def monotonic_at(self, mission_t: float) -> float:
        """The monotonic instant at which mission time reaches ``mission_t``."""
        return time.monotonic() + (mission_t - self.now()) / self.speed
