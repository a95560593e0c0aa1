"""The bus envelope codec: exact round trips, and garbage costs a DecodeError, nothing more."""

from __future__ import annotations

import struct
import tracemalloc
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flight.bus import DEFAULT_LIMITS, DecodeError, DecodeLimits, Envelope
from flight.bus.envelope import decode, pack, unpack_bounded

INT64_MIN, UINT64_MAX = -(2**63), 2**64 - 1

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(INT64_MIN, UINT64_MAX),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.binary(max_size=20),
)
#: What a sender may put in ``data`` and get back unchanged (lists, not tuples; str keys).
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(st.text(max_size=8), inner, max_size=5),
    ),
    max_leaves=25,
)
topics = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40)


def decode_or_error(topic: bytes, body: bytes, limits: DecodeLimits = DEFAULT_LIMITS) -> Any:
    """The envelope, or the DecodeError's kind; any other exception fails the test."""
    try:
        return decode(topic, body, limits)
    except DecodeError as exc:
        assert exc.kind in ("malformed", "oversized"), exc.kind
        return exc.kind


@settings(deadline=None)
@given(topic=topics, src=st.text(max_size=30), seq=st.integers(INT64_MIN, UINT64_MAX),
       t=st.one_of(st.floats(allow_nan=False), st.integers(-(2**53), 2**53)), data=values)
def test_round_trip(topic: str, src: str, seq: int, t: float, data: Any) -> None:
    envelope = decode(topic.encode("ascii"), pack(src, seq, t, data))
    assert envelope == Envelope(topic, src, seq, float(t), data)
    assert type(envelope.seq) is int and type(envelope.t) is float


def test_nan_time_survives() -> None:
    envelope = decode(b"tlm.x", pack("a", 1, float("nan"), None))
    assert envelope.t != envelope.t


@settings(deadline=None, max_examples=300)
@given(topic=st.binary(max_size=20), body=st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_decode_error(topic: bytes, body: bytes) -> None:
    result = decode_or_error(topic, body)
    if isinstance(result, Envelope):  # garbage that happens to be a valid envelope
        assert result.topic == topic.decode("ascii")


@settings(deadline=None, max_examples=300)
@given(obj=values, topic=st.binary(max_size=10))
def test_arbitrary_msgpack_bodies_raise_only_decode_error(obj: Any, topic: bytes) -> None:
    """Well-formed msgpack of the wrong shape: never an exception other than DecodeError."""
    result = decode_or_error(topic, msgpack.packb(obj, use_bin_type=True))
    if isinstance(result, Envelope):
        assert isinstance(obj, list) and len(obj) == 4


@settings(deadline=None)
@given(topic=st.binary(min_size=1, max_size=10).filter(lambda b: max(b) > 127))
def test_non_ascii_topic_is_malformed(topic: bytes) -> None:
    assert decode_or_error(topic, pack("a", 1, 0.0, None)) == "malformed"


@pytest.mark.parametrize(
    "obj",
    [
        None,
        [],
        ["a", 1, 0.0],  # three elements
        ["a", 1, 0.0, None, None],  # five
        {"src": "a", "seq": 1, "t": 0.0, "data": None},  # a map, not an array
        [1, 1, 0.0, None],  # src not a string
        [b"a", 1, 0.0, None],  # src as bin
        ["a", 1.0, 0.0, None],  # seq a float
        ["a", True, 0.0, None],  # seq a bool
        ["a", "1", 0.0, None],  # seq a string
        ["a", 1, True, None],  # t a bool
        ["a", 1, "0", None],  # t a string
        ["a", 1, None, None],  # t nil
    ],
)
def test_wrong_envelope_shapes_are_malformed(obj: Any) -> None:
    assert decode_or_error(b"tlm.x", msgpack.packb(obj, use_bin_type=True)) == "malformed"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\xc1",  # the one never-used msgpack byte
        pack("a", 1, 0.0, None) + b"\x00",  # trailing data
        pack("a", 1, 0.0, None)[:-1],  # truncated
        msgpack.packb(["a", 1, 0.0, {1: 2}]),  # non-string map key
        msgpack.packb(["a", 1, 0.0, msgpack.ExtType(1, b"x")]),  # ext types are not allowed
    ],
)
def test_broken_msgpack_is_malformed(body: bytes) -> None:
    assert decode_or_error(b"tlm.x", body) == "malformed"


