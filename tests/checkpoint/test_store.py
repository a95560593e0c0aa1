"""File-system tests of the checkpoint store: atomicity, fallback and robustness to garbage.

Every test works on a real directory, because the properties that matter (rename atomicity,
torn temp files, what a SIGKILL leaves behind) only exist on a real file system.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import random
import re
import signal
import stat
import struct
import subprocess
import sys
import textwrap
import time
import zlib
from pathlib import Path

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import flight.checkpoint.store as store_module
from flight.checkpoint import (
    HEADER_MAX,
    MAGIC,
    CheckpointStore,
    GenerationInfo,
    LoadResult,
    Rejection,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
NAME = "state"


def ckpt_files(directory: Path, name: str = NAME) -> list[Path]:
    pattern = re.compile(re.escape(name) + r"\.\d{10}\.ckpt")
    return sorted(p for p in directory.iterdir() if pattern.fullmatch(p.name))


def temp_files(directory: Path) -> list[Path]:
    return sorted(directory.glob(".*.tmp"))


def gen_path(directory: Path, generation: int, name: str = NAME) -> Path:
    return directory / f"{name}.{generation:010d}.ckpt"


def build_file(header: dict[str, object] | bytes, payload: bytes = b"") -> bytes:
    """Assemble a file in the on-disk format (valid header CRC) around an arbitrary header."""
    raw = header if isinstance(header, bytes) else msgpack.packb(header, use_bin_type=True)
    return MAGIC + struct.pack(">II", len(raw), zlib.crc32(raw)) + raw + payload


def manifest(generation: int, payload: bytes, /, **overrides: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "generation": generation,
        "sha256": hashlib.sha256(payload).hexdigest(),
        "size": len(payload),
        "time": 1.5,
    }
    fields.update(overrides)
    return fields


def load_ok(store: CheckpointStore) -> LoadResult:
    result = store.load()
    assert result is not None, store.last_rejections
    return result


# ---------------------------------------------------------------------- basics


def test_round_trip(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, NAME)
    info = store.save(b"hello orbit")

    assert isinstance(info, GenerationInfo)
    assert info.generation == 1
    assert info.path == gen_path(tmp_path, 1)
    assert info.size == len(b"hello orbit")
    assert info.sha256 == hashlib.sha256(b"hello orbit").hexdigest()
    assert stat.S_IMODE(info.path.stat().st_mode) == 0o600

    result = load_ok(CheckpointStore(tmp_path, NAME))
    assert result.payload == b"hello orbit"
    assert result.info == info
    assert result.rejected == ()


def test_empty_payload_round_trips(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, NAME)
    store.save(b"")
    assert load_ok(store).payload == b""


def test_empty_directory_loads_none(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, NAME)
    assert store.load() is None
    assert store.last_rejections == ()
    assert store.list_generations() == []


def test_keeps_n_generations_and_removes_older(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, NAME, generations=3)
    for i in range(6):
        store.save(f"payload {i}".encode())

    assert ckpt_files(tmp_path) == [gen_path(tmp_path, g) for g in (4, 5, 6)]
    assert [info.generation for info in store.list_generations()] == [6, 5, 4]
    assert load_ok(store).payload == b"payload 5"
    assert temp_files(tmp_path) == []


def test_generation_numbers_continue_across_instances(tmp_path: Path) -> None:
    seen = []
    for i in range(4):
        seen.append(CheckpointStore(tmp_path, NAME, generations=2).save(bytes([i])).generation)
    assert seen == [1, 2, 3, 4]
    assert load_ok(CheckpointStore(tmp_path, NAME)).info.generation == 4


def test_stores_with_different_names_share_a_directory(tmp_path: Path) -> None:
    a = CheckpointStore(tmp_path, "a")
    ab = CheckpointStore(tmp_path, "a.0000000001")
    for i in range(5):
        a.save(b"a%d" % i)
        ab.save(b"ab%d" % i)
    assert load_ok(a).payload == b"a4"
    assert load_ok(ab).payload == b"ab4"
    assert len(ckpt_files(tmp_path, "a")) == 3
    assert len(ckpt_files(tmp_path, "a.0000000001")) == 3


def test_directory_created_with_mode_0700(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)
    try:
        target = tmp_path / "deep" / "ckpt"
        CheckpointStore(target, NAME)
    finally:
        os.umask(old_umask)
    assert target.is_dir()
    assert stat.S_IMODE(target.stat().st_mode) == 0o700


@pytest.mark.parametrize("generations", [0, 1, -3, True])
def test_rejects_too_few_generations(tmp_path: Path, generations: int) -> None:
    with pytest.raises(ValueError, match="generations"):
        CheckpointStore(tmp_path, NAME, generations=generations)


@pytest.mark.parametrize("name", ["", "a/b", "..", "spa ce", "ümlaut", "x" * 201])
def test_rejects_bad_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="name"):
        CheckpointStore(tmp_path, name)


def test_payload_size_limit(tmp_path: Path) -> None:
    big = CheckpointStore(tmp_path, NAME, max_bytes=1000)
    with pytest.raises(ValueError, match="limit"):
        big.save(b"x" * 1001)
    assert ckpt_files(tmp_path) == [] and temp_files(tmp_path) == []

    big.save(b"y" * 100)
    big.save(b"x" * 1000)
    small = CheckpointStore(tmp_path, NAME, max_bytes=500)
    result = load_ok(small)
    assert result.payload == b"y" * 100
    assert [r.generation for r in result.rejected] == [2]
    assert "exceeds limit" in result.rejected[0].reason


@pytest.mark.parametrize("failing", ["fsync_directory", "_prune"])
def test_housekeeping_failure_after_the_rename_does_not_fail_the_save(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    """Once os.replace has put the generation in place, save() must report it as saved.

    Raising would make the caller answer FAILED for state the next boot will load.
    """
    store = CheckpointStore(tmp_path, NAME, generations=2)
    store.save(b"one")
    store.save(b"two")

    def broken(*_args: object) -> None:
        raise OSError(errno.EIO, "Input/output error")

    if failing == "_prune":
        monkeypatch.setattr(store, "_prune", broken)
    else:
        monkeypatch.setattr(store_module, "fsync_directory", broken)
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("sunlit.checkpoint")
    logger.addHandler(handler)
    try:
        info = store.save(b"three")
    finally:
        logger.removeHandler(handler)

    assert info.generation == 3 and info.path == gen_path(tmp_path, 3)
    assert load_ok(CheckpointStore(tmp_path, NAME)).payload == b"three"
    assert any(r.levelno == logging.WARNING and "generation 3 saved" in r.getMessage()
               for r in records), records


def test_failure_before_the_rename_still_fails_the_save(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = CheckpointStore(tmp_path, NAME)
    store.save(b"one")

    def broken(*_args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store_module.os, "replace", broken)
    with pytest.raises(OSError, match="No space"):
        store.save(b"two")
    monkeypatch.undo()
    assert load_ok(store).payload == b"one"
    assert temp_files(tmp_path) == []


# ---------------------------------------------------------------------- torn writes, fallback


def test_torn_temp_file_is_ignored_and_cleaned_up_by_load(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, NAME)
    store.save(b"good")
    torn = tmp_path / f".{NAME}.2.{os.getpid()}.tmp"
    torn.write_bytes(MAGIC + b"\x00\x00")

    result = load_ok(CheckpointStore(tmp_path, NAME))
    assert result.payload == b"good"
    assert result.rejected == ()
    assert not torn.exists()


def test_torn_temp_of_dead_process_is_cleaned_up_by_save(tmp_path: Path) -> None:
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        check=True,
        text=True,
    )
    dead_pid = int(child.stdout)
    torn = tmp_path / f".{NAME}.1.{dead_pid}.tmp"
    torn.write_bytes(b"partial")

    info = CheckpointStore(tmp_path, NAME).save(b"fresh")
    assert info.generation == 1
    assert not torn.exists()


def test_temp_of_live_foreign_process_is_left_alone(tmp_path: Path) -> None:
    """A reader must not delete a temp that a concurrent writer is about to rename."""
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        in_flight = tmp_path / f".{NAME}.1.{sleeper.pid}.tmp"
        in_flight.write_bytes(b"being written")
        assert CheckpointStore(tmp_path, NAME).load() is None
        assert in_flight.exists()
    finally:
        sleeper.kill()
        sleeper.wait()
    assert CheckpointStore(tmp_path, NAME).load() is None
    assert not in_flight.exists()


def test_truncated_newest_falls_back(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, NAME)
    store.save(b"A" * 1000)
    newest = store.save(b"B" * 1000)
    with open(newest.path, "r+b") as f:
        f.truncate(newest.path.stat().st_size - 10)

    result = load_ok(CheckpointStore(tmp_path, NAME))
    assert result.payload == b"A" * 1000
    assert result.info.generation == 1
    assert result.rejected == (Rejection(newest.path, 2, result.rejected[0].reason),)
    assert "truncated payload" in result.rejected[0].reason


def test_corrupt_newest_is_never_reused_and_older_intact_kept(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, NAME, generations=2)
    for i in range(3):
        store.save(b"gen%d" % (i + 1))
    gen_path(tmp_path, 3).write_bytes(b"garbage")

    fresh = CheckpointStore(tmp_path, NAME, generations=2)
    assert load_ok(fresh).info.generation == 2
    info = fresh.save(b"gen4")
    assert info.generation == 4
    # Two intact generations (4 and 2) kept; the damaged 3 stays for diagnosis; 1 is pruned.
    assert ckpt_files(tmp_path) == [gen_path(tmp_path, g) for g in (2, 3, 4)]
    fresh.save(b"gen5")
    assert ckpt_files(tmp_path) == [gen_path(tmp_path, g) for g in (4, 5)]


def test_all_generations_corrupt_returns_none(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, NAME)
    infos = [store.save(b"p%d" % i) for i in range(3)]
    infos[0].path.write_bytes(b"")
    infos[1].path.write_bytes(b"NOTMAGIC" + b"\x00" * 50)
    data = bytearray(infos[2].path.read_bytes())
    data[-1] ^= 0x01
    infos[2].path.write_bytes(bytes(data))

    assert store.load() is None
    rejections = store.last_rejections
    assert [r.generation for r in rejections] == [3, 2, 1]
    assert [r.reason for r in rejections] == ["digest mismatch", "bad magic", "empty file"]
    assert store.list_generations() == []
    assert store.load_object() is None


def test_unexpected_names_are_ignored(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, NAME)
    store.save(b"real")
    for junk in (
        "notes.txt",
        f"{NAME}.12.ckpt",
        f"{NAME}.00000000099.ckpt",
        f"{NAME}.0000000099.ckpt.bak",
        "other.0000000099.ckpt",
        f".{NAME}.x.1.tmp",
    ):
        (tmp_path / junk).write_bytes(b"junk")

    result = load_ok(store)
    assert result.payload == b"real" and result.rejected == ()
    assert store.save(b"next").generation == 2
    assert (tmp_path / f".{NAME}.x.1.tmp").exists()  # not ours to delete


def test_non_regular_files_with_checkpoint_names_are_rejected(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, NAME)
    good = store.save(b"good")
    gen_path(tmp_path, 5).mkdir()
    gen_path(tmp_path, 6).symlink_to(good.path)
    os.mkfifo(gen_path(tmp_path, 7))

    result = load_ok(store)
    assert result.payload == b"good"
    assert [(r.generation, r.reason) for r in result.rejected] == [
        (7, "not a regular file"),
        (6, "not a regular file"),
        (5, "not a regular file"),
    ]
    # The highest name seen counts, even though it is not a usable file.
    assert store.save(b"after").generation == 8


def test_renamed_file_is_rejected_for_generation_mismatch(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, NAME)
    store.save(b"one")
    two = store.save(b"two")
    two.path.rename(gen_path(tmp_path, 9))

    result = load_ok(store)
    assert result.payload == b"one"
    assert "generation mismatch" in result.rejected[0].reason


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty file"),
        (MAGIC[:5], "truncated magic"),
        (b"SLC", "truncated magic"),
        (b"XX", "bad magic"),
        (MAGIC + b"\x00\x00", "truncated header length"),
        (MAGIC + struct.pack(">II", 0xFFFFFFFF, 0), "out of range"),
        (MAGIC + struct.pack(">II", HEADER_MAX + 1, 0), "out of range"),
        (MAGIC + struct.pack(">II", 0, 0), "out of range"),
        (MAGIC + struct.pack(">II", 100, 0) + b"\x80" * 10, "truncated header"),
        (MAGIC + struct.pack(">II", 1, 0) + b"\x80", "header checksum mismatch"),
        (build_file(b"\xc1"), "header does not decode"),
        (build_file(b"\x81\xa1a"), "header does not decode"),
        (build_file(b"\x80\x80"), "header does not decode"),
        (build_file([1, 2]), "not a map"),  # type: ignore[arg-type]
        (build_file(manifest(2, b"x", size=-1)), "'size'"),
        (build_file(manifest(2, b"x", size=True)), "'size'"),
        (build_file(manifest(2, b"x", generation="2")), "'generation'"),
        (build_file(manifest(2, b"x", sha256="AB" * 32), b"x"), "'sha256'"),
        (build_file(manifest(2, b"x", time=float("nan")), b"x"), "'time'"),
        (build_file(manifest(2, b"x", time=None), b"x"), "'time'"),
        (build_file(manifest(3, b"x"), b"x"), "generation mismatch"),
        (build_file(manifest(2, b"x", size=2**40), b"x"), "exceeds limit"),
        (build_file(manifest(2, b"x" * 10), b"x" * 9), "truncated payload"),
        (build_file(manifest(2, b"x"), b"xy"), "trailing data"),
        (build_file(manifest(2, b"x"), b"y"), "digest mismatch"),
    ],
)
def test_rejection_reasons(tmp_path: Path, content: bytes, reason: str) -> None:
    store = CheckpointStore(tmp_path, NAME, max_bytes=1 << 20)
    store.save(b"older")
    gen_path(tmp_path, 2).write_bytes(content)

    result = load_ok(store)
    assert result.payload == b"older"
    assert len(result.rejected) == 1
    assert result.rejected[0].generation == 2
    assert reason in result.rejected[0].reason


def test_hand_built_file_is_accepted(tmp_path: Path) -> None:
    """The format documented in docs/checkpoint.md is the whole format: nothing hidden."""
    store = CheckpointStore(tmp_path, NAME)
    store.save(b"older")
    gen_path(tmp_path, 2).write_bytes(build_file(manifest(2, b"by hand", extra="ok"), b"by hand"))
    result = load_ok(store)
    assert result.payload == b"by hand"
    assert result.info.time == 1.5


# ---------------------------------------------------------------------- msgpack objects


def test_object_round_trip(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, NAME)
    state = {"mode": "safe", "counters": [1, 2, 3], "blob": b"\x00\xff", 7: {"x": 1.25}}
    store.save_object(state)
    loaded = store.load_object()
    assert loaded is not None
    obj, result = loaded
    assert obj == state
    assert result.info.generation == 1


def test_object_that_would_not_load_is_refused_at_save(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, NAME)
    with pytest.raises(ValueError, match="round trip"):
        store.save_object({(1, 2): "tuple key"})
    with pytest.raises(ValueError, match="msgpack"):
        store.save_object(object())
    assert ckpt_files(tmp_path) == []


def test_undecodable_object_payload_falls_back(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, NAME)
    store.save_object({"v": 1})
    store.save(b"\xc1 not msgpack")
    loaded = store.load_object()
    assert loaded is not None
    obj, result = loaded
    assert obj == {"v": 1}
    assert result.rejected[0].generation == 2
    assert "payload does not decode" in result.rejected[0].reason
    # The raw view still sees the newest file as intact: only the decoding failed.
    assert load_ok(store).info.generation == 2


# ---------------------------------------------------------------------- property tests

OLDER = b"the older generation " * 3
NEWER = b"the newer generation, which will be damaged " * 2


@pytest.fixture(scope="module")
def two_generations(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    directory = tmp_path_factory.mktemp("two_generations")
    store = CheckpointStore(directory, NAME)
    store.save(OLDER)
    newest = store.save(NEWER)
    return directory, newest.path.read_bytes()


def _load_after_replacing_newest(directory: Path, content: bytes) -> LoadResult:
    gen_path(directory, 2).write_bytes(content)
    result = CheckpointStore(directory, NAME).load()  # must not raise, whatever the content
    assert result is not None
    return result


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_flipped_byte_falls_back(
    two_generations: tuple[Path, bytes], data: st.DataObject
) -> None:
    directory, pristine = two_generations
    position = data.draw(st.integers(0, len(pristine) - 1), label="position")
    mask = data.draw(st.integers(1, 255), label="xor mask")
    damaged = bytearray(pristine)
    damaged[position] ^= mask

    result = _load_after_replacing_newest(directory, bytes(damaged))
    assert result.payload == OLDER
    assert result.info.generation == 1
    assert len(result.rejected) == 1
    assert result.rejected[0].generation == 2
    assert result.rejected[0].reason


def _header_like() -> st.SearchStrategy[bytes]:
    """msgpack headers with a correct CRC, so the decoder and type checks get exercised."""
    values = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**63), 2**64 - 1),
        st.floats(),
        st.text(max_size=80),
        st.binary(max_size=80),
        st.lists(st.integers(-(2**63), 2**63 - 1), max_size=3),
    )
    keys = st.sampled_from(["generation", "sha256", "size", "time", "other"])
    return st.dictionaries(keys, values, max_size=5).map(
        lambda h: msgpack.packb(h, use_bin_type=True)
    )


def _garbage(pristine: bytes) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=512),
        st.binary(max_size=512).map(lambda tail: MAGIC + tail),
        st.tuples(
            st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.binary(max_size=256)
        ).map(lambda t: MAGIC + struct.pack(">II", t[0], t[1]) + t[2]),
        st.tuples(st.binary(max_size=256), st.binary(max_size=256)).map(
            lambda t: build_file(t[0], t[1])
        ),
        st.tuples(_header_like(), st.binary(max_size=64)).map(lambda t: build_file(*t)),
        st.integers(0, len(pristine) - 1).map(lambda n: pristine[:n]),
        st.binary(min_size=1, max_size=64).map(lambda tail: pristine + tail),
    )


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_arbitrary_bytes_never_raise(
    two_generations: tuple[Path, bytes], data: st.DataObject
) -> None:
    directory, pristine = two_generations
    content = data.draw(_garbage(pristine), label="newest file content")

    result = _load_after_replacing_newest(directory, content)
    if content == pristine:
        assert result.info.generation == 2
    else:
        assert result.payload == OLDER
        assert result.rejected[0].generation == 2
        assert result.rejected[0].reason


# ---------------------------------------------------------------------- real SIGKILL

CHILD = textwrap.dedent(
    """
    import hashlib, struct, sys
    from flight.checkpoint import CheckpointStore

    def make_payload(seq):
        block = hashlib.sha256(struct.pack(">Q", seq)).digest()
        return struct.pack(">Q", seq) + block * ({size} // 32)

    store = CheckpointStore(sys.argv[1], "state", generations=3)
    seq = int(sys.argv[2])
    while True:
        store.save(make_payload(seq))
        print(seq, flush=True)
        seq += 1
    """
)
CHILD_PAYLOAD = 4 * 1024 * 1024


def make_payload(seq: int) -> bytes:
    block = hashlib.sha256(struct.pack(">Q", seq)).digest()
    return struct.pack(">Q", seq) + block * (CHILD_PAYLOAD // 32)


def test_sigkill_mid_save_leaves_an_intact_generation(tmp_path: Path) -> None:
    rng = random.Random()
    seed = rng.randrange(2**32)
    rng.seed(seed)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    code = CHILD.format(size=CHILD_PAYLOAD)

    for round_no in range(6):
        start = (round_no + 1) * 1_000_000
        child = subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path), str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=REPO_ROOT,
        )
        assert child.stdout is not None
        first = child.stdout.readline()
        assert first, f"child died early: {child.communicate()[1].decode()}"
        # Somewhere in the next few saves, most likely in the middle of a write.
        pause = rng.uniform(0.0, 0.12)
        time.sleep(pause)
        os.kill(child.pid, signal.SIGKILL)
        rest, _ = child.communicate()
        assert child.returncode == -signal.SIGKILL
        acked = [int(line) for line in (first + rest).split()]
        last_ack = max(acked)

        store = CheckpointStore(tmp_path, NAME)
        result = store.load()
        assert result is not None, (seed, store.last_rejections)
        seq = struct.unpack(">Q", result.payload[:8])[0]
        assert result.payload == make_payload(seq), seed
        # The newest acknowledged save survives; at most one more finished before the kill.
        assert last_ack <= seq <= last_ack + 1, (seed, last_ack, seq)
        assert result.rejected == (), seed
        assert temp_files(tmp_path) == [], seed  # the torn temp (if any) was cleaned up
        assert len(ckpt_files(tmp_path)) <= 4, seed  # killed between rename and prune at worst


@pytest.mark.parametrize("extra", [0, 1, 4093])
def test_a_large_payload_written_a_chunk_at_a_time_comes_back_whole(tmp_path: Path,
                                                                    extra: int) -> None:
    """Large payloads are written in writeback-sized chunks with their hash on a second
    thread; every byte, the tail of a partial last chunk included, must land and verify."""
    payload = random.Random(extra).randbytes(3 * store_module._WRITEBACK_CHUNK + extra)
    store = CheckpointStore(tmp_path, NAME)
    info = store.save(payload)
    assert info.sha256 == hashlib.sha256(payload).hexdigest()
    loaded = CheckpointStore(tmp_path, NAME).load()
    assert loaded is not None and loaded.payload == payload


def test_a_refused_writeback_hint_changes_nothing_but_speed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object) -> None:
        raise OSError(errno.ESPIPE, "no advice here")

    monkeypatch.setattr(store_module.os, "posix_fadvise", refuse)
    payload = random.Random(7).randbytes(2 * store_module._WRITEBACK_CHUNK + 17)
    CheckpointStore(tmp_path, NAME).save(payload)
    loaded = CheckpointStore(tmp_path, NAME).load()
    assert loaded is not None and loaded.payload == payload
