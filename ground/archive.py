"""The ground archive: every packet sent and received, and every value decoded from them, in SQLite.

One archive is one SQLite file (``docs/archive.md`` describes the schema and the guarantees)::

    with Archive("pass-0412.sqlite") as archive:
        pid = archive.record_packet("down", raw, t_ground=time.time(), apid=0x13, service=3,
                                    subtype=25, seq=7, t_onboard=stamp)
        archive.record_values(stamp, "power", {"soc": 0.81, "loads": {"gpu": True}},
                              packet_id=pid)
        archive.latest("power", "loads.gpu")            # ValueRow(... value=True ...)

**Writing is batched.** Every record goes into an open write transaction that is committed when
it holds ``batch_size`` rows, when ``flush_interval`` seconds have passed (a background thread
commits an idle batch), on :meth:`Archive.flush` and on :meth:`Archive.close`. A process crash
therefore loses at most the open batch: fewer than ``batch_size`` rows, recorded within the last
``flush_interval`` seconds. Power loss can also cost commits that the OS had not yet written
(``synchronous="NORMAL"``, the default); ``synchronous="FULL"`` makes every commit durable.

**Threads and processes.** The archive is in WAL mode. An :class:`Archive` has one writer
connection, guarded by a lock: any thread may call ``record_*`` and ``flush``. Queries may run in
any thread at the same time as writes: each thread gets its own read connection, and WAL lets
readers see the last committed state while the writer appends. A query on a writing archive
first commits that archive's open batch, so it sees everything recorded through it. Another
process (the CLI, a notebook) opens ``Archive(path, readonly=True)`` and sees every committed
row, at most ``flush_interval`` behind the writer.

**Values.** A value is ``None``, a bool, an int, a float, a str or bytes; a nested mapping is
flattened as ``channel.key`` (a list as ``channel.0``, ``channel.1``, ...). Non-finite floats are
stored as SQL NULL with a kind code that says which (nan, inf, -inf), so SQL aggregates skip
them and reads give back the same float. Each value keeps its Python type exactly.

Errors: a file that is not a Sunlit archive, is damaged, has a newer schema, or cannot be read or
written raises :class:`ArchiveError` (never a bare ``sqlite3`` error). Bad arguments raise
``ValueError`` or ``TypeError`` before anything is written.
"""

from __future__ import annotations

import atexit
import csv
import datetime
import json
import logging
import math
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any, Literal

from flight.link import DEFAULT_MAX_SIZE, LinkError, Telecommand, TelemetryPacket

__all__ = [
    "APPLICATION_ID",
    "SCHEMA_VERSION",
    "SEVERITIES",
    "Archive",
    "ArchiveError",
    "CommandRow",
    "Counts",
    "EventRow",
    "PacketRow",
    "ValueRow",
    "VerificationRow",
    "flatten",
    "format_value",
    "pace",
    "stage_of",
]

log = logging.getLogger(__name__)

#: The schema this code writes. Older archives are upgraded when opened for writing; newer ones
#: are refused (their meaning is unknown to this code).
SCHEMA_VERSION = 1
#: ``PRAGMA application_id`` of every archive: "SLGA", Sunlit Ground Archive. It tells an archive
#: from any other SQLite file before a single byte is written to it.
APPLICATION_ID = 0x534C4741
#: Deepest nesting :func:`flatten` follows (protects against self-referencing mappings).
MAX_DEPTH = 16

Direction = Literal["up", "down"]
TimeBound = float | datetime.datetime | None

#: Upgrades: ``_MIGRATIONS[n]`` turns a version-``n`` archive into version ``n + 1``. Each runs in
#: the transaction that also records the new version, so an upgrade is all or nothing.
_MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {}

_SCHEMA = """
CREATE TABLE schema_version (
    version     INTEGER PRIMARY KEY,
    applied_at  REAL NOT NULL,
    software    TEXT NOT NULL
);
CREATE TABLE meta (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL
);
CREATE TABLE packets (
    id          INTEGER PRIMARY KEY,
    direction   TEXT NOT NULL CHECK (direction IN ('up', 'down')),
    t_ground    REAL NOT NULL,
    t_onboard   REAL,
    apid        INTEGER,
    service     INTEGER,
    subtype     INTEGER,
    seq         INTEGER,
    status      TEXT NOT NULL,
    raw         BLOB NOT NULL
);
CREATE INDEX packets_by_direction ON packets (direction, t_ground);
CREATE INDEX packets_by_time ON packets (t_ground);
CREATE TABLE channels (
    id          INTEGER PRIMARY KEY,
    app         TEXT NOT NULL,
    name        TEXT NOT NULL,
    UNIQUE (app, name)
);
CREATE TABLE tlm_values (
    id          INTEGER PRIMARY KEY,
    channel_id  INTEGER NOT NULL REFERENCES channels (id),
    t_onboard   REAL NOT NULL,
    t_ground    REAL,
    value,
    kind        INTEGER NOT NULL,
    packet_id   INTEGER REFERENCES packets (id)
);
CREATE INDEX values_by_channel ON tlm_values (channel_id, t_onboard);
CREATE INDEX values_by_time ON tlm_values (t_onboard);
CREATE TABLE events (
    id          INTEGER PRIMARY KEY,
    t_onboard   REAL NOT NULL,
    t_ground    REAL,
    app         TEXT NOT NULL,
    name        TEXT NOT NULL,
    severity    INTEGER NOT NULL,
    text        TEXT NOT NULL,
    args        TEXT NOT NULL,
    packet_id   INTEGER REFERENCES packets (id)
);
CREATE INDEX events_by_time ON events (t_onboard);
CREATE INDEX events_by_app ON events (app, t_onboard);
CREATE TABLE commands (
    id          INTEGER PRIMARY KEY,
    request_id  INTEGER NOT NULL,
    t_ground    REAL NOT NULL,
    app         TEXT NOT NULL,
    name        TEXT NOT NULL,
    args        TEXT NOT NULL,
    packet_id   INTEGER REFERENCES packets (id)
);
CREATE INDEX commands_by_time ON commands (t_ground);
CREATE INDEX commands_by_request ON commands (request_id);
CREATE TABLE verifications (
    id          INTEGER PRIMARY KEY,
    command_id  INTEGER REFERENCES commands (id),
    request_id  INTEGER NOT NULL,
    t_ground    REAL NOT NULL,
    stage       TEXT NOT NULL,
    ok          INTEGER NOT NULL,
    code        INTEGER,
    step        INTEGER,
    text        TEXT,
    command     TEXT,
    packet_id   INTEGER REFERENCES packets (id)
);
CREATE INDEX verifications_by_command ON verifications (command_id);
CREATE INDEX verifications_by_request ON verifications (request_id, t_ground);
"""


