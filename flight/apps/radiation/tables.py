"""Protected memory: tables the scrubber checks against a digest and repairs from a golden copy.

Some state must stay exactly right for a long time while radiation flips bits in RAM: the
weights a job multiplies with, lookup tables, configuration the payload depends on. The
radiation app keeps each such table twice — the *live* copy everyone reads, and a *golden*
copy — plus the SHA-256 digest of its true contents, and scrubs them on a schedule:

* the live copy matches the digest: clean, unless the golden copy differs from it, in which case
  the golden copy was hit and is rewritten from the live one;
* the live copy does not match: the golden copy is checked against the digest and, if intact,
  the differing bits are located (so statistics know how many flipped and where) and the live
  copy is rewritten from it;
* neither matches: the table cannot be repaired from memory. The finding says so, and the app
  reloads the table from its source (:meth:`ProtectedTable.reload`) or escalates.

A clean scrub costs one SHA-256 and one comparison of the two copies; only a finding pays for
locating bits. The live copy is a writable ``numpy.uint8`` array, which is also where simulated
upsets land (:meth:`ProtectedTable.flip`, :meth:`ProtectedMemory.flip`).
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "MAX_LISTED_BITS",
    "FlipHit",
    "ProtectedMemory",
    "ProtectedTable",
    "ScrubFinding",
]

#: A finding lists at most this many bit positions (all are counted): a table overwritten
#: wholesale must not turn into a megabyte event.
MAX_LISTED_BITS: Final = 64
#: Which copy a finding is about.
LIVE, GOLDEN, BOTH = "live", "golden", "both"


@dataclass(frozen=True)
class ScrubFinding:
    """What one scrub of one table found.

    ``copy`` is the copy that was wrong ("live", "golden", or "both" when neither matches the
    digest). ``bits`` are positions within the table (byte · 8 + bit, least significant bit
    first) where the two copies differ, at most :data:`MAX_LISTED_BITS` of them; ``bit_count``
    counts them all.
    """

    table: str
    copy: str
    bit_count: int
    bits: tuple[int, ...]
    repaired: bool

    def as_dict(self) -> dict[str, Any]:
        """Event payload: plain values only."""
        return {"table": self.table, "copy": self.copy, "bit_count": self.bit_count,
                "bits": list(self.bits), "repaired": self.repaired}


@dataclass(frozen=True)
class FlipHit:
    """Where a bit flipped into protected memory landed."""

    table: str
    bit: int


def _differing_bits(a: npt.NDArray[np.uint8], b: npt.NDArray[np.uint8]) -> tuple[int, list[int]]:
    """How many bits differ between two equal-length arrays, and the first few positions."""
    where = np.flatnonzero(a != b)
    if where.size == 0:
        return 0, []
    xor = np.bitwise_xor(a[where], b[where])
    bits = np.unpackbits(xor[:, None], axis=1, bitorder="little")  # (n, 8)
    count = int(bits.sum())
    rows, cols = np.nonzero(bits[: MAX_LISTED_BITS])
    listed = (where[rows] * 8 + cols)[:MAX_LISTED_BITS]
    return count, [int(position) for position in listed]


class ProtectedTable:
    """One protected table: live copy, golden copy and the digest of its true contents."""

    def __init__(self, name: str, golden: bytes) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"table name must be a non-empty string, got {name!r}")
        self.name = name
        self.scrubs = 0
        self.findings = 0
        self.reload(golden)

    def reload(self, golden: bytes) -> None:
        """Take new true contents (the data changed legitimately, or could not be repaired)."""
        data = bytes(golden)
        if not data:
            raise ValueError(f"table {self.name!r}: contents must not be empty")
        self.digest = hashlib.sha256(data).digest()
        self._golden = np.frombuffer(bytearray(data), dtype=np.uint8)
        self._live = np.frombuffer(bytearray(data), dtype=np.uint8)

    @property
    def live(self) -> npt.NDArray[np.uint8]:
        """The live copy: the bytes users read (writable; upsets land here)."""
        return self._live

    @property
    def size(self) -> int:
        """Bytes in the table (each copy)."""
        return int(self._live.size)

    @property
    def bits(self) -> int:
        return 8 * self.size

    def flip(self, bit_index: int) -> int:
        """Flip one bit of the live copy (``bit_index`` modulo the table's bits); which one."""
        return _flip(self._live, bit_index)

    def flip_golden(self, bit_index: int) -> int:
        """Flip one bit of the golden copy: the other copy radiation can hit."""
        return _flip(self._golden, bit_index)

    def live_intact(self) -> bool:
        return hashlib.sha256(self._live.data).digest() == self.digest

    def golden_intact(self) -> bool:
        return hashlib.sha256(self._golden.data).digest() == self.digest

    def scrub(self, repair: bool = True) -> ScrubFinding | None:
        """Check both copies; None when clean, else a finding (repaired when ``repair``).

        With ``repair=False`` a damaged live copy is only located, so the caller can ask the
        policy first and then call :meth:`repair`. A damaged golden copy is always rewritten:
        doing so cannot lose anything and leaving it would disarm the next repair.
        """
        self.scrubs += 1
        if self.live_intact():
            if np.array_equal(self._live, self._golden):
                return None
            count, bits = _differing_bits(self._live, self._golden)
            self._golden[:] = self._live
            self.findings += 1
            return ScrubFinding(self.name, GOLDEN, count, tuple(bits), True)
        count, bits = _differing_bits(self._live, self._golden)
        self.findings += 1
        if not self.golden_intact():
            return ScrubFinding(self.name, BOTH, count, tuple(bits), False)
        repaired = repair and self.repair()
        return ScrubFinding(self.name, LIVE, count, tuple(bits), repaired)

    def repair(self) -> bool:
        """Rewrite the live copy from an intact golden copy; False if the golden one is bad."""
        if not self.golden_intact():
            return False
        self._live[:] = self._golden
        return True


def _flip(array: npt.NDArray[np.uint8], bit_index: int) -> int:
    if isinstance(bit_index, bool) or not isinstance(bit_index, (int, np.integer)):
        raise TypeError(f"bit index must be an int, got {bit_index!r}")
    bit = int(bit_index) % (8 * array.size)
    array[bit >> 3] ^= np.uint8(1 << (bit & 7))
    return bit


class ProtectedMemory:
    """The protected tables, laid out one after the other in a region of memory.

    ``region_bytes`` is the size of the memory an upset can hit (None: exactly the tables). A
    bit flipped beyond the tables lands in memory nobody checks: :meth:`flip` returns None and
    counts it in ``unused_hits``, so a campaign can tell missed upsets from masked ones.
    """

    def __init__(self, tables: Iterable[ProtectedTable] = (), *,
                 region_bytes: int | None = None) -> None:
        if region_bytes is not None and (isinstance(region_bytes, bool)
                                         or not isinstance(region_bytes, int)
                                         or region_bytes < 0):
            raise ValueError(f"region_bytes must be an int >= 0, got {region_bytes!r}")
        self._region_bytes = region_bytes
        self._tables: list[ProtectedTable] = []
        self._starts: list[int] = []  # first bit of each table in the region
        self.unused_hits = 0
        for table in tables:
            self.add(table)

    def add(self, table: ProtectedTable, *, replace: bool = False) -> None:
        """Append a table, or with ``replace`` put it in place of the one with its name."""
        names = [t.name for t in self._tables]
        if table.name in names:
            if not replace:
                raise ValueError(f"a table named {table.name!r} is already protected")
            tables = list(self._tables)
            tables[names.index(table.name)] = table
        else:
            tables = [*self._tables, table]
        self._layout(tables)

    def remove(self, name: str) -> None:
        """Stop protecting the table ``name`` (KeyError if there is none)."""
        self._layout([t for t in self._tables if t.name != self.table(name).name])

    def _layout(self, tables: list[ProtectedTable]) -> None:
        total = sum(t.size for t in tables)
        if self._region_bytes is not None and total > self._region_bytes:
            raise ValueError(f"tables need {total} bytes, the region has {self._region_bytes}")
        starts, offset = [], 0
        for t in tables:
            starts.append(offset)
            offset += t.bits
        self._tables, self._starts = tables, starts

    def table(self, name: str) -> ProtectedTable:
        for t in self._tables:
            if t.name == name:
                return t
        raise KeyError(f"no protected table named {name!r}")

    def describe(self) -> list[dict[str, Any]]:
        """One dict per table, in layout order, for status replies (no digests are hashed)."""
        return [{"name": t.name, "bytes": t.size, "first_bit": start, "scrubs": t.scrubs,
                 "findings": t.findings} for t, start in zip(self._tables, self._starts,
                                                             strict=True)]

    def __iter__(self) -> Iterator[ProtectedTable]:
        return iter(self._tables)

    def __len__(self) -> int:
        return len(self._tables)

    @property
    def total_bytes(self) -> int:
        """Bytes of live copies: what the scrubber watches."""
        return sum(t.size for t in self._tables)

    @property
    def watched_bits(self) -> int:
        """Bits the scrubber watches (for upsets per bit per day)."""
        return 8 * self.total_bytes

    @property
    def region_bytes(self) -> int:
        return self.total_bytes if self._region_bytes is None else self._region_bytes

    def flip(self, bit: int) -> FlipHit | None:
        """Flip bit ``bit`` (modulo the region) of the region; where it landed, or None."""
        if isinstance(bit, bool) or not isinstance(bit, (int, np.integer)):
            raise TypeError(f"bit index must be an int, got {bit!r}")
        region_bits = 8 * self.region_bytes
        if region_bits == 0:
            self.unused_hits += 1
            return None
        position = int(bit) % region_bits
        if position >= self.watched_bits:
            self.unused_hits += 1
            return None
        index = bisect.bisect_right(self._starts, position) - 1
        table = self._tables[index]
        return FlipHit(table.name, table.flip(position - self._starts[index]))

    def scrub_all(self, repair: bool = True) -> list[ScrubFinding]:
        """Scrub every table; the findings (empty when all are clean)."""
        findings = []
        for table in self._tables:
            finding = table.scrub(repair)
            if finding is not None:
                findings.append(finding)
        return findings
