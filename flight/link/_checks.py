"""Field checks shared by the encoders (private to :mod:`flight.link`)."""

from __future__ import annotations


def check_uint(name: str, value: object, maximum: int) -> int:
    """Return ``value`` if it is an int in ``0..maximum``; raise ``ValueError`` otherwise.

    Encoders check instead of masking because a masked field silently corrupts its neighbours
    (an APID of 0x800 would flip the secondary header flag). ``bool`` is refused: ``True`` as a
    sequence count is a bug, not a request for 1.
    """
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise ValueError(f"{name} must be an int in 0..{maximum}, got {value!r}")
    return value