class ArchiveError(Exception):
    """The archive file cannot be used: not an archive, damaged, too new, or an I/O failure."""

    def __init__(self, path: Path | str, message: str) -> None:
        super().__init__(f"archive {path}: {message}")
        self.path = Path(path)


class _Kind:
    """How a value is stored: the ``kind`` column of ``tlm_values`` (plain ints: SQLite binds
    those fastest)."""

    NULL = 0
    BOOL = 1  # stored as 0 / 1
    INT = 2  # 64-bit signed
    FLOAT = 3  # finite
    STR = 4
    BYTES = 5
    NAN = 6  # value column NULL
    POS_INF = 7  # value column NULL
    NEG_INF = 8  # value column NULL
    BIGINT = 9  # an int beyond 64 bits signed (msgpack's uint64), stored as decimal text


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

#: Event severities by number: ``flight.app.model.Severity`` (1..4 are the PUS service 5
#: report subtypes). Repeated here so that reading an archive does not import the onboard app
#: framework (and ZeroMQ); a test keeps the two in step.
SEVERITIES: dict[int, str] = {0: "DEBUG", 1: "INFO", 2: "WARNING", 3: "ERROR", 4: "CRITICAL"}
_SEVERITY_BY_NAME = {name: number for number, name in SEVERITIES.items()}

#: Service 1 subtype -> (stage, ok). Subtype 10 (failed routing) is a failed acceptance.
_STAGES: dict[int, tuple[str, bool]] = {
    1: ("accepted", True), 2: ("accepted", False),
    3: ("started", True), 4: ("started", False),
    5: ("progress", True), 6: ("progress", False),
    7: ("completed", True), 8: ("completed", False),
    10: ("routed", False),
}


def stage_of(subtype: int) -> tuple[str, bool]:
    """The ``(stage, ok)`` a TM[1, subtype] verification report stands for.

    >>> stage_of(7)
    ('completed', True)
    """
    try:
        return _STAGES[subtype]
    except KeyError:
        raise ValueError(f"TM[1,{subtype}] is not a verification report") from None


# ------------------------------------------------------------------------------- result rows


@dataclass(frozen=True, slots=True)
class PacketRow:
    """One archived packet (a telemetry packet, or a telecommand frame as it was sent)."""

    id: int
    direction: str
    t_ground: float
    t_onboard: float | None
    apid: int | None
    service: int | None
    subtype: int | None
    seq: int | None
    status: str
    raw: bytes

    def decode(self, max_size: int = DEFAULT_MAX_SIZE) -> TelemetryPacket:
        """Decode a downlink packet again (``LinkError`` if it is not a valid TM packet)."""
        return TelemetryPacket.decode(self.raw, max_size)


@dataclass(frozen=True, slots=True)
class ValueRow:
    """One telemetry value: ``value`` is the Python object recorded (NaN reads back as NaN)."""

    id: int
    t_onboard: float
    t_ground: float | None
    app: str
    channel: str
    value: Any
    packet_id: int | None


@dataclass(frozen=True, slots=True)
class EventRow:
    id: int
    t_onboard: float
    t_ground: float | None
    app: str
    name: str
    severity: int
    text: str
    args: dict[str, Any]
    packet_id: int | None

    @property
    def severity_name(self) -> str:
        return _severity_name(self.severity)


@dataclass(frozen=True, slots=True)
class VerificationRow:
    id: int
    request_id: int
    t_ground: float
    stage: str
    ok: bool
    code: int | None
    step: int | None
    text: str | None
    command: str | None
    command_id: int | None
    packet_id: int | None


@dataclass(frozen=True, slots=True)
class CommandRow:
    """A command sent, with every verification report received for it, oldest first."""

    id: int
    request_id: int
    t_ground: float
    app: str
    name: str
    args: dict[str, Any]
    packet_id: int | None
    raw: bytes | None
    stages: tuple[VerificationRow, ...]

    @property
    def status(self) -> str:
        """``"sent"`` with no report yet, ``"failed"`` after any failure report, otherwise the
        last successful stage (``"accepted"``, ``"started"``, ``"progress"``, ``"completed"``)."""
        if any(not v.ok for v in self.stages):
            return "failed"
        if any(v.stage == "completed" for v in self.stages):
            return "completed"
        return self.stages[-1].stage if self.stages else "sent"


@dataclass(frozen=True)
class Counts:
    """What an archive holds: packets by direction and status, and rows of every other kind."""

    packets: dict[str, dict[str, int]]
    channels: int
    values: int
    events: int
    commands: int
    verifications: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# ------------------------------------------------------------------------------- helpers


