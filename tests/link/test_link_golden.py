"""The golden vectors of docs/icd.md (tests/link/golden.json), checked both ways.

Sunlit must encode each vector's fields to exactly its bytes and decode its bytes to exactly its
fields, and so must spacepackets: if either side drifts, the ICD and every tool built from it
are wrong, so these vectors change only with a new ICD issue.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest
from spacepackets.ccsds.time import CdsShortTimestamp
from spacepackets.ecss.tc import PusTc
from spacepackets.ecss.tm import MiscParams, PusTm

from flight.link import (
    Ack,
    Authenticator,
    CdsTime,
    Telecommand,
    TelemetryPacket,
    VerificationReport,
    compute_mac,
)

GOLDEN = json.loads((Path(__file__).parent / "golden.json").read_text())
VECTORS = {v["name"]: v for v in GOLDEN["vectors"]}
KEY = bytes.fromhex(GOLDEN["test_key"])


def by_kind(kind: str) -> list[Any]:
    return [pytest.param(v, id=v["name"]) for v in GOLDEN["vectors"] if v["kind"] == kind]


def sunlit_tc(f: dict[str, Any]) -> Telecommand:
    return Telecommand(apid=f["apid"], service=f["service"], subtype=f["subtype"],
                       app_data=bytes.fromhex(f["app_data"]), seq_count=f["seq_count"],
                       source_id=f["source_id"], ack=Ack(f["ack"]))


def sunlit_tm(f: dict[str, Any]) -> TelemetryPacket:
    return TelemetryPacket(apid=f["apid"], service=f["service"], subtype=f["subtype"],
                           time=CdsTime(f["days"], f["ms_of_day"]),
                           source_data=bytes.fromhex(f["source_data"]),
                           seq_count=f["seq_count"], msg_counter=f["msg_counter"],
                           destination_id=f["destination_id"],
                           time_ref_status=f["time_ref_status"])


def test_the_published_set_is_complete() -> None:
    assert bytes([0x01]) * 32 == KEY
    assert {"tc_17_1_ping", "tm_17_2_pong", "tm_1_7_completion_success",
            "frame_auth_ping"} <= set(VECTORS)


@pytest.mark.parametrize("vector", by_kind("tc"))
def test_tc_vectors(vector: dict[str, Any]) -> None:
    raw, f = bytes.fromhex(vector["hex"]), vector["fields"]
    assert sunlit_tc(f).encode() == raw
    assert Telecommand.decode(raw) == sunlit_tc(f)
    theirs = PusTc(service=f["service"], message_subtype=f["subtype"], apid=f["apid"],
                   app_data=bytes.fromhex(f["app_data"]), seq_count=f["seq_count"],
                   source_id=f["source_id"], ack_flags=f["ack"])
    assert bytes(theirs.pack()) == raw
    assert PusTc.unpack(raw) == theirs


@pytest.mark.parametrize("vector", by_kind("tm"))
def test_tm_vectors(vector: dict[str, Any]) -> None:
    raw, f = bytes.fromhex(vector["hex"]), vector["fields"]
    assert sunlit_tm(f).encode() == raw
    assert TelemetryPacket.decode(raw) == sunlit_tm(f)
    theirs = PusTm(service=f["service"], message_subtype=f["subtype"],
                   timestamp=CdsShortTimestamp(f["days"], f["ms_of_day"]).pack(),
                   source_data=bytes.fromhex(f["source_data"]), apid=f["apid"],
                   seq_count=f["seq_count"], message_counter=f["msg_counter"],
                   destination_id=f["destination_id"],
                   misc_params=MiscParams(spacecraft_time_ref=f["time_ref_status"]))
    assert bytes(theirs.pack()) == raw
    assert PusTm.unpack(raw, timestamp_len=7) == theirs


@pytest.mark.parametrize("vector", [v for v in GOLDEN["vectors"] if "report" in v],
                         ids=lambda v: v["name"])
def test_verification_vectors_answer_their_tc(vector: dict[str, Any]) -> None:
    tm = TelemetryPacket.decode(bytes.fromhex(vector["hex"]))
    report = VerificationReport.decode(tm.subtype, tm.source_data)
    answered = Telecommand.decode(bytes.fromhex(VECTORS[vector["report"]["answers"]]["hex"]))
    assert report.request_id == answered.request_id == bytes.fromhex(vector["report"]["request_id"])
    assert report.code == vector["report"].get("code")
    assert report.data == vector["report"].get("data", "").encode()


@pytest.mark.parametrize("vector", by_kind("auth"))
def test_auth_vectors(vector: dict[str, Any]) -> None:
    raw = bytes.fromhex(vector["hex"])
    packet = bytes.fromhex(VECTORS[vector["packet"]]["hex"])
    spi, arsn = vector["spi"], vector["arsn"]
    auth = Authenticator({spi: KEY})
    assert auth.seal(spi, arsn, packet) == raw
    assert raw[-16:] == compute_mac(KEY, spi, arsn, packet)
    # Independently of Sunlit: SPI | ARSN big-endian, then HMAC-SHA256 truncated to 16 bytes.
    assert raw[:6] == spi.to_bytes(2, "big") + arsn.to_bytes(4, "big")
    assert raw[-16:] == hmac.new(KEY, raw[:-16], hashlib.sha256).digest()[:16]
    assert tuple(auth.open(raw)) == (spi, arsn, packet)
