"""What durability and self-checking cost a checkpoint: CheckpointStore against a raw write.

For payloads of 1, 8 and 32 MiB (random bytes) the same run alternates, rep by rep and in
alternating order:

* **raw** (the baseline): create a file, write the payload, flush, fsync, close — the least any
  durable write of those bytes costs on this file system;
* **store**: ``CheckpointStore.save(payload)`` — SHA-256 of the payload (on a second thread,
  overlapping the write and its flush), a header, write to a temp file, fsync, ``os.replace``,
  fsync of the directory, pruning to 3 generations (in the background from 1 MiB on).

Medians are compared; the target is store ≥ 80 % of raw throughput at the sizes job checkpoints
have (8 MiB and up; 1 MiB is reported, its fixed costs weigh more than throughput). Restore is
measured too: ``CheckpointStore.load()`` (read, header CRC, SHA-256 of the payload) against a
plain read of the same file, both from the page cache as after a process restart.

To explain a gap the report also times the pieces the raw write does not do, each on its own:
SHA-256 of the payload, unlinking an old file of the same size (the store prunes one generation
per save once it holds three) and an fsync of the directory.

The files go to a fresh directory next to the default run directory (``$SUNLIT_RUN_DIR``'s
parent, else ``$XDG_RUNTIME_DIR``, else the temp directory) — the file system checkpoints
live on — and the report names that file system.

Run: ``.venv/bin/python -m bench.checkpoint [--quick]``.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import BenchResult, Check, md_table, median

NAME = "checkpoint"
TARGET = 0.80
TARGET_FROM_MIB = 8
MIB = 1024 * 1024
SIZES_MIB = (1, 8, 32)
GENERATIONS = 3


def file_system(path: Path) -> str:
    """'mount point (type)' of the file system holding ``path``, from /proc/mounts."""
    best, kind = "", "unknown"
    try:
        with open("/proc/mounts", encoding="utf-8") as mounts:
            for line in mounts:
                fields = line.split()
                if len(fields) >= 3:
                    point = fields[1].replace("\\040", " ")
                    inside = str(path) == point or str(path).startswith(point.rstrip("/") + "/")
                    if inside and len(point) >= len(best):
                        best, kind = point, fields[2]
    except OSError:
        pass
    return f"{best or '?'} ({kind})"


@contextmanager
def bench_dir() -> Iterator[Path]:
    """A fresh directory on the file system of the default run directory."""
    from flight.bus import default_run_dir

    parent = default_run_dir().parent
    if not parent.is_dir():
        parent = Path(tempfile.gettempdir())
    path = Path(tempfile.mkdtemp(prefix="slb-ckpt-", dir=parent))
    os.chmod(path, 0o700)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def raw_write(path: Path, payload: bytes) -> None:
    """The baseline: the bytes, durably, in a new file."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with open(fd, "wb") as f:
        f.write(payload)
        f.flush()
        os.fsync(f.fileno())


def raw_read(path: Path) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def measure(directory: Path, size_mib: int, reps: int) -> dict[str, float]:
    """Median seconds of each operation for one payload size (reps interleaved)."""
    from flight.checkpoint import CheckpointStore
    from flight.checkpoint.store import fsync_directory

    payload = os.urandom(size_mib * MIB)
    store_dir = directory / f"store-{size_mib}"
    raw_dir = directory / f"raw-{size_mib}"
    raw_dir.mkdir()
    store = CheckpointStore(store_dir, "bench", generations=GENERATIONS,
                            max_bytes=max(64 * MIB, 2 * len(payload)))
    # One untimed round of each, so first-file effects (directory blocks, allocation) do not
    # land in either column; then whatever earlier work left dirty goes to storage, so its
    # writeback does not land in either column either.
    store.save(payload)
    raw_write(raw_dir / "warm", payload)
    store.wait_background()
    os.sync()
    times: dict[str, list[float]] = {k: [] for k in ("raw", "store", "load", "read", "sha256",
                                                     "dir_fsync", "unlink")}
    saved: list[Path] = []

    def save() -> None:
        saved.append(store.save(payload).path)

    def interleaved(rep: int, first: tuple[str, Callable[[], object]],
                    second: tuple[str, Callable[[], object]]) -> None:
        for key, fn in (first, second) if rep % 2 == 0 else (second, first):
            times[key].append(_timed(fn))
            # The store frees its oldest generation in the background; let that finish, untimed,
            # so it neither slows the raw write that may come next nor hides in its column.
            store.wait_background()

    for rep in range(reps):
        target = raw_dir / f"raw-{rep}"
        interleaved(rep, ("raw", functools.partial(raw_write, target, payload)), ("store", save))
        # Keep as many raw files as the store keeps generations: the same directory load.
        old = raw_dir / f"raw-{rep - GENERATIONS + 1}"
        if old.exists():
            times["unlink"].append(_timed(old.unlink))
        interleaved(rep, ("load", store.load), ("read", functools.partial(raw_read, saved[-1])))
        times["sha256"].append(_timed(lambda: hashlib.sha256(payload).hexdigest()))
        times["dir_fsync"].append(_timed(lambda: fsync_directory(store_dir)))
    loaded = store.load()
    assert loaded is not None and loaded.payload == payload
    return {key: median(values) if values else 0.0 for key, values in times.items()}


