"""The onboard checkpoint store: durable, self-checking generations of an app's state.

A satellite loses power, browns out or has its flight process SIGKILLed by the watchdog at any
instant, and radiation flips bits in storage. The store therefore has to guarantee two things:
a save either lands completely or not at all, and a load never hands back damaged state and never
crashes, whatever it finds on disk. It does this with one self-describing file per generation,
written atomically, and a load that verifies every byte and falls back to older generations.

On-disk layout of ``{name}.{generation:010d}.ckpt`` (all integers big-endian)::

    magic       8 bytes   b"SLCKPT01"
    header_len  4 bytes   length of the msgpack header, 1 .. HEADER_MAX
    header_crc  4 bytes   CRC-32 of the header bytes
    header      msgpack   {"generation": int, "sha256": hex str, "size": int, "time": float}
    payload     size bytes, whose SHA-256 is header["sha256"]

The header CRC exists because the payload digest alone does not cover the manifest: a flipped bit
in ``time`` would otherwise go unnoticed, and a flipped bit in ``size`` or ``generation`` could
only be caught indirectly. With it, every single corrupted byte anywhere in the file is detected.

See ``docs/checkpoint.md`` for the prose version and the reasons behind each rule.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import math
import os
import re
import stat
import struct
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack

__all__ = [
    "HEADER_MAX",
    "MAGIC",
    "CheckpointStore",
    "GenerationInfo",
    "LoadResult",
    "Rejection",
]

#: Under ``sunlit`` so that housekeeping warnings land in the owning app's JSON log.
_log = logging.getLogger("sunlit.checkpoint")

#: Identifies a Sunlit checkpoint file and its format version; a new layout gets a new magic.
MAGIC = b"SLCKPT01"
#: Upper bound on the msgpack header, so a corrupt length field can never make us allocate much.
HEADER_MAX = 4096

_PREAMBLE = struct.Struct(">8sII")  # magic, header_len, header_crc
_NAME_RE = re.compile(r"[A-Za-z0-9_.-]+")
# Room for ".", 20 digits, ".", a pid and ".tmp"/".ckpt" inside the usual 255-byte NAME_MAX.
_NAME_MAX_LEN = 200
_HEX64_RE = re.compile(r"[0-9a-f]{64}")
_DEFAULT_MAX_BYTES = 64 * 1024 * 1024
#: From this payload size on, hashing overlaps the write and old generations are freed in the
#: background; below it a thread would cost more than it saves.
_OVERLAP_BYTES = 1 << 20
#: How much of a large payload is copied before its writeback is started (see write_hashing):
#: 1 MiB measured best on ext4 over virtio (512 KiB to 4 MiB all within a few percent).
_WRITEBACK_CHUNK = 1 << 20


@dataclass(frozen=True)
class GenerationInfo:
    """The manifest of one intact generation, as read back from (or written to) disk."""

    generation: int
    path: Path
    size: int
    sha256: str
    time: float


@dataclass(frozen=True)
class Rejection:
    """Why a checkpoint file was not used, so the caller can emit a "checkpoint fallback" event."""

    path: Path
    generation: int | None
    reason: str


@dataclass(frozen=True)
class LoadResult:
    """The payload of the newest intact generation and the newer files that had to be skipped."""

    payload: bytes
    info: GenerationInfo
    rejected: tuple[Rejection, ...]


class _Rejected(Exception):
    """Internal: a file failed verification; carries the human-readable reason."""


class CheckpointStore:
    """Atomic, verified, multi-generation storage of one named blob in one directory.

    The store assumes a single writer per ``(directory, name)``; within a process an instance is
    safe to share between threads (a lock serialises its operations). Readers in other processes
    are fine: they only ever see complete files, because files appear by ``os.replace``.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        name: str,
        *,
        generations: int = 3,
        max_bytes: int = _DEFAULT_MAX_BYTES,
    ) -> None:
        if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
            raise ValueError(f"checkpoint name must match [A-Za-z0-9_.-]+, got {name!r}")
        if set(name) == {"."}:
            raise ValueError(f"checkpoint name must not consist of dots only, got {name!r}")
        if len(name) > _NAME_MAX_LEN:
            raise ValueError(f"checkpoint name longer than {_NAME_MAX_LEN} characters")
        # bool is an int subclass; True generations would be a typo, not a request for 1.
        if isinstance(generations, bool) or not isinstance(generations, int) or generations < 2:
            raise ValueError(f"generations must be an int >= 2, got {generations!r}")
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
            raise ValueError(f"max_bytes must be an int >= 0, got {max_bytes!r}")

        self._dir = Path(directory)
        self._name = name
        self._generations = generations
        self._max_bytes = max_bytes
        self._ckpt_re = re.compile(re.escape(name) + r"\.(\d{10,20})\.ckpt")
        self._tmp_re = re.compile(r"\." + re.escape(name) + r"\.(\d{1,20})\.(\d{1,20})\.tmp")
        self._lock = threading.Lock()
        self._last_rejections: tuple[Rejection, ...] = ()
        # Highest generation this instance has written, in case files vanish under us.
        self._last_saved = 0
        # Generation -> stat signature of files known to be intact, so pruning after each save
        # does not have to re-read and re-hash every kept generation.
        self._known_intact: dict[int, tuple[int, int, int, int]] = {}
        self._pruner: threading.Thread | None = None
        self._pruned = False  # this instance has pruned at least once

        if not self._dir.exists():
            # State may hold keys or operator data; nobody but the flight user should read it.
            os.makedirs(self._dir, mode=0o700, exist_ok=True)
            os.chmod(self._dir, 0o700)  # makedirs' mode is filtered through the umask

    # ------------------------------------------------------------------ public API

    @property
    def directory(self) -> Path:
        """The directory the generations live in."""
        return self._dir

    @property
    def name(self) -> str:
        """The checkpoint name, the stem of every file this store owns."""
        return self._name

    @property
    def last_rejections(self) -> tuple[Rejection, ...]:
        """Files the most recent ``load``/``load_object`` skipped, newest first."""
        return self._last_rejections

    def save(self, payload: bytes, *, at_least: int = 0) -> GenerationInfo:
        """Durably write ``payload`` as a new generation, then prune old generations.

        The generation is the next after every one on disk, and at least ``at_least`` (so two
        stores saved in lockstep keep numbering alike, whichever one failed a save).

        Raises ``ValueError`` when the payload exceeds ``max_bytes`` and ``OSError`` when the
        file system fails; in both cases no partial file is left behind under a final name.
        """
        view = memoryview(payload).cast("B")
        size = view.nbytes
        if size > self._max_bytes:
            raise ValueError(f"checkpoint payload is {size} bytes, limit is {self._max_bytes}")
        self.wait_background()
        if not self._pruned:  # generations a killed predecessor left unpruned go first, so a
            self._prune_logged(0)  # crash during background pruning never adds up
        with self._lock:
            entries, temps = self._scan()
            self._remove_stale_temps(temps)
            highest = max([gen for gen, _ in entries], default=0)
            generation = max(highest + 1, self._last_saved + 1, at_least)
            stamp = time.time()

            def header_for(digest: str) -> bytes:
                return msgpack.packb(
                    {"generation": generation, "sha256": digest, "size": size, "time": stamp},
                    use_bin_type=True,
                )

            final = self._dir / f"{self._name}.{generation:010d}.ckpt"
            tmp = self._dir / f".{self._name}.{generation}.{os.getpid()}.tmp"
            digest = self._write_durably(tmp, header_for, view)
            try:
                # Atomic on POSIX: readers see the old directory entry or the complete new file.
                os.replace(tmp, final)
            except BaseException:
                _unlink_quietly(tmp)
                raise
            self._last_saved = generation
            info = GenerationInfo(generation, final, size, digest, stamp)
            # From here on the new generation is in place and the next load will find it, so a
            # failure must not make save() report failure: the caller would answer FAILED for
            # state that is in fact saved. It is logged instead.
            try:
                # The rename lives in the directory; without this a power cut can undo it.
                fsync_directory(self._dir)
            except OSError as exc:
                _log.warning("checkpoint %s: generation %d saved, but fsync of %s failed: %s",
                             self._name, generation, self._dir, exc)
            try:
                self._known_intact[generation] = _signature(os.lstat(final))
            except OSError as exc:
                _log.warning("checkpoint %s: generation %d saved, but not found again: %s",
                             self._name, generation, exc)
        if size >= _OVERLAP_BYTES:
            # Freeing a large old generation costs milliseconds of extent bookkeeping; it
            # need not delay the caller (the next operation on the store waits for it).
            self._pruner = threading.Thread(target=self._prune_logged, args=(generation,),
                                            name=f"prune-{self._name}", daemon=True)
            self._pruner.start()
        else:
            self._prune_logged(generation)
        return info

    def _prune_logged(self, generation: int) -> None:
        with self._lock:
            self._pruned = True
            try:
                self._prune()
            except OSError as exc:
                _log.warning("checkpoint %s: generation %d saved, but pruning old generations "
                             "failed: %s", self._name, generation, exc)

    def wait_background(self) -> None:
        """Wait until the background pruning of the last save (if any) has finished."""
        pruner = self._pruner
        if pruner is not None:
            pruner.join()
            self._pruner = None

    def load(self) -> LoadResult | None:
        """Return the newest intact generation, falling back past damaged newer files.

        Returns ``None`` when no intact generation exists; ``last_rejections`` then says why.
        Never raises because of file contents.
        """
        found = self._load(None)
        return None if found is None else found[1]

    def list_generations(self) -> list[GenerationInfo]:
        """Every intact generation on disk, newest first (reads and verifies each one)."""
        with self._lock:
            entries, _ = self._scan()
            intact: list[GenerationInfo] = []
            for generation, path in entries:
                try:
                    _, info = self._read(path, generation)
                except _Rejected:
                    continue
                intact.append(info)
            return intact

    def save_object(self, obj: Any) -> GenerationInfo:
        """Save ``obj`` encoded as msgpack (see :func:`encode_object`)."""
        return self.save(encode_object(obj))

    def highest_generation(self) -> int:
        """The highest generation number on disk or saved by this process (0: none), intact
        or not: what the next save must go beyond."""
        with self._lock:
            entries, _ = self._scan()
            return max([gen for gen, _ in entries] + [self._last_saved])

    def load_object(self) -> tuple[Any, LoadResult] | None:
        """Load the newest generation whose payload is intact *and* decodes as msgpack.

        A payload that passes the digest check but does not decode (written by something other
        than ``save_object``) is treated like any other damage: rejected, and older ones tried.
        """
        return self._load(_unpack_payload)

    # ------------------------------------------------------------------ loading

    def _load(self, decode: Callable[[bytes], Any] | None) -> tuple[Any, LoadResult] | None:
        """Shared body of ``load`` and ``load_object``; ``decode`` adds a payload check."""
        with self._lock:
            try:
                entries, temps = self._scan()
            except FileNotFoundError:
                entries, temps = [], []
            self._remove_stale_temps(temps)
            rejected: list[Rejection] = []
            for generation, path in entries:
                try:
                    payload, info = self._read(path, generation)
                    obj = None
                    if decode is not None:
                        try:
                            obj = decode(payload)
                        except Exception as exc:  # any decoder failure means unusable content
                            raise _Rejected(f"payload does not decode: {exc}") from exc
                except _Rejected as exc:
                    rejected.append(Rejection(path, generation, str(exc)))
                    continue
                self._last_rejections = tuple(rejected)
                return obj, LoadResult(payload, info, tuple(rejected))
            self._last_rejections = tuple(rejected)
            return None

    def _read(self, path: Path, generation: int) -> tuple[bytes, GenerationInfo]:
        """Read and fully verify one generation file; raises ``_Rejected`` with the reason."""
        try:
            return self._read_unchecked(path, generation)
        except _Rejected:
            raise
        except OSError as exc:
            raise _Rejected(f"unreadable: {exc.strerror or exc}") from exc
        except Exception as exc:  # last line of defence: garbage must never escape as a crash
            raise _Rejected(f"unexpected error while reading: {exc!r}") from exc

    def _read_unchecked(self, path: Path, generation: int) -> tuple[bytes, GenerationInfo]:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode):
            # Never follow links or open FIFOs/devices that happen to carry a checkpoint name.
            raise _Rejected("not a regular file")
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        fd = os.open(path, flags)
        with open(fd, "rb") as f:
            file_size = os.fstat(f.fileno()).st_size
            raw = f.read(_PREAMBLE.size)
            if not raw:
                raise _Rejected("empty file")
            if len(raw) < len(MAGIC):
                raise _Rejected("truncated magic" if MAGIC.startswith(raw) else "bad magic")
            if raw[: len(MAGIC)] != MAGIC:
                raise _Rejected("bad magic")
            if len(raw) < _PREAMBLE.size:
                raise _Rejected("truncated header length")
            _, header_len, header_crc = _PREAMBLE.unpack(raw)
            if not 1 <= header_len <= HEADER_MAX:
                raise _Rejected(f"header length {header_len} out of range 1..{HEADER_MAX}")
            header = f.read(header_len)
            if len(header) < header_len:
                raise _Rejected("truncated header")
            if zlib.crc32(header) != header_crc:
                raise _Rejected("header checksum mismatch")
            manifest = _parse_header(header)

            if manifest["generation"] != generation:
                raise _Rejected(
                    f"generation mismatch: file name says {generation}, "
                    f"header says {manifest['generation']}"
                )
            size: int = manifest["size"]
            if size > self._max_bytes:
                raise _Rejected(f"payload size {size} exceeds limit {self._max_bytes}")
            expected = _PREAMBLE.size + header_len + size
            if file_size < expected:
                raise _Rejected(f"truncated payload: file has {file_size} of {expected} bytes")
            if file_size > expected:
                raise _Rejected(f"trailing data: {file_size - expected} bytes after payload")
            payload = f.read(size)
            if len(payload) < size or f.read(1):
                raise _Rejected("file changed size while being read")
        if hashlib.sha256(payload).hexdigest() != manifest["sha256"]:
            raise _Rejected("digest mismatch")
        self._known_intact[generation] = _signature(st)
        info = GenerationInfo(generation, path, size, manifest["sha256"], manifest["time"])
        return payload, info

    # ------------------------------------------------------------------ directory housekeeping

    def _scan(self) -> tuple[list[tuple[int, Path]], list[tuple[int, Path]]]:
        """List this store's generation files (newest first) and temp files (with their pid).

        Only canonical names count: ``0000000001`` is generation 1, but ``01`` or an 11-digit
        ``00000000001`` is someone else's file and is left alone, so two spellings can never
        claim the same generation.
        """
        entries: list[tuple[int, Path]] = []
        temps: list[tuple[int, Path]] = []
        for entry in os.scandir(self._dir):
            match = self._ckpt_re.fullmatch(entry.name)
            if match is not None:
                generation = int(match.group(1))
                if f"{generation:010d}" == match.group(1):
                    entries.append((generation, Path(entry.path)))
                continue
            match = self._tmp_re.fullmatch(entry.name)
            if match is not None:
                temps.append((int(match.group(2)), Path(entry.path)))
        entries.sort(key=lambda item: item[0], reverse=True)
        return entries, temps

    def _remove_stale_temps(self, temps: list[tuple[int, Path]]) -> None:
        """Delete temp files torn by a crash; keep those of another live process.

        A temp file of our own pid is stale because the lock is held and no save is in flight.
        A temp of another live pid may be a concurrent save (e.g. a ground tool loading while
        the flight process writes); deleting it would make that save fail, so it waits until
        that process is gone. It is ignored by ``load`` either way.
        """
        me = os.getpid()
        for pid, path in temps:
            if pid != me and _pid_alive(pid):
                continue
            _unlink_quietly(path)

    def _prune(self) -> None:
        """Keep the newest ``generations`` *intact* generations and delete everything older.

        Counting intact files rather than files means damaged newer files cannot push the last
        good states out; damaged files newer than the oldest kept one stay for diagnosis and age
        out as new saves arrive.
        """
        entries, _ = self._scan()
        intact = 0
        removed = False
        for generation, path in entries:
            if intact >= self._generations:
                self._known_intact.pop(generation, None)
                removed = _unlink_quietly(path) or removed
            elif self._is_intact(generation, path):
                intact += 1
        if removed:
            fsync_directory(self._dir)

    def _is_intact(self, generation: int, path: Path) -> bool:
        try:
            signature = _signature(os.lstat(path))
        except OSError:
            return False
        if self._known_intact.get(generation) == signature:
            return True
        try:
            self._read(path, generation)
        except _Rejected:
            self._known_intact.pop(generation, None)
            return False
        return True

    def _write_durably(self, tmp: Path, header_for: Callable[[str], bytes],
                       payload: memoryview) -> str:
        """Write preamble, header and payload to a fresh temp file and fsync it; return the
        payload's SHA-256. The temp file is removed again on any failure.

        The header holds the payload's digest but has a fixed length (the digest is always 64
        hex characters), so for a large payload the digest is computed on a second thread
        (hashlib releases the GIL) while the payload is written at its offset and flushed to
        storage; then the header goes in front and a second, small fsync follows. A save then
        costs about what the write and its fsync cost, not that plus the hash.
        """
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            offset = _PREAMBLE.size + len(header_for("0" * 64))
            digest = write_hashing(fd, payload, offset)
            header = header_for(digest)
            if _PREAMBLE.size + len(header) != offset:
                raise AssertionError("checkpoint header changed length")
            _pwrite_all(fd, memoryview(_PREAMBLE.pack(MAGIC, len(header), zlib.crc32(header))
                                       + header), 0)
            os.fsync(fd)  # kernel -> storage, before the rename makes it visible
        except BaseException:
            os.close(fd)
            _unlink_quietly(tmp)
            raise
        os.close(fd)
        return digest


