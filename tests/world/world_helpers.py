"""Shared helpers for the world-model tests (a plain module: imported, not collected)."""

from __future__ import annotations

from datetime import datetime, timezone


def unix(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> float:
    """UNIX seconds of a UTC calendar instant."""
    return datetime(year, month, day, hour, minute, tzinfo=timezone.utc).timestamp()
