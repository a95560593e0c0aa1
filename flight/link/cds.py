"""The TM time field: CCSDS Day Segmented time code, "CDS short" (CCSDS 301.0-B-4, 3.3).

Sunlit's time field is 7 bytes, the P-field followed by the T-field::

    offset 0   P-field     0x40 = 0 100 0 0 00: no extension, code id 100 (CDS), epoch
                           1958-01-01 (the CCSDS epoch), 16-bit day segment, no sub-millisecond
    offset 1   day         uint16 BE, days since 1958-01-01 00:00 (covers 1958 .. 2137)
    offset 3   ms of day   uint32 BE, milliseconds since the start of that day

Why 7 bytes and a P-field: a 16-bit day and a 32-bit millisecond count make 6 bytes, and the
contract's "CDS short, 7 bytes" is that T-field with its 1-byte P-field in front. Carrying the
P-field explicitly makes each TM packet self-describing and is what common ground tools expect
(spacepackets' ``CdsShortTimestamp`` packs and parses exactly these 7 bytes). There is no
microsecond segment: with one it would be 9 bytes and the P-field would read 0x41.

The time scale is the onboard clock's (UTC-like, leap seconds not counted); during a leap
second the millisecond count may reach 86 400 999, so the decoder accepts that.
"""

from __future__ import annotations

import datetime
import struct
import time
from dataclasses import dataclass

from flight.link._checks import check_uint
from flight.link.reasons import PacketError, PusError, RejectReason

__all__ = ["EPOCH", "P_FIELD", "SIZE", "CdsTime"]

#: The P-field of CDS with the 1958 epoch, a 16-bit day and no sub-millisecond segment.
P_FIELD = 0x40
SIZE = 7
EPOCH = datetime.datetime(1958, 1, 1, tzinfo=datetime.timezone.utc)
#: Days from the CCSDS epoch (1958-01-01) to the Unix epoch (1970-01-01).
UNIX_EPOCH_DAY = 4383
MS_PER_DAY = 86_400_000
#: Last millisecond of a day that contains a positive leap second.
MAX_MS_OF_DAY = MS_PER_DAY + 999
MAX_DAY = 0xFFFF

_FIELD = struct.Struct(">BHI")


@dataclass(frozen=True, slots=True, order=True)
class CdsTime:
    """A CDS short time: whole days since 1958-01-01 and milliseconds into that day."""

    days: int
    ms_of_day: int

    def __post_init__(self) -> None:
        check_uint("days", self.days, MAX_DAY)
        check_uint("ms_of_day", self.ms_of_day, MAX_MS_OF_DAY)

    @classmethod
    def from_unix_ns(cls, ns: int) -> CdsTime:
        """Exact conversion from integer nanoseconds since 1970 (``time.time_ns()``).

        Rounds down to the millisecond so a stamp is never later than the instant it marks.
        """
        days, ms = divmod(ns // 1_000_000, MS_PER_DAY)
        days += UNIX_EPOCH_DAY
        if not 0 <= days <= MAX_DAY:
            raise ValueError(f"time {ns} ns is outside the CDS 16-bit day range (1958..2137)")
        return cls(days, ms)

    @classmethod
    def from_unix(cls, seconds: float) -> CdsTime:
        """From float Unix seconds; rounded to the microsecond first to absorb float noise."""
        return cls.from_unix_ns(round(seconds * 1_000_000) * 1000)

    @classmethod
    def from_datetime(cls, when: datetime.datetime) -> CdsTime:
        """From an aware datetime (naive ones are refused: their zone is a guess)."""
        if when.tzinfo is None:
            raise ValueError("naive datetime: give a timezone-aware one")
        delta = when - EPOCH
        ms = delta.days * MS_PER_DAY + delta.seconds * 1000 + delta.microseconds // 1000
        days, ms_of_day = divmod(ms, MS_PER_DAY)
        if not 0 <= days <= MAX_DAY:
            raise ValueError(f"{when.isoformat()} is outside the CDS 16-bit day range")
        return cls(days, ms_of_day)

    @classmethod
    def now(cls) -> CdsTime:
        return cls.from_unix_ns(time.time_ns())

    def to_unix(self) -> float:
        """Unix seconds (a leap-second millisecond maps onto the next day's first second)."""
        return (self.days - UNIX_EPOCH_DAY) * 86_400 + self.ms_of_day / 1000

    def to_datetime(self) -> datetime.datetime:
        return EPOCH + datetime.timedelta(days=self.days, milliseconds=self.ms_of_day)

    def encode(self) -> bytes:
        return _FIELD.pack(P_FIELD, self.days, self.ms_of_day)

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview, offset: int = 0) -> CdsTime:
        """Read 7 bytes at ``offset``; refuses any P-field but 0x40 and impossible ms values."""
        if len(data) - offset < SIZE:
            raise PacketError(RejectReason.TRUNCATED,
                              f"CDS time needs {SIZE} bytes, {max(len(data) - offset, 0)} left")
        p_field, days, ms_of_day = _FIELD.unpack_from(data, offset)
        if p_field != P_FIELD:
            raise PusError(RejectReason.BAD_TIME_CODE,
                           f"time P-field 0x{p_field:02x}, expected 0x{P_FIELD:02x} (CDS short)")
        if ms_of_day > MAX_MS_OF_DAY:
            raise PusError(RejectReason.BAD_TIME_CODE,
                           f"millisecond of day {ms_of_day} exceeds {MAX_MS_OF_DAY}")
        return cls(days, ms_of_day)
