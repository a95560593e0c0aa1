"""Shared state that survives a restart: the Clone pattern (snapshot, then sequenced updates).

The executive owns a small key-value store (the mode, FDIR flags, the process table). Every
change gets the next sequence number and is published on ``state.<key>``. A process that starts
or restarts subscribes first, then asks for a snapshot, and applies only updates newer than the
snapshot; a gap in the sequence makes it ask again. So a restarted app learns the mode it
missed, and no update is applied twice or out of order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flight.bus.envelope import Envelope
from flight.bus.pubsub import Publisher

STATE_TOPIC = "state."


class SharedStateServer:
    """The owner's side: holds the values and publishes each change."""

    def __init__(self, publisher: Publisher):
        self._publisher = publisher
        self.seq = 0
        self.values: dict[str, Any] = {}

    def set(self, key: str, value: Any) -> None:
        """Change ``key`` and publish the update (also when the value is unchanged)."""
        self.seq += 1
        self.values[key] = value
        self._publisher.publish(STATE_TOPIC + key, {"seq": self.seq, "key": key, "value": value})

    def snapshot(self) -> dict[str, Any]:
        return {"seq": self.seq, "values": dict(self.values)}


class SharedStateReplica:
    """A follower's side: applies a snapshot and the updates after it, detecting gaps."""

    def __init__(self, on_change: Callable[[str, Any, Any], None] | None = None):
        self.seq: int | None = None  # None until a snapshot has been applied
        self.values: dict[str, Any] = {}
        self._buffer: list[dict[str, Any]] = []
        self._on_change = on_change
        self.gaps = 0

    @property
    def synced(self) -> bool:
        return self.seq is not None

    def apply_snapshot(self, snapshot: Any) -> bool:
        """Install a snapshot; replay buffered updates newer than it.

        False if the snapshot is malformed, or if the buffered updates show a gap after it
        (another snapshot is needed; the updates from the gap on stay buffered).
        """
        if not isinstance(snapshot, dict) or not isinstance(snapshot.get("values"), dict):
            return False
        seq = snapshot.get("seq")
        if type(seq) is not int:
            return False
        old = self.values
        self.values = dict(snapshot["values"])
        self.seq = seq
        for key, value in self.values.items():
            if old.get(key) != value:
                self._notify(key, old.get(key), value)
        buffered, self._buffer = self._buffer, []
        for i, update in enumerate(buffered):
            if not self._apply(update):
                self._buffer.extend(buffered[i + 1 :])
                return False
        return True

    def on_update(self, envelope: Envelope) -> bool:
        """Apply one ``state.*`` message; return False when a new snapshot is needed."""
        update = envelope.data
        if not (isinstance(update, dict) and type(update.get("seq")) is int
                and isinstance(update.get("key"), str)):
            return True  # malformed: ignore; the counters already saw it
        if self.seq is None:
            self._buffer.append(update)
            del self._buffer[:-1000]
            return True
        return self._apply(update)

    def _apply(self, update: dict[str, Any]) -> bool:
        assert self.seq is not None
        seq = update["seq"]
        if seq <= self.seq:
            return True
        if seq > self.seq + 1:
            self.gaps += 1
            self.seq = None  # resynchronise from a fresh snapshot
            self._buffer = [update]
            return False
        self.seq = seq
        old = self.values.get(update["key"])
        self.values[update["key"]] = update.get("value")
        if old != update.get("value"):
            self._notify(update["key"], old, update.get("value"))
        return True

    def _notify(self, key: str, old: Any, new: Any) -> None:
        if self._on_change is not None:
            self._on_change(key, old, new)
