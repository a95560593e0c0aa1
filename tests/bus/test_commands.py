"""Commands over ROUTER/DEALER on real ipc sockets: stages, failures, retries and garbage."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgpack
import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flight.bus import (
    CommandClient,
    CommandError,
    CommandServer,
    DecodeLimits,
    Outcome,
    Reason,
    Reply,
    Request,
    RunDir,
    Status,
)
from flight.bus.envelope import pack, unpack_bounded

LIMITS = DecodeLimits(max_message_bytes=512)
_ids = itertools.count(1)


def clock() -> float:
    return 42.0


class Harness:
    """A CommandServer with a few test commands, served from this thread or a background one."""

    def __init__(self, ctx: zmq.Context[Any], endpoint: str):
        self.ctx = ctx
        self.endpoint = endpoint
        self.validated: list[Request] = []
        self.executed: list[Request] = []
        self.server = CommandServer(ctx, endpoint, "srv", clock, self.validate, self.execute,
                                    limits=LIMITS)

    def validate(self, request: Request) -> Outcome | None:
        self.validated.append(request)
        if request.name == "refuse":
            return Outcome.failed(Reason.NOT_PERMITTED, "not in this mode")
        if request.name not in ("echo", "boom", "unencodable"):
            return Outcome.failed(Reason.UNKNOWN_COMMAND, f"no command {request.name!r}")
        return None

    def execute(self, request: Request) -> Outcome:
        self.executed.append(request)
        if request.name == "boom":
            raise RuntimeError("kaboom")
        if request.name == "unencodable":
            return Outcome.completed({1, 2, 3})  # msgpack has no sets
        return Outcome.completed({"args": request.args}, "done")

    def pump(self, until: Callable[[], bool], timeout: float = 5.0) -> None:
        """Serve from this thread until ``until()`` holds."""
        deadline = time.monotonic() + timeout
        while not until():
            assert time.monotonic() < deadline, "condition not reached before the deadline"
            if self.server.socket.poll(10):
                self.server.handle_ready()

    @contextmanager
    def running(self) -> Iterator[None]:
        """Serve from a background thread for the duration of the block."""
        stop = threading.Event()
        errors: list[BaseException] = []

        def loop() -> None:
            try:
                while not stop.is_set():
                    if self.server.socket.poll(10):
                        self.server.handle_ready()
            except BaseException as exc:  # reported by the test, not lost in the thread
                errors.append(exc)

        thread = threading.Thread(target=loop, name="command-server", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(5)
            assert not thread.is_alive()
        assert not errors, errors

    def client(self, src: str = "ground") -> CommandClient:
        """A client whose connection is up, so its first send is delivered (no retry needed)."""
        client = CommandClient(self.ctx, self.endpoint, src, clock)
        assert client.socket.poll(5000, zmq.POLLOUT), "client never connected"
        return client

    def dealer(self) -> zmq.Socket[Any]:
        sock = self.ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(self.endpoint)
        return sock

    def replies(self, dealer: zmq.Socket[Any], n: int, timeout: float = 5.0) -> list[bytes]:
        """Serve until ``dealer`` has received ``n`` replies; return them raw."""
        got: list[bytes] = []

        def have() -> bool:
            while dealer.poll(0):
                got.append(dealer.recv())
            return len(got) >= n

        self.pump(have, timeout)
        return got


@pytest.fixture
def ctx() -> Iterator[zmq.Context[Any]]:
    context: zmq.Context[Any] = zmq.Context()
    yield context
    context.destroy(linger=0)


@pytest.fixture
def endpoint(run_dir: Path) -> str:
    rd = RunDir(run_dir)
    rd.prepare()
    return rd.command_endpoint("testapp")


@pytest.fixture
def harness(ctx: zmq.Context[Any], endpoint: str) -> Harness:
    return Harness(ctx, endpoint)


def request(name: str, args: dict[str, Any] | None = None, *, cmd_id: str | None = None,
            src: str = "ground", exp: float | None = None) -> bytes:
    body = {"id": cmd_id or f"id-{next(_ids)}", "cmd": name, "args": args or {}, "exp": exp}
    return pack(src, 1, 0.0, body)


def body_of(raw: bytes) -> dict[str, Any]:
    src, _seq, t, body = unpack_bounded(raw)
    assert (src, t) == ("srv", 42.0)
    assert isinstance(body, dict)
    return body


# ---------------------------------------------------------------- stages

def test_accepted_then_completed(harness: Harness) -> None:
    dealer = harness.dealer()
    dealer.send(request("echo", {"x": 1}, cmd_id="c1"))
    accepted, completed = map(body_of, harness.replies(dealer, 2))
    assert accepted == {"id": "c1", "status": "ACCEPTED", "reason": 0, "msg": "", "data": None}
    assert completed == {"id": "c1", "status": "COMPLETED", "reason": 0, "msg": "done",
                         "data": {"args": {"x": 1}}}
    assert harness.server.executed == 1 and harness.server.duplicates == 0
    assert harness.server.counters.rx == 1 and harness.server.counters.tx == 2
    assert [r.args for r in harness.executed] == [{"x": 1}]


def test_client_call_completes(harness: Harness) -> None:
    client = harness.client()
    with harness.running():
        reply = client.call("echo", {"x": [1, 2]}, timeout=5, retry_interval=5)
    assert reply.ok and reply.status is Status.COMPLETED and reply.reason is Reason.OK
    assert (reply.data, reply.message, reply.src, reply.t) == ({"args": {"x": [1, 2]}}, "done",
                                                              "srv", 42.0)
    assert harness.server.executed == 1
    assert harness.executed[0].src == "ground" and harness.executed[0].name == "echo"
    assert client.counters.tx == 1 and client.counters.rx == 2


def test_validator_refusal_fails_without_accepting(harness: Harness) -> None:
    dealer = harness.dealer()
    dealer.send(request("refuse", cmd_id="r1"))
    dealer.send(request("echo", cmd_id="after"))  # serialises: the refusal came before it
    replies = [body_of(r) for r in harness.replies(dealer, 3)]
    assert replies[0] == {"id": "r1", "status": "FAILED", "reason": int(Reason.NOT_PERMITTED),
                          "msg": "not in this mode", "data": None}
    assert [(r["id"], r["status"]) for r in replies[1:]] == [("after", "ACCEPTED"),
                                                             ("after", "COMPLETED")]
    assert [r.name for r in harness.executed] == ["echo"]


def test_client_sees_refusal_and_check_raises(harness: Harness) -> None:
    client = harness.client()
    with harness.running():
        reply = client.call("refuse", timeout=5)
        with pytest.raises(CommandError) as raised:
            client.call("nope", timeout=5, check=True)
    assert (reply.status, reply.reason, reply.message) == (Status.FAILED, Reason.NOT_PERMITTED,
                                                           "not in this mode")
    assert not reply.ok
    assert raised.value.reply.reason is Reason.UNKNOWN_COMMAND
    assert harness.server.executed == 0 and harness.executed == []


def test_handler_exception_fails_with_execution_error(harness: Harness) -> None:
    dealer = harness.dealer()
    dealer.send(request("boom", cmd_id="b1"))
    accepted, failed = map(body_of, harness.replies(dealer, 2))
    assert accepted["status"] == "ACCEPTED"
    assert failed["status"] == "FAILED"
    assert failed["reason"] == int(Reason.EXECUTION_ERROR)
    assert failed["msg"] == "RuntimeError: kaboom"
    client = harness.client()
    with harness.running():  # the server survived it
        assert client.call("echo", timeout=5).ok


def test_unencodable_reply_data_fails_the_command_not_the_server(harness: Harness) -> None:
    client = harness.client()
    with harness.running():
        reply = client.call("unencodable", timeout=5)
        assert client.call("echo", timeout=5).ok
    assert reply.status is Status.FAILED and reply.reason is Reason.EXECUTION_ERROR
    assert "cannot be encoded" in reply.message
    assert harness.server.executed == 2


def test_expired_request_fails_and_is_never_executed(harness: Harness) -> None:
    dealer = harness.dealer()
    dealer.send(request("echo", cmd_id="old", exp=time.time() - 1))
    (only,) = map(body_of, harness.replies(dealer, 1))
    assert (only["status"], only["reason"]) == ("FAILED", int(Reason.EXPIRED))
    assert harness.executed == [] and harness.validated == [] and harness.server.executed == 0
    # The same with a live expiry runs normally.
    dealer.send(request("echo", cmd_id="fresh", exp=time.time() + 60))
    assert [body_of(r)["status"] for r in harness.replies(dealer, 2)] == ["ACCEPTED",
                                                                           "COMPLETED"]


def test_client_expires_in_the_past(harness: Harness) -> None:
    client = harness.client()
    with harness.running():
        reply = client.call("echo", timeout=5, expires_in=-1.0)
    assert (reply.status, reply.reason) == (Status.FAILED, Reason.EXPIRED)
    assert harness.server.executed == 0


# ---------------------------------------------------------------- exactly once

def test_identical_bytes_twice_execute_once(harness: Harness) -> None:
    dealer = harness.dealer()
    raw = request("echo", {"n": 1}, cmd_id="dup")
    dealer.send(raw)
    dealer.send(raw)
    replies = harness.replies(dealer, 3)
    assert [body_of(r)["status"] for r in replies] == ["ACCEPTED", "COMPLETED", "COMPLETED"]
    assert replies[1] == replies[2]  # the cached final answer, byte for byte
    assert harness.server.executed == 1 and harness.server.duplicates == 1
    assert len(harness.executed) == 1 and len(harness.validated) == 1


def test_client_resend_with_the_same_id_returns_the_first_reply(harness: Harness) -> None:
    client = harness.client()
    with harness.running():
        first = client.call("echo", {"n": 1}, cmd_id="same", timeout=5, retry_interval=5)
        second = client.call("echo", {"n": 2}, cmd_id="same", timeout=5, retry_interval=5)
    assert first.ok and first == second
    assert second.data == {"args": {"n": 1}}  # the first execution's answer
    assert harness.server.executed == 1 and harness.server.duplicates == 1


def test_cached_refusal_is_replayed_without_validating_again(harness: Harness) -> None:
    dealer = harness.dealer()
    raw = request("refuse", cmd_id="r")
    dealer.send(raw)
    dealer.send(raw)
    first, second = harness.replies(dealer, 2)
    assert first == second and body_of(first)["status"] == "FAILED"
    assert len(harness.validated) == 1 and harness.server.duplicates == 1


def test_same_id_from_another_sender_is_a_new_command(harness: Harness) -> None:
    dealer = harness.dealer()
    dealer.send(request("echo", cmd_id="x", src="a"))
    dealer.send(request("echo", cmd_id="x", src="b"))
    assert len(harness.replies(dealer, 4)) == 4
    assert harness.server.executed == 2 and harness.server.duplicates == 0


def test_client_retries_until_the_server_appears(ctx: zmq.Context[Any], endpoint: str) -> None:
    client = CommandClient(ctx, endpoint, "ground", clock)
    result: list[Reply] = []
    caller = threading.Thread(
        target=lambda: result.append(client.call("echo", timeout=10, retry_interval=0.05)))
    caller.start()
    try:
        deadline = time.monotonic() + 5
        while client.unconnected_sends == 0:  # a send found no server yet
            assert time.monotonic() < deadline
            caller.join(0.01)
        harness = Harness(ctx, endpoint)
        harness.pump(lambda: not caller.is_alive(), timeout=10)
    finally:
        caller.join(10)
    assert result and result[0].ok
    assert harness.server.executed == 1  # however many retries reached it


def test_client_times_out_without_a_server(ctx: zmq.Context[Any], endpoint: str) -> None:
    client = CommandClient(ctx, endpoint, "ground", clock)
    started = time.monotonic()
    reply = client.call("echo", timeout=0.3, retry_interval=0.05)
    elapsed = time.monotonic() - started
    assert (reply.status, reply.reason) == (Status.FAILED, Reason.TIMEOUT)
    assert 0.3 <= elapsed < 3
    with pytest.raises(CommandError):
        client.call("echo", timeout=0.1, retry_interval=0.05, check=True)


def test_client_times_out_when_the_server_does_not_serve(harness: Harness) -> None:
    client = harness.client()
    reply = client.call("echo", timeout=0.3, retry_interval=0.1)
    assert reply.reason is Reason.TIMEOUT
    sent = client.counters.tx
    assert sent >= 2  # re-sent while nothing was accepted
    # The requests waited in the socket past their expiry (the call's timeout): served now,
    # the first fails EXPIRED, the re-sends get that cached answer, and nothing runs late.
    harness.pump(lambda: harness.server.counters.rx == sent)
    assert harness.server.executed == 0 and harness.executed == []
    assert harness.server.duplicates == sent - 1


def test_client_skips_garbage_and_stale_replies(ctx: zmq.Context[Any], endpoint: str) -> None:
    router = ctx.socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    router.bind(endpoint)
    client = CommandClient(ctx, endpoint, "ground", clock)
    assert client.socket.poll(5000, zmq.POLLOUT)

    def fake_server() -> None:
        assert router.poll(5000)
        identity, raw = router.recv_multipart()
        cmd_id = unpack_bounded(raw)[3]["id"]

        def reply(body: Any) -> None:
            router.send_multipart([identity, pack("fake", 1, 1.0, body)])

        router.send_multipart([identity, b"\xc1"])  # not msgpack
        router.send_multipart([identity, msgpack.packb([1, 2])])  # wrong shape
        reply({"id": cmd_id, "status": "DONE", "reason": 0})  # unknown status
        reply({"id": cmd_id, "status": "FAILED", "reason": 999})  # unknown reason
        reply({"id": "someone-else", "status": "COMPLETED", "reason": 0})  # stale
        reply({"id": cmd_id, "status": "ACCEPTED", "reason": 0})
        reply({"id": cmd_id, "status": "COMPLETED", "reason": 0, "data": 7})

    thread = threading.Thread(target=fake_server)
    thread.start()
    try:
        reply = client.call("anything", timeout=5, retry_interval=5)
    finally:
        thread.join(5)
    assert reply.ok and reply.data == 7 and reply.src == "fake"
    assert client.counters.rx_malformed == 4


# ---------------------------------------------------------------- garbage into the ROUTER

WRONG_SHAPES = {
    "not an array": msgpack.packb({"id": "x", "cmd": "echo"}),
    "three elements": msgpack.packb(["a", 1, 0.0]),
    "body not a map": msgpack.packb(["a", 1, 0.0, ["echo"]]),
    "src not a string": msgpack.packb([1, 1, 0.0, {"id": "x", "cmd": "echo"}]),
    "no id": msgpack.packb(["a", 1, 0.0, {"cmd": "echo"}]),
    "id an int": msgpack.packb(["a", 1, 0.0, {"id": 1, "cmd": "echo"}]),
    "no cmd": msgpack.packb(["a", 1, 0.0, {"id": "x"}]),
    "args a list": msgpack.packb(["a", 1, 0.0, {"id": "x", "cmd": "echo", "args": [1]}]),
    "args with bin keys": msgpack.packb(["a", 1, 0.0, {"id": "x", "cmd": "echo",
                                                       "args": {b"k": 1}}], use_bin_type=True),
    "exp a bool": msgpack.packb(["a", 1, 0.0, {"id": "x", "cmd": "echo", "exp": True}]),
    "exp a string": msgpack.packb(["a", 1, 0.0, {"id": "x", "cmd": "echo", "exp": "soon"}]),
    "int map key": msgpack.packb(["a", 1, 0.0, {1: "x"}]),
    "truncated": request("echo")[:-3],
    "not msgpack": b"\xc1\xc1",
    "empty": b"",
    "array32 claiming 4G": b"\xdd\xff\xff\xff\xff",
}


@pytest.mark.parametrize("raw", WRONG_SHAPES.values(), ids=WRONG_SHAPES.keys())
def test_wrong_request_shapes_are_malformed(harness: Harness, raw: bytes) -> None:
    dealer = harness.dealer()
    dealer.send(raw)
    harness.pump(lambda: harness.server.counters.rx_malformed == 1)
    dealer.send(request("echo", cmd_id="ok"))
    assert [body_of(r)["id"] for r in harness.replies(dealer, 2)] == ["ok", "ok"]
    assert harness.server.counters.rx == 1 and harness.executed[0].cmd_id == "ok"


def test_wrong_frame_counts_and_oversized_requests_are_counted(harness: Harness) -> None:
    dealer = harness.dealer()
    dealer.send_multipart([request("echo"), request("echo")])  # two frames
    dealer.send_multipart([b"", request("echo")])  # a REQ-style empty delimiter
    dealer.send(request("echo", {"pad": "x" * 600}))  # over the 512-byte limit
    c = harness.server.counters
    harness.pump(lambda: c.rx_malformed + c.rx_oversized == 3)
    assert (c.rx_malformed, c.rx_oversized, c.rx) == (2, 1, 0)
    assert harness.executed == []


def request_bodies() -> st.SearchStrategy[bytes]:
    scalar = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63),
                       st.floats(), st.text(max_size=6), st.binary(max_size=6))
    value = st.one_of(scalar, st.lists(scalar, max_size=3),
                      st.dictionaries(st.text(max_size=4), scalar, max_size=3))
    body = st.dictionaries(st.sampled_from(["id", "cmd", "args", "exp", "x"]), value,
                           max_size=5)
    envelope = st.tuples(st.one_of(st.text(max_size=5), scalar), scalar, scalar,
                         st.one_of(body, value))
    return st.one_of(
        st.binary(max_size=64),
        st.binary(min_size=513, max_size=700),
        envelope.map(lambda e: msgpack.packb(e, use_bin_type=True)),
        st.builds(request, st.sampled_from(["echo", "refuse", "boom", "other"]),
                  st.dictionaries(st.text(max_size=4), scalar, max_size=3)),
    )


@settings(deadline=None, max_examples=25,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(messages=st.lists(st.lists(request_bodies(), min_size=1, max_size=3), max_size=10))
def test_random_input_is_counted_and_serving_continues(
        harness: Harness, messages: list[list[bytes]]) -> None:
    c = harness.server.counters
    before = (c.rx, c.rx_malformed, c.rx_oversized)
    dealer = harness.dealer()
    try:
        for frames in messages:
            dealer.send_multipart(frames)
        harness.pump(lambda: c.rx + c.rx_malformed + c.rx_oversized - sum(before)
                     == len(messages))
        rx, malformed, oversized = (c.rx - before[0], c.rx_malformed - before[1],
                                    c.rx_oversized - before[2])
        single = [f[0] for f in messages if len(f) == 1]
        assert oversized == sum(1 for raw in single if len(raw) > LIMITS.max_message_bytes)
        assert malformed >= len(messages) - len(single)
        assert rx <= len(single)
        # ... and a valid command still runs, once.
        cmd_id = f"after-{next(_ids)}"
        executed = harness.server.executed
        dealer.send(request("echo", cmd_id=cmd_id))
        finals: list[dict[str, Any]] = []

        def completed() -> bool:
            while dealer.poll(0):
                body = body_of(dealer.recv())
                if body["id"] == cmd_id and body["status"] != "ACCEPTED":
                    finals.append(body)
            return bool(finals)

        harness.pump(completed)
        assert finals[0]["status"] == "COMPLETED"
        assert harness.server.executed == executed + 1
    finally:
        dealer.close()
