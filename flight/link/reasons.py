"""Why the space link refused a datagram: one enum of stable reason strings and the errors.

The comms app counts rejections by reason and the ground archive logs them, so the string values
are part of the wire contract's observability: a value is never renamed or reused, only added.
Every decoder in :mod:`flight.link` raises a :class:`LinkError` subclass and nothing else for bad
input, which is what lets a receive loop drop a datagram with a single ``except LinkError``.
"""

from __future__ import annotations

import enum

__all__ = [
    "AuthError",
    "CrcError",
    "LinkError",
    "PacketError",
    "PusError",
    "RejectReason",
]


class RejectReason(str, enum.Enum):
    """A stable, countable reason for dropping a datagram (the value is what gets logged)."""

    # Framing and the CCSDS primary header.
    TRUNCATED = "truncated"  # fewer bytes than the headers or the length field promise
    OVERSIZED = "oversized"  # more bytes than the configured maximum datagram size
    LENGTH_MISMATCH = "length_mismatch"  # bytes left over after the packet the header describes
    BAD_VERSION = "bad_version"  # CCSDS packet version number is not 0
    NOT_TC = "not_tc"  # a telemetry packet where a telecommand was expected
    NOT_TM = "not_tm"  # a telecommand where a telemetry packet was expected
    NO_SECONDARY_HEADER = "no_secondary_header"  # the PUS header is mandatory on this link
    SEGMENTED = "segmented"  # sequence flags other than "unsegmented" (PUS forbids them)
    IDLE = "idle"  # an idle packet (APID 0x7FF): valid, but carries nothing
    # Packet error control and the PUS-C secondary header.
    BAD_CRC = "bad_crc"
    BAD_PUS_VERSION = "bad_pus_version"
    BAD_TIME_CODE = "bad_time_code"  # TM time field is not the CDS short code Sunlit uses
    # Authentication envelope.
    UNKNOWN_SPI = "unknown_spi"
    BAD_MAC = "bad_mac"
    REPLAY = "replay"  # ARSN inside the window but already accepted
    ARSN_OUTSIDE_WINDOW = "arsn_outside_window"  # ARSN too old to tell whether it is a replay
    # Routing, decided by the comms app after decoding (listed here so all counters share keys).
    UNKNOWN_APID = "unknown_apid"
    UNKNOWN_SERVICE = "unknown_service"
    UNKNOWN_SUBTYPE = "unknown_subtype"
    BAD_APP_DATA = "bad_app_data"

    def __str__(self) -> str:
        return self.value


class LinkError(ValueError):
    """Base of every error a link decoder raises for bad input; ``reason`` says which check.

    It subclasses ``ValueError`` because bad bytes are bad values; callers that care about the
    reason catch this class and count ``exc.reason``.
    """

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


class PacketError(LinkError):
    """The bytes are not a well-formed space packet of the expected kind."""


class CrcError(PacketError):
    """The packet error control (CRC-16) does not match: the packet was damaged in transit."""

    def __init__(self, detail: str) -> None:
        super().__init__(RejectReason.BAD_CRC, detail)


class PusError(PacketError):
    """The space packet is intact but its PUS-C secondary header is not one Sunlit speaks."""


class AuthError(LinkError):
    """The authentication envelope was refused: unknown key, forged, replayed or too old."""
