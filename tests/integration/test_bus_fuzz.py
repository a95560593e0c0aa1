"""Random bytes, truncated and oversized msgpack on every socket an app reads.

Every onboard process reads two sockets: its command ROUTER and its subscription to the bus.
Whatever arrives there must cost a counter, never the process.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hil.stack import LocalStack, wait_until
from tests.conftest import FAST

APPS = ("executive", "health")
TOPICS = ("state.mode", "state.processes", "hb.health", "hb.executive", "tlm.health", "evt.x")


@pytest.fixture(scope="module")
def fuzz_stack() -> Iterator[tuple[LocalStack, dict[str, Any]]]:
    root = Path(tempfile.mkdtemp(prefix="sl-", dir="/tmp"))
    stack = LocalStack(root, overrides=FAST, log_to=root / "stack.out").start()
    ctx = zmq.Context.instance()
    sockets: dict[str, Any] = {}
    for app in APPS:
        dealer = ctx.socket(zmq.DEALER)
        dealer.setsockopt(zmq.LINGER, 0)
        dealer.connect(stack.run_dir.command_endpoint(app))
        sockets[app] = dealer
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    pub.connect(stack.run_dir.pub_endpoint)
    sockets["pub"] = pub
    pids = {row["name"]: row["pid"] for row in stack.status()["processes"]}
    yield stack, {"sockets": sockets, "pids": pids}
    for sock in sockets.values():
        sock.close()
    stack.stop()
    shutil.rmtree(root, ignore_errors=True)


def _envelope_like(draw_body: Any) -> bytes:
    return msgpack.packb(draw_body, use_bin_type=True)


ints = st.integers(-(2**63), 2**64 - 1)  # what msgpack can encode

garbage = st.one_of(
    st.binary(max_size=256),
    st.builds(_envelope_like, st.recursive(
        st.none() | st.booleans() | ints | st.floats() | st.text(max_size=20),
        lambda c: st.lists(c, max_size=5) | st.dictionaries(st.text(max_size=5), c, max_size=5),
        max_leaves=20)),
    # valid-looking envelopes with wrong field types
    st.builds(lambda a, b, c, d: msgpack.packb([a, b, c, d]),
              ints | st.text(max_size=8), st.text(max_size=8) | ints,
              st.booleans() | st.floats(),
              st.dictionaries(st.text(max_size=4), ints, max_size=3)),
    # truncated msgpack and headers announcing huge lengths
    st.sampled_from([b"\x94", b"\xdd\xff\xff\xff\xff", b"\xdb\xff\xff\xff\xff", b"\xc6\x7f\xff",
                     b"\x94\xa6health\x01", b"\xde\xff\xff", b""]),
)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(frames=st.lists(st.lists(garbage, min_size=1, max_size=3), min_size=1, max_size=8),
       topic=st.sampled_from(TOPICS))
def test_garbage_on_every_socket_is_counted_not_fatal(
        fuzz_stack: tuple[LocalStack, dict[str, Any]], frames: list[list[bytes]],
        topic: str) -> None:
    stack, extra = fuzz_stack
    sockets = extra["sockets"]
    for message in frames:
        for app in APPS:
            sockets[app].send_multipart(message)
        sockets["pub"].send_multipart([topic.encode(), *message])
    for app in APPS:
        assert stack.command(app, "noop", timeout=5).ok


def test_oversized_messages_are_counted_and_dropped(
        fuzz_stack: tuple[LocalStack, dict[str, Any]]) -> None:
    stack, extra = fuzz_stack
    huge = b"\x00" * (2 * 1024 * 1024)
    extra["sockets"]["health"].send_multipart([huge])
    tap = stack.tap("tlm.health")
    tap.wait_telemetry("health", lambda t: t["bus_rx_oversized"] >= 1, timeout=5)


def test_fuzzed_processes_never_restarted(fuzz_stack: tuple[LocalStack, dict[str, Any]]) -> None:
    stack, extra = fuzz_stack
    tap = stack.tap("tlm.health")
    tlm = tap.wait_telemetry("health", lambda t: t["bus_rx_malformed"] > 0, timeout=5).data
    assert tlm["bus_rx_malformed"] > 0
    rows = {row["name"]: row for row in stack.status()["processes"]}
    assert {name: row["pid"] for name, row in rows.items()} == extra["pids"]
    assert all(row["restarts"] == 0 for row in rows.values())
    wait_until(lambda: stack.mode() == "NOMINAL", 2, "NOMINAL")
