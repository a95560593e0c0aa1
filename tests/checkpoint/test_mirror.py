"""The mirrored store: one damaged file costs nothing; both damaged falls back a generation."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flight.checkpoint import MirroredStore


def _damage(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))


def _newest(store: MirroredStore, which: str) -> Path:
    part = store.primary if which == "primary" else store.mirror
    return part.list_generations()[0].path


def test_a_damaged_newest_copy_costs_nothing(tmp_path: Path) -> None:
    store = MirroredStore(tmp_path, "queue")
    for n in range(3):
        store.save_object({"jobs": n})
    for which in ("primary", "mirror"):
        _damage(_newest(store, which))
        again = MirroredStore(tmp_path, "queue")
        loaded = again.load_object()
        assert loaded is not None and loaded[0] == {"jobs": 2}
        assert len(again.last_rejections) == 1  # the damage is still reported
        store.save_object({"jobs": 2})  # rewritten: both copies whole again


def test_both_copies_damaged_falls_back_a_generation_and_says_so(tmp_path: Path) -> None:
    store = MirroredStore(tmp_path, "params")
    store.save_object("old")
    store.save_object("new")
    _damage(_newest(store, "primary"))
    _damage(_newest(store, "mirror"))
    again = MirroredStore(tmp_path, "params")
    loaded = again.load_object()
    assert loaded is not None and loaded[0] == "old"
    assert len(again.last_rejections) == 2


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 10**6), min_size=1, max_size=6),
       st.sampled_from(["primary", "mirror"]))
def test_any_single_damage_keeps_the_latest_state(values: list[int], which: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = MirroredStore(tmp, "state")
        for v in values:
            store.save_object(v)
        _damage(_newest(store, which))
        loaded = MirroredStore(tmp, "state").load_object()
        assert loaded is not None and loaded[0] == values[-1]


def test_a_copy_that_missed_saves_never_brings_back_older_state(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both copies at "v1"; the primary fails two saves the mirror takes ("A", "B"); then the
    mirror fails one the primary takes ("C"). "C" is the state, not the mirror's "B"."""
    store = MirroredStore(tmp_path, "queue")
    store.save_object("v1")
    real_save = type(store.primary).save

    def failing(failing_store: object):
        def save(self: object, payload: bytes, **kw: object) -> object:
            if self is failing_store:
                raise OSError(28, "No space left on device")
            return real_save(self, payload, **kw)  # type: ignore[arg-type]
        return save

    monkeypatch.setattr(type(store.primary), "save", failing(store.primary))
    for value in ("A", "B"):
        with pytest.raises(OSError):
            store.save_object(value)
    monkeypatch.setattr(type(store.primary), "save", failing(store.mirror))
    with pytest.raises(OSError):
        store.save_object("C")
    monkeypatch.undo()
    loaded = MirroredStore(tmp_path, "queue").load_object()
    assert loaded is not None and loaded[0] == "C"
