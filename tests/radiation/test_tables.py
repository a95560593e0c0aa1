"""Protected tables: every single-bit upset is found, located and repaired from the golden copy."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flight.apps.radiation.tables import (
    MAX_LISTED_BITS,
    FlipHit,
    ProtectedMemory,
    ProtectedTable,
)

DATA = bytes(range(256)) * 2  # 512 bytes, 4096 bits


def test_clean_table_scrubs_clean() -> None:
    table = ProtectedTable("lut", DATA)
    assert table.scrub() is None
    assert table.live.tobytes() == DATA
    assert table.digest == hashlib.sha256(DATA).digest()
    assert (table.scrubs, table.findings) == (1, 0)


def test_every_single_bit_flip_is_found_located_and_repaired() -> None:
    table = ProtectedTable("lut", DATA)
    for bit in range(table.bits):
        assert table.flip(bit) == bit
        finding = table.scrub()
        assert finding is not None
        assert (finding.table, finding.copy, finding.bit_count, finding.bits,
                finding.repaired) == ("lut", "live", 1, (bit,), True)
        assert table.live.tobytes() == DATA
    assert table.findings == table.bits


@settings(max_examples=100, deadline=None)
@given(size=st.integers(1, 5000), bit=st.integers(0, 2**40))
def test_flip_wraps_and_lands_on_the_right_bit(size: int, bit: int) -> None:
    data = os.urandom(size)
    table = ProtectedTable("t", data)
    landed = table.flip(bit)
    assert landed == bit % (8 * size)
    changed = np.frombuffer(data, np.uint8) ^ table.live
    assert np.flatnonzero(changed).tolist() == [landed // 8]
    assert int(changed[landed // 8]) == 1 << (landed % 8)
    finding = table.scrub()
    assert finding is not None and finding.bits == (landed,) and finding.repaired
    assert table.live.tobytes() == data


def test_many_flips_are_counted_and_the_listing_is_capped() -> None:
    table = ProtectedTable("big", bytes(4096))
    for bit in range(0, 8 * 4096, 3):
        table.flip(bit)
    finding = table.scrub()
    assert finding is not None
    assert finding.bit_count == len(range(0, 8 * 4096, 3))
    assert finding.bits == tuple(range(0, 3 * MAX_LISTED_BITS, 3))
    assert finding.repaired and table.live_intact()
    assert finding.as_dict()["bit_count"] == finding.bit_count


def test_two_flips_in_one_byte_are_two_bits() -> None:
    table = ProtectedTable("t", DATA)
    table.flip(8 * 10 + 1)
    table.flip(8 * 10 + 6)
    finding = table.scrub()
    assert finding is not None and finding.bits == (81, 86) and finding.bit_count == 2


def test_golden_copy_corruption_is_detected_and_rewritten_from_the_live_copy() -> None:
    table = ProtectedTable("t", DATA)
    table.flip_golden(1234)
    assert not table.golden_intact()
    finding = table.scrub()
    assert finding is not None
    assert (finding.copy, finding.bits, finding.repaired) == ("golden", (1234,), True)
    assert table.golden_intact() and table.scrub() is None


def test_both_copies_wrong_is_unrepairable_until_reloaded() -> None:
    table = ProtectedTable("t", DATA)
    table.flip(10)
    table.flip_golden(20)
    finding = table.scrub()
    assert finding is not None
    assert (finding.copy, finding.bits, finding.repaired) == ("both", (10, 20), False)
    assert not table.repair()
    assert table.scrub() is not None  # still wrong
    table.reload(DATA)
    assert table.scrub() is None


def test_locate_without_repair_then_repair() -> None:
    table = ProtectedTable("t", DATA)
    table.flip(99)
    finding = table.scrub(repair=False)
    assert finding is not None and finding.copy == "live" and not finding.repaired
    assert not table.live_intact()
    assert table.repair() and table.live_intact()


def test_bad_tables_are_refused() -> None:
    with pytest.raises(ValueError):
        ProtectedTable("empty", b"")
    with pytest.raises(ValueError):
        ProtectedTable("", DATA)
    with pytest.raises(TypeError):
        ProtectedTable("t", DATA).flip(1.5)  # type: ignore[arg-type]


def test_the_live_copy_is_private_and_writable() -> None:
    source = bytearray(DATA)
    table = ProtectedTable("t", source)  # type: ignore[arg-type]
    source[0] ^= 0xFF
    assert table.scrub() is None
    table.live[3] = 0
    assert table.scrub() is not None


# ------------------------------------------------------------------------------ memory


def _memory(region_bytes: int | None = None) -> ProtectedMemory:
    return ProtectedMemory([ProtectedTable("a", bytes(10)), ProtectedTable("b", bytes(range(30))),
                            ProtectedTable("c", b"\xff" * 4)], region_bytes=region_bytes)


def test_every_bit_of_the_region_lands_in_its_table_or_unused_memory() -> None:
    memory = _memory(region_bytes=100)
    assert (memory.total_bytes, memory.watched_bits, memory.region_bytes) == (44, 352, 100)
    expected = ([("a", b) for b in range(80)] + [("b", b) for b in range(240)]
                + [("c", b) for b in range(32)])
    for bit in range(800):
        hit = memory.flip(bit)
        if bit < 352:
            assert hit == FlipHit(*expected[bit])
            [finding] = memory.scrub_all()
            assert (finding.table, finding.bits, finding.repaired) == (hit.table, (hit.bit,), True)
        else:
            assert hit is None
    assert memory.unused_hits == 800 - 352
    assert memory.flip(800 + 5) == FlipHit("a", 5)  # modulo the region
    assert memory.scrub_all() != []
    assert memory.scrub_all() == []
    assert [(d["name"], d["bytes"], d["first_bit"]) for d in memory.describe()] == [
        ("a", 10, 0), ("b", 30, 80), ("c", 4, 320)]


def test_region_defaults_to_the_tables_and_must_hold_them() -> None:
    memory = _memory()
    assert memory.region_bytes == 44 and memory.flip(352) == FlipHit("a", 0)
    with pytest.raises(ValueError, match="need 44 bytes"):
        _memory(region_bytes=40)
    empty = ProtectedMemory()
    assert empty.flip(7) is None and empty.unused_hits == 1 and empty.scrub_all() == []


def test_tables_are_added_replaced_and_removed_by_name() -> None:
    memory = _memory()
    with pytest.raises(ValueError, match="already"):
        memory.add(ProtectedTable("b", bytes(3)))
    memory.add(ProtectedTable("b", bytes(3)), replace=True)
    assert [t.name for t in memory] == ["a", "b", "c"] and memory.total_bytes == 17
    assert memory.flip(8 * 10 + 8 * 3) == FlipHit("c", 0)
    memory.remove("b")
    assert len(memory) == 2 and memory.table("c").size == 4
    with pytest.raises(KeyError):
        memory.remove("b")


def test_scrub_all_reports_only_damaged_tables() -> None:
    memory = _memory()
    memory.table("a").flip(3)
    memory.table("c").flip_golden(9)
    findings = memory.scrub_all()
    assert [(f.table, f.copy) for f in findings] == [("a", "live"), ("c", "golden")]
    assert memory.scrub_all() == []
