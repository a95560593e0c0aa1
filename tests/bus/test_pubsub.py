"""Publisher → BusProxy → Subscriber over real ipc sockets, and the subscriber's counters."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack
import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flight.bus import (
    DecodeError,
    DecodeLimits,
    Envelope,
    Publisher,
    RunDir,
    Subscriber,
)
from flight.bus.envelope import decode, pack
from flight.bus.proxy import BusProxy
from flight.bus.pubsub import MAX_TRACKED_STREAMS

SOCKET_SETTINGS = settings(
    deadline=None, max_examples=15,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
SMALL = DecodeLimits(max_message_bytes=256)
_markers = itertools.count(1)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Bus:
    ctx: zmq.Context[Any]
    rd: RunDir
    clock: FakeClock

    def publisher(self, src: str = "app") -> Publisher:
        return Publisher(self.ctx, self.rd.pub_endpoint, src, self.clock)

    def subscriber(self, *topics: str, limits: DecodeLimits = SMALL) -> Subscriber:
        return Subscriber(self.ctx, self.rd.sub_endpoint, topics, limits=limits)

    def raw_publisher(self) -> zmq.Socket[Any]:
        sock = self.ctx.socket(zmq.PUB)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(self.rd.pub_endpoint)
        return sock


@pytest.fixture
def bus(run_dir: Path) -> Iterator[Bus]:
    rd = RunDir(run_dir)
    rd.prepare()
    ctx: zmq.Context[Any] = zmq.Context()
    proxy = BusProxy(ctx, rd.pub_endpoint, rd.sub_endpoint)
    proxy.start()
    try:
        yield Bus(ctx, rd, FakeClock())
    finally:
        proxy.stop()
        ctx.destroy(linger=0)


def raw_send(sock: zmq.Socket[Any], topic: str) -> None:
    sock.send_multipart([topic.encode(), pack("raw", next(_markers), 0.0, None)])


def wait_for(sub: Subscriber, topic: str, timeout: float = 5.0) -> list[Envelope]:
    """Receive until an envelope on ``topic`` arrives; return everything before it."""
    seen: list[Envelope] = []
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        envelope = sub.recv(timeout_ms=max(1, int(left * 1000)))
        if envelope is None:
            continue
        if envelope.topic == topic:
            return seen
        seen.append(envelope)
    raise AssertionError(f"nothing on {topic} within {timeout} s; saw {seen}")


def connect(sub: Subscriber, send: Any, timeout: float = 5.0) -> None:
    """Wait out the slow-joiner window: probe until one arrives, then flush stray probes.

    ``send(topic)`` publishes one message on ``topic``; ``sub`` must be subscribed to it.
    """
    deadline = time.monotonic() + timeout
    while True:
        send("sync.probe")
        if sub.socket.poll(20):
            break
        assert time.monotonic() < deadline, "subscription never reached the publisher"
    send("sync.end")  # after every probe in the pipe: once it arrives, no probe is left
    wait_for(sub, "sync.end")


def mark(sub: Subscriber, send: Any) -> list[Envelope]:
    """Everything ``send``'s socket published before now that ``sub`` receives."""
    topic = f"sync.mark{next(_markers)}"
    send(topic)
    return [e for e in wait_for(sub, topic) if not e.topic.startswith("sync.")]


def test_publish_through_the_proxy(bus: Bus) -> None:
    pub, sub = bus.publisher("power"), bus.subscriber("tlm.", "sync.")
    connect(sub, lambda t: pub.publish(t, None))
    bus.clock.now = 1234.5
    assert pub.publish("tlm.power", {"v": 28.1}) == 1
    assert pub.publish("tlm.power", {"v": 28.2}) == 2
    assert pub.publish("tlm.other", [1, b"\x00", None]) == 1  # sequences are per topic
    got = mark(sub, lambda t: pub.publish(t, None))
    assert got == [
        Envelope("tlm.power", "power", 1, 1234.5, {"v": 28.1}),
        Envelope("tlm.power", "power", 2, 1234.5, {"v": 28.2}),
        Envelope("tlm.other", "power", 1, 1234.5, [1, b"\x00", None]),
    ]
    assert sub.counters.rx_gaps == 0 and sub.counters.rx_malformed == 0
    assert pub.counters.tx >= 3 and pub.counters.tx_dropped == 0


