"""Small helpers the kinds share: digests of arrays, deterministic ``.npz`` bytes, findings."""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from flight.jobs.abft import Status, Verdict
from flight.jobs.kind import Finding, Outcome, npy_bytes

#: A zip member's timestamp: fixed, so the same arrays always give the same bytes (and SHA-256).
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def digest(arrays: Mapping[str, npt.NDArray[Any]]) -> str:
    """BLAKE2b of the names, dtypes, shapes and raw bytes of small arrays (weights, data sets).

    Exact, like :func:`flight.jobs.abft.row_digest`, and stronger against several flips at once;
    about 1 GB/s, so it is for arrays of kilobytes to a few megabytes.
    """
    h = hashlib.blake2b(digest_size=16)
    for name, array in arrays.items():
        h.update(f"{name}:{array.dtype.str}:{array.shape};".encode())
        h.update(np.ascontiguousarray(array).data)
    return h.hexdigest()


def npz_bytes(arrays: Mapping[str, npt.NDArray[Any]]) -> bytes:
    """Arrays as the bytes of an ``.npz`` (``np.load`` reads it), identical for identical arrays.

    ``np.savez`` stamps each member with the current time, so two saves of the same arrays
    differ; a result is compared by its SHA-256, so the time here is fixed.
    """
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_TIME)
            info.external_attr = 0o644 << 16
            zf.writestr(info, npy_bytes(np.asarray(array)))
    return buf.getvalue()


def abft_finding(where: str, verdict: Verdict) -> Finding | None:
    """The finding a checked product reports, or None when it was clean.

    ``uncorrectable`` becomes a rollback; ``count`` is how many elements were involved (the
    flagged rows or columns, whichever is more, when they were not located one by one).
    """
    status = verdict.status
    if status is Status.CLEAN:
        return None
    count = max(len(verdict.located), len(verdict.flagged_rows), len(verdict.flagged_cols), 1)
    if status is Status.MASKED:
        return Finding("abft", where, Outcome.MASKED, "bits changed within roundoff", count)
    if status is Status.CORRECTED:
        (i, j), *_ = sorted(verdict.located)
        return Finding("abft", where, Outcome.CORRECTED, f"element ({i}, {j}) formed again", 1)
    rows = ", ".join(str(r) for r in verdict.flagged_rows[:8])
    cols = ", ".join(str(c) for c in verdict.flagged_cols[:8])
    detail = f"flagged rows [{rows}] columns [{cols}]"
    return Finding("abft", where, Outcome.ROLLBACK, detail, count)


def span(rows: npt.NDArray[np.integer]) -> str:
    """'rows 3, 17, 40' for a few row indices, 'rows 3..900 (12)' for many."""
    if rows.size <= 4:
        return "rows " + ", ".join(str(int(r)) for r in rows)
    return f"rows {int(rows[0])}..{int(rows[-1])} ({rows.size})"
