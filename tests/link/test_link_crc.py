"""CRC-16/CCITT-FALSE: the catalogue check value, and the fast and reference paths agree."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from flight.link.crc import CHECK_VALUE, crc16, crc16_table


def test_check_value() -> None:
    assert crc16(b"123456789") == 0x29B1 == CHECK_VALUE
    assert crc16_table(b"123456789") == 0x29B1


def test_empty_input_is_the_initial_value() -> None:
    assert crc16(b"") == 0xFFFF == crc16_table(b"")


@given(st.binary(max_size=2000))
def test_fast_and_table_driven_agree(data: bytes) -> None:
    assert crc16(data) == crc16_table(data)


@given(st.binary(max_size=500), st.binary(max_size=500))
def test_continuation(a: bytes, b: bytes) -> None:
    """Feeding a result back in continues the CRC, for packets built from pieces."""
    assert crc16(b, crc16(a)) == crc16(a + b)
    assert crc16_table(b, crc16_table(a)) == crc16_table(a + b)


@given(st.binary(max_size=1000))
def test_appended_crc_makes_the_whole_zero(data: bytes) -> None:
    """The property receivers use to check a packet in one call."""
    assert crc16(data + crc16(data).to_bytes(2, "big")) == 0


def test_accepts_any_buffer() -> None:
    assert crc16(bytearray(b"123456789")) == crc16(memoryview(b"123456789")) == CHECK_VALUE
