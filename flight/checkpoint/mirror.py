"""Two independent copies of a small, critical object (a job queue, a parameter table).

Generations protect against a torn or damaged *newest* file by falling back to an older one —
which for a job queue or a parameter table means forgetting the last change the ground was
told about (a job accepted, a parameter activated). A second copy, saved in lockstep under
another name, closes that gap: one upset or one bad sector damages one file, and the newest
intact generation across both copies is the current state. Only a fault that damages both
copies falls back to an older generation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flight.checkpoint.store import (
    CheckpointStore,
    GenerationInfo,
    LoadResult,
    Rejection,
    encode_object,
)

#: Suffix of the second copy's name.
MIRROR_SUFFIX = "-mirror"


class MirroredStore:
    """A :class:`CheckpointStore` pair with ``save_object``/``load_object`` of one store."""

    def __init__(self, directory: str | Path, name: str, *, generations: int = 3,
                 max_bytes: int = 1 << 20) -> None:
        self.primary = CheckpointStore(directory, name, generations=generations,
                                       max_bytes=max_bytes)
        self.mirror = CheckpointStore(directory, name + MIRROR_SUFFIX, generations=generations,
                                      max_bytes=max_bytes)
        self._last_rejections: tuple[Rejection, ...] = ()

    @property
    def directory(self) -> Path:
        return self.primary.directory

    @property
    def name(self) -> str:
        return self.primary.name

    @property
    def last_rejections(self) -> tuple[Rejection, ...]:
        """Damaged files the last load skipped, in either copy (empty when both were intact)."""
        return self._last_rejections

    def save_object(self, obj: Any) -> GenerationInfo:
        """Save both copies under one generation number; the primary's manifest is returned.
        An error in either is raised (after the other was still tried), so the caller knows
        its state is not doubly safe.

        One number for both, the next after anything either copy holds: were each copy to
        count for itself, a copy that missed saves would fall behind, and a later save to it
        alone could carry a lower number than the other's older state, which would then win
        the next load.
        """
        packed = encode_object(obj)  # a ValueError here leaves both copies as they were
        generation = max(self.primary.highest_generation(),
                         self.mirror.highest_generation()) + 1
        info = error = None
        for store in (self.primary, self.mirror):
            try:
                saved = store.save(packed, at_least=generation)
                info = info or saved
            except (OSError, ValueError) as exc:
                error = error or exc
        if error is not None:
            raise error
        assert info is not None
        return info

    def load_object(self) -> tuple[Any, LoadResult] | None:
        """The newest intact generation of either copy (the primary's on a tie)."""
        found = [(store, store.load_object()) for store in (self.primary, self.mirror)]
        self._last_rejections = tuple(r for store, _ in found for r in store.last_rejections)
        intact = [loaded for _, loaded in found if loaded is not None]
        if not intact:
            return None
        return max(intact, key=lambda loaded: loaded[1].info.generation)
