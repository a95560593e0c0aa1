"""Hypothesis against the running comms app over its socket: whatever arrives, comms keeps
serving, counts what it refused, and a good ping still gets its pong."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flight.link import Telecommand
from hil.stack import LocalStack
from tests.comms.client import LinkClient
from tests.conftest import FAST


@pytest.fixture(scope="module")
def linked() -> Iterator[tuple[LocalStack, LinkClient]]:
    import shutil
    import tempfile
    run_dir = Path(tempfile.mkdtemp(prefix="sl-", dir="/tmp"))
    with LocalStack(run_dir, overrides=FAST, log_to=run_dir / "stack.out") as stack:
        client = LinkClient(stack)
        yield stack, client
        client.close()
    shutil.rmtree(run_dir, ignore_errors=True)


def _mutated(frame: bytes, data: st.DataObject) -> bytes:
    out = bytearray(frame)
    for _ in range(data.draw(st.integers(1, 4))):
        kind = data.draw(st.sampled_from(["flip", "cut", "grow", "byte"]))
        if kind == "flip" and out:
            i = data.draw(st.integers(0, len(out) - 1))
            out[i] ^= 1 << data.draw(st.integers(0, 7))
        elif kind == "cut" and out:
            out = out[:data.draw(st.integers(0, len(out) - 1))]
        elif kind == "grow":
            out += data.draw(st.binary(max_size=64))
        elif out:
            out[data.draw(st.integers(0, len(out) - 1))] = data.draw(st.integers(0, 255))
    return bytes(out)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_comms_survives_anything(linked, data: st.DataObject) -> None:
    _stack, link = linked
    choice = data.draw(st.sampled_from(["random", "mutated_frame", "plain_packet",
                                        "authentic_garbage"]))
    tc = Telecommand(data.draw(st.integers(0, 0x7FF)), data.draw(st.integers(0, 255)),
                     data.draw(st.integers(0, 255)), data.draw(st.binary(max_size=200)),
                     seq_count=data.draw(st.integers(0, 0x3FFF)), source_id=1)
    if choice == "random":
        link.raw(data.draw(st.binary(max_size=5000)))
    elif choice == "mutated_frame":
        link.raw(_mutated(link.frame(tc), data))
    elif choice == "plain_packet":
        link.raw(tc.encode())
    else:  # authentic envelope around anything: comms must decode it and maybe answer
        link.send(tc)


def test_after_the_fuzzing_comms_is_the_same_process_and_answers(linked) -> None:
    stack, link = linked
    row = stack.process_row("comms")
    assert row["restarts"] == 0 and row["state"] == "RUNNING"
    link.send(link.tc(0x10, 17, 1))
    link.wait(lambda p: p.service == 17 and p.subtype == 2, what="pong")
    status = stack.command("comms", "status").data
    assert sum(status["tc_rejected"].values()) > 50
