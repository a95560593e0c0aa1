"""Simulated radiation: where an upset event from the world lands in this process's data.

This is the simulation's hand, not the flight software's eye. The world decides that bit ``b`` of
a memory region flipped; the owner of that region applies the flip to its *real* bytes — the
arrays of the running job, or the checkpoint files on disk — and from then on only the normal
checks (ABFT residuals, digests, checkpoint verification) can find it. Nothing here reports an
upset to anyone; the return value is ground truth kept for the test harness's bookkeeping.

A region is laid out as the concatenation of its parts in a fixed order; bits beyond what is
allocated land in unused memory and change nothing, as on a real board.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt


def flip_in_arrays(arrays: Mapping[str, npt.NDArray[Any]], bit: int) -> str | None:
    """Flip global bit ``bit`` of the arrays laid end to end; return 'name[byte].bit' or None."""
    offset = bit // 8
    for name, array in arrays.items():
        if not array.flags.writeable or not array.flags.c_contiguous:
            continue
        if offset < array.nbytes:
            raw = array.reshape(-1).view(np.uint8)
            raw[offset] ^= np.uint8(1 << (bit % 8))
            return f"{name}[byte {offset}].{bit % 8}"
        offset -= array.nbytes
    return None


def flip_in_files(paths: Sequence[Path], bit: int) -> str | None:
    """Flip global bit ``bit`` of the files laid end to end, in place on disk."""
    offset = bit // 8
    for path in paths:
        try:
            size = path.stat().st_size
        except OSError:
            continue
        if offset < size:
            fd = os.open(path, os.O_RDWR)
            try:
                byte = os.pread(fd, 1, offset)
                if len(byte) == 1:
                    os.pwrite(fd, bytes([byte[0] ^ (1 << (bit % 8))]), offset)
            finally:
                os.close(fd)
            return f"{path.name}[byte {offset}].{bit % 8}"
        offset -= size
    return None
