"""The downlink: telemetry to the ground while in contact, into the store while not, in order.

Telemetry leaves at no more than the link rate (a token bucket in bytes). In contact, a packet
the rate holds back waits in a short queue in memory (a burst of result chunks, say); out of
contact, or when that queue is full, packets go to the on-board store — the queue first, so
nothing overtakes anything. While anything waits in the store, new packets queue behind it, so
the ground receives every packet in the order it was made: first the backlog of the last pass,
then live telemetry. Only the in-memory queue (at most a second or so of link time) is lost if
comms itself dies; everything stored survives.
"""

from __future__ import annotations

import socket
import time
from collections import deque

from flight.apps.comms.store import TelemetryStore

Address = tuple[str, int]
#: Burst the token bucket allows, as seconds' worth of the link rate.
BURST_S = 0.05
#: Stored packets fetched from disk in one go.
DRAIN_BATCH = 256
#: Packets held in memory while the link rate holds them back, before they spill to the store.
QUEUE_MAX = 4096


class Downlink:
    """Sends, stores and drains telemetry packets."""

    def __init__(self, sock: socket.socket, store: TelemetryStore, rate_bps: int,
                 fixed: tuple[Address, ...] = ()):
        self.sock = sock
        self.store = store
        self.fixed = fixed
        self.reply_to: Address | None = None
        self.in_contact = True
        self.sent = self.stored = self.errors = 0
        self.queue: deque[bytes] = deque()
        self.set_rate(rate_bps)
        self._tokens = self._capacity
        self._last = time.monotonic()

    def set_rate(self, rate_bps: int) -> None:
        self.rate = rate_bps / 8.0  # bytes per second
        self._capacity = max(self.rate * BURST_S, 4096.0)

    @property
    def destinations(self) -> tuple[Address, ...]:
        if self.reply_to is None or self.reply_to in self.fixed:
            return self.fixed
        return (*self.fixed, self.reply_to)

    def can_send(self) -> bool:
        return self.in_contact and bool(self.destinations)

    def send(self, packet: bytes) -> None:
        """Send now if the link allows and nothing older waits; otherwise queue or store."""
        if self.can_send() and self.store.count == 0:
            if not self.queue and self._take(len(packet)):
                self._transmit(packet)
                return
            if len(self.queue) < QUEUE_MAX:
                self.queue.append(packet)
                return
        self.spill()
        self.store.append(packet)
        self.stored += 1

    def spill(self) -> None:
        """Move the in-memory queue into the store (in order, one transaction)."""
        if self.queue:
            self.store.extend(list(self.queue))
            self.stored += len(self.queue)
            self.queue.clear()

    def pump(self) -> None:
        """Send what waits — the queue, then the store — as contact and the rate allow."""
        if not self.can_send():
            self.spill()
            return
        while self.queue and self._take(len(self.queue[0])):
            self._transmit(self.queue.popleft())
        if self.queue:
            return
        while self.can_send() and self.store.count:
            batch = self.store.peek(DRAIN_BATCH)
            last_id = None
            for packet_id, packet in batch:
                if not self._take(len(packet)):
                    break
                self._transmit(packet)
                last_id = packet_id
            if last_id is not None:
                self.store.remove_through(last_id)
            if last_id is None or last_id != batch[-1][0]:
                return

    def next_deadline(self) -> float | None:
        """When the bucket will hold a full packet again, if a backlog waits for it.

        A fixed instant (from the last refill), not "now + something": the main loop runs
        the pump when this deadline has passed, so it must not move away as time goes on.
        """
        if not (self.can_send() and (self.store.count or self.queue)):
            return None
        return self._last + max(0.0, (1500 - self._tokens) / self.rate)

    def _take(self, size: int) -> bool:
        now = time.monotonic()
        self._tokens = min(self._capacity, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens < size:
            return False
        self._tokens -= size
        return True

    def _transmit(self, packet: bytes) -> None:
        for address in self.destinations:
            try:
                self.sock.sendto(packet, address)
            except OSError:
                self.errors += 1
        self.sent += 1
