"""The comms app's ARSN store: written at once for a crash, durably right after for a power cut."""

from __future__ import annotations

from pathlib import Path

from flight.link.arsn import DeferredArsnStore, FileArsnStore


def test_a_crash_right_after_accepting_keeps_the_arsn(tmp_path: Path) -> None:
    store = DeferredArsnStore(FileArsnStore(tmp_path, "arsn"), tmp_path / "arsn.fast")
    store.save({1: 41})
    store.save({1: 42})
    # No flush, no close: the process dies here. A new one must not go below 42.
    again = DeferredArsnStore(FileArsnStore(tmp_path, "arsn"), tmp_path / "arsn.fast")
    assert again.load() == {1: 42}
    again.close()


def test_the_durable_state_wins_over_a_damaged_fast_file(tmp_path: Path) -> None:
    store = DeferredArsnStore(FileArsnStore(tmp_path, "arsn"), tmp_path / "arsn.fast")
    store.save({1: 7, 2: 3})
    assert store.flush()
    store.close()
    (tmp_path / "arsn.fast").write_text("{not json")
    again = DeferredArsnStore(FileArsnStore(tmp_path, "arsn"), tmp_path / "arsn.fast")
    assert again.load() == {1: 7, 2: 3}
    again.close()
