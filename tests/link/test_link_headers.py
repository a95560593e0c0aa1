"""The CCSDS primary header and the CDS time field: layout, ranges, round trips."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flight.link import CdsTime, PacketError, PacketType, PrimaryHeader, PusError, RejectReason
from flight.link.cds import EPOCH, MAX_MS_OF_DAY, P_FIELD, SIZE
from flight.link.spacepacket import (
    HEADER_SIZE,
    MAX_PACKET_SIZE,
    SequenceFlags,
    idle_packet,
    packet_length,
)
from tests.link.strategies import cds_times, seq_counts

headers = st.builds(
    PrimaryHeader,
    packet_type=st.sampled_from(PacketType),
    apid=st.integers(0, 0x7FF),
    seq_count=seq_counts,
    data_length=st.integers(0, 0xFFFF),
    sec_header=st.booleans(),
    seq_flags=st.sampled_from(SequenceFlags),
    version=st.integers(0, 7),
)


@given(headers)
def test_header_round_trip(header: PrimaryHeader) -> None:
    raw = header.encode()
    assert len(raw) == HEADER_SIZE
    assert PrimaryHeader.decode(raw) == header


@given(st.binary(min_size=6, max_size=6))
def test_every_six_bytes_decode_and_re_encode_identically(raw: bytes) -> None:
    assert PrimaryHeader.decode(raw).encode() == raw


def test_header_bit_layout() -> None:
    """Known bits: TC, sec header, APID 0x7FF, unsegmented, count 0x3FFF, length 0x1234."""
    header = PrimaryHeader(PacketType.TC, 0x7FF, 0x3FFF, 0x1234)
    assert header.encode().hex() == "1fffffff1234"
    assert header.packet_length == 6 + 0x1234 + 1


@pytest.mark.parametrize(("field", "value"), [
    ("apid", 0x800), ("apid", -1), ("seq_count", 0x4000), ("data_length", 0x10000),
    ("version", 8), ("apid", True),
])
def test_header_rejects_out_of_range_fields(field: str, value: int) -> None:
    fields = {"packet_type": PacketType.TM, "apid": 1, "seq_count": 0, "data_length": 0}
    fields[field] = value
    with pytest.raises(ValueError, match=field):
        PrimaryHeader(**fields)  # type: ignore[arg-type]


def test_header_decode_truncated() -> None:
    with pytest.raises(PacketError) as info:
        PrimaryHeader.decode(b"\x08\x10\xc0")
    assert info.value.reason is RejectReason.TRUNCATED


def test_packet_length_and_limits() -> None:
    assert packet_length(bytes.fromhex("0810c000000f")) == 22
    assert packet_length(bytes.fromhex("0810c000ffff")) == MAX_PACKET_SIZE == 65542
    with pytest.raises(PacketError):
        packet_length(b"\x00")


def test_idle_packet() -> None:
    raw = idle_packet(3, seq_count=5, fill=0x55)
    header = PrimaryHeader.decode(raw)
    assert (header.apid, header.sec_header, header.packet_type) == (0x7FF, False, PacketType.TM)
    assert raw[6:] == b"\x55\x55\x55" and header.packet_length == len(raw)
    with pytest.raises(ValueError):
        idle_packet(0)


# ---------------------------------------------------------------------- CDS time


@given(cds_times)
def test_cds_round_trip(stamp: CdsTime) -> None:
    raw = stamp.encode()
    assert len(raw) == SIZE == 7 and raw[0] == P_FIELD == 0x40
    assert CdsTime.decode(raw) == stamp


def test_cds_known_value() -> None:
    """The golden vectors' time: 2025-06-01T12:34:56.789Z."""
    when = datetime.datetime(2025, 6, 1, 12, 34, 56, 789000, tzinfo=datetime.timezone.utc)
    stamp = CdsTime.from_datetime(when)
    assert (stamp.days, stamp.ms_of_day) == (24623, 45296789)
    assert stamp.encode().hex() == "40602f02b32c95"
    assert stamp.to_datetime() == when
    assert stamp.to_unix() == when.timestamp()


def test_cds_epochs() -> None:
    assert CdsTime.from_unix(0) == CdsTime(4383, 0)  # 1970-01-01 is day 4383 of the CCSDS epoch
    assert CdsTime(0, 0).to_datetime() == EPOCH
    assert CdsTime.from_unix_ns(1_500) == CdsTime(4383, 0)  # rounds down, never into the future
    assert CdsTime.from_unix(0.0019994) == CdsTime(4383, 1)  # 1999 µs
    assert CdsTime.from_unix(0.0019999996) == CdsTime(4383, 2)  # float noise absorbed


@given(st.integers(0, 2**31).map(lambda s: s * 1000 + 999))
def test_cds_from_unix_ms_is_exact(ms: int) -> None:
    assert CdsTime.from_unix_ns(ms * 1_000_000).to_unix() == pytest.approx(ms / 1000, abs=1e-6)


def test_cds_now_is_now() -> None:
    before = datetime.datetime.now(datetime.timezone.utc)
    stamp = CdsTime.now().to_datetime()
    assert before - datetime.timedelta(milliseconds=1) <= stamp
    assert stamp <= datetime.datetime.now(datetime.timezone.utc)


def test_cds_range_errors() -> None:
    with pytest.raises(ValueError):
        CdsTime.from_datetime(datetime.datetime(1957, 12, 31, tzinfo=datetime.timezone.utc))
    with pytest.raises(ValueError):
        CdsTime.from_datetime(datetime.datetime(2138, 1, 1, tzinfo=datetime.timezone.utc))
    with pytest.raises(ValueError, match="naive"):
        CdsTime.from_datetime(datetime.datetime(2025, 1, 1))
    with pytest.raises(ValueError):
        CdsTime(0, MAX_MS_OF_DAY + 1)
    assert CdsTime(0, MAX_MS_OF_DAY).encode()  # a leap second's last millisecond is legal


@pytest.mark.parametrize(("raw", "reason"), [
    ("40602f02b32c", RejectReason.TRUNCATED),
    ("41602f02b32c95", RejectReason.BAD_TIME_CODE),  # CDS with a sub-millisecond segment
    ("20602f02b32c95", RejectReason.BAD_TIME_CODE),  # not CDS at all (CUC)
    ("40602f05265fe8", RejectReason.BAD_TIME_CODE),  # 86 401 000 ms: no such millisecond
])
def test_cds_decode_errors(raw: str, reason: RejectReason) -> None:
    with pytest.raises((PacketError, PusError)) as info:
        CdsTime.decode(bytes.fromhex(raw))
    assert info.value.reason is reason
