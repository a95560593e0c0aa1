"""CRC-16/CCITT-FALSE, the PUS packet error control: poly 0x1021, init 0xFFFF, no reflection.

Two implementations of the same function live here on purpose:

* :func:`crc16_table` is the byte-wise table-driven algorithm written out in Python. It is the
  readable reference (and what a port to C or an FPGA would follow).
* :func:`crc16` is what the link uses. The standard library's ``binascii.crc_hqx`` computes
  exactly this CRC (CCITT polynomial, MSB first, caller-chosen initial value, no final XOR) in C,
  about a hundred times faster than the Python loop. The tests hold the two equal on random data
  and both to the catalogue check value ``crc16(b"123456789") == 0x29B1``.

A useful property for receivers: appending the big-endian CRC to the data makes the CRC of the
whole equal to zero, so a packet is checked with one call over all its bytes.
"""

from __future__ import annotations

import binascii

__all__ = ["CHECK_VALUE", "INITIAL", "POLYNOMIAL", "crc16", "crc16_table"]

POLYNOMIAL = 0x1021
INITIAL = 0xFFFF
#: CRC-16/CCITT-FALSE of the ASCII bytes ``123456789`` (the catalogue's "check" value).
CHECK_VALUE = 0x29B1

Buffer = bytes | bytearray | memoryview


def _make_table() -> tuple[int, ...]:
    """The 256 remainders of ``byte << 8`` divided by the polynomial, MSB first."""
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ POLYNOMIAL) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return tuple(table)


_TABLE = _make_table()


def crc16_table(data: Buffer, crc: int = INITIAL) -> int:
    """Reference table-driven CRC-16/CCITT-FALSE; ``crc`` continues a previous computation."""
    table = _TABLE
    for byte in bytes(data):
        crc = ((crc << 8) & 0xFFFF) ^ table[(crc >> 8) ^ byte]
    return crc


def crc16(data: Buffer, crc: int = INITIAL) -> int:
    """CRC-16/CCITT-FALSE of ``data``; pass a previous result as ``crc`` to continue it."""
    return binascii.crc_hqx(data, crc)
