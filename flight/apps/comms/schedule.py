"""Time-tagged telecommands (PUS service 11): held on board, released at their mission time.

The schedule is persisted through the checkpoint store on every change, so activities inserted
before a comms restart still fire after it. One that came due while comms was down fires as
soon as comms is back, and is reported late (``late_s``) rather than silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flight.checkpoint import CheckpointStore, MirroredStore

#: Activities the schedule holds at most.
MAX_ACTIVITIES = 512


@dataclass(frozen=True)
class Activity:
    """One telecommand waiting for its release time (mission UNIX seconds)."""

    request_id: int
    release_t: float
    packet: bytes  # the embedded, complete TC space packet

    def describe(self) -> dict[str, Any]:
        return {"request_id": self.request_id, "release_t": self.release_t,
                "apid": int.from_bytes(self.packet[0:2], "big") & 0x7FF,
                "service": self.packet[7] if len(self.packet) > 8 else None,
                "subtype": self.packet[8] if len(self.packet) > 8 else None}


class Schedule:
    """The time-based schedule: insert, delete, release what is due."""

    def __init__(self, store: CheckpointStore | MirroredStore):
        self._store = store
        self.enabled = True
        self.activities: list[Activity] = []
        self.rejected_on_load = 0

    def load(self) -> None:
        stored = self._store.load_object()
        data = stored[0] if stored else None
        if not isinstance(data, dict):
            return
        self.enabled = bool(data.get("enabled", True))
        for item in data.get("activities", []):
            try:
                self.activities.append(Activity(int(item[0]), float(item[1]), bytes(item[2])))
            except (TypeError, ValueError, IndexError):
                self.rejected_on_load += 1
        self.activities.sort(key=lambda a: a.release_t)

    def _save(self) -> None:
        self._store.save_object({"enabled": self.enabled, "activities": [
            [a.request_id, a.release_t, a.packet] for a in self.activities]})

    def insert(self, activity: Activity) -> bool:
        """False when the schedule is full."""
        if len(self.activities) >= MAX_ACTIVITIES:
            return False
        self.activities.append(activity)
        self.activities.sort(key=lambda a: a.release_t)
        self._save()
        return True

    def delete(self, request_ids: set[int]) -> int:
        before = len(self.activities)
        self.activities = [a for a in self.activities if a.request_id not in request_ids]
        self._save()
        return before - len(self.activities)

    def reset(self) -> None:
        self.activities = []
        self._save()

    def set_enabled(self, enabled: bool) -> None:
        self.enabled = enabled
        self._save()

    def next_release(self) -> float | None:
        return self.activities[0].release_t if self.activities and self.enabled else None

    def due(self, now: float) -> list[Activity]:
        """Remove and return every activity whose release time has come."""
        if not self.enabled or not self.activities or self.activities[0].release_t > now:
            return []
        due = [a for a in self.activities if a.release_t <= now]
        self.activities = self.activities[len(due):]
        self._save()
        return due
