"""The ground archive under stress: foreign and damaged files, schema versions, batching and
crashes, a reader beside a writer, and random values."""

from __future__ import annotations

import itertools
import math
import os
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ground.archive as archive_module
from ground.archive import SCHEMA_VERSION, Archive, ArchiveError, flatten

T0 = 1_748_781_296.789
REPO = Path(__file__).resolve().parents[2]


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        time.sleep(0.01)


def make_archive(path: Path, rows: int = 50) -> None:
    with Archive(path) as a:
        for i in range(rows):
            a.record_packet("down", bytes(100), t_ground=T0 + i)
            a.record_values(T0 + i, "power", {f"c{k}": float(k) for k in range(20)})


# ---------------------------------------------------------------------------- foreign files


@pytest.mark.parametrize("content", [
    b"hello, this is a text file\n" * 10,
    os.urandom(4096),
    b"SQLite format 3\x00" + os.urandom(4080),  # the magic, then garbage
])
def test_a_file_that_is_not_a_database_is_refused_and_left_alone(tmp_path: Path,
                                                                 content: bytes) -> None:
    path = tmp_path / "thing.sqlite"
    path.write_bytes(content)
    for readonly in (False, True):
        with pytest.raises(ArchiveError, match=r"not a Sunlit archive|damaged"):
            Archive(path, readonly=readonly)
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thing.sqlite"]


def test_another_applications_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE customers (name TEXT)")
    before = path.read_bytes()
    with pytest.raises(ArchiveError, match="not a Sunlit archive; tables: customers"):
        Archive(path)
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA application_id = 1234")
    with pytest.raises(ArchiveError, match="another application"):
        Archive(path, readonly=True)
    assert len(path.read_bytes()) == len(before)


def test_missing_empty_and_directory_paths(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="no such file"):
        Archive(tmp_path / "missing.sqlite", readonly=True)
    (tmp_path / "empty.sqlite").touch()
    with pytest.raises(ArchiveError, match="empty"):
        Archive(tmp_path / "empty.sqlite", readonly=True)
    with Archive(tmp_path / "empty.sqlite") as a:  # an empty file becomes a new archive
        a.record_values(T0, "power", {"soc": 1.0})
    with pytest.raises(ArchiveError, match="directory"):
        Archive(tmp_path)
    with pytest.raises(ArchiveError, match="cannot open"):
        Archive(tmp_path / "no" / "such" / "dir" / "a.sqlite")


def test_a_damaged_archive_gives_archive_errors(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite"
    make_archive(path, rows=200)
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) > 8 * page
    for offset in range(3 * page, len(data) - page, 2 * page):  # keep page 1 (the schema)
        data[offset:offset + page] = os.urandom(page)
    path.write_bytes(bytes(data))
    with pytest.raises(ArchiveError, match="damaged"), Archive(path, readonly=True) as a:
        assert a.check() != []
        a.values()
        a.packets()
        a.counts()


def test_a_truncated_archive_gives_archive_errors(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite"
    make_archive(path, rows=200)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ArchiveError, match="damaged"), Archive(path, readonly=True) as a:
        assert a.check() != []
        a.values()
        a.packets()


