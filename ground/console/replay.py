"""Replay: archived downlink packets played back through a ground station, as if received.

:class:`ReplayLink` stands in for :class:`ground.link.GroundLink` under a
:class:`ground.station.GroundStation`: the station's receive thread asks it for the next
datagram, and gets the next archived one (``Archive.replay``), decoded exactly as the live link
decodes (``TelemetryPacket.decode``; rejected ones keep their rejection reason), with its
*archived* ground-receive time, paced by ``ground.archive.pace``. So a replayed pass goes
through the same decoding, the same histories and the same console views as a live one, and no
packet is ever sent (a replay link refuses to).

The replay has its own clock (:meth:`ReplayLink.clock`): archived ground time, advancing at
``speed`` between packets, frozen while paused and at the end. Ages and staleness in the
console are measured on it, so a replay at 10x shows telemetry going stale where it did.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from flight.link import DEFAULT_MAX_SIZE, LinkError, Telecommand, TelemetryPacket
from ground.archive import Archive, PacketRow, pace
from ground.link import GapCounter, LinkStats, Received

__all__ = ["ReplayLink"]


class ReplayLink:
    """A read-only "link" that yields an archive's downlink packets, paced (see module docs).

    ``speed``: archive seconds per wall second (``math.inf``: as fast as decoding goes);
    ``max_gap``: archive seconds a silence (the hours between two contacts) is shortened to.
    """

    plain = True
    spi = 0

    def __init__(self, archive: str | Path | Archive, *, speed: float = 1.0,
                 max_gap: float | None = 60.0, since: float | None = None,
                 until: float | None = None, max_size: int = DEFAULT_MAX_SIZE) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self._owns = not isinstance(archive, Archive)
        self.archive = Archive(archive, readonly=True) if self._owns else archive
        self.path = Path(self.archive.path)
        self.speed = speed
        self.max_gap = max_gap
        self.max_size = max_size
        self.address = ("replay", 0)
        self.total = sum(self.archive.counts().packets.get("down", {}).values())
        self._rows: Iterator[PacketRow] = pace(
            self.archive.replay(since, until, include_rejected=True), speed, max_gap=max_gap,
            clock=self._virtual, sleep=self._sleep)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._resumed = threading.Event()
        self._resumed.set()
        self._paused_at: float | None = None
        self._paused_total = 0.0
        self._anchor: tuple[float, float] | None = None  # (archived t_ground, virtual time)
        self._last_clock: float | None = None
        self._received = self._decoded = 0
        self._rejected: Counter[str] = Counter()
        self._gaps = GapCounter()
        self.finished = False
        self.error: str | None = None

    # -------------------------------------------------------------- the replay's time

    def _virtual(self) -> float:
        """Wall monotonic time less the time spent paused (it stands still while paused)."""
        with self._lock:
            return self._virtual_unlocked()

    def _sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of unpaused time; return at once when closed."""
        target = self._virtual() + seconds
        while not self._stop.is_set():
            if not self._resumed.is_set():
                self._resumed.wait(0.1)
                continue
            left = target - self._virtual()
            if left <= 0:
                return
            self._stop.wait(min(left, 0.1))

    def clock(self) -> float:
        """The replay clock: archived ground time (UNIX seconds); NaN before the first packet."""
        with self._lock:
            anchor = self._anchor
        if anchor is None:
            return math.nan
        t_ground, virtual = anchor
        now = t_ground
        if not self.finished and math.isfinite(self.speed):
            now += max(self._virtual() - virtual, 0.0) * self.speed
        with self._lock:
            if self._last_clock is not None and now < self._last_clock:
                now = self._last_clock
            self._last_clock = now
        return now

    @property
    def paused(self) -> bool:
        return not self._resumed.is_set()

    def pause(self) -> None:
        with self._lock:
            if self._paused_at is None:
                self._paused_at = time.monotonic()
                self._resumed.clear()

    def resume(self) -> None:
        with self._lock:
            if self._paused_at is not None:
                self._paused_total += time.monotonic() - self._paused_at
                self._paused_at = None
                self._resumed.set()

    def toggle_pause(self) -> bool:
        """Pause or resume; returns whether it is paused now."""
        if self.paused:
            self.resume()
        else:
            self.pause()
        return self.paused

    # -------------------------------------------------------------- the GroundLink surface

    @property
    def local_address(self) -> tuple[str, int]:
        return self.address

    @property
    def closed(self) -> bool:
        return self._stop.is_set()

    def receive(self, timeout: float | None = None) -> Received | None:
        """The next archived datagram, at its time; ``None`` once closed (or, at the end,
        after waiting ``timeout`` seconds or a little while)."""
        if self._stop.is_set():
            return None
        if not self.finished:
            try:
                row = next(self._rows)
            except StopIteration:
                self.finished = True
            except Exception as exc:  # the archive went away (closed, damaged): stop here
                self.error = str(exc)
                self.finished = True
            else:
                return self._received_from(row)
        self._stop.wait(0.5 if timeout is None else timeout)
        return None

    def _received_from(self, row: PacketRow) -> Received:
        t_mono = time.monotonic()
        with self._lock:
            self._anchor = (row.t_ground, self._virtual_unlocked())
            self._received += 1
        try:
            packet = TelemetryPacket.decode(row.raw, self.max_size)
        except LinkError as exc:
            with self._lock:
                self._rejected[exc.reason.value] += 1
            return Received(row.raw, self.address, row.t_ground, t_mono, None, exc)
        with self._lock:
            self._decoded += 1
            gap = self._gaps.observe(packet.apid, packet.seq_count)
        return Received(row.raw, self.address, row.t_ground, t_mono, packet, None, gap)

    def _virtual_unlocked(self) -> float:
        now = time.monotonic() if self._paused_at is None else self._paused_at
        return now - self._paused_total

    @property
    def delivered(self) -> int:
        with self._lock:
            return self._received

    def stats(self) -> LinkStats:
        with self._lock:
            g = self._gaps
            return LinkStats(0, self._received, self._decoded, dict(self._rejected),
                             dict(g.gaps), dict(g.duplicates), dict(g.late))

    def make_tc(self, *args: object, **kwargs: object) -> None:
        raise OSError("replay: there is no link to send on")

    def send_tc(self, *args: object, **kwargs: object) -> bytes:
        raise OSError("replay: there is no link to send on")

    def send_new(self, *args: object, **kwargs: object) -> tuple[Telecommand, bytes]:
        raise OSError("replay: there is no link to send on")

    def send_raw(self, frame: bytes) -> None:
        raise OSError("replay: there is no link to send on")

    def close(self) -> None:
        self._stop.set()
        self._resumed.set()
        if self._owns:
            self.archive.close()

    def __enter__(self) -> ReplayLink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
