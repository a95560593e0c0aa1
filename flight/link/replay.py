"""The anti-replay window over ARSNs: a sliding bitmap in the style of IPsec (RFC 4303, 3.4.3).

The window remembers the highest ARSN accepted and, for the ``window - 1`` ARSNs below it, which
ones were accepted. An ARSN is acceptable iff

* it is above the highest (a new frame; the window slides up), or
* it is above ``highest - window`` and its bit is clear (a frame that arrived out of order).

An ARSN at or below ``highest - window`` is refused as ``arsn_outside_window``: the window no
longer knows whether it was seen, and refusing is the safe answer. One seen before is ``replay``.

``check`` never changes state; ``record`` does. The split lets the authenticator verify the MAC
and the window first and record only for frames it is going to hand on.
"""

from __future__ import annotations

from flight.link._checks import check_uint
from flight.link.reasons import RejectReason

__all__ = ["DEFAULT_WINDOW", "MAX_ARSN", "ReplayWindow"]

MAX_ARSN = 0xFFFF_FFFF
DEFAULT_WINDOW = 64


class ReplayWindow:
    """Window state for one security association (one SPI)."""

    def __init__(self, window: int = DEFAULT_WINDOW, highest: int = 0) -> None:
        if isinstance(window, bool) or not isinstance(window, int) or not 1 <= window <= 4096:
            raise ValueError(f"window must be an int in 1..4096, got {window!r}")
        self._window = window
        self._mask = (1 << window) - 1
        self._highest = check_uint("highest", highest, MAX_ARSN)
        # Every ARSN at or below the starting point counts as seen: after a restart the bitmap
        # is unknown, and the only safe assumption is that all of it was used. ARSN 0 is thus
        # never accepted, which is why senders start at 1.
        self._seen = self._mask

    @property
    def highest(self) -> int:
        """The highest ARSN accepted so far (or the persisted starting point)."""
        return self._highest

    @property
    def window(self) -> int:
        return self._window

    def check(self, arsn: int) -> RejectReason | None:
        """``None`` if ``arsn`` would be accepted, else why not; never changes state."""
        if arsn > self._highest:
            return None
        offset = self._highest - arsn
        if offset >= self._window:
            return RejectReason.ARSN_OUTSIDE_WINDOW
        if (self._seen >> offset) & 1:
            return RejectReason.REPLAY
        return None

    def record(self, arsn: int) -> None:
        """Mark ``arsn`` as accepted (call only after ``check`` returned ``None``)."""
        if arsn > self._highest:
            shift = arsn - self._highest
            self._seen = ((self._seen << shift) | 1) & self._mask if shift < self._window else 1
            self._highest = arsn
        else:
            self._seen |= 1 << (self._highest - arsn)