def test_use_after_close_and_writes_to_a_readonly_archive(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite"
    a = Archive(path)
    a.close()
    a.close()
    with pytest.raises(ArchiveError, match="closed"):
        a.values()
    with pytest.raises(ArchiveError, match="closed"):
        a.record_values(T0, "power", {"x": 1})
    with Archive(path, readonly=True) as r, pytest.raises(ArchiveError, match="read-only"):
        r.record_values(T0, "power", {"x": 1})


# ---------------------------------------------------------------------------- schema version


def _set_version(path: Path, version: int) -> None:
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO schema_version VALUES (?, 0, 'future')", (version,))


def test_a_newer_schema_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite"
    make_archive(path, rows=1)
    _set_version(path, SCHEMA_VERSION + 1)
    for readonly in (False, True):
        with pytest.raises(ArchiveError, match=f"schema version {SCHEMA_VERSION + 1} is newer"):
            Archive(path, readonly=readonly)


def test_an_older_schema_is_upgraded_when_opened_for_writing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.sqlite"
    make_archive(path, rows=3)

    def add_notes(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE notes (text TEXT)")

    monkeypatch.setattr(archive_module, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with pytest.raises(ArchiveError, match="older than this software"):
        Archive(path, readonly=True)
    with pytest.raises(ArchiveError, match=f"no upgrade from schema version {SCHEMA_VERSION}"):
        Archive(path)
    monkeypatch.setitem(archive_module._MIGRATIONS, SCHEMA_VERSION, add_notes)
    with Archive(path) as a:
        assert a.meta()["schema_version"] == str(SCHEMA_VERSION + 1)
        assert a.counts().values == 60
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM notes").fetchone() == (0,)


def test_a_missing_schema_version_table_is_damage(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite"
    make_archive(path, rows=1)
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE schema_version")
    with pytest.raises(ArchiveError, match="schema_version table is missing"):
        Archive(path)


# ---------------------------------------------------------------------------- durability


def test_rows_are_committed_per_batch_and_on_flush(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite"
    with Archive(path, batch_size=10, flush_interval=None) as writer, \
            Archive(path, readonly=True) as reader:
        for i in range(25):
            writer.record_values(T0 + i, "power", {"soc": i})
        assert reader.counts().values == 20  # two full batches; five rows still open
        writer.flush()
        assert reader.counts().values == 25
        writer.record_values(T0, "power", {"soc": 99})
        assert len(writer.values()) == 26  # a writer's own queries see its open batch


def test_the_background_flusher_bounds_the_delay(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite"
    with Archive(path, flush_interval=0.05) as writer, Archive(path, readonly=True) as reader:
        writer.record_values(T0, "power", {"soc": 1.0})
        started = time.monotonic()
        wait_for(lambda: reader.counts().values == 1, timeout=5.0)
        assert time.monotonic() - started < 2.0


def test_a_crash_loses_only_the_open_batch(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite"
    script = textwrap.dedent(f"""
        import os
        from ground.archive import Archive
        a = Archive({str(path)!r}, batch_size=1000, flush_interval=None)
        for i in range(1500):          # one full batch committed, 500 rows open
            a.record_values({T0} + i, "power", {{"soc": i}})
        a.record_packet("down", b"kept", t_ground={T0})
        a.flush()                      # 501 more committed
        for i in range(300):           # open, lost in the crash
            a.record_values({T0} + i, "thermal", {{"chip": i}})
        os._exit(0)                    # no close(), no atexit: a crash
    """)
    subprocess.run([sys.executable, "-c", script], cwd=REPO, check=True, timeout=60)
    with Archive(path, readonly=True) as a:
        counts = a.counts()
        assert (counts.values, counts.packets) == (1500, {"down": {"ok": 1}})
        assert a.values("thermal") == []
        assert a.check() == []


def test_close_at_interpreter_exit_commits(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite"
    script = textwrap.dedent(f"""
        from ground.archive import Archive
        a = Archive({str(path)!r}, batch_size=1000, flush_interval=None)
        a.record_values({T0}, "power", {{"soc": 1.0}})
    """)  # never closed: atexit does it
    subprocess.run([sys.executable, "-c", script], cwd=REPO, check=True, timeout=60)
    with Archive(path, readonly=True) as a:
        assert a.counts().values == 1


def test_a_full_disk_loses_the_open_batch_and_the_archive_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite"
    with Archive(path, batch_size=100_000, flush_interval=None) as archive:
        archive.record_values(T0, "power", {"kept": 1.0})
        archive.flush()
        assert archive._writer is not None
        pages = archive._writer.execute("PRAGMA page_count").fetchone()[0]
        archive._writer.execute(f"PRAGMA max_page_count = {pages + 2}")  # "the disk is full"
        with pytest.raises(ArchiveError, match="batch lost"):
            for i in range(10_000):
                archive.record_values(T0 + i, "thermal", {f"t{k}": "x" * 50 for k in range(30)})
        assert archive.lost_rows > 0
        archive._writer.execute("PRAGMA max_page_count = 1073741823")  # space again
        archive.record_values(T0 + 1, "thermal", {"after": 2.0})
        assert [(v.channel, v.value) for v in archive.values()] == [("kept", 1.0),
                                                                    ("after", 2.0)]
        assert archive.channels("thermal") == [("thermal", "after")]
        assert archive.check() == []


def test_two_writers_share_one_archive(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite"
    with Archive(path, flush_interval=None) as a, Archive(path, flush_interval=None) as b:
        for i in range(5):
            a.record_values(T0 + i, "power", {"soc": i, f"only_a{i}": i})
            a.flush()  # a second writer waits while a batch is open, so hand over
            b.record_values(T0 + i + 0.5, "power", {"soc": -i, f"only_b{i}": i})
            b.flush()
        soc = [v.value for v in a.values("power", "soc")]
        assert soc == [0, 0, 1, -1, 2, -2, 3, -3, 4, -4]
        assert len(b.channels("power")) == 11


# ---------------------------------------------------------------------------- threads


def test_readers_run_while_a_thread_writes(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite"
    packets, per_packet = 400, 30
    errors: list[BaseException] = []
    seen_by_reader: list[int] = []
    done = threading.Event()

    with Archive(path, batch_size=500, flush_interval=0.02) as archive:

        def write() -> None:
            try:
                for i in range(packets):
                    pid = archive.record_packet("down", bytes(64), t_ground=T0 + i)
                    archive.record_values(T0 + i, "power",
                                          {f"c{k}": i * k for k in range(per_packet)},
                                          packet_id=pid)
                    if i % 50 == 0:
                        archive.record_event(T0 + i, "power", "TICK", 1, "", {"i": i})
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)
            finally:
                done.set()

        def read_same_object() -> None:  # e.g. the console, in the station's process
            try:
                while not done.is_set():
                    latest = archive.latest("power", "c1")
                    assert latest is None or latest.value == latest.t_onboard - T0
                    archive.values("power", "c2", since=T0, limit=10)
            except BaseException as exc:  # pragma: no cover
                errors.append(exc)

        def read_other_process_style() -> None:  # e.g. the CLI: its own readonly archive
            try:
                with Archive(path, readonly=True) as reader:
                    last = 0
                    while not done.is_set():
                        n = reader.counts().values
                        assert n >= last and n % per_packet == 0  # whole packets only
                        seen_by_reader.append(n)
                        last = n
                        reader.events(min_severity=1)
            except BaseException as exc:  # pragma: no cover
                errors.append(exc)

        threads = [threading.Thread(target=f) for f in
                   (write, read_same_object, read_other_process_style)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not errors, errors
        assert archive.counts().values == packets * per_packet
    assert seen_by_reader  # the reader really ran beside the writer


# ---------------------------------------------------------------------------- random values


names = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
    st.binary(max_size=8))
trees = st.recursive(
    scalars,
    lambda children: st.one_of(st.dictionaries(names, children, max_size=4),
                               st.lists(children, max_size=3)),
    max_leaves=12)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return type(a) is type(b) and a == b and (
        not isinstance(a, float) or math.copysign(1, a) == math.copysign(1, b))


@pytest.fixture(scope="module")
def shared() -> Iterator[Archive]:
    """One archive for every example: a new file per example would spend the time on fsync."""
    with tempfile.TemporaryDirectory() as tmp, Archive(Path(tmp) / "h.sqlite") as archive:
        yield archive


_example = itertools.count()


@settings(max_examples=60, deadline=None)
@given(app=names, values=st.dictionaries(names, trees, max_size=6),
       t=st.floats(min_value=0, max_value=2**32, allow_nan=False))
def test_any_values_round_trip_exactly(shared: Archive, app: str, values: dict[str, Any],
                                       t: float) -> None:
    app = f"{next(_example)}/{app}"  # each example's values apart from the others'
    expected = list(flatten(values))
    assert shared.record_values(t, app, values) == len(expected)
    rows = shared.values(app)
    assert [v.t_onboard for v in rows] == [t] * len(expected)
    assert [v.channel for v in rows] == [name for name, _ in expected]
    for (name, value), row in zip(expected, rows, strict=True):
        assert _same(value, row.value), (name, value, row.value)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(min_value=0, max_value=1e6, allow_nan=False),
                          st.integers(0, 3)), min_size=1, max_size=30))
def test_replay_order_is_ground_time_then_arrival(shared: Archive,
                                                  packets: list[tuple[float, int]]) -> None:
    base = 1e7 * (1 + next(_example))  # each example in its own stretch of time
    times = [base + t for t, _ in packets]
    ids = [shared.record_packet("down", bytes([k]), t_ground=t)
           for t, (_, k) in zip(times, packets, strict=True)]
    expected = [i for _, i in sorted(zip(times, ids, strict=True))]
    assert [r.id for r in shared.replay(since=base, until=base + 2e6, chunk=3)] == expected
    lo, hi = min(times), max(times)
    t_of = dict(zip(ids, times, strict=True))
    assert [r.id for r in shared.replay(since=lo, until=hi)] == [
        i for i in expected if t_of[i] < hi]