def flatten(values: Mapping[Any, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Yield ``(channel, scalar)`` pairs; nested mappings become ``outer.inner``.

    Lists and tuples are flattened by index (``temps.0``, ``temps.1``); empty mappings and lists
    yield nothing. Keys that are not strings are written with ``str()``.
    """
    yield from _flatten(values, prefix, 0)


def _flatten(values: Mapping[Any, Any], prefix: str, depth: int) -> Iterator[tuple[str, Any]]:
    if depth > MAX_DEPTH:
        raise ValueError(f"values nested deeper than {MAX_DEPTH} levels under {prefix!r}")
    for key, value in values.items():
        name = prefix + (key if isinstance(key, str) else str(key))
        if isinstance(value, Mapping):
            yield from _flatten(value, name + ".", depth + 1)
        elif isinstance(value, (list, tuple)):
            yield from _flatten(dict(enumerate(value)), name + ".", depth + 1)
        else:
            yield name, value


def _encode_into(values: Mapping[Any, Any], prefix: str, depth: int,
                 out: list[tuple[str, Any, int]]) -> None:
    """:func:`flatten` and :func:`_encode` in one pass, with a fast path for plain scalars."""
    if depth > MAX_DEPTH:
        raise ValueError(f"values nested deeper than {MAX_DEPTH} levels under {prefix!r}")
    append = out.append
    for key, value in values.items():
        name = prefix + key if type(key) is str else prefix + str(key)
        cls = type(value)
        if cls is float:
            if value - value == 0.0:  # finite (inf - inf and nan - nan are nan)
                append((name, value, _Kind.FLOAT))
            else:
                append((name, *_encode(name, value)))
        elif cls is int and _INT64_MIN <= value <= _INT64_MAX:
            append((name, value, _Kind.INT))
        elif isinstance(value, Mapping):
            _encode_into(value, name + ".", depth + 1, out)
        elif isinstance(value, (list, tuple)):
            _encode_into(dict(enumerate(value)), name + ".", depth + 1, out)
        else:
            append((name, *_encode(name, value)))


def _encode(name: str, value: Any) -> tuple[Any, int]:
    """(stored value, kind) of one scalar; ``TypeError`` for what the archive cannot keep."""
    cls = type(value)
    if cls is float:
        if math.isfinite(value):
            return value, _Kind.FLOAT
        if math.isnan(value):
            return None, _Kind.NAN
        return None, _Kind.POS_INF if value > 0 else _Kind.NEG_INF
    if cls is bool:
        return int(value), _Kind.BOOL
    if cls is int:
        if _INT64_MIN <= value <= _INT64_MAX:
            return value, _Kind.INT
        return str(value), _Kind.BIGINT
    if cls is str:
        return _check_text(name, value), _Kind.STR
    if value is None:
        return None, _Kind.NULL
    # Subclasses (IntEnum, str enums), bytes-likes and numpy scalars: normalise, then encode.
    if isinstance(value, bool):
        return int(value), _Kind.BOOL
    if isinstance(value, int):
        return _encode(name, int(value))
    if isinstance(value, float):
        return _encode(name, float(value))
    if isinstance(value, str):  # str.__str__: the text itself, even for a str enum member
        return _check_text(name, str.__str__(value)), _Kind.STR
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value), _Kind.BYTES
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        plain = item()
        if type(plain) in (bool, int, float, str):
            return _encode(name, plain)
    raise TypeError(f"channel {name!r}: cannot archive a value of type {cls.__name__}")


def _check_text(name: str, text: str) -> str:
    """``text`` if SQLite can store it (lone surrogates cannot be encoded as UTF-8)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"{name!r}: text that is not valid Unicode ({exc.reason})") from None
    return text


def _is_corrupt(exc: sqlite3.Error) -> bool:
    """SQLITE_CORRUPT: the file is an SQLite database, but damaged."""
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+
    if code is not None:
        return bool(code & 0xFF == 11)
    return "malformed" in str(exc)


def _decode(stored: Any, kind: int) -> Any:
    if kind == _Kind.FLOAT:
        return float(stored)
    if kind == _Kind.INT:
        return int(stored)
    if kind == _Kind.BOOL:
        return bool(stored)
    if kind == _Kind.NAN:
        return math.nan
    if kind == _Kind.POS_INF:
        return math.inf
    if kind == _Kind.NEG_INF:
        return -math.inf
    if kind == _Kind.BIGINT:
        return int(stored)
    if kind == _Kind.BYTES:
        return bytes(stored)
    return stored  # STR, NULL


def format_value(value: Any) -> str:
    """A value as text for CSV: floats exactly (``repr``), ``nan``/``inf``/``-inf``, booleans as
    ``true``/``false``, ``None`` as the empty string, bytes as hex."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    return str(value)


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "bool", int: "int", float: "float", str: "str", bytes: "bytes"}.get(
        type(value), type(value).__name__)


def _iso(t: float) -> str:
    """UTC ISO 8601 with milliseconds (CDS short's resolution), e.g. 2025-06-01T12:34:56.789Z."""
    stamp = datetime.datetime.fromtimestamp(t, tz=datetime.timezone.utc)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _jsonable(value: Any, depth: int = 0) -> Any:
    """Command and event arguments as JSON-safe values (bytes become hex, odd keys ``str``)."""
    if depth > MAX_DEPTH:
        raise ValueError(f"arguments nested deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        return {k if isinstance(k, str) else str(k): _jsonable(v, depth + 1)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, depth + 1) for v in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    item = getattr(value, "item", None)
    if callable(item):
        return _jsonable(item(), depth + 1)
    return repr(value)


def _dumps(args: Mapping[str, Any] | None) -> str:
    # NaN and Infinity are kept (Python's json reads them back), so nothing is lost.
    return json.dumps(_jsonable(dict(args or {})), sort_keys=True, separators=(",", ":"))


def _loads(text: str) -> dict[str, Any]:
    loaded = json.loads(text)
    return loaded if isinstance(loaded, dict) else {"value": loaded}


def _time(value: float, what: str) -> float:
    t = float(value)
    if not math.isfinite(t):
        raise ValueError(f"{what} must be a finite number of seconds, got {value!r}")
    return t


def _opt_time(value: float | None, what: str) -> float | None:
    return None if value is None else _time(value, what)


def _bound(value: TimeBound, what: str) -> float | None:
    """A query bound: Unix seconds or an aware datetime."""
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            raise ValueError(f"{what}: naive datetime, give a timezone-aware one")
        return value.timestamp()
    return _time(value, what)


def _severity(value: int | str) -> int:
    """A severity number from a number, a name (any case) or a ``Severity`` member."""
    if isinstance(value, str) and not isinstance(value, int):
        number = _SEVERITY_BY_NAME.get(value.upper())
        if number is None:
            names = ", ".join(SEVERITIES.values())
            raise ValueError(f"unknown severity {value!r} (one of {names})")
        return number
    number = int(value)
    if number not in SEVERITIES:
        raise ValueError(f"unknown severity {value!r} (0..4)")
    return number


def _severity_name(value: int) -> str:
    return SEVERITIES.get(value, str(value))


def _request_id(value: int | bytes) -> int:
    if isinstance(value, (bytes, bytearray)):
        if len(value) != 4:
            raise ValueError(f"a request id is 4 bytes, got {len(value)}")
        return int.from_bytes(value, "big")
    rid = int(value)
    if not 0 <= rid <= 0xFFFFFFFF:
        raise ValueError(f"request id {value!r} does not fit 32 bits")
    return rid


def _opt_int(value: int | None, what: str, limit: int) -> int | None:
    if value is None:
        return None
    n = int(value)
    if not 0 <= n <= limit:
        raise ValueError(f"{what} {value!r} is outside 0..{limit}")
    return n


def _uplink_fields(raw: bytes) -> tuple[int | None, int | None, int | None, int | None]:
    """(apid, service, subtype, seq) of a TC, plain or in an authentication envelope."""
    for candidate in (raw, raw[6:-16]):
        try:
            tc = Telecommand.decode(candidate, max_size=max(len(candidate), 1))
        except LinkError:
            continue
        return tc.apid, tc.service, tc.subtype, tc.seq_count
    return None, None, None, None


def _header_fields(raw: bytes) -> tuple[int | None, int | None, int | None, int | None]:
    """Best-effort (apid, service, subtype, seq) of a packet that failed to decode."""
    if len(raw) < 6:
        return None, None, None, None
    word0 = int.from_bytes(raw[0:2], "big")
    seq = int.from_bytes(raw[2:4], "big") & 0x3FFF
    service = subtype = None
    if (word0 >> 11) & 1 and len(raw) >= 9:
        service, subtype = raw[7], raw[8]
    return word0 & 0x7FF, service, subtype, seq


_INSERT_PACKET = ("INSERT INTO packets (direction, t_ground, t_onboard, apid, service, subtype, "
                  "seq, status, raw) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")


def _packet_params(direction: str, raw: Any, t_ground: float, apid: int | None,
                   service: int | None, subtype: int | None, seq: int | None,
                   t_onboard: float | None, status: str) -> tuple[Any, ...]:
    """The checked parameters of one ``packets`` row."""
    if direction not in ("up", "down"):
        raise ValueError(f"direction must be 'up' or 'down', got {direction!r}")
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise TypeError(f"raw must be bytes, got {type(raw).__name__}")
    if not status or not isinstance(status, str):
        raise ValueError(f"status must be a non-empty string, got {status!r}")
    return (direction, _time(t_ground, "t_ground"), _opt_time(t_onboard, "t_onboard"),
            _opt_int(apid, "apid", 0x7FF), _opt_int(service, "service", 0xFF),
            _opt_int(subtype, "subtype", 0xFF), _opt_int(seq, "seq", 0x3FFF), status,
            bytes(raw))


def _packet_row(r: Any) -> PacketRow:
    return PacketRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], bytes(r[9]))


# ------------------------------------------------------------------------------- the archive


class Archive:
    """An archive file, open for writing (the default) or ``readonly``. See the module docs.

    ``batch_size`` rows or ``flush_interval`` seconds, whichever comes first, end a batch
    (``flush_interval=None`` turns the background flusher off: then only ``batch_size``,
    :meth:`flush` and :meth:`close` commit). ``synchronous`` is SQLite's setting for the writer:
    ``"NORMAL"`` (safe against process crashes) or ``"FULL"`` (also against power loss).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        readonly: bool = False,
        batch_size: int = 5000,
        flush_interval: float | None = 0.5,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        busy_timeout: float = 10.0,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if flush_interval is not None and not flush_interval > 0:
            raise ValueError(f"flush_interval must be positive or None, got {flush_interval}")
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be 'NORMAL' or 'FULL', got {synchronous!r}")
        self.path = Path(path)
        self.readonly = readonly
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.synchronous = synchronous
        self.busy_timeout = busy_timeout
        #: Rows lost because a commit failed (disk full, I/O error); see :meth:`flush`.
        self.lost_rows = 0
        self._lock = threading.RLock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._closed = False
        self._pending = 0
        self._channels: dict[tuple[str, str], int] = {}
        self._new_channels: list[tuple[str, str]] = []
        self._writer: sqlite3.Connection | None = None
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None

        if self.path.is_dir():
            raise ArchiveError(self.path, "is a directory, not an archive file")
        if readonly:
            if not self.path.exists():
                raise ArchiveError(self.path, "no such file")
            self._reader()  # opens and checks the file now, not at the first query
        else:
            self._writer = self._open_writer()
            if flush_interval is not None:
                self._flusher = threading.Thread(
                    target=self._flush_loop, name=f"archive-flush:{self.path.name}", daemon=True)
                self._flusher.start()
            atexit.register(self.close)

    # -------------------------------------------------------------- opening and closing

    def _connect(self, readonly: bool) -> sqlite3.Connection:
        mode = "ro" if readonly else "rwc"
        uri = f"file:{urllib.parse.quote(str(self.path.absolute()))}?mode={mode}"
        try:
            return sqlite3.connect(uri, uri=True, isolation_level=None,
                                   check_same_thread=False, timeout=self.busy_timeout)
        except sqlite3.Error as exc:
            raise ArchiveError(self.path, f"cannot open: {exc}") from exc

    def _inspect(self, conn: sqlite3.Connection) -> int | None:
        """The archive's schema version, or None for an empty file; refuses foreign files."""
        try:
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            tables = {row[0] for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.Error as exc:
            if _is_corrupt(exc):
                raise ArchiveError(self.path, f"damaged: {exc}") from exc
            raise ArchiveError(self.path, f"not a Sunlit archive ({exc})") from exc
        if app_id == 0 and not tables:
            return None
        if app_id != APPLICATION_ID:
            what = (f"an SQLite database of another application (application id 0x{app_id:08x})"
                    if app_id else "an SQLite database, but not a Sunlit archive")
            raise ArchiveError(self.path, f"{what}; tables: {', '.join(sorted(tables)) or '-'}")
        if "schema_version" not in tables:
            raise ArchiveError(self.path, "damaged: the schema_version table is missing")
        try:
            version = conn.execute("SELECT max(version) FROM schema_version").fetchone()[0]
        except sqlite3.Error as exc:
            raise ArchiveError(self.path, f"damaged: {exc}") from exc
        if not isinstance(version, int):
            raise ArchiveError(self.path, "damaged: no schema version recorded")
        if version > SCHEMA_VERSION:
            raise ArchiveError(
                self.path,
                f"schema version {version} is newer than this software reads ({SCHEMA_VERSION});"
                " open it with a newer sunlit-ground")
        return version

    def _open_writer(self) -> sqlite3.Connection:
        conn = self._connect(readonly=False)
        try:
            self._inspect(conn)  # refuse a foreign file before anything is written to it
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                log.warning("archive %s: journal mode is %s, not WAL (readers may block the "
                            "writer)", self.path, mode)
            conn.execute(f"PRAGMA synchronous = {self.synchronous}")
            conn.execute("BEGIN IMMEDIATE")
            try:
                version = self._inspect(conn)  # again, now that we hold the write lock
                if version is None:
                    self._create(conn)
                elif version < SCHEMA_VERSION:
                    self._migrate(conn, version)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            self._channels = {(app, name): cid for cid, app, name in
                              conn.execute("SELECT id, app, name FROM channels")}
        except sqlite3.Error as exc:
            conn.close()
            what = "damaged" if _is_corrupt(exc) else "cannot open for writing"
            raise ArchiveError(self.path, f"{what}: {exc}") from exc
        except BaseException:
            conn.close()
            raise
        return conn

    def _create(self, conn: sqlite3.Connection) -> None:
        import ground  # the package version goes into the archive's metadata

        for statement in _SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        software = f"sunlit-ground {ground.__version__}"
        conn.execute("INSERT INTO schema_version VALUES (?, ?, ?)",
                     (SCHEMA_VERSION, time.time(), software))
        conn.executemany("INSERT INTO meta VALUES (?, ?)",
                         [("created_at", _iso(time.time())), ("created_by", software)])

    def _migrate(self, conn: sqlite3.Connection, version: int) -> None:
        import ground

        while version < SCHEMA_VERSION:
            step = _MIGRATIONS.get(version)
            if step is None:
                raise ArchiveError(self.path, f"no upgrade from schema version {version}")
            step(conn)
            version += 1
            conn.execute("INSERT INTO schema_version VALUES (?, ?, ?)",
                         (version, time.time(), f"sunlit-ground {ground.__version__}"))
            log.info("archive %s: upgraded to schema version %d", self.path, version)

    def _reader(self) -> sqlite3.Connection:
        """This thread's read connection (opened, and the file checked, on first use)."""
        self._check_open()
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        conn = self._connect(readonly=self.readonly)
        try:
            if self.readonly:
                version = self._inspect(conn)
                if version is None:
                    raise ArchiveError(self.path, "empty file, not an archive")
                if version < SCHEMA_VERSION:
                    raise ArchiveError(
                        self.path, f"schema version {version} is older than this software reads "
                        f"({SCHEMA_VERSION}); open it once for writing to upgrade it")
            conn.execute("PRAGMA query_only = ON")
        except sqlite3.Error as exc:
            conn.close()
            raise ArchiveError(self.path, f"cannot read: {exc}") from exc
        except BaseException:
            conn.close()
            raise
        self._local.conn = conn
        with self._readers_lock:
            self._readers.append(conn)
        return conn

    def _check_open(self) -> None:
        if self._closed:
            raise ArchiveError(self.path, "is closed")

    def close(self) -> None:
        """Commit the open batch and close every connection. Safe to call twice."""
        if self._closed:
            return
        self._stop.set()
        if self._flusher is not None and self._flusher is not threading.current_thread():
            self._flusher.join()
        try:
            with self._lock:
                if self._closed:  # another thread closed it meanwhile
                    return
                self._closed = True  # a record_* call waiting for the lock now finds it closed
                if self._writer is not None:
                    try:
                        self._commit()
                    finally:
                        self._writer.close()
                        self._writer = None
        finally:
            with self._readers_lock:
                for conn in self._readers:
                    conn.close()
                self._readers.clear()
            if not self.readonly:
                atexit.unregister(self.close)

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("readonly" if self.readonly else "writing")
        return f"<Archive {str(self.path)!r} {state}>"

    # -------------------------------------------------------------- transactions

    def _write(self) -> sqlite3.Connection:
        """The writer connection inside an open batch (call with the lock held)."""
        self._check_open()
        if self._writer is None:
            raise ArchiveError(self.path, "is open read-only")
        if not self._writer.in_transaction:
            try:
                self._writer.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise ArchiveError(self.path, f"cannot start a write: {exc}") from exc
        return self._writer

    def _wrote(self, rows: int) -> None:
        self._pending += rows
        if self._pending >= self.batch_size:
            self._commit()

    def _commit(self) -> None:
        conn = self._writer
        if conn is None or not conn.in_transaction:
            return
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._abandon_batch()
            raise ArchiveError(self.path, f"commit failed, batch lost: {exc}") from exc
        self._pending = 0
        self._new_channels.clear()

    def _abandon_batch(self) -> None:
        """Roll the open batch back after a failed write and forget what it added."""
        conn = self._writer
        if conn is not None and conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                log.exception("archive %s: rollback failed", self.path)
        self.lost_rows += self._pending
        log.error("archive %s: %d rows lost with a failed batch", self.path, self._pending)
        self._pending = 0
        for key in self._new_channels:
            self._channels.pop(key, None)
        self._new_channels.clear()

    def flush(self) -> None:
        """Commit the open batch now (a no-op when nothing is pending)."""
        with self._lock:
            self._check_open()
            self._commit()

    def _flush_loop(self) -> None:
        assert self.flush_interval is not None
        while not self._stop.wait(self.flush_interval):
            try:
                with self._lock:
                    if not self._closed:
                        self._commit()
            except ArchiveError as exc:
                log.error("%s", exc)

    def _execute(self, sql: str, params: Sequence[Any], *, may_commit: bool = True) -> int:
        """Run one INSERT in the open batch; returns the new row id.

        ``may_commit=False`` holds a full batch open until the rest of the same call is written,
        so one ``record_*`` call is never split between two commits.
        """
        conn = self._write()
        try:
            cursor = conn.execute(sql, params)
        except sqlite3.Error as exc:
            self._abandon_batch()
            raise ArchiveError(self.path, f"write failed, batch lost: {exc}") from exc
        row_id = cursor.lastrowid
        assert row_id is not None
        if may_commit:
            self._wrote(1)
        else:
            self._pending += 1
        return row_id

    # -------------------------------------------------------------- recording

    def record_packet(
        self,
        direction: Direction,
        raw: bytes | bytearray | memoryview,
        *,
        t_ground: float,
        apid: int | None = None,
        service: int | None = None,
        subtype: int | None = None,
        seq: int | None = None,
        t_onboard: float | None = None,
        status: str = "ok",
    ) -> int:
        """Archive one packet or frame exactly as sent or received; returns its row id.

        Undecodable and rejected packets are archived too, with ``status`` the rejection
        reason (``"bad_crc"``, ``"truncated"``, ...; see ``flight.link.RejectReason``).
        """
        row = _packet_params(direction, raw, t_ground, apid, service, subtype, seq, t_onboard,
                             status)
        with self._lock:
            return self._execute(_INSERT_PACKET, row)

    def record_downlink(
        self, raw: bytes | bytearray | memoryview, *, t_ground: float | None = None,
        max_size: int = DEFAULT_MAX_SIZE,
    ) -> tuple[int, TelemetryPacket | None]:
        """Decode and archive one received datagram: ``(row id, packet or None)``.

        A datagram that fails decoding is archived with its rejection reason as status and
        whatever header fields could be read; the packet returned is then ``None``.
        """
        data = bytes(raw)
        t = time.time() if t_ground is None else t_ground
        try:
            packet: TelemetryPacket | None = TelemetryPacket.decode(data, max_size)
        except LinkError as exc:
            apid, service, subtype, seq = _header_fields(data)
            row_id = self.record_packet("down", data, t_ground=t, apid=apid, service=service,
                                        subtype=subtype, seq=seq, status=exc.reason.value)
            return row_id, None
        assert packet is not None
        row_id = self.record_packet(
            "down", data, t_ground=t, apid=packet.apid, service=packet.service,
            subtype=packet.subtype, seq=packet.seq_count, t_onboard=packet.time.to_unix())
        return row_id, packet

    def record_values(
        self,
        t_onboard: float,
        app: str,
        values: Mapping[str, Any],
        *,
        packet_id: int | None = None,
        t_ground: float | None = None,
    ) -> int:
        """Archive a set of telemetry values of one app at one onboard time; returns how many.

        Nested mappings are flattened (``{"loads": {"gpu": 1}}`` is channel ``loads.gpu``).
        """
        if not app or not isinstance(app, str):
            raise ValueError(f"app must be a non-empty string, got {app!r}")
        if not isinstance(values, Mapping):
            raise TypeError(f"values must be a mapping, got {type(values).__name__}")
        t_on = _time(t_onboard, "t_onboard")
        t_gr = _opt_time(t_ground, "t_ground")
        encoded: list[tuple[str, Any, int]] = []
        _encode_into(values, "", 0, encoded)
        if not encoded:
            return 0
        with self._lock:
            conn = self._write()
            try:
                known = self._channels
                rows = [(known.get((app, name)) or self._channel_id(conn, app, name), t_on, t_gr,
                         stored, kind, packet_id) for name, stored, kind in encoded]
                conn.executemany(
                    "INSERT INTO tlm_values (channel_id, t_onboard, t_ground, value, kind, "
                    "packet_id) VALUES (?, ?, ?, ?, ?, ?)", rows)
            except sqlite3.Error as exc:
                self._abandon_batch()
                raise ArchiveError(self.path, f"write failed, batch lost: {exc}") from exc
            self._wrote(len(rows))
        return len(rows)

    def _channel_id(self, conn: sqlite3.Connection, app: str, name: str) -> int:
        key = (app, name)
        cid = self._channels.get(key)
        if cid is None:
            _check_text("app", app)
            _check_text("channel", name)
            conn.execute("INSERT OR IGNORE INTO channels (app, name) VALUES (?, ?)", key)
            cid = conn.execute("SELECT id FROM channels WHERE app = ? AND name = ?",
                               key).fetchone()[0]
            self._channels[key] = cid
            self._new_channels.append(key)
        return cid

    def record_event(
        self,
        t_onboard: float,
        app: str,
        name: str,
        severity: int | str,
        text: str,
        args: Mapping[str, Any] | None = None,
        *,
        packet_id: int | None = None,
        t_ground: float | None = None,
    ) -> int:
        """Archive one event; ``severity`` is a number 0..4 or a name (``"WARNING"``)."""
        row = (_time(t_onboard, "t_onboard"), _opt_time(t_ground, "t_ground"), str(app),
               str(name), _severity(severity), str(text), _dumps(args), packet_id)
        with self._lock:
            return self._execute(
                "INSERT INTO events (t_onboard, t_ground, app, name, severity, text, args, "
                "packet_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)

    def record_command(
        self,
        request_id: int | bytes,
        app: str,
        name: str,
        args: Mapping[str, Any] | None,
        t_ground: float,
        raw: bytes | None = None,
        *,
        packet_id: int | None = None,
    ) -> int:
        """Archive a command sent; returns its row id.

        ``raw`` (the frame as sent) is archived as an ``"up"`` packet, unless ``packet_id``
        names one already recorded with :meth:`record_packet`.
        """
        rid = _request_id(request_id)
        t = _time(t_ground, "t_ground")
        args_json = _dumps(args)
        packet = None
        if packet_id is None and raw is not None:
            data = bytes(raw)
            packet = _packet_params("up", data, t, *_uplink_fields(data), None, "ok")
        with self._lock:
            if packet is not None:
                packet_id = self._execute(_INSERT_PACKET, packet, may_commit=False)
            return self._execute(
                "INSERT INTO commands (request_id, t_ground, app, name, args, packet_id) "
                "VALUES (?, ?, ?, ?, ?, ?)", (rid, t, str(app), str(name), args_json, packet_id))

    def record_verification(
        self,
        request_id: int | bytes,
        stage: str,
        ok: bool,
        code: int | None,
        t_ground: float,
        *,
        command: str | None = None,
        packet_id: int | None = None,
        step: int | None = None,
        text: str | None = None,
    ) -> int:
        """Archive one verification report (see :func:`stage_of` for TM[1,x] -> stage, ok).

        It is joined to the latest command recorded with the same request id, if any.
        """
        rid = _request_id(request_id)
        if not stage or not isinstance(stage, str):
            raise ValueError(f"stage must be a non-empty string, got {stage!r}")
        row = [None, rid, _time(t_ground, "t_ground"), stage, int(bool(ok)),
               _opt_int(code, "code", 0xFFFF), _opt_int(step, "step", 0xFFFFFFFF),
               None if text is None else str(text), command, packet_id]
        with self._lock:
            conn = self._write()
            try:
                row[0] = conn.execute("SELECT max(id) FROM commands WHERE request_id = ?",
                                      (rid,)).fetchone()[0]
            except sqlite3.Error as exc:
                raise self._query_error(exc) from exc
            return self._execute(
                "INSERT INTO verifications (command_id, request_id, t_ground, stage, ok, code, "
                "step, text, command, packet_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)

    # -------------------------------------------------------------- queries

    def _sync_for_read(self) -> None:
        """Read your own writes: commit this archive's open batch before a query."""
        if self._writer is not None and self._pending:
            self.flush()

    def _rows(self, sql: str, params: Sequence[Any]) -> list[Any]:
        self._sync_for_read()
        try:
            return self._reader().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise self._query_error(exc) from exc

    def _query_error(self, exc: sqlite3.Error) -> ArchiveError:
        if _is_corrupt(exc):
            return ArchiveError(self.path, f"damaged: {exc}")
        return ArchiveError(self.path, f"query failed: {exc}")

    def _stream(self, sql: str, params: Sequence[Any], chunk: int = 1000) -> Iterator[Any]:
        self._sync_for_read()
        try:
            cursor = self._reader().execute(sql, params)
            while batch := cursor.fetchmany(chunk):
                yield from batch
        except sqlite3.Error as exc:
            raise self._query_error(exc) from exc

    @staticmethod
    def _time_range(column: str, since: TimeBound, until: TimeBound,
                    where: list[str], params: list[Any]) -> None:
        lo, hi = _bound(since, "since"), _bound(until, "until")
        if lo is not None:
            where.append(f"{column} >= ?")
            params.append(lo)
        if hi is not None:
            where.append(f"{column} < ?")
            params.append(hi)

    def _values_query(self, app: str | None, channel: str | Sequence[str] | None,
                      since: TimeBound, until: TimeBound, newest_first: bool,
                      limit: int | None) -> tuple[str, list[Any]]:
        where: list[str] = []
        params: list[Any] = []
        if app is not None:
            where.append("c.app = ?")
            params.append(app)
        if isinstance(channel, str):
            if any(ch in channel for ch in "*?["):
                where.append("c.name GLOB ?")
            else:
                where.append("c.name = ?")
            params.append(channel)
        elif channel is not None:
            names = list(channel)
            where.append(f"c.name IN ({', '.join('?' * len(names))})" if names else "0")
            params.extend(names)
        self._time_range("v.t_onboard", since, until, where, params)
        # With a channel filter, walk the matching channels and each one's (channel, time)
        # index. Otherwise walk the time index, which also serves "the last N of an app"
        # without sorting all of its values; all of an app's values are gathered by channel.
        # CROSS JOIN fixes the order for SQLite's planner.
        by_channel = channel is not None or (app is not None and limit is None)
        join = ("channels c CROSS JOIN tlm_values v" if by_channel
                else "tlm_values v CROSS JOIN channels c")
        order = "DESC" if newest_first else ""
        sql = (f"SELECT v.id, v.t_onboard, v.t_ground, c.app, c.name, v.value, v.kind, "
               f"v.packet_id FROM {join} ON c.id = v.channel_id"
               f"{' WHERE ' + ' AND '.join(where) if where else ''} "
               f"ORDER BY v.t_onboard {order}, v.id {order}")
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        return sql, params

    @staticmethod
    def _value_row(r: Any) -> ValueRow:
        return ValueRow(r[0], r[1], r[2], r[3], r[4], _decode(r[5], r[6]), r[7])

    def values(
        self,
        app: str | None = None,
        channel: str | Sequence[str] | None = None,
        since: TimeBound = None,
        until: TimeBound = None,
        limit: int | None = None,
        *,
        newest_first: bool = False,
    ) -> list[ValueRow]:
        """Values in onboard-time order (``since <= t_onboard < until``).

        ``channel`` is a name, a list of names, or a glob pattern (``"loads.*"``).
        """
        sql, params = self._values_query(app, channel, since, until, newest_first, limit)
        return [self._value_row(r) for r in self._rows(sql, params)]

    def latest(self, app: str, channel: str) -> ValueRow | None:
        """The value of ``app``'s ``channel`` with the latest onboard time, or None."""
        rows = self.values(app, channel, limit=1, newest_first=True)
        return rows[0] if rows else None

    def channels(self, app: str | None = None) -> list[tuple[str, str]]:
        """Every ``(app, channel)`` ever recorded, sorted."""
        sql = "SELECT app, name FROM channels"
        params: list[Any] = []
        if app is not None:
            sql += " WHERE app = ?"
            params.append(app)
        return [(a, n) for a, n in self._rows(sql + " ORDER BY app, name", params)]

    def _events_query(self, app: str | None, min_severity: int | str | None, since: TimeBound,
                      until: TimeBound, name: str | None,
                      limit: int | None) -> tuple[str, list[Any]]:
        where: list[str] = []
        params: list[Any] = []
        if app is not None:
            where.append("app = ?")
            params.append(app)
        if min_severity is not None:
            where.append("severity >= ?")
            params.append(_severity(min_severity))
        if name is not None:
            where.append("name = ?")
            params.append(name)
        self._time_range("t_onboard", since, until, where, params)
        sql = ("SELECT id, t_onboard, t_ground, app, name, severity, text, args, packet_id "
               f"FROM events{' WHERE ' + ' AND '.join(where) if where else ''} "
               "ORDER BY t_onboard, id")
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        return sql, params

    def events(
        self,
        app: str | None = None,
        min_severity: int | str | None = None,
        since: TimeBound = None,
        until: TimeBound = None,
        *,
        name: str | None = None,
        limit: int | None = None,
    ) -> list[EventRow]:
        """Events in onboard-time order, optionally of one app, at or above a severity."""
        sql, params = self._events_query(app, min_severity, since, until, name, limit)
        return [EventRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], _loads(r[7]), r[8])
                for r in self._rows(sql, params)]

    def _packets_query(self, direction: str | None, since: TimeBound, until: TimeBound,
                       service: int | None, subtype: int | None, apid: int | None,
                       status: str | None, after: tuple[float, int] | None = None,
                       limit: int | None = None) -> tuple[str, list[Any]]:
        where: list[str] = []
        params: list[Any] = []
        for column, value in (("direction", direction), ("service", service),
                              ("subtype", subtype), ("apid", apid), ("status", status)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        self._time_range("t_ground", since, until, where, params)
        if after is not None:  # keyset pagination: strictly after (t_ground, id)
            where.append("t_ground >= ? AND NOT (t_ground = ? AND id <= ?)")
            params.extend([after[0], after[0], after[1]])
        sql = ("SELECT id, direction, t_ground, t_onboard, apid, service, subtype, seq, status, "
               f"raw FROM packets{' WHERE ' + ' AND '.join(where) if where else ''} "
               "ORDER BY t_ground, id")
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        return sql, params

    def packets(
        self,
        direction: Direction | None = None,
        since: TimeBound = None,
        until: TimeBound = None,
        service: int | None = None,
        *,
        subtype: int | None = None,
        apid: int | None = None,
        status: str | None = None,
        limit: int | None = None,
    ) -> list[PacketRow]:
        """Packets in ground-time order (``since <= t_ground < until``), raw bytes included."""
        sql, params = self._packets_query(direction, since, until, service, subtype, apid,
                                          status, limit=limit)
        return [_packet_row(r) for r in self._rows(sql, params)]

    def replay(
        self,
        since: TimeBound = None,
        until: TimeBound = None,
        *,
        include_rejected: bool = False,
        chunk: int = 500,
    ) -> Iterator[PacketRow]:
        """Downlink packets in ground-receive order, for decoding again (``row.decode()``).

        Reads in pages of ``chunk`` rows, so it neither holds a snapshot open nor loads a whole
        pass into memory; packets committed while it runs are included if they sort later. It
        does not wait between packets: wrap it in :func:`pace` to play at a chosen speed.
        Rejected packets (status other than ``"ok"``) are left out unless ``include_rejected``.
        """
        after: tuple[float, int] | None = None
        status = None if include_rejected else "ok"
        while True:
            sql, params = self._packets_query("down", since, until, None, None, None, status,
                                              after=after, limit=chunk)
            page = self._rows(sql, params)
            for r in page:
                yield _packet_row(r)
            if len(page) < chunk:
                return
            after = (page[-1][2], page[-1][0])

    def verifications(self, request_id: int | bytes | None = None, since: TimeBound = None,
                      until: TimeBound = None) -> list[VerificationRow]:
        """Verification reports in ground-time order, joined to a command or not."""
        where: list[str] = []
        params: list[Any] = []
        if request_id is not None:
            where.append("request_id = ?")
            params.append(_request_id(request_id))
        self._time_range("t_ground", since, until, where, params)
        sql = ("SELECT id, request_id, t_ground, stage, ok, code, step, text, command, "
               f"command_id, packet_id FROM verifications"
               f"{' WHERE ' + ' AND '.join(where) if where else ''} ORDER BY t_ground, id")
        return [VerificationRow(r[0], r[1], r[2], r[3], bool(r[4]), *r[5:])
                for r in self._rows(sql, params)]

    def commands(
        self,
        app: str | None = None,
        since: TimeBound = None,
        until: TimeBound = None,
        *,
        name: str | None = None,
        request_id: int | bytes | None = None,
        limit: int | None = None,
    ) -> list[CommandRow]:
        """Commands sent, in ground-time order, each with its verification reports."""
        where: list[str] = []
        params: list[Any] = []
        for column, value in (("app", app), ("name", name)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if request_id is not None:
            where.append("request_id = ?")
            params.append(_request_id(request_id))
        self._time_range("t_ground", since, until, where, params)
        inner = ("SELECT * FROM commands"
                 f"{' WHERE ' + ' AND '.join(where) if where else ''} ORDER BY t_ground, id")
        if limit is not None:
            inner += " LIMIT ?"
            params.append(int(limit))
        sql = ("SELECT c.id, c.request_id, c.t_ground, c.app, c.name, c.args, c.packet_id, p.raw,"
               " v.id, v.request_id, v.t_ground, v.stage, v.ok, v.code, v.step, v.text,"
               " v.command, v.command_id, v.packet_id"
               f" FROM ({inner}) c LEFT JOIN packets p ON p.id = c.packet_id"
               " LEFT JOIN verifications v ON v.command_id = c.id"
               " ORDER BY c.t_ground, c.id, v.t_ground, v.id")
        out: list[CommandRow] = []
        current: list[Any] | None = None
        stages: list[VerificationRow] = []

        def finish() -> None:
            if current is not None:
                raw = None if current[7] is None else bytes(current[7])
                out.append(CommandRow(current[0], current[1], current[2], current[3],
                                      current[4], _loads(current[5]), current[6], raw,
                                      tuple(stages)))

        for r in self._rows(sql, params):
            if current is None or r[0] != current[0]:
                finish()
                current, stages = list(r[:8]), []
            if r[8] is not None:
                stages.append(VerificationRow(r[8], r[9], r[10], r[11], bool(r[12]), *r[13:]))
        finish()
        return out

    def counts(self) -> Counts:
        """How many packets (by direction and status), channels, values, events, commands."""
        packets: dict[str, dict[str, int]] = {}
        for direction, status, n in self._rows(
                "SELECT direction, status, count(*) FROM packets GROUP BY direction, status", ()):
            packets.setdefault(direction, {})[status] = n
        totals = self._rows(
            "SELECT (SELECT count(*) FROM channels), (SELECT count(*) FROM tlm_values), "
            "(SELECT count(*) FROM events), (SELECT count(*) FROM commands), "
            "(SELECT count(*) FROM verifications)", ())[0]
        return Counts(packets, *totals)

    def meta(self) -> dict[str, str]:
        """The archive's metadata (``created_at``, ``created_by``) and ``schema_version``."""
        out = dict(self._rows("SELECT key, value FROM meta", ()))
        out["schema_version"] = str(self._rows("SELECT max(version) FROM schema_version",
                                               ())[0][0])
        return out

    def check(self) -> list[str]:
        """SQLite's integrity check (reads the whole file): an empty list when all is well."""
        self._sync_for_read()
        try:
            rows = self._reader().execute("PRAGMA quick_check").fetchall()
        except sqlite3.DatabaseError as exc:  # too damaged for the check itself to run
            return [str(exc)]
        problems = [str(r[0]) for r in rows]
        return [] if problems == ["ok"] else problems

    # -------------------------------------------------------------- export

    def export_csv(
        self,
        out: IO[str] | str | Path,
        *,
        app: str | None = None,
        channels: str | Sequence[str] | None = None,
        since: TimeBound = None,
        until: TimeBound = None,
    ) -> int:
        """Write values as CSV, one row per value in onboard-time order; returns the row count.

        Columns: ``t_onboard_utc`` (ISO 8601, ms), ``t_onboard`` and ``t_ground`` (Unix
        seconds, exact), ``app``, ``channel``, ``value`` (:func:`format_value`), ``type``
        (null, bool, int, float, str, bytes).
        """
        sql, params = self._values_query(app, channels, since, until, False, None)
        header = ["t_onboard_utc", "t_onboard", "t_ground", "app", "channel", "value", "type"]

        def rows() -> Iterator[list[str]]:
            for r in self._stream(sql, params):
                v = self._value_row(r)
                yield [_iso(v.t_onboard), repr(v.t_onboard),
                       "" if v.t_ground is None else repr(v.t_ground), v.app, v.channel,
                       format_value(v.value), _type_name(v.value)]

        return self._write_csv(out, header, rows())

    def export_events_csv(
        self,
        out: IO[str] | str | Path,
        *,
        app: str | None = None,
        min_severity: int | str | None = None,
        since: TimeBound = None,
        until: TimeBound = None,
    ) -> int:
        """Write events as CSV in onboard-time order; ``args`` is a JSON object."""
        sql, params = self._events_query(app, min_severity, since, until, None, None)
        header = ["t_onboard_utc", "t_onboard", "t_ground", "app", "severity", "name", "text",
                  "args"]

        def rows() -> Iterator[list[str]]:
            for r in self._stream(sql, params):
                yield [_iso(r[1]), repr(r[1]), "" if r[2] is None else repr(r[2]), r[3],
                       _severity_name(r[5]), r[4], r[6], r[7]]

        return self._write_csv(out, header, rows())

    @staticmethod
    def _write_csv(out: IO[str] | str | Path, header: list[str],
                   rows: Iterable[list[str]]) -> int:
        if isinstance(out, (str, Path)):
            with open(out, "w", encoding="utf-8", newline="") as fh:
                return Archive._write_csv(fh, header, rows)
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        n = 0
        for row in rows:
            writer.writerow(row)
            n += 1
        return n


# ------------------------------------------------------------------------------- pacing


def pace(
    rows: Iterable[PacketRow],
    speed: float = 1.0,
    *,
    max_gap: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[PacketRow]:
    """Yield ``rows`` spaced as they were received, ``speed`` times faster.

    ``speed=math.inf`` does not wait at all. ``max_gap`` (archive seconds) shortens longer
    silences, such as the hours between two contacts, to that much. The schedule is kept against
    ``clock``, so a slow consumer catches up instead of drifting.
    """
    if not speed > 0:
        raise ValueError(f"speed must be positive, got {speed}")
    if max_gap is not None and max_gap < 0:
        raise ValueError(f"max_gap must be >= 0, got {max_gap}")
    start = 0.0
    timeline = 0.0  # archive seconds since the first row, long gaps shortened
    previous: float | None = None
    for row in rows:
        if previous is None:
            start = clock()
        else:
            gap = max(row.t_ground - previous, 0.0)
            timeline += gap if max_gap is None else min(gap, max_gap)
            if math.isfinite(speed):
                delay = start + timeline / speed - clock()
                if delay > 0:
                    sleep(delay)
        previous = row.t_ground
        yield row