def test_topic_prefix_filtering(bus: Bus) -> None:
    pub, sub = bus.publisher(), bus.subscriber("tlm.", "evt.pow", "sync.")
    connect(sub, lambda t: pub.publish(t, None))
    sent = ["tlm.a", "evt.power", "evt.thermal", "hb.app", "tlmx", "TLM.a", "state.mode",
            "evt.pow", "tlm.", "tl", ""]
    for topic in sent:
        pub.publish(topic, topic)
    got = mark(sub, lambda t: pub.publish(t, None))
    expected = [t for t in sent if t.startswith(("tlm.", "evt.pow"))]
    assert [e.topic for e in got] == expected
    assert [e.data for e in got] == expected


def test_late_subscribe_adds_a_prefix(bus: Bus) -> None:
    pub, sub = bus.publisher(), bus.subscriber("sync.")
    connect(sub, lambda t: pub.publish(t, None))
    pub.publish("hb.x", 1)
    assert mark(sub, lambda t: pub.publish(t, None)) == []
    sub.subscribe("hb.")
    # The new subscription travels up through the proxy asynchronously: publish until seen.
    deadline = time.monotonic() + 5
    while True:
        pub.publish("hb.x", 2)
        if sub.socket.poll(20):
            break
        assert time.monotonic() < deadline
    envelope = sub.recv(timeout_ms=1000)
    assert envelope is not None and envelope.topic == "hb.x"


def test_two_publishers_have_independent_sequences(bus: Bus) -> None:
    a, b, sub = bus.publisher("a"), bus.publisher("b"), bus.subscriber("")
    connect(sub, lambda t: a.publish(t, None))
    connect(sub, lambda t: b.publish(t, None))
    for _ in range(3):
        a.publish("tlm.x", None)
        b.publish("tlm.x", None)
    got = mark(sub, lambda t: a.publish(t, None)) + mark(sub, lambda t: b.publish(t, None))
    assert sorted((e.src, e.seq) for e in got) == [("a", 1), ("a", 2), ("a", 3),
                                                   ("b", 1), ("b", 2), ("b", 3)]
    assert sub.counters.rx_gaps == 0


def test_gap_from_a_lost_message_is_counted(bus: Bus) -> None:
    pub, sub = bus.publisher(), bus.subscriber("tlm.", "sync.")
    connect(sub, lambda t: pub.publish(t, None))
    pub.publish("tlm.x", 1)
    pub._topics["tlm.x"].seq += 4  # as if four messages had been lost on the way
    pub.publish("tlm.x", 2)
    got = mark(sub, lambda t: pub.publish(t, None))
    assert [e.seq for e in got] == [1, 6]
    assert sub.counters.rx_gaps == 4


def test_drain_returns_only_what_is_queued(bus: Bus) -> None:
    pub, sub = bus.publisher(), bus.subscriber("tlm.", "sync.")
    connect(sub, lambda t: pub.publish(t, None))
    assert sub.drain() == []
    for i in range(5):
        pub.publish("tlm.x", i)
    pub.publish("sync.end", None)
    assert sub.socket.poll(5000)
    got: list[Envelope] = []
    deadline = time.monotonic() + 5
    while not any(e.topic == "sync.end" for e in got):
        assert time.monotonic() < deadline
        sub.socket.poll(100)
        got += sub.drain(limit=2)
    assert [e.data for e in got if e.topic == "tlm.x"] == [0, 1, 2, 3, 4]
    assert sub.recv(timeout_ms=0) is None


# ---------------------------------------------------------------- malformed input, real sockets

