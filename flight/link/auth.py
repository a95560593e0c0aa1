"""The authentication envelope around a telecommand packet (SDLS-shaped, CCSDS 355.0-B).

Frame layout (offsets in bytes; integers big-endian)::

    0       SPI     2 bytes   security parameter index: which key (0 is reserved for "plain")
    2       ARSN    4 bytes   anti-replay sequence number, strictly increasing per SPI
    6       packet  n bytes   the space packet, unchanged
    6+n     MAC    16 bytes   HMAC-SHA256(key, SPI | ARSN | packet), first 16 bytes

:meth:`Authenticator.open` checks, in this order: the frame length, that the SPI is known, the
MAC (constant-time compare), and only then the anti-replay window. Nothing about a frame with a
bad MAC reaches the window, so forged frames can neither advance nor probe it.

**When an ARSN is recorded.** ``open`` records the ARSN (and persists it) as soon as the MAC and
the window accept it, before the packet is decoded or executed. A frame the higher layers later
refuse (bad CRC inside, unknown APID, a busy app) has still used its ARSN: an attacker who
captured it cannot replay it later, when the same command might succeed at a moment of their
choosing. The cost is that the ground must seal every retry with a fresh ARSN, which a sender
does anyway.

**When persisting fails.** The frame is still accepted (it is authentic and recorded in memory);
``persist_failures`` and ``last_persist_error`` tell the comms app to raise an event. Refusing
would turn a full or failing disk into a permanent loss of the command link, the one path by
which the ground could fix it; the exposure is limited to replay, after a reboot, of frames
accepted since the last successful save.

The lab profile's unauthenticated mode is the separate :class:`PlainLink`, never a flag here.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import struct
from collections.abc import Mapping
from typing import NamedTuple

from flight.link._checks import check_uint
from flight.link.arsn import ArsnStore
from flight.link.keys import KEY_SIZE
from flight.link.pus import DEFAULT_MAX_SIZE
from flight.link.reasons import AuthError, PacketError, RejectReason
from flight.link.replay import DEFAULT_WINDOW, MAX_ARSN, ReplayWindow
from flight.link.spacepacket import HEADER_SIZE

__all__ = [
    "FRAME_HEADER_SIZE",
    "MAC_SIZE",
    "MIN_PACKET_SIZE",
    "OVERHEAD",
    "PLAIN_SPI",
    "Authenticator",
    "Opened",
    "PlainLink",
    "compute_mac",
]

_log = logging.getLogger("sunlit.link")

FRAME_HEADER_SIZE = 6  # SPI + ARSN
MAC_SIZE = 16
OVERHEAD = FRAME_HEADER_SIZE + MAC_SIZE  # 22
#: The smallest space packet: a header and one data octet.
MIN_PACKET_SIZE = HEADER_SIZE + 1
#: SPI 0 never has a key; :class:`PlainLink` reports it so logs show the frame was not checked.
PLAIN_SPI = 0
MAX_SPI = 0xFFFF

_FRAME_HEADER = struct.Struct(">HI")

Buffer = bytes | bytearray | memoryview


class Opened(NamedTuple):
    """What ``open`` returns: the frame's SPI and ARSN and the packet it carried."""

    spi: int
    arsn: int
    packet: bytes


def compute_mac(key: bytes, spi: int, arsn: int, packet: bytes) -> bytes:
    """The 16-byte MAC of a frame: a plain-function reference for tests and other tools."""
    message = _FRAME_HEADER.pack(spi, arsn) + packet
    return hmac.new(key, message, hashlib.sha256).digest()[:MAC_SIZE]


