"""The on-board telemetry store: what comms could not downlink, kept in order across restarts.

Out of contact every telemetry packet goes here; at the next contact it leaves oldest first, at
the link rate. The store is bounded (``max_packets``): when it is full the oldest packet is
dropped and counted, so the newest picture of the spacecraft always survives. It is an SQLite
file in the app's state directory: each append is committed, so a comms crash loses nothing
stored, and a packet is deleted only after it was handed to the socket. A file that cannot be
opened as a store is moved aside (and said so) rather than stopping the radio.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

#: Appends are committed when this many are pending, or after COMMIT_INTERVAL_S. One: each
#: packet is committed as it is stored (WAL, synchronous=NORMAL: ~tens of µs), so a crash of
#: the process loses none; a power cut may lose the last few.
COMMIT_BATCH = 1
COMMIT_INTERVAL_S = 0.25


class TelemetryStore:
    """A bounded FIFO of raw packets on disk."""

    def __init__(self, path: Path, max_packets: int):
        self.path = path
        self.max_packets = max_packets
        self.dropped = 0
        self.recovered_from: Path | None = None
        self._pending = 0
        self._last_commit = time.monotonic()
        self._db = self._open()
        self.count = self._db.execute("SELECT COUNT(*) FROM tm").fetchone()[0]

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return self._connect()
        except sqlite3.DatabaseError:
            aside = self.path.with_suffix(f".corrupt-{int(time.time())}")
            self.path.rename(aside)
            self.recovered_from = aside
            return self._connect()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("CREATE TABLE IF NOT EXISTS tm (id INTEGER PRIMARY KEY, packet BLOB)")
            db.execute("SELECT COUNT(*) FROM tm").fetchone()
            db.execute("BEGIN")
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def append(self, packet: bytes) -> None:
        self._db.execute("INSERT INTO tm (packet) VALUES (?)", (packet,))
        self.count += 1
        self._trim()
        self._pending += 1
        self.maybe_commit()

    def extend(self, packets: list[bytes]) -> None:
        """Append several packets in one transaction (a spilled queue)."""
        for packet in packets:
            self._db.execute("INSERT INTO tm (packet) VALUES (?)", (packet,))
        self.count += len(packets)
        self._trim()
        self._pending += 1
        self.maybe_commit(force=True)

    def _trim(self) -> None:
        if self.count > self.max_packets:
            excess = self.count - self.max_packets
            self._db.execute("DELETE FROM tm WHERE id IN (SELECT id FROM tm ORDER BY id LIMIT ?)",
                             (excess,))
            self.count -= excess
            self.dropped += excess

    def peek(self, limit: int) -> list[tuple[int, bytes]]:
        """The oldest ``limit`` packets with their ids (still stored)."""
        return [(int(i), bytes(p)) for i, p in self._db.execute(
            "SELECT id, packet FROM tm ORDER BY id LIMIT ?", (limit,))]

    def remove_through(self, last_id: int) -> None:
        """Forget every packet up to ``last_id``: they were sent."""
        removed = self._db.execute("DELETE FROM tm WHERE id <= ?", (last_id,)).rowcount
        self.count -= max(0, removed)
        self._pending += 1
        self.maybe_commit()

    def maybe_commit(self, force: bool = False) -> None:
        now = time.monotonic()
        if self._pending and (force or self._pending >= COMMIT_BATCH
                              or now - self._last_commit >= COMMIT_INTERVAL_S):
            self._db.execute("COMMIT")
            self._db.execute("BEGIN")
            self._pending = 0
            self._last_commit = now

    def close(self) -> None:
        self.maybe_commit(force=True)
        self._db.execute("COMMIT")
        self._db.close()