def run(sizes_mib: tuple[int, ...] = SIZES_MIB, reps: int = 15,
        verbose: bool = True) -> BenchResult:
    started = time.monotonic()
    rows, load_rows, checks = [], [], []
    with bench_dir() as directory:
        where = f"{directory.parent} on {file_system(directory)}"
        for size in sizes_mib:
            m = measure(directory, size, reps)
            mb = size * MIB / 1e6

            def rate(seconds: float, mb: float = mb) -> str:
                return f"{mb / seconds:,.0f}"

            ratio = m["raw"] / m["store"]
            if verbose:
                print(f"  [{NAME}] {size:3d} MiB: raw {m['raw'] * 1e3:7.1f} ms, store "
                      f"{m['store'] * 1e3:7.1f} ms, ratio {ratio:.2f}", file=sys.stderr)
            rows.append([f"{size} MiB", f"{m['raw'] * 1e3:.1f}", rate(m["raw"]),
                         f"{m['store'] * 1e3:.1f}", rate(m["store"]), f"{ratio:.2f}",
                         f"{(m['store'] - m['raw']) * 1e3:.1f}", f"{m['sha256'] * 1e3:.1f}",
                         f"{m['unlink'] * 1e3:.1f}", f"{m['dir_fsync'] * 1e3:.2f}"])
            load_rows.append([f"{size} MiB", f"{m['read'] * 1e3:.1f}", rate(m["read"]),
                              f"{m['load'] * 1e3:.1f}", rate(m["load"]),
                              f"{m['read'] / m['load']:.2f}"])
            # Job checkpoints are megabytes; below that fixed costs (a directory fsync, a
            # thread) weigh more than throughput, so the smallest size is reported only.
            targeted = size >= TARGET_FROM_MIB
            checks.append(Check(NAME, f"checkpoint save {size} MiB (MB/s)", rate(m["store"]),
                                f"{rate(m['raw'])} (write + fsync)", f"{ratio:.2f}",
                                f">= {TARGET:.2f}" if targeted else "- (info)",
                                ratio >= TARGET or not targeted))
            checks.append(Check(NAME, f"checkpoint load {size} MiB (MB/s)", rate(m["load"]),
                                f"{rate(m['read'])} (plain read)",
                                f"{m['read'] / m['load']:.2f}", "- (info)", True))
    lines = [f"## Checkpoint store ({NAME})", "",
             f"Files in {where}; {reps} interleaved reps per size, medians; random payloads; "
             f"{GENERATIONS} generations kept (the baseline keeps as many files).", "",
             md_table(["payload", "raw ms", "raw MB/s", "store ms", "store MB/s",
                       "store ÷ raw", "extra ms", "sha256 ms", "unlink ms", "dir fsync ms"],
                      rows), "",
             "extra = store - raw. The store also hashes the payload (sha256), removes the "
             "generation that falls out of the kept ones (unlink: what deleting a file of that "
             "size costs, timed on the baseline's own old files, which its column leaves out) "
             "and fsyncs the directory twice (after the rename and after pruning).", "",
             "Restore (page cache warm, as after a process restart):", "",
             md_table(["payload", "read ms", "read MB/s", "load ms", "load MB/s",
                       "load ÷ read"], load_rows)]
    return BenchResult(NAME, "Checkpoint store", "\n".join(lines), checks,
                       seconds=time.monotonic() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.checkpoint", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 and 8 MiB, 3 reps")
    parser.add_argument("--reps", type=int, default=15)
    args = parser.parse_args(argv)
    result = run((1, 8), 3) if args.quick else run(SIZES_MIB, max(1, args.reps))
    print(result.markdown)
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
