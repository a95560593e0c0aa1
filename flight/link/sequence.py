"""The counters a packet source keeps: CCSDS sequence counts and PUS message type counters.

* Packet sequence count (CCSDS 133.0-B-2, 4.1.3.4.3): 14 bits per APID, incremented for every
  packet that APID emits, wrapping from 16383 to 0. Gaps tell the ground that packets were lost.
* Message type counter (ECSS-E-ST-70-41C, 7.4.3.1): 16 bits, kept per destination *and* per
  message type (service, subtype), wrapping from 65535 to 0. Gaps tell a destination that it
  missed reports of that type, even when other traffic in between arrived.

Both survive a restart through ``to_dict``/``from_dict`` (plain str -> int maps, so they fit
JSON, msgpack and the checkpoint store); counters are not security relevant, so a lost state
just restarts them at zero. One owner per instance: they are not locked.
"""

from __future__ import annotations

from collections.abc import Mapping

from flight.link._checks import check_uint
from flight.link.spacepacket import MAX_APID, MAX_SEQ_COUNT

__all__ = ["MAX_MSG_COUNTER", "MessageCounters", "SequenceCounters"]

MAX_MSG_COUNTER = 0xFFFF


class SequenceCounters:
    """Per-APID 14-bit sequence counters; the first packet of an APID gets count 0."""

    def __init__(self) -> None:
        self._next: dict[int, int] = {}

    def next(self, apid: int) -> int:
        """The count for the next packet of ``apid`` (and advance it, wrapping at 2**14)."""
        check_uint("apid", apid, MAX_APID)
        value = self._next.get(apid, 0)
        self._next[apid] = (value + 1) & MAX_SEQ_COUNT
        return value

    def peek(self, apid: int) -> int:
        """The count ``next(apid)`` would return, without advancing."""
        return self._next.get(apid, 0)

    def to_dict(self) -> dict[str, int]:
        return {str(apid): value for apid, value in sorted(self._next.items())}

    @classmethod
    def from_dict(cls, state: Mapping[str, int]) -> SequenceCounters:
        """Restore saved counters; ``ValueError`` on anything malformed (caller picks a reset)."""
        counters = cls()
        for key, value in state.items():
            apid = check_uint("apid", _int_key(key), MAX_APID)
            counters._next[apid] = check_uint("sequence count", value, MAX_SEQ_COUNT)
        return counters


class MessageCounters:
    """Per-(destination, service, subtype) 16-bit PUS message type counters, starting at 0."""

    def __init__(self) -> None:
        self._next: dict[tuple[int, int, int], int] = {}

    def next(self, destination: int, service: int, subtype: int) -> int:
        """The counter for the next message of this type to ``destination`` (and advance it)."""
        key = _message_key(destination, service, subtype)
        value = self._next.get(key, 0)
        self._next[key] = (value + 1) & MAX_MSG_COUNTER
        return value

    def peek(self, destination: int, service: int, subtype: int) -> int:
        return self._next.get((destination, service, subtype), 0)

    def to_dict(self) -> dict[str, int]:
        """Keys are ``"destination/service/subtype"`` in decimal."""
        return {"/".join(map(str, key)): value for key, value in sorted(self._next.items())}

    @classmethod
    def from_dict(cls, state: Mapping[str, int]) -> MessageCounters:
        counters = cls()
        for key, value in state.items():
            parts = str(key).split("/")
            if len(parts) != 3:
                raise ValueError(f"message counter key {key!r} is not destination/service/subtype")
            triple = _message_key(*(_int_key(p) for p in parts))
            counters._next[triple] = check_uint("message counter", value, MAX_MSG_COUNTER)
        return counters


def _message_key(destination: int, service: int, subtype: int) -> tuple[int, int, int]:
    return (check_uint("destination", destination, 0xFFFF),
            check_uint("service", service, 0xFF),
            check_uint("subtype", subtype, 0xFF))


def _int_key(text: object) -> int:
    """Parse a decimal dict key strictly (no signs, spaces or underscores)."""
    if not isinstance(text, str) or not text.isascii() or not text.isdigit():
        raise ValueError(f"counter key part {text!r} is not a decimal number")
    return int(text)
