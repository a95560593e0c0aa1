"""Durable ARSN state: the receiver's highest accepted ARSN and the sender's counter.

Anti-replay only holds across restarts if both ends remember:

* the receiver (flight) persists the highest accepted ARSN of each SPI *before* it hands the
  packet on, so a restarted receiver refuses every frame it accepted before;
* the sender (ground) persists its counter before it uses a value, so a restarted sender never
  reuses an ARSN (which the receiver would refuse as a replay).

The sender reserves ARSNs in blocks: it persists ``issued + reserve`` and hands out values from
memory until the block is used up. A restart skips the unused rest of the block, which costs
nothing (the receiver accepts any higher ARSN) and saves an fsync per telecommand.

:class:`FileArsnStore` keeps the state in the checkpoint store (atomic temp file + fsync +
rename + directory fsync, several verified generations), so a power cut or a damaged newest
file falls back to the previous generation instead of losing the state. If files exist but none
is intact, ``load`` raises :class:`ArsnStoreError`: starting again from zero would re-open every
frame ever sent to replay, so that decision is left to a person.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Mapping
from typing import Any, Protocol

from flight.checkpoint import CheckpointStore
from flight.link._checks import check_uint
from flight.link.replay import MAX_ARSN

__all__ = [
    "ArsnCounter",
    "ArsnExhaustedError",
    "ArsnStore",
    "ArsnStoreError",
    "FileArsnStore",
    "MemoryArsnStore",
]

_FORMAT = 1
#: How long the durable ARSN write waits after a frame (the fast state file covers a crash).
_DURABLE_DELAY_S = 0.005
#: The fast ARSN state is one JSON document padded to this size, rewritten in place.
_FAST_SIZE = 4096

_log = logging.getLogger("sunlit.link.arsn")


class ArsnStoreError(RuntimeError):
    """Saved ARSN state exists but cannot be read back; replay protection cannot resume."""


class ArsnExhaustedError(RuntimeError):
    """The 32-bit ARSN space of an SPI is used up: the key must be replaced (a new SPI)."""


class ArsnStore(Protocol):
    """Where ARSN values per SPI live between runs."""

    def load(self) -> dict[int, int]:
        """The saved ``{spi: arsn}`` map, empty when nothing was ever saved."""
        ...

    def save(self, values: Mapping[int, int]) -> None:
        """Durably replace the saved map; raises ``OSError`` when it could not."""
        ...


class MemoryArsnStore:
    """An :class:`ArsnStore` that forgets on exit: for tests and the ground's dry runs."""

    def __init__(self, values: Mapping[int, int] | None = None) -> None:
        self._values = dict(values or {})
        self.saves = 0

    def load(self) -> dict[int, int]:
        return dict(self._values)

    def save(self, values: Mapping[int, int]) -> None:
        self._values = dict(values)
        self.saves += 1


class FileArsnStore:
    """An :class:`ArsnStore` on disk, one checkpoint name per store (``arsn-rx``, ``arsn-tx``)."""

    def __init__(self, directory: str | os.PathLike[str], name: str) -> None:
        self._store = CheckpointStore(directory, name, generations=3, max_bytes=64 * 1024)

    def load(self) -> dict[int, int]:
        found = self._store.load_object()
        if found is None:
            rejected = self._store.last_rejections
            if rejected:
                reasons = "; ".join(f"{r.path.name}: {r.reason}" for r in rejected)
                raise ArsnStoreError(f"no intact ARSN state in {self._store.directory}: {reasons}")
            return {}
        return _parse_state(found[0])

    def save(self, values: Mapping[int, int]) -> None:
        state = {str(spi): value for spi, value in sorted(values.items())}
        self._store.save_object({"format": _FORMAT, "arsn": state})


