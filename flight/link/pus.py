"""PUS-C telecommands and telemetry packets (ECSS-E-ST-70-41C, chapter 7) over CCSDS packets.

Layouts (offsets in bytes from the start of the space packet; all integers big-endian)::

    TC  0  primary header (6)        type 1, secondary header flag 1, unsegmented
        6  PUS version (4 bits) = 2 | acknowledgement flags (4 bits)
        7  service type             8  message subtype
        9  source id (16 bits)
       11  application data (0..)
      n-2  packet error control: CRC-16/CCITT-FALSE over bytes 0..n-3

    TM  0  primary header (6)        type 0, secondary header flag 1, unsegmented
        6  PUS version (4 bits) = 2 | spacecraft time reference status (4 bits)
        7  service type             8  message subtype
        9  message type counter (16 bits)
       11  destination id (16 bits)
       13  time: CDS short, 7 bytes (see :mod:`flight.link.cds`)
       20  source data (0..)
      n-2  packet error control

One datagram is exactly one packet, so the decoders insist the length field accounts for every
byte. Their checks run in a fixed order, cheapest and most structural first, so that a damaged
packet is counted as ``bad_crc`` rather than as whatever its flipped bits happen to say:

    oversized, truncated (no header), bad_version, truncated / length_mismatch (length
    field), idle, truncated (no room for a CRC), bad_crc, not_tc / not_tm,
    no_secondary_header, segmented, truncated (too short for the PUS header),
    bad_pus_version, bad_time_code (TM only)

The work done on any input is bounded by ``max_size``: an oversized datagram is refused before
a single byte of it is read.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from flight.link._checks import check_uint
from flight.link.cds import SIZE as TIME_SIZE
from flight.link.cds import CdsTime
from flight.link.crc import crc16
from flight.link.reasons import CrcError, PacketError, PusError, RejectReason
from flight.link.spacepacket import (
    HEADER_SIZE,
    IDLE_APID,
    MAX_APID,
    MAX_PACKET_SIZE,
    MAX_SEQ_COUNT,
    PacketType,
    SequenceFlags,
    pack_header,
)

__all__ = [
    "CRC_SIZE",
    "DEFAULT_MAX_SIZE",
    "PUS_VERSION",
    "REQUEST_ID_SIZE",
    "TC_MIN_SIZE",
    "TC_SEC_HEADER_SIZE",
    "TM_MIN_SIZE",
    "TM_SEC_HEADER_SIZE",
    "Ack",
    "Telecommand",
    "TelemetryPacket",
    "request_id_of",
]

#: PUS-C is version 2 of the PUS secondary header (PUS-A was 1).
PUS_VERSION = 2
TC_SEC_HEADER_SIZE = 5
TM_SEC_HEADER_SIZE = 7 + TIME_SIZE
CRC_SIZE = 2
TC_MIN_SIZE = HEADER_SIZE + TC_SEC_HEADER_SIZE + CRC_SIZE  # 13
TM_MIN_SIZE = HEADER_SIZE + TM_SEC_HEADER_SIZE + CRC_SIZE  # 22
#: Default largest packet accepted or produced. Big enough for a useful job-upload chunk, small
#: enough that every receive buffer stays cheap; a deployment may raise it (to 65542 at most).
DEFAULT_MAX_SIZE = 4096
#: Length of the request id (ECSS 6.7.2.3): the first two 16-bit words of the TC header.
REQUEST_ID_SIZE = 4

_HEADER = struct.Struct(">HHH")
_TC_SEC = struct.Struct(">BBBH")
_TM_SEC = struct.Struct(">BBBHH")
_UNSEGMENTED = int(SequenceFlags.UNSEGMENTED)


class Ack(enum.IntFlag):
    """TC acknowledgement flags: which successful verification stages the sender wants reported.

    Failures are always reported; these bits only ask for the success reports (ECSS 5.4.11).
    """

    NONE = 0
    ACCEPTANCE = 0b0001
    START = 0b0010
    PROGRESS = 0b0100
    COMPLETION = 0b1000
    ALL = 0b1111


@dataclass(frozen=True, slots=True)
class Telecommand:
    """A PUS-C telecommand; constructing one range-checks every field."""

    apid: int
    service: int
    subtype: int
    app_data: bytes = b""
    seq_count: int = 0
    source_id: int = 0
    ack: Ack = Ack.ALL

    def __post_init__(self) -> None:
        check_uint("apid", self.apid, MAX_APID)
        check_uint("service", self.service, 0xFF)
        check_uint("subtype", self.subtype, 0xFF)
        check_uint("seq_count", self.seq_count, MAX_SEQ_COUNT)
        check_uint("source_id", self.source_id, 0xFFFF)
        check_uint("ack", int(self.ack), 0b1111)
        object.__setattr__(self, "ack", Ack(self.ack))
        object.__setattr__(self, "app_data", bytes(self.app_data))

    @property
    def request_id(self) -> bytes:
        """The 4-byte request id that verification reports echo (ECSS 6.7.2.3)."""
        return _header_words(PacketType.TC, self.apid, self.seq_count)

    def encode(self, max_size: int = DEFAULT_MAX_SIZE) -> bytes:
        """The complete packet, CRC included; ``PacketError(oversized)`` above ``max_size``."""
        total = TC_MIN_SIZE + len(self.app_data)
        _check_encoded_size(total, max_size)
        head = pack_header(PacketType.TC, True, self.apid, _UNSEGMENTED, self.seq_count,
                           total - HEADER_SIZE - 1)
        sec = _TC_SEC.pack((PUS_VERSION << 4) | self.ack, self.service, self.subtype,
                           self.source_id)
        return _with_crc(head + sec + self.app_data)

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview,
               max_size: int = DEFAULT_MAX_SIZE) -> Telecommand:
        """Parse one datagram as a TC; raises a :class:`LinkError` subclass and nothing else."""
        raw = _check_packet(data, max_size, PacketType.TC, TC_MIN_SIZE)
        flags_version, service, subtype, source_id = _TC_SEC.unpack_from(raw, HEADER_SIZE)
        _check_pus_version(flags_version)
        word0, word1 = _HEADER.unpack_from(raw)[:2]
        return cls(
            apid=word0 & MAX_APID,
            service=service,
            subtype=subtype,
            app_data=raw[HEADER_SIZE + TC_SEC_HEADER_SIZE:-CRC_SIZE],
            seq_count=word1 & MAX_SEQ_COUNT,
            source_id=source_id,
            ack=Ack(flags_version & 0x0F),
        )


@dataclass(frozen=True, slots=True)
class TelemetryPacket:
    """A PUS-C telemetry packet; constructing one range-checks every field."""

    apid: int
    service: int
    subtype: int
    time: CdsTime
    source_data: bytes = b""
    seq_count: int = 0
    msg_counter: int = 0
    destination_id: int = 0
    time_ref_status: int = 0

    def __post_init__(self) -> None:
        check_uint("apid", self.apid, MAX_APID)
        check_uint("service", self.service, 0xFF)
        check_uint("subtype", self.subtype, 0xFF)
        check_uint("seq_count", self.seq_count, MAX_SEQ_COUNT)
        check_uint("msg_counter", self.msg_counter, 0xFFFF)
        check_uint("destination_id", self.destination_id, 0xFFFF)
        check_uint("time_ref_status", self.time_ref_status, 0x0F)
        if not isinstance(self.time, CdsTime):
            raise ValueError(f"time must be a CdsTime, got {type(self.time).__name__}")
        object.__setattr__(self, "source_data", bytes(self.source_data))

    def encode(self, max_size: int = DEFAULT_MAX_SIZE) -> bytes:
        """The complete packet, CRC included; ``PacketError(oversized)`` above ``max_size``."""
        total = TM_MIN_SIZE + len(self.source_data)
        _check_encoded_size(total, max_size)
        head = pack_header(PacketType.TM, True, self.apid, _UNSEGMENTED, self.seq_count,
                           total - HEADER_SIZE - 1)
        sec = _TM_SEC.pack((PUS_VERSION << 4) | self.time_ref_status, self.service,
                           self.subtype, self.msg_counter, self.destination_id)
        return _with_crc(head + sec + self.time.encode() + self.source_data)

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview,
               max_size: int = DEFAULT_MAX_SIZE) -> TelemetryPacket:
        """Parse one datagram as a TM packet; raises a :class:`LinkError` subclass only."""
        raw = _check_packet(data, max_size, PacketType.TM, TM_MIN_SIZE)
        version_ref, service, subtype, counter, dest = _TM_SEC.unpack_from(raw, HEADER_SIZE)
        _check_pus_version(version_ref)
        stamp = CdsTime.decode(raw, HEADER_SIZE + 7)
        word0, word1 = _HEADER.unpack_from(raw)[:2]
        return cls(
            apid=word0 & MAX_APID,
            service=service,
            subtype=subtype,
            time=stamp,
            source_data=raw[HEADER_SIZE + TM_SEC_HEADER_SIZE:-CRC_SIZE],
            seq_count=word1 & MAX_SEQ_COUNT,
            msg_counter=counter,
            destination_id=dest,
            time_ref_status=version_ref & 0x0F,
        )


def request_id_of(packet: bytes | bytearray | memoryview) -> bytes:
    """The request id of a raw TC, even one that failed decoding after its header was read.

    Lets the comms app send an acceptance-failure report for, say, an unknown PUS version.
    """
    if len(packet) < REQUEST_ID_SIZE:
        raise PacketError(RejectReason.TRUNCATED,
                          f"{len(packet)} bytes, a request id needs {REQUEST_ID_SIZE}")
    return bytes(packet[:REQUEST_ID_SIZE])


# ---------------------------------------------------------------------- helpers


def _header_words(packet_type: int, apid: int, seq_count: int) -> bytes:
    """First four header bytes of an unsegmented PUS packet: the request id."""
    word0 = (packet_type << 12) | (1 << 11) | apid
    return struct.pack(">HH", word0, (_UNSEGMENTED << 14) | seq_count)


def _with_crc(body: bytes) -> bytes:
    return body + crc16(body).to_bytes(2, "big")


def _check_encoded_size(total: int, max_size: int) -> None:
    limit = min(max_size, MAX_PACKET_SIZE)
    if total > limit:
        raise PacketError(RejectReason.OVERSIZED, f"packet would be {total} bytes, limit {limit}")


def _check_packet(data: bytes | bytearray | memoryview, max_size: int,
                  expected: PacketType, min_size: int) -> bytes:
    """Run every check up to and including the CRC; return the packet as ``bytes``."""
    n = len(data)
    if n > max_size:
        raise PacketError(RejectReason.OVERSIZED, f"{n} bytes, limit {max_size}")
    if n < HEADER_SIZE:
        raise PacketError(RejectReason.TRUNCATED, f"{n} bytes, header needs {HEADER_SIZE}")
    raw = bytes(data)
    word0, word1, length = _HEADER.unpack_from(raw)
    _check_framing(word0, n, HEADER_SIZE + length + 1)
    if word0 & MAX_APID == IDLE_APID:
        raise PacketError(RejectReason.IDLE, "idle packet (APID 0x7FF)")
    if n < HEADER_SIZE + CRC_SIZE:
        raise PacketError(RejectReason.TRUNCATED, f"{n} bytes, no room for a CRC")
    if crc16(raw) != 0:
        raise CrcError(f"CRC-16 0x{raw[-2] << 8 | raw[-1]:04x} does not match the packet")
    _check_kind(word0, word1, expected)
    if n < min_size:
        raise PacketError(RejectReason.TRUNCATED,
                          f"{n} bytes, a PUS {expected.name} needs at least {min_size}")
    return raw


def _check_framing(word0: int, n: int, total: int) -> None:
    """Version and length: what must hold before the length field can be trusted at all."""
    if word0 >> 13:
        raise PacketError(RejectReason.BAD_VERSION,
                          f"packet version {word0 >> 13}, only 0 is defined")
    if n < total:
        raise PacketError(RejectReason.TRUNCATED, f"{n} bytes, length field says {total}")
    if n > total:
        raise PacketError(RejectReason.LENGTH_MISMATCH,
                          f"{n} bytes, length field says {total}: {n - total} trailing")


def _check_kind(word0: int, word1: int, expected: PacketType) -> None:
    """Type, secondary header flag and segmentation: is this a PUS packet of the right kind?"""
    if (word0 >> 12) & 1 != expected:
        wrong = RejectReason.NOT_TC if expected is PacketType.TC else RejectReason.NOT_TM
        raise PacketError(wrong, f"expected a {expected.name} packet")
    if not (word0 >> 11) & 1:
        raise PacketError(RejectReason.NO_SECONDARY_HEADER, "secondary header flag is 0")
    if word1 >> 14 != _UNSEGMENTED:
        raise PacketError(RejectReason.SEGMENTED,
                          f"sequence flags 0b{word1 >> 14:02b}, PUS packets are unsegmented")


def _check_pus_version(first_byte: int) -> None:
    version = first_byte >> 4
    if version != PUS_VERSION:
        raise PusError(RejectReason.BAD_PUS_VERSION,
                       f"PUS version {version}, only {PUS_VERSION} (PUS-C) is supported")
