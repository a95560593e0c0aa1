"""The envelope every bus message travels in, and its bounded codec.

A published message is two frames: the topic (``tlm.health``, ``evt.power``, ``hb.jobs``,
``state.mode`` ...) and a msgpack array ``[src, seq, t, data]``:

* ``src`` — the sending process's name, so a subscriber knows who spoke;
* ``seq`` — a per-sender, per-topic counter starting at 1, so a subscriber sees gaps;
* ``t``   — mission time in seconds at the moment of sending, so it sees staleness;
* ``data`` — the body (a map for telemetry and events).

An array rather than a map keeps the envelope to a few bytes and the hot path fast.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import msgpack

from flight.bus.limits import DEFAULT_LIMITS, SMALL_MESSAGE_BYTES, DecodeLimits


class DecodeError(ValueError):
    """A message that could not be decoded; ``kind`` says which counter it belongs to."""

    def __init__(self, kind: str, detail: str):
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


class Envelope(NamedTuple):
    """One decoded bus message (a NamedTuple: built for every message, so it must be cheap)."""

    topic: str
    src: str
    seq: int
    t: float
    data: Any = None


def pack(src: str, seq: int, t: float, data: Any) -> bytes:
    """Encode the body of a published message."""
    return msgpack.packb((src, seq, t, data), use_bin_type=True)


def unpack_bounded(raw: bytes, limits: DecodeLimits = DEFAULT_LIMITS) -> Any:
    """Decode msgpack under ``limits``; raise :class:`DecodeError` on anything wrong."""
    size = len(raw)
    if size > limits.max_message_bytes:
        raise DecodeError("oversized", f"{size} bytes > {limits.max_message_bytes}")
    try:
        if size <= SMALL_MESSAGE_BYTES:
            return msgpack.unpackb(raw, **limits.small_unpack_options)
        _check_structure(raw)
        return msgpack.unpackb(raw, **limits.unpack_options)
    except DecodeError:
        raise
    except Exception as exc:  # msgpack raises several unrelated types for bad input
        raise DecodeError("malformed", f"{type(exc).__name__}: {exc}") from None


def _check_structure(raw: bytes) -> None:
    """Skip over one object without building it: every container it claims must be there."""
    unpacker = msgpack.Unpacker(max_buffer_size=len(raw))
    unpacker.feed(raw)
    unpacker.skip()
    if unpacker.tell() != len(raw):
        raise DecodeError("malformed", "bytes after the message")


def decode(topic_frame: bytes, body: bytes, limits: DecodeLimits = DEFAULT_LIMITS) -> Envelope:
    """Decode one published message; raise :class:`DecodeError` if it is not a valid envelope."""
    obj = unpack_bounded(body, limits)
    if type(obj) is not list or len(obj) != 4:
        raise DecodeError("malformed", "envelope is not a 4-element array")
    src, seq, t, data = obj
    if type(src) is not str or type(seq) is not int or type(t) not in _TIME_TYPES:
        raise DecodeError("malformed", "envelope header has wrong types")
    try:
        topic = topic_frame.decode("ascii")
    except UnicodeDecodeError:
        raise DecodeError("malformed", "topic is not ASCII") from None
    return Envelope(topic, src, seq, float(t), data)


_TIME_TYPES = (float, int)