class DeferredArsnStore:
    """Records each new highest ARSN at once in the page cache, and durably right after.

    ``save`` rewrites a small state file in place (one ``pwrite``, no fsync: microseconds) before
    the frame is acted on, so a crash of the process can never let an accepted frame be
    accepted again; a writer thread then puts the same state through the fsync'ed
    checkpoint store, coalescing a burst of frames into one write, so a power cut loses at
    most the last millisecond or so. Loading takes the higher of the two per SPI.
    """

    def __init__(self, inner: ArsnStore, fast_path: str | os.PathLike[str]) -> None:
        self._inner = inner
        self._fast = os.fspath(fast_path)
        self._fd: int | None = None
        self._pending: dict[int, int] | None = None
        self._cond = threading.Condition()
        self._closed = False
        self._busy = False
        self.failures = 0
        self.last_error: OSError | None = None
        self._writer = threading.Thread(target=self._write_loop, name="arsn-writer",
                                        daemon=True)
        self._writer.start()

    def load(self) -> dict[int, int]:
        values = self._inner.load()
        for spi, arsn in self._load_fast().items():
            values[spi] = max(arsn, values.get(spi, 0))
        return values

    def _load_fast(self) -> dict[int, int]:
        try:
            with open(self._fast, "rb") as f:
                return _parse_state(json.loads(f.read().strip() or b"null"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, ArsnStoreError) as exc:
            _log.warning("fast ARSN state %s unusable (%s): using the durable one", self._fast,
                         exc)
            return {}

    def save(self, values: Mapping[int, int]) -> None:
        state = {str(spi): value for spi, value in sorted(values.items())}
        record = json.dumps({"format": _FORMAT, "arsn": state}).encode("ascii")
        try:
            if self._fd is None:
                self._fd = os.open(self._fast, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            # One write in place: no rename, so no wait for the filesystem journal; a
            # process crash cannot tear it (the page cache has it whole).
            os.pwrite(self._fd, record.ljust(_FAST_SIZE), 0)
        except OSError as exc:
            self.failures += 1
            self.last_error = exc
            _log.error("fast ARSN state not written (%s)", exc)
        with self._cond:
            self._pending = dict(values)
            self._cond.notify()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything saved so far is durable; False if that took too long."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending is None and not self._busy,
                                       timeout)

    def close(self) -> None:
        self.flush()
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._writer.join(5)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _write_loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending is not None or self._closed)
                if self._pending is None:
                    return
                self._busy = True
            # Let the frame's replies go out first: this thread's Python work would otherwise
            # take the interpreter from the reply path (and a burst is coalesced meanwhile).
            time.sleep(_DURABLE_DELAY_S)
            with self._cond:
                pending, self._pending = self._pending, None
            try:
                if pending is not None:
                    self._inner.save(pending)
            except OSError as exc:
                self.failures += 1
                self.last_error = exc
                _log.error("ARSN state not persisted (%s): a power cut could re-open the "
                           "latest frames to replay", exc)
            with self._cond:
                self._busy = False
                self._cond.notify_all()


class ArsnCounter:
    """The sender's ARSNs per SPI: strictly increasing, persisted ahead in blocks."""

    def __init__(self, store: ArsnStore, *, reserve: int = 32) -> None:
        if isinstance(reserve, bool) or not isinstance(reserve, int) or reserve < 1:
            raise ValueError(f"reserve must be an int >= 1, got {reserve!r}")
        self._store = store
        self._reserve = reserve
        self._reserved = store.load()  # spi -> highest value persisted as possibly used
        self._issued = dict(self._reserved)  # spi -> highest value handed out

    def next(self, spi: int) -> int:
        """The next ARSN for ``spi`` (the first is 1); persisted before it is returned."""
        value = self._issued.get(spi, 0) + 1
        if value > MAX_ARSN:
            raise ArsnExhaustedError(f"SPI {spi} has used all 2**32 - 1 ARSNs; change the key")
        if value > self._reserved.get(spi, 0):
            reserved = dict(self._reserved)
            reserved[spi] = min(value + self._reserve - 1, MAX_ARSN)
            self._store.save(reserved)  # raises before anything is handed out
            self._reserved = reserved
        self._issued[spi] = value
        return value

    def skip_to(self, spi: int, arsn: int) -> None:
        """Make the next ARSN at least ``arsn + 1``: recovery when the saved state was lost."""
        check_uint("arsn", arsn, MAX_ARSN)
        if arsn > self._issued.get(spi, 0):
            reserved = {**self._reserved, spi: max(arsn, self._reserved.get(spi, 0))}
            self._store.save(reserved)
            self._reserved = reserved
            self._issued[spi] = arsn


def _parse_state(obj: Any) -> dict[int, int]:
    """Validate the saved document; anything unexpected is an :class:`ArsnStoreError`."""
    if not isinstance(obj, dict) or obj.get("format") != _FORMAT:
        raise ArsnStoreError(f"ARSN state has an unknown layout: {obj!r:.80}")
    values = obj.get("arsn")
    if not isinstance(values, dict):
        raise ArsnStoreError("ARSN state has no 'arsn' map")
    out: dict[int, int] = {}
    try:
        for key, value in values.items():
            if not isinstance(key, str) or not key.isdigit():
                raise ValueError(f"SPI key {key!r}")
            out[check_uint("spi", int(key), 0xFFFF)] = check_uint("arsn", value, MAX_ARSN)
    except ValueError as exc:
        raise ArsnStoreError(f"ARSN state is malformed: {exc}") from exc
    return out