class Authenticator:
    """Seals and opens authenticated frames for a set of keys, one replay window per SPI.

    One owner (the comms receive loop): ``open`` updates window state without a lock.
    """

    def __init__(self, keys: Mapping[int, bytes], *, window: int = DEFAULT_WINDOW,
                 store: ArsnStore | None = None, max_packet: int = DEFAULT_MAX_SIZE) -> None:
        self._macs = {spi: _keyed_hmac(spi, key) for spi, key in keys.items()}
        if not self._macs:
            raise ValueError("no keys: use PlainLink for an unauthenticated lab link")
        saved = store.load() if store is not None else {}
        self._windows = {spi: ReplayWindow(window, saved.get(spi, 0)) for spi in self._macs}
        # State of SPIs whose key is not loaded now is kept and saved back unchanged: dropping
        # it would let old frames of that SPI replay once its key is loaded again.
        self._dormant = {spi: arsn for spi, arsn in saved.items() if spi not in self._macs}
        self._store = store
        self._max_frame = OVERHEAD + max_packet
        self.persist_failures = 0
        self.last_persist_error: OSError | None = None

    @property
    def spis(self) -> tuple[int, ...]:
        return tuple(sorted(self._macs))

    def highest(self, spi: int) -> int:
        """Highest ARSN accepted for ``spi`` (``KeyError`` if the SPI is unknown)."""
        return self._windows[spi].highest

    def seal(self, spi: int, arsn: int, packet: bytes | bytearray | memoryview) -> bytes:
        """Wrap ``packet`` in a frame; ``KeyError`` for an unknown SPI."""
        check_uint("arsn", arsn, MAX_ARSN)
        mac = self._macs[spi].copy()
        head = _FRAME_HEADER.pack(spi, arsn)
        mac.update(head)
        mac.update(packet)
        return b"".join((head, packet, mac.digest()[:MAC_SIZE]))

    def open(self, frame: bytes | bytearray | memoryview) -> Opened:
        """Verify ``frame`` and record its ARSN; raises :class:`LinkError` subclasses only."""
        raw = bytes(self._check_length(frame))
        spi, arsn = _FRAME_HEADER.unpack_from(raw)
        keyed = self._macs.get(spi)
        if keyed is None:
            raise AuthError(RejectReason.UNKNOWN_SPI, f"no key for SPI {spi}")
        mac = keyed.copy()
        mac.update(memoryview(raw)[:-MAC_SIZE])
        if not hmac.compare_digest(mac.digest()[:MAC_SIZE], raw[-MAC_SIZE:]):
            raise AuthError(RejectReason.BAD_MAC, f"MAC does not verify (SPI {spi})")
        window = self._windows[spi]
        refused = window.check(arsn)
        if refused is not None:
            raise AuthError(refused, f"ARSN {arsn}, highest accepted {window.highest} "
                                     f"(SPI {spi}, window {window.window})")
        window.record(arsn)
        self._persist()
        return Opened(spi, arsn, raw[FRAME_HEADER_SIZE:-MAC_SIZE])

    def _check_length(self, frame: Buffer) -> Buffer:
        n = len(frame)
        if n > self._max_frame:
            raise PacketError(RejectReason.OVERSIZED, f"frame of {n} bytes, limit "
                                                      f"{self._max_frame}")
        if n < OVERHEAD + MIN_PACKET_SIZE:
            raise PacketError(RejectReason.TRUNCATED, f"frame of {n} bytes, at least "
                                                      f"{OVERHEAD + MIN_PACKET_SIZE} needed")
        return frame

    def _persist(self) -> None:
        if self._store is None:
            return
        try:
            self._store.save({**self._dormant,
                              **{spi: w.highest for spi, w in self._windows.items()}})
        except OSError as exc:
            self.persist_failures += 1
            self.last_persist_error = exc
            _log.error("ARSN state not persisted (%s); a reboot could re-accept recent frames",
                       exc)


class PlainLink:
    """The explicit unauthenticated path (lab profile only): frames are bare space packets."""

    def __init__(self, *, max_packet: int = DEFAULT_MAX_SIZE) -> None:
        self._max_packet = max_packet
        _log.warning("SPACE LINK AUTHENTICATION IS OFF: any sender can command this spacecraft")

    def seal(self, packet: bytes | bytearray | memoryview) -> bytes:
        return bytes(packet)

    def open(self, frame: bytes | bytearray | memoryview) -> Opened:
        """Pass the packet through (size-checked); SPI and ARSN read as 0."""
        n = len(frame)
        if n > self._max_packet:
            raise PacketError(RejectReason.OVERSIZED, f"{n} bytes, limit {self._max_packet}")
        return Opened(PLAIN_SPI, 0, bytes(frame))


def _keyed_hmac(spi: int, key: bytes) -> hmac.HMAC:
    """An HMAC object with the key schedule done once; ``copy()`` it per frame."""
    check_uint("spi", spi, MAX_SPI)
    if spi == PLAIN_SPI:
        raise ValueError("SPI 0 is reserved for the plain (unauthenticated) link")
    if not isinstance(key, bytes) or len(key) != KEY_SIZE:
        raise ValueError(f"key for SPI {spi} must be {KEY_SIZE} bytes")
    return hmac.new(key, digestmod=hashlib.sha256)
