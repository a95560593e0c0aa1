"""Result downlink (PUS 128): in chunks with a digest, resumable by asking for what is missing."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import msgpack
import pytest

from flight.bus import Reason
from flight.results import ResultError, ResultStore
from tests.comms.client import LinkClient


def _chunks(link: LinkClient, result: str) -> dict[int, dict]:
    out = {}
    for packet in link.received:
        if packet.service == 128 and packet.subtype == 6:
            chunk = msgpack.unpackb(packet.source_data)
            if chunk["result"] == result:
                out[chunk["index"]] = chunk
    return out


def test_a_result_comes_down_whole_and_a_lost_chunk_can_be_asked_again(linked) -> None:
    stack, link = linked
    data = os.urandom(10_000)
    digest = ResultStore(stack.run_dir.results_dir).put("job-1", data)
    tc = link.send(link.tc(0x10, 128, 5, msgpack.packb({"result": "job-1"})))
    assert link.final(tc).subtype == 7
    chunks = _chunks(link, "job-1")
    assert len(chunks) == chunks[0]["count"] == 10
    assert b"".join(chunks[i]["data"] for i in range(10)) == data
    assert chunks[3]["sha256"] == digest == hashlib.sha256(data).hexdigest()
    link.received = [p for p in link.received if not (p.service == 128 and
                                                      msgpack.unpackb(p.source_data)["index"]
                                                      in (2, 7))]  # lost on the way
    again = link.send(link.tc(0x10, 128, 5, msgpack.packb({"result": "job-1",
                                                           "chunks": [2, 7]})))
    assert link.final(again).subtype == 7
    chunks = _chunks(link, "job-1")
    assert hashlib.sha256(b"".join(chunks[i]["data"] for i in range(10))).hexdigest() == digest


def test_missing_or_damaged_results_are_refused(linked, tmp_path: Path) -> None:
    stack, link = linked
    missing = link.send(link.tc(0x10, 128, 5, msgpack.packb({"result": "nope"})))
    report = link.final(missing)
    assert (report.subtype, report.code) == (4, Reason.UNAVAILABLE)
    store = ResultStore(stack.run_dir.results_dir)
    store.put("job-2", b"x" * 100)
    (stack.run_dir.results_dir / "job-2").write_bytes(b"y" * 100)  # an upset in storage
    with pytest.raises(ResultError, match="damaged"):
        store.get("job-2")
    damaged = link.send(link.tc(0x10, 128, 5, msgpack.packb({"result": "job-2"})))
    assert b"damaged" in link.final(damaged).data
    store.put("job-3", b"z" * 100)
    bad = link.send(link.tc(0x10, 128, 5, msgpack.packb({"result": "job-3", "chunks": [99]})))
    assert link.final(bad).code == 0x010A
    with pytest.raises(ResultError):
        store.put("../escape", b"")