@settings(deadline=None)
@given(extra=st.integers(1, 100), payload=st.binary(max_size=300))
def test_oversized_bodies(extra: int, payload: bytes) -> None:
    limits = DecodeLimits(max_message_bytes=64)
    body = pack("a", 1, 0.0, payload)
    body += b"\x00" * max(0, 64 + extra - len(body))  # over the limit whatever it contains
    assert decode_or_error(b"tlm.x", body, limits) == "oversized"


def test_message_exactly_at_the_limit_is_accepted() -> None:
    body = pack("a", 1, 0.0, b"x" * 100)
    assert decode(b"t", body, DecodeLimits(max_message_bytes=len(body))).data == b"x" * 100
    assert decode_or_error(b"t", body, DecodeLimits(max_message_bytes=len(body) - 1)) \
        == "oversized"


def test_default_limit_is_one_mebibyte() -> None:
    body = b"\x00" * (DEFAULT_LIMITS.max_message_bytes + 1)
    assert decode_or_error(b"t", body) == "oversized"


@pytest.mark.parametrize("field,limit", [("max_str_len", 10), ("max_bin_len", 10),
                                         ("max_array_len", 3), ("max_map_len", 3)])
def test_container_limits_reject(field: str, limit: int) -> None:
    limits = DecodeLimits(**{field: limit})
    data = {"max_str_len": "s" * 11, "max_bin_len": b"b" * 11, "max_array_len": [0] * 4,
            "max_map_len": {str(i): i for i in range(4)}}[field]
    assert decode_or_error(b"t", pack("a", 1, 0.0, data), limits) == "malformed"
    assert decode_or_error(b"t", pack("a", 1, 0.0, data), DEFAULT_LIMITS) != "malformed"


HOSTILE = {
    "array32 of 2**32-1": b"\xdd\xff\xff\xff\xff",
    "map32 of 2**32-1": b"\xdf\xff\xff\xff\xff",
    "str32 of 2**32-1": b"\xdb\xff\xff\xff\xff",
    "bin32 of 2**32-1": b"\xc6\xff\xff\xff\xff",
    "ext32 of 2**32-1": b"\xc9\xff\xff\xff\xff\x01",
    "str32 header then a little": b"\xdb\x7f\xff\xff\xff" + b"x" * 100,
    "envelope with a huge str": b"\x94\xdb\xff\xff\xff\xff",
    "100k nested fixarrays": b"\x91" * 100_000 + b"\xc0",
    "100k nested fixmaps": b"\x81\xa1k" * 30_000 + b"\xc0",
    "nested maps claiming 16k entries": b"\xdf\x00\x00\x3f\xff" * 1100,
}


@pytest.mark.parametrize("body", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_length_prefixes_are_rejected_cheaply(body: bytes) -> None:
    tracemalloc.start()
    try:
        kind = decode_or_error(b"t", body)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert kind == "malformed"
    assert peak < 4 * 1024 * 1024, f"{peak} bytes allocated for a {len(body)}-byte message"


@pytest.mark.parametrize("body", [
    # 10 KB of nested array16 headers each claiming 10 000 elements: structure-checked first
    ((b"\xdc" + struct.pack(">H", 10_000)) * 1100).ljust(10_000, b"\xc0"),
    # 1023 bytes of nested headers each claiming the most: capped by the message's own size
    (b"\xdc" + struct.pack(">H", 0xFFFF)) * 341,
], ids=["large", "small"])
def test_nested_container_headers_are_rejected_cheaply(body: bytes) -> None:
    """msgpack allocates a container at its header: nesting must not multiply that."""
    tracemalloc.start()
    try:
        with pytest.raises(DecodeError):
            unpack_bounded(body)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, f"{peak} bytes allocated for a {len(body)}-byte message"
