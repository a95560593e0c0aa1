"""PUS-C TC and TM packets: round trips, every rejection reason, and fuzzing of the decoders."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flight.link import (
    Ack,
    CdsTime,
    CrcError,
    LinkError,
    PacketError,
    PusError,
    RejectReason,
    Telecommand,
    TelemetryPacket,
    crc16,
    request_id_of,
)
from flight.link.pus import TC_MIN_SIZE, TM_MIN_SIZE
from flight.link.spacepacket import idle_packet
from tests.link.strategies import telecommands, telemetry

PING = bytes.fromhex("1810c00100062f11010001ba3c")
STAMP = CdsTime(24623, 45296789)


def with_crc(body: bytes) -> bytes:
    return body + crc16(body).to_bytes(2, "big")


def reason_of(data: bytes, decoder: type[Telecommand] | type[TelemetryPacket] = Telecommand,
              **kw: int) -> RejectReason:
    with pytest.raises(LinkError) as info:
        decoder.decode(data, **kw)
    return info.value.reason


# ---------------------------------------------------------------------- round trips


@given(telecommands)
def test_tc_round_trip(tc: Telecommand) -> None:
    raw = tc.encode()
    assert len(raw) == TC_MIN_SIZE + len(tc.app_data)
    assert crc16(raw) == 0
    assert Telecommand.decode(raw) == tc
    assert raw[:4] == tc.request_id == request_id_of(raw)


@given(telemetry)
def test_tm_round_trip(tm: TelemetryPacket) -> None:
    raw = tm.encode()
    assert len(raw) == TM_MIN_SIZE + len(tm.source_data)
    assert TelemetryPacket.decode(raw) == tm


@given(telecommands)
def test_tc_decodes_from_any_buffer_type(tc: Telecommand) -> None:
    raw = tc.encode()
    assert Telecommand.decode(bytearray(raw)) == Telecommand.decode(memoryview(raw)) == tc


def test_tc_layout() -> None:
    tc = Telecommand(apid=0x10, service=17, subtype=1, seq_count=1, source_id=1)
    assert tc.encode() == PING
    assert tc.ack is Ack.ALL and tc.request_id.hex() == "1810c001"


def test_max_size_is_exact() -> None:
    tc = Telecommand(1, 8, 1, app_data=bytes(100 - TC_MIN_SIZE))
    raw = tc.encode(max_size=100)
    assert len(raw) == 100 and Telecommand.decode(raw, max_size=100) == tc
    assert reason_of(raw, max_size=99) is RejectReason.OVERSIZED
    with pytest.raises(PacketError) as info:
        tc.encode(max_size=99)
    assert info.value.reason is RejectReason.OVERSIZED


def test_largest_possible_packet() -> None:
    tm = TelemetryPacket(1, 3, 25, STAMP, source_data=bytes(65542 - TM_MIN_SIZE))
    raw = tm.encode(max_size=1 << 20)
    assert len(raw) == 65542 and TelemetryPacket.decode(raw, max_size=65542) == tm
    with pytest.raises(PacketError):
        TelemetryPacket(1, 3, 25, STAMP, source_data=bytes(65543 - TM_MIN_SIZE)).encode(1 << 20)


@pytest.mark.parametrize(("field", "value"), [
    ("apid", 0x800), ("service", 256), ("subtype", -1), ("seq_count", 0x4000),
    ("source_id", 0x10000), ("ack", 16), ("seq_count", True),
])
def test_tc_field_ranges(field: str, value: int) -> None:
    fields: dict[str, object] = {"apid": 1, "service": 17, "subtype": 1}
    fields[field] = value
    with pytest.raises(ValueError, match=field):
        Telecommand(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(("field", "value"), [
    ("msg_counter", 0x10000), ("destination_id", -1), ("time_ref_status", 16), ("time", 0),
])
def test_tm_field_ranges(field: str, value: int) -> None:
    fields: dict[str, object] = {"apid": 1, "service": 3, "subtype": 25, "time": STAMP}
    fields[field] = value
    with pytest.raises(ValueError, match=field):
        TelemetryPacket(**fields)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- every rejection


def test_oversized_is_refused_before_anything_is_read() -> None:
    assert reason_of(b"\xff" * 4097) is RejectReason.OVERSIZED
    assert reason_of(b"\xff" * 4097, TelemetryPacket) is RejectReason.OVERSIZED


@pytest.mark.parametrize(("data", "reason"), [
    (b"", RejectReason.TRUNCATED),
    (PING[:5], RejectReason.TRUNCATED),
    (PING[:-1], RejectReason.TRUNCATED),  # length field promises one more byte
    (PING + b"\x00", RejectReason.LENGTH_MISMATCH),
    (bytes([PING[0] | 0x20]) + PING[1:], RejectReason.BAD_VERSION),
    (idle_packet(7), RejectReason.IDLE),
    (with_crc(bytes.fromhex("1810c0000003") + b"\x2f\x11"), RejectReason.TRUNCATED),  # 10 bytes
    (bytes.fromhex("1810c0000000") + b"\x2f", RejectReason.TRUNCATED),  # no room for a CRC
    (PING[:-1] + bytes([PING[-1] ^ 1]), RejectReason.BAD_CRC),
    (with_crc(bytes.fromhex("0810c00000062f11010001")), RejectReason.NOT_TC),
    (with_crc(bytes.fromhex("1010c00000062f11010001")), RejectReason.NO_SECONDARY_HEADER),
    (with_crc(bytes.fromhex("18100001000620110100" "01")), RejectReason.SEGMENTED),
    (with_crc(bytes.fromhex("1810c00100061f11010001")), RejectReason.BAD_PUS_VERSION),
])
def test_tc_rejections(data: bytes, reason: RejectReason) -> None:
    assert reason_of(data) is reason


def test_error_classes() -> None:
    with pytest.raises(CrcError):
        Telecommand.decode(PING[:-1] + b"\x00")
    with pytest.raises(PusError):
        Telecommand.decode(with_crc(bytes.fromhex("1810c00100061f11010001")))
    assert issubclass(LinkError, ValueError)


def test_a_damaged_header_counts_as_bad_crc() -> None:
    """Flipping the type or flag bits of a valid TC must read as damage, not as a TM."""
    for bit in (0x10, 0x08):
        assert reason_of(bytes([PING[0] ^ bit]) + PING[1:]) is RejectReason.BAD_CRC


def tm_raw(**fields: object) -> bytes:
    base: dict[str, object] = {"apid": 0x10, "service": 17, "subtype": 2, "time": STAMP}
    return TelemetryPacket(**{**base, **fields}).encode()  # type: ignore[arg-type]


def test_tm_rejections() -> None:
    good = tm_raw()
    assert reason_of(PING, TelemetryPacket) is RejectReason.NOT_TM
    assert reason_of(good[:21], TelemetryPacket) is RejectReason.TRUNCATED
    bad_version = with_crc(good[:6] + bytes([0x10]) + good[7:-2])  # PUS-A
    assert reason_of(bad_version, TelemetryPacket) is RejectReason.BAD_PUS_VERSION
    bad_time = with_crc(good[:13] + b"\x41" + good[14:-2])
    assert reason_of(bad_time, TelemetryPacket) is RejectReason.BAD_TIME_CODE
    short = with_crc(bytes.fromhex("0810c000000e") + good[6:19])  # one byte short of the time
    assert reason_of(short, TelemetryPacket) is RejectReason.TRUNCATED


def test_request_id_of_a_tc_that_failed_later_checks() -> None:
    raw = with_crc(bytes.fromhex("1810c00700061f11010001"))
    assert reason_of(raw) is RejectReason.BAD_PUS_VERSION
    assert request_id_of(raw).hex() == "1810c007"
    with pytest.raises(PacketError):
        request_id_of(b"\x18\x10")


# ---------------------------------------------------------------------- fuzzing


def decode_any(data: bytes) -> None:
    for decoder in (Telecommand, TelemetryPacket):
        try:
            decoder.decode(data)
        except LinkError as exc:
            assert isinstance(exc.reason, RejectReason)


@settings(max_examples=500)
@given(st.binary(max_size=600))
def test_decoders_raise_only_link_errors_on_random_bytes(data: bytes) -> None:
    decode_any(data)


@st.composite
def mutated_packets(draw: st.DrawFn) -> bytes:
    """Valid packets with bytes flipped, cut or added: closer to the checks than pure noise."""
    packet = draw(st.one_of(telecommands, telemetry)).encode()
    raw = bytearray(packet)
    for _ in range(draw(st.integers(0, 3))):
        i = draw(st.integers(0, len(raw) - 1))
        raw[i] ^= draw(st.integers(1, 255))
    cut = draw(st.integers(0, len(raw)))
    return bytes(raw[:cut]) + draw(st.binary(max_size=3))


@settings(max_examples=500)
@given(mutated_packets())
def test_decoders_raise_only_link_errors_on_mutated_packets(data: bytes) -> None:
    decode_any(data)


@given(st.binary(min_size=6, max_size=64))
def test_crc_fixed_garbage_with_valid_framing_decodes_or_is_refused_cleanly(body: bytes) -> None:
    """Give random bytes a correct length field and CRC so the checks after the CRC run too."""
    length = len(body) + 2 - 6 - 1
    framed = bytearray(body)
    framed[0] &= 0x1F  # version 0
    framed[4:6] = length.to_bytes(2, "big")
    decode_any(with_crc(bytes(framed)))


def test_decoding_time_is_bounded_by_max_size() -> None:
    """A huge datagram costs no more than a tiny one: it is refused on its length alone."""
    huge = bytes(50_000_000)
    start = time.perf_counter()
    for _ in range(1000):
        assert reason_of(huge) is RejectReason.OVERSIZED
    assert time.perf_counter() - start < 0.5