def classify(frames: list[bytes], limits: DecodeLimits = SMALL) -> str:
    """What the subscriber should count one received message as."""
    if len(frames) != 2:
        return "malformed"
    try:
        decode(frames[0], frames[1], limits)
    except DecodeError as exc:
        return exc.kind
    return "rx"


def counts(sub: Subscriber) -> dict[str, int]:
    c = sub.counters
    return {"rx": c.rx, "malformed": c.rx_malformed, "oversized": c.rx_oversized}


def test_malformed_frames_from_a_raw_publisher_are_counted(bus: Bus) -> None:
    raw, sub = bus.raw_publisher(), bus.subscriber("")
    connect(sub, lambda t: raw_send(raw, t))
    before = counts(sub)
    bad = [
        [b"tlm.x"],  # one frame
        [b"tlm.x", pack("a", 1, 0.0, None), b"extra"],  # three frames
        [b"tlm.x", b"\xc1"],  # not msgpack
        [b"tlm.x", b""],  # empty body
        [b"tlm.x", msgpack.packb({"not": "an envelope"})],
        [b"tlm.x", msgpack.packb(["a", "1", 0.0, None])],  # wrong header types
        [b"\xff\xfe", pack("a", 1, 0.0, None)],  # non-ASCII topic
        [b"tlm.x", b"\xdd\xff\xff\xff\xff"],  # array32 claiming 4 G elements
        [b"tlm.x", pack("a", 1, 0.0, b"x" * 300)],  # over the 256-byte limit
    ]
    for frames in bad:
        raw.send_multipart(frames)
    assert mark(sub, lambda t: raw_send(raw, t)) == []
    after = counts(sub)
    assert after["malformed"] - before["malformed"] == 8
    assert after["oversized"] - before["oversized"] == 1
    assert after["rx"] - before["rx"] == 1  # only the marker


frame_lists = st.lists(
    st.lists(
        st.one_of(
            st.binary(max_size=40),
            st.builds(lambda s, q, t, d: pack(s, q, t, d), st.text(max_size=5),
                      st.integers(0, 2**32), st.floats(allow_nan=False),
                      st.one_of(st.none(), st.binary(max_size=300),
                                st.integers(-(2**63), 2**63))),
            st.sampled_from([b"tlm.x", b"\xdd\xff\xff\xff\xff", b"\xc1"]),
            st.builds(lambda: b"\x91" * 200),  # nested arrays, never closed
        ),
        min_size=1, max_size=4),
    max_size=12)


@SOCKET_SETTINGS
@given(messages=frame_lists)
def test_random_frames_through_the_proxy_are_counted_never_raised(
        bus: Bus, messages: list[list[bytes]]) -> None:
    raw, sub = bus.raw_publisher(), bus.subscriber("")
    try:
        connect(sub, lambda t: raw_send(raw, t))
        before = counts(sub)
        for frames in messages:
            raw.send_multipart(frames)
        got = mark(sub, lambda t: raw_send(raw, t))
        after = counts(sub)
        expected = {"rx": 1, "malformed": 0, "oversized": 0}  # 1: the marker itself
        for frames in messages:
            expected[classify(frames)] += 1
        assert {k: after[k] - before[k] for k in after} == expected
        assert len(got) == expected["rx"] - 1 - sum(
            1 for f in messages if classify(f) == "rx" and f[0].startswith(b"sync."))
    finally:
        raw.close()
        sub.close()


# ---------------------------------------------------------------- the counting logic itself

@pytest.fixture
def lone_subscriber(run_dir: Path) -> Iterator[Subscriber]:
    """A subscriber connected to nothing: frames are fed to its _accept directly."""
    ctx: zmq.Context[Any] = zmq.Context()
    sub = Subscriber(ctx, f"ipc://{run_dir}/nobody", ["tlm."], limits=SMALL)
    try:
        yield sub
    finally:
        ctx.destroy(linger=0)


