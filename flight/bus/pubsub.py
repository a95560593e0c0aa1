"""Publishing and subscribing through the executive's proxy.

Apps publish telemetry, events, heartbeats and shared-state updates to the proxy's XSUB side
and subscribe from its XPUB side; nobody connects to anybody else directly, so an app can
restart without its peers noticing more than a gap in sequence numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import msgpack
import zmq

from flight.bus.counters import BusCounters
from flight.bus.envelope import DecodeError, Envelope, decode
from flight.bus.limits import DEFAULT_LIMITS, DecodeLimits

#: High-water mark for bus sockets: large enough to ride out a slow subscriber for a few
#: seconds of telemetry, small enough to bound memory. Never 0 (unbounded).
DEFAULT_HWM = 10_000
#: How long a closing socket may keep trying to deliver queued messages.
DEFAULT_LINGER_MS = 200
#: How many (src, topic) streams a subscriber tracks sequence numbers for. The keys are chosen
#: by senders, so a faulty process spraying random ``src`` values must not grow memory without
#: bound; past this the oldest stream is forgotten (its next gap goes uncounted).
MAX_TRACKED_STREAMS = 4096

Clock = Callable[[], float]


class _Topic:
    """A topic's encoded frame and its last sequence number (one per topic published)."""

    __slots__ = ("frame", "seq")

    def __init__(self, topic: str):
        self.frame = topic.encode("ascii")
        self.seq = 0


class Publisher:
    """Sends ``(topic, envelope)`` messages with per-topic sequence numbers.

    ``publish`` is the hottest path on the bus, so it reuses one msgpack Packer, keeps each
    topic's encoded frame, and sends the two frames with two ``send`` calls rather than
    ``send_multipart`` (which costs twice as much in Python).
    """

    def __init__(
        self,
        ctx: zmq.Context[Any],
        endpoint: str,
        src: str,
        clock: Clock,
        *,
        hwm: int = DEFAULT_HWM,
        counters: BusCounters | None = None,
    ):
        self.src = src
        self._clock = clock
        self._topics: dict[str, _Topic] = {}
        self._pack = msgpack.Packer(use_bin_type=True).pack
        self.counters = counters if counters is not None else BusCounters()
        self.socket = ctx.socket(zmq.PUB)
        self.socket.setsockopt(zmq.SNDHWM, hwm)
        self.socket.setsockopt(zmq.LINGER, DEFAULT_LINGER_MS)
        self.socket.connect(endpoint)

    def publish(self, topic: str, data: Any) -> int:
        """Publish ``data`` on ``topic``; return its sequence number.

        ``counters.tx`` counts messages handed to the socket, not messages delivered.
        """
        entry = self._topics.get(topic)
        if entry is None:
            entry = self._topics[topic] = _Topic(topic)
        entry.seq += 1
        body = self._pack((self.src, entry.seq, self._clock(), data))
        # A PUB socket never blocks and never raises zmq.Again: at its high-water mark libzmq
        # drops the message silently, so the publisher cannot count drops (subscribers see
        # them as sequence gaps).
        self.socket.send(entry.frame, _SEND_MORE)
        self.socket.send(body, zmq.NOBLOCK)
        self.counters.tx += 1
        return entry.seq

    def close(self) -> None:
        self.socket.close()


_SEND_MORE = zmq.SNDMORE | zmq.NOBLOCK


class Subscriber:
    """Receives envelopes for a set of topic prefixes, counting bad input and sequence gaps."""

    def __init__(
        self,
        ctx: zmq.Context[Any],
        endpoint: str,
        topics: Iterable[str],
        *,
        hwm: int = DEFAULT_HWM,
        limits: DecodeLimits = DEFAULT_LIMITS,
        counters: BusCounters | None = None,
    ):
        self._limits = limits
        self._last_seq: dict[tuple[str, str], int] = {}
        self.counters = counters if counters is not None else BusCounters()
        self.socket = ctx.socket(zmq.SUB)
        self.socket.setsockopt(zmq.RCVHWM, hwm)
        self.socket.setsockopt(zmq.LINGER, 0)
        for topic in topics:
            self.socket.setsockopt(zmq.SUBSCRIBE, topic.encode("ascii"))
        self.socket.connect(endpoint)

    def subscribe(self, topic: str) -> None:
        self.socket.setsockopt(zmq.SUBSCRIBE, topic.encode("ascii"))

    def recv(self, timeout_ms: int | None = None) -> Envelope | None:
        """Return the next valid envelope, or None if none arrived within ``timeout_ms``.

        ``None`` as the timeout waits for ever.
        """
        if not self.socket.poll(timeout_ms):
            return None
        while True:
            try:
                envelope = self._read_one()
            except zmq.Again:
                return None
            if envelope is not None:
                return envelope

    def drain(self, limit: int = 1000) -> list[Envelope]:
        """Return every envelope already queued (at most ``limit``), without blocking."""
        out: list[Envelope] = []
        for _ in range(limit):
            try:
                envelope = self._read_one()
            except zmq.Again:
                break
            if envelope is not None:
                out.append(envelope)
        return out

    def _read_one(self) -> Envelope | None:
        """Take one queued message (zmq.Again if none); None if it was rejected.

        Frames are received without copying so each frame's "more" flag comes with it: asking
        the socket for RCVMORE costs more than receiving the frame.
        """
        recv = self.socket.recv
        topic = recv(zmq.NOBLOCK, copy=False)
        if not topic.more:
            self.counters.rx_malformed += 1
            return None
        body = recv(zmq.NOBLOCK, copy=False)  # a message's frames arrive together
        if body.more:
            self.counters.rx_malformed += 1
            while recv(zmq.NOBLOCK, copy=False).more:
                pass
            return None
        return self._accept_frames(topic.bytes, body.bytes)

    def _accept(self, frames: list[bytes]) -> Envelope | None:
        if len(frames) != 2:
            self.counters.rx_malformed += 1
            return None
        return self._accept_frames(frames[0], frames[1])

    def _accept_frames(self, topic: bytes, body: bytes) -> Envelope | None:
        try:
            envelope = decode(topic, body, self._limits)
        except DecodeError as exc:
            self.counters.count_rejection(exc.kind)
            return None
        self.counters.rx += 1
        key = (envelope.src, envelope.topic)
        last_seq = self._last_seq
        last = last_seq.get(key)
        if last is None:
            if len(last_seq) >= MAX_TRACKED_STREAMS:
                del last_seq[next(iter(last_seq))]  # the oldest inserted stream
        elif envelope.seq > last + 1:
            self.counters.rx_gaps += envelope.seq - last - 1
        last_seq[key] = envelope.seq
        return envelope

    def close(self) -> None:
        self.socket.close()
