"""Onboard checkpoint store: atomic, verified, multi-generation persistence of app state."""

from flight.checkpoint.mirror import MirroredStore
from flight.checkpoint.store import (
    HEADER_MAX,
    MAGIC,
    CheckpointStore,
    GenerationInfo,
    LoadResult,
    Rejection,
)

__all__ = [
    "HEADER_MAX",
    "MAGIC",
    "CheckpointStore",
    "GenerationInfo",
    "LoadResult",
    "MirroredStore",
    "Rejection",
]