def frame(src: str, seq: int, topic: str = "tlm.x") -> list[bytes]:
    return [topic.encode(), pack(src, seq, 0.0, None)]


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seqs=st.lists(st.tuples(st.sampled_from(["a", "b"]), st.sampled_from(["t.1", "t.2"]),
                               st.integers(1, 50)), max_size=40))
def test_gap_counting(lone_subscriber: Subscriber, seqs: list[tuple[str, str, int]]) -> None:
    sub = lone_subscriber
    sub.counters.reset()
    sub._last_seq.clear()
    expected_gaps = 0
    last: dict[tuple[str, str], int] = {}
    for src, topic, seq in seqs:
        envelope = sub._accept(frame(src, seq, topic))
        assert envelope is not None and envelope.seq == seq
        previous = last.get((src, topic))
        if previous is not None and seq > previous + 1:
            expected_gaps += seq - previous - 1
        last[(src, topic)] = seq  # a lower number (a restarted sender) starts over
    assert sub.counters.rx_gaps == expected_gaps
    assert sub.counters.rx == len(seqs)


def test_gap_examples(lone_subscriber: Subscriber) -> None:
    sub = lone_subscriber
    for src, seq in [("a", 1), ("a", 2), ("a", 5), ("b", 9), ("a", 6), ("a", 1), ("a", 3)]:
        sub._accept(frame(src, seq))
    assert sub.counters.rx_gaps == 2 + 1  # 2→5 lost two; the restart at 1, then 1→3 lost one


def test_sequence_table_is_capped_against_sprayed_sources(lone_subscriber: Subscriber) -> None:
    """Sender-chosen (src, topic) keys must not grow memory without bound."""
    sub = lone_subscriber
    sub._last_seq.clear()
    sub.counters.reset()
    assert sub._accept(frame("steady", 1)) is not None
    for n in range(MAX_TRACKED_STREAMS + 100):
        assert sub._accept_frames(b"tlm.x", pack(f"spray{n}", 1, 0.0, None)) is not None
        assert len(sub._last_seq) <= MAX_TRACKED_STREAMS
    assert len(sub._last_seq) == MAX_TRACKED_STREAMS
    # The oldest streams went first; the newest are still tracked and still count gaps.
    assert ("steady", "tlm.x") not in sub._last_seq
    assert ("spray0", "tlm.x") not in sub._last_seq
    newest = f"spray{MAX_TRACKED_STREAMS + 99}"
    assert sub._last_seq[(newest, "tlm.x")] == 1
    sub._accept(frame(newest, 4))
    assert sub.counters.rx_gaps == 2
    assert sub.counters.rx == MAX_TRACKED_STREAMS + 102


@settings(deadline=None, max_examples=300,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(messages=frame_lists)
def test_accept_counts_every_frame_list_once(
        lone_subscriber: Subscriber, messages: list[list[bytes]]) -> None:
    sub = lone_subscriber
    before = counts(sub)
    expected = {"rx": 0, "malformed": 0, "oversized": 0}
    for frames in messages:
        result = sub._accept(frames)
        kind = classify(frames)
        expected[kind] += 1
        assert (result is not None) == (kind == "rx")
    assert {k: counts(sub)[k] - before[k] for k in expected} == expected


def test_recv_skips_bad_messages_and_times_out(bus: Bus) -> None:
    raw, sub = bus.raw_publisher(), bus.subscriber("")
    connect(sub, lambda t: raw_send(raw, t))
    raw.send_multipart([b"tlm.x", b"\xc1"])
    raw.send_multipart([b"tlm.x", pack("a", 7, 0.0, "ok")])
    envelope = None
    deadline = time.monotonic() + 5
    while envelope is None:
        assert time.monotonic() < deadline
        envelope = sub.recv(timeout_ms=100)
    assert (envelope.topic, envelope.seq, envelope.data) == ("tlm.x", 7, "ok")
    assert sub.counters.rx_malformed == 1
    started = time.monotonic()
    assert sub.recv(timeout_ms=50) is None
    assert time.monotonic() - started < 2
