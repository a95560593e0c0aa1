"""The CCSDS Space Packet primary header (CCSDS 133.0-B-2, section 4.1.3).

Six bytes, big-endian::

    bits  0-2   packet version number      always 0 (version 1 space packet)
    bit   3     packet type                0 = telemetry, 1 = telecommand
    bit   4     secondary header flag      1 when a PUS secondary header follows
    bits  5-15  APID                       11 bits; 0x7FF is the idle packet
    bits 16-17  sequence flags             0b11 = unsegmented (the only value PUS uses)
    bits 18-31  packet sequence count      14 bits, wraps to 0
    bits 32-47  packet data length         octets in the packet data field minus one

This module knows nothing of PUS; :mod:`flight.link.pus` builds on it.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from flight.link._checks import check_uint
from flight.link.reasons import PacketError, RejectReason

__all__ = [
    "HEADER_SIZE",
    "IDLE_APID",
    "MAX_APID",
    "MAX_DATA_FIELD",
    "MAX_PACKET_SIZE",
    "MAX_SEQ_COUNT",
    "PacketType",
    "PrimaryHeader",
    "SequenceFlags",
    "idle_packet",
    "packet_length",
]

HEADER_SIZE = 6
MAX_APID = 0x7FF
#: The idle APID: an idle packet only fills a channel and is dropped by every receiver.
IDLE_APID = 0x7FF
MAX_SEQ_COUNT = 0x3FFF
#: The data length field is 16 bits and stores "length - 1", so a data field holds up to 65536.
MAX_DATA_FIELD = 0x10000
MAX_PACKET_SIZE = HEADER_SIZE + MAX_DATA_FIELD  # 65542

_HEADER = struct.Struct(">HHH")


class PacketType(enum.IntEnum):
    TM = 0
    TC = 1


class SequenceFlags(enum.IntEnum):
    CONTINUATION = 0b00
    FIRST = 0b01
    LAST = 0b10
    UNSEGMENTED = 0b11


@dataclass(frozen=True, slots=True)
class PrimaryHeader:
    """A decoded (or to-be-encoded) primary header; the constructor range-checks every field."""

    packet_type: PacketType
    apid: int
    seq_count: int
    data_length: int  # the raw field: octets in the data field minus one
    sec_header: bool = True
    seq_flags: SequenceFlags = SequenceFlags.UNSEGMENTED
    version: int = 0

    def __post_init__(self) -> None:
        check_uint("version", self.version, 0b111)
        check_uint("apid", self.apid, MAX_APID)
        check_uint("seq_count", self.seq_count, MAX_SEQ_COUNT)
        check_uint("data_length", self.data_length, MAX_DATA_FIELD - 1)
        # Normalise plain ints to the enums so equality and repr are uniform.
        object.__setattr__(self, "packet_type", PacketType(self.packet_type))
        object.__setattr__(self, "seq_flags", SequenceFlags(self.seq_flags))
        object.__setattr__(self, "sec_header", bool(self.sec_header))

    @property
    def packet_length(self) -> int:
        """Total bytes of the packet this header describes, header included."""
        return HEADER_SIZE + self.data_length + 1

    def encode(self) -> bytes:
        return pack_header(self.packet_type, self.sec_header, self.apid, self.seq_flags,
                           self.seq_count, self.data_length, self.version)

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview) -> PrimaryHeader:
        """Read the first six bytes of ``data``; raises ``PacketError(truncated)`` if short.

        Any bit pattern is a valid header, so nothing else can fail here; whether the
        version or type is acceptable is the caller's policy.
        """
        if len(data) < HEADER_SIZE:
            raise PacketError(RejectReason.TRUNCATED,
                              f"{len(data)} bytes, a space packet header needs {HEADER_SIZE}")
        word0, word1, length = _HEADER.unpack_from(data)
        return cls(
            packet_type=PacketType((word0 >> 12) & 1),
            apid=word0 & MAX_APID,
            seq_count=word1 & MAX_SEQ_COUNT,
            data_length=length,
            sec_header=bool((word0 >> 11) & 1),
            seq_flags=SequenceFlags(word1 >> 14),
            version=word0 >> 13,
        )


def pack_header(packet_type: int, sec_header: bool, apid: int, seq_flags: int,
                seq_count: int, data_length: int, version: int = 0) -> bytes:
    """Encode header fields without building a :class:`PrimaryHeader` (the hot path).

    The fields are masked, not checked: callers (the PUS encoders) validate them first.
    """
    word0 = (version << 13) | (packet_type << 12) | (sec_header << 11) | apid
    return _HEADER.pack(word0, (seq_flags << 14) | seq_count, data_length)


def packet_length(data: bytes | bytearray | memoryview) -> int:
    """Total length of the packet that starts ``data``, read from its header.

    Lets a reader of a byte stream (the on-board store, an archive file) cut packets apart.
    """
    if len(data) < HEADER_SIZE:
        raise PacketError(RejectReason.TRUNCATED,
                          f"{len(data)} bytes, a space packet header needs {HEADER_SIZE}")
    return HEADER_SIZE + int.from_bytes(bytes(data[4:6]), "big") + 1


def idle_packet(data_length: int = 1, seq_count: int = 0, fill: int = 0x00) -> bytes:
    """An idle TM packet (APID 0x7FF, no secondary header) with ``data_length`` fill octets."""
    if not 1 <= data_length <= MAX_DATA_FIELD:
        raise ValueError(f"idle data field must be 1..{MAX_DATA_FIELD} octets, got {data_length}")
    check_uint("seq_count", seq_count, MAX_SEQ_COUNT)
    check_uint("fill", fill, 0xFF)
    header = pack_header(PacketType.TM, False, IDLE_APID, SequenceFlags.UNSEGMENTED,
                         seq_count, data_length - 1)
    return header + bytes([fill]) * data_length