# ---------------------------------------------------------------------- helpers


def encode_object(obj: Any) -> bytes:
    """``obj`` as msgpack, decoded again with the exact options ``load_object`` uses before it
    is written: an object that would not come back (a tuple used as a dict key, say) fails
    here with ``ValueError`` instead of silently turning into a fallback at the next boot."""
    try:
        packed = msgpack.packb(obj, use_bin_type=True)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"object cannot be encoded as msgpack: {exc}") from exc
    try:
        _unpack_payload(packed)
    except Exception as exc:  # whatever msgpack raises, the object does not round-trip
        raise ValueError(f"object does not survive a msgpack round trip: {exc}") from exc
    return bytes(packed)


def write_hashing(fd: int, payload: memoryview, offset: int = 0) -> str:
    """Write ``payload`` at ``offset`` of ``fd``; return its SHA-256 (hex).

    From ``_OVERLAP_BYTES`` on, two things overlap that a plain write-then-fsync does one after
    the other. The digest is computed on a second thread (hashlib releases the GIL) while the
    bytes are written. And the bytes go out a ``_WRITEBACK_CHUNK`` at a time, each chunk handed
    to the device as soon as it is in the page cache (``start_writeback``), so the device writes
    one megabyte while the next is copied and the final ``fdatasync`` waits only for the tail.
    A durable write then costs about the copy or the hash, whichever is longer, plus the last
    chunk's flush. The caller still fsyncs the file before making it visible.
    """
    if payload.nbytes < _OVERLAP_BYTES:
        _pwrite_all(fd, payload, offset)
        return hashlib.sha256(payload).hexdigest()
    hashed: list[str] = []
    hasher = threading.Thread(target=lambda: hashed.append(hashlib.sha256(payload).hexdigest()),
                              name="sha256")
    hasher.start()
    try:
        for start in range(0, payload.nbytes, _WRITEBACK_CHUNK):
            chunk = payload[start:start + _WRITEBACK_CHUNK]
            _pwrite_all(fd, chunk, offset + start)
            start_writeback(fd, offset + start, chunk.nbytes)
        os.fdatasync(fd)  # the tail reaches storage while the hash finishes
    finally:
        hasher.join()
    return hashed[0]


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing a just-written range to storage, without waiting.

    On Linux ``POSIX_FADV_DONTNEED`` first starts asynchronous writeback of the range's dirty
    pages (``mm/fadvise.c``), then drops only the pages that are already clean; pages still
    dirty or under writeback stay, nearer reclaim. It is a hint: where it is missing or refused
    nothing changes but speed, since durability still comes from the fsync that follows.
    """
    advise = getattr(os, "posix_fadvise", None)
    if advise is None:
        return
    with contextlib.suppress(OSError):
        advise(fd, offset, length, os.POSIX_FADV_DONTNEED)


def _pwrite_all(fd: int, data: memoryview, offset: int) -> None:
    """``pwrite`` until every byte is written (a large write may be cut short)."""
    done = 0
    while done < data.nbytes:
        done += os.pwrite(fd, data[done:], offset + done)


def _parse_header(header: bytes) -> dict[str, Any]:
    """Decode and type-check the manifest; raises ``_Rejected`` on anything unexpected."""
    try:
        manifest = msgpack.unpackb(
            header,
            raw=False,
            strict_map_key=True,
            max_str_len=HEADER_MAX,
            max_bin_len=HEADER_MAX,
            max_array_len=HEADER_MAX,
            max_map_len=HEADER_MAX,
            max_ext_len=HEADER_MAX,
        )
    except Exception as exc:  # msgpack raises a zoo of types on garbage
        raise _Rejected(f"header does not decode: {exc}") from exc
    if not isinstance(manifest, dict):
        raise _Rejected("malformed header: not a map")
    # Unknown keys are ignored so a later writer can add fields without a new magic.
    for key in ("generation", "size"):
        value = manifest.get(key)
        if type(value) is not int or value < 0:
            raise _Rejected(f"malformed header: {key!r} is not a non-negative int")
    digest = manifest.get("sha256")
    if not isinstance(digest, str) or not _HEX64_RE.fullmatch(digest):
        raise _Rejected("malformed header: 'sha256' is not 64 lowercase hex digits")
    stamp = manifest.get("time")
    if isinstance(stamp, bool) or not isinstance(stamp, (int, float)) or not math.isfinite(stamp):
        raise _Rejected("malformed header: 'time' is not a finite number")
    manifest["time"] = float(stamp)
    return manifest


def _unpack_payload(payload: bytes) -> Any:
    """Decode a ``save_object`` payload with limits no larger than the payload itself."""
    n = len(payload)
    return msgpack.unpackb(
        payload,
        raw=False,
        use_list=True,
        # Int keys ({generation: ...}) are common in app state; save_object checks round trips.
        strict_map_key=False,
        max_str_len=n,
        max_bin_len=n,
        max_array_len=n,
        max_map_len=n // 2,
        max_ext_len=n,
    )


def _signature(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _pid_alive(pid: int) -> bool:
    if pid <= 0:  # kill(0, ...) would address our own process group
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except (OverflowError, ValueError, OSError):
        return False
    return True


def _unlink_quietly(path: Path) -> bool:
    """Remove ``path``; housekeeping failures are logged, never fatal. True when removed."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        _log.warning("checkpoint: could not remove %s: %s", path, exc)
        return False
    return True


def fsync_directory(directory: Path) -> None:
    """Make a new or renamed directory entry durable (tolerated where the file system can't)."""
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    except OSError as exc:
        # Some file systems cannot fsync a directory; the rename is as durable as they allow.
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)
