"""``GroundStation``: the Python API an operator (or a test) drives a spacecraft with.

::

    with GroundStation.connect(("127.0.0.1", 52001), key_file="keys/link.key",
                               dictionary="dictionary.json", archive="pass.sqlite") as gs:
        print(f"round trip {gs.ping() * 1000:.1f} ms")
        gs.command("health", "noop")                       # raises CommandFailed on failure
        handle = gs.send("power", "load_off", load="compute")
        handle.wait_stage("started")
        soc = gs.await_telemetry("power", "soc", lambda v: v < 0.8, timeout=30)
        gs.await_event("power", "LOAD_FORCED", since=handle)

What it is for, and why it is shaped so:

* **Nothing leaves unchecked.** Commands are checked against the flight dictionary (app,
  command, argument names, types, ranges, choices) *before* anything is sent: a typo costs a
  ``ValidationError`` on the ground, not an ARSN and a failure report from orbit.
* **Every telecommand is tracked.** :meth:`GroundStation.send` returns a
  :class:`CommandHandle` whose stages (accepted, started, progress, completed; each with
  ``ok``, failure code and reason name, text, ground and onboard times) fill in as the service 1
  reports arrive. Waiting is on a condition variable with monotonic deadlines, never polling.
* **Histories, not callbacks.** A background thread decodes every packet into bounded
  histories (housekeeping, events, verification, other reports) stamped with ground wall time,
  ground monotonic time and onboard time. ``await_*`` looks at what arrives after a point in
  that history (default: the call), so a test never races the telemetry it waits for.
* **Everything is archived** when an archive is given: raw packets both ways, decoded values,
  events, commands and their verification stages (``ground.archive``).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import math
import os
import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import msgpack

from flight.app.model import Field, InvalidValue, Severity, ValueType
from flight.link import (
    Ack,
    CdsTime,
    FailureCode,
    LinkError,
    Service,
    Telecommand,
    TelemetryPacket,
    VerificationReport,
    load_key,
)
from flight.link.services import EventReport as EventService
from flight.link.services import (
    FunctionManagement,
    Housekeeping,
    ParameterManagement,
    Ping,
    TimeScheduling,
)
from ground.link import (
    DEFAULT_ADDRESS,
    Address,
    GroundLink,
    Link,
    LinkStats,
    Received,
    SenderState,
    default_state_dir,
    parse_address,
)

__all__ = [
    "STAGES",
    "CommandFailed",
    "CommandHandle",
    "CommandTimeout",
    "Dictionary",
    "Event",
    "GroundError",
    "GroundStation",
    "HazardousCommandError",
    "Report",
    "Sample",
    "Scheduled",
    "Stage",
    "TelemetryReport",
    "ValidationError",
    "check_args",
    "check_value",
    "default_key_file",
]

log = logging.getLogger("sunlit.ground")

#: APID of the comms app, which serves services 3, 5, 11 and 17 itself (docs/icd.md 9.1).
COMMS_APID = 0x10
#: APID of the app with dictionary id 0; app ``id`` N has APID ``APID_BASE + N``.
APID_BASE = 0x10
DEFAULT_TIMEOUT = 10.0
#: Items each history keeps (oldest dropped first): bounded memory in a long session.
DEFAULT_HISTORY = 100_000
#: Handles kept for matching verification reports to the commands they answer.
_MAX_HANDLES = 10_000
_ANY: Any = object()

#: Service 1 subtype -> (stage, ok); the same names as ``ground.archive.stage_of``.
STAGES: dict[int, tuple[str, bool]] = {
    1: ("accepted", True), 2: ("accepted", False),
    3: ("started", True), 4: ("started", False),
    5: ("progress", True), 6: ("progress", False),
    7: ("completed", True), 8: ("completed", False),
    10: ("routed", False),
}
STAGE_ORDER = ("accepted", "started", "progress", "completed")
#: Comms never answers a frame it could not authenticate (ICD 10), so silence has few causes.
NO_ANSWER_HINT = ("no report at all: check the address, that the key is the spacecraft's, and "
                  "that the ARSN state directory is the one this spacecraft has seen; or the "
                  "spacecraft is out of contact")


def default_key_file() -> Path:
    """``RUN_DIR/keys/link.key`` of the default run directory (where comms generates it)."""
    from flight.bus.rundir import default_run_dir

    return default_run_dir() / "keys" / "link.key"


# ------------------------------------------------------------------------------ errors


class GroundError(Exception):
    """Base of the errors the ground station raises."""


class ValidationError(GroundError, ValueError):
    """A command or query does not fit the dictionary; nothing was sent."""


class HazardousCommandError(ValidationError):
    """A hazardous command without an arm; nothing was sent."""


class CommandFailed(GroundError):
    """A telecommand was refused or failed on board; ``stage`` is the failure report."""

    def __init__(self, handle: CommandHandle, stage: Stage) -> None:
        self.handle = handle
        self.stage = stage
        self.reason = stage.reason
        self.code = stage.code
        detail = f": {stage.message}" if stage.message else ""
        super().__init__(f"{handle.label} failed at {stage.name}: {stage.reason_text}{detail}")


class CommandTimeout(GroundError, TimeoutError):
    """A telecommand did not reach the awaited stage in time; ``handle`` says how far it got."""

    def __init__(self, handle: CommandHandle, awaited: str, timeout: float) -> None:
        self.handle = handle
        text = (f"{handle.label} ({handle.request_id:#010x}) not {awaited} within "
                f"{timeout:g} s; last status: {handle.status}")
        if handle.status == "sent":
            text += f" ({NO_ANSWER_HINT})"
        super().__init__(text)


# ------------------------------------------------------------------------------ dictionary


class Dictionary:
    """The flight dictionary (``flight.dictionary.build_dictionary``'s JSON), with lookups
    that fail with the names an operator could have meant."""

    def __init__(self, doc: Mapping[str, Any]) -> None:
        if "apps" not in doc:
            raise ValueError("not a flight dictionary: no 'apps'")
        self.doc = doc
        self.apps: dict[str, dict[str, Any]] = dict(doc["apps"])
        self._by_apid = {self.apid(name): name for name in self.apps}
        self._reasons = {int(v): k for k, v in (doc.get("reasons") or {}).items()}

    @classmethod
    def load(cls, source: Dictionary | Mapping[str, Any] | str | os.PathLike[str] | None
             ) -> Dictionary:
        """From a dictionary, a mapping, a JSON file, or ``None``: the built-in profile's."""
        if isinstance(source, Dictionary):
            return source
        if isinstance(source, Mapping):
            return cls(source)
        if source is not None:
            with open(source, encoding="utf-8") as fh:
                return cls(json.load(fh))
        from flight.config.loader import load_config
        from flight.dictionary import build_dictionary

        return cls(build_dictionary(load_config()))

    @property
    def hash(self) -> str:
        return str(self.doc.get("hash", ""))

    def app(self, name: str) -> dict[str, Any]:
        try:
            return self.apps[name]
        except KeyError:
            raise ValidationError(f"unknown app {name!r}; known: "
                                  f"{', '.join(sorted(self.apps))}") from None

    def apid(self, app: str) -> int:
        entry = self.app(app)
        return int(entry.get("apid", APID_BASE + int(entry["id"])))

    def app_at(self, apid: int) -> str:
        """The app at ``apid``: its name, or ``apid_0x0NN`` when the dictionary has none."""
        return self._by_apid.get(apid) or f"apid_{apid:#05x}"

    def command(self, app: str, name: str) -> dict[str, Any]:
        return _find(self.app(app)["commands"], name, f"{app} command")

    def channel(self, app: str, name: str) -> dict[str, Any]:
        """The channel declaration; ``loads.compute`` looks up ``loads`` (a map channel)."""
        channels = self.app(app)["telemetry"]
        head = name if any(c["name"] == name for c in channels) else name.split(".", 1)[0]
        return _find(channels, head, f"{app} telemetry channel")

    def event(self, app: str, name: str) -> dict[str, Any]:
        return _find(self.app(app)["events"], name, f"{app} event")

    def event_id(self, app: str, name: str) -> int | None:
        for entry in self.apps.get(app, {}).get("events", ()):
            if entry["name"] == name:
                return int(entry["id"])
        return None

    def parameter(self, app: str, name: str) -> dict[str, Any]:
        return _find(self.app(app).get("parameters", []), name, f"{app} parameter")

    def reason_name(self, code: int | None) -> str | None:
        """The name of a failure code: an app reason (dictionary) or a link/comms code."""
        if code is None:
            return None
        if code < 0x100:
            return self._reasons.get(code, f"REASON_{code}")
        try:
            return FailureCode(code).name
        except ValueError:
            return f"CODE_{code:#06x}"


def _find(entries: Iterable[dict[str, Any]], name: str, what: str) -> dict[str, Any]:
    entries = list(entries)
    for entry in entries:
        if entry["name"] == name:
            return entry
    known = ", ".join(e["name"] for e in entries) or "none"
    raise ValidationError(f"unknown {what} {name!r}; known: {known}")


def check_value(decl: Mapping[str, Any], value: Any, what: str) -> Any:
    """``value`` converted to the declared type, exactly as the flight side will check it.

    The dictionary entry is turned back into the ``flight.app.model.Field`` it was described
    from, so ground and flight share one implementation of "int", "enum", ranges and so on.
    """
    try:
        fld = Field(decl["name"], ValueType(decl["type"]), decl.get("doc", ""),
                    min=decl.get("min"), max=decl.get("max"),
                    choices=tuple(decl.get("choices", ())), max_len=2**31)
    except (TypeError, ValueError):  # a type this ground does not know: let the flight judge
        return value
    try:
        return fld.check(value)
    except InvalidValue as exc:
        raise ValidationError(f"{what}: {exc}") from None


def check_args(app: str, spec: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """Check command arguments against ``spec``; return the converted ones given."""
    label = f"{app}.{spec['name']}"
    declared = {a["name"]: a for a in spec["args"]}
    unknown = sorted(set(given) - set(declared))
    if unknown:
        known = ", ".join(declared) or "none"
        raise ValidationError(f"{label}: unknown argument(s) {', '.join(unknown)}; "
                              f"arguments: {known}")
    missing = [n for n, a in declared.items() if "default" not in a and n not in given]
    if missing:
        raise ValidationError(f"{label}: missing argument(s) {', '.join(missing)}")
    return {n: check_value(declared[n], v, label) for n, v in given.items()}


# ------------------------------------------------------------------------------ records


@dataclass(frozen=True, slots=True)
class Stage:
    """One verification report about one telecommand."""

    name: str  #: accepted, started, progress, completed, or routed (routing failure)
    ok: bool
    code: int | None  #: failure code (docs/icd.md 10.1); None on success
    reason: str | None  #: its name: an app reason from the dictionary or a link code
    message: str  #: the failure text for operators
    step: int | None  #: progress step id
    t_mono: float  #: ground monotonic time of receipt
    t_ground: float  #: ground wall time of receipt (UNIX seconds)
    t_onboard: float  #: onboard time of the report (mission UNIX seconds)

    @property
    def final(self) -> bool:
        """Completion, or any failure: nothing more will be reported."""
        return self.name == "completed" or not self.ok

    @property
    def reason_text(self) -> str:
        return "OK" if self.ok else f"{self.reason} ({self.code})"


@dataclass(frozen=True, slots=True)
class TelemetryReport:
    """One housekeeping report (TM[3,25]) of one app."""

    app: str
    values: dict[str, Any]
    t_onboard: float
    t_ground: float
    t_mono: float
    apid: int
    seq: int


@dataclass(frozen=True, slots=True)
class Sample:
    """One telemetry value; ``channel`` None means ``value`` is the whole report's map."""

    app: str
    channel: str | None
    value: Any
    t_onboard: float
    t_ground: float
    t_mono: float


@dataclass(frozen=True, slots=True)
class Event:
    """One event report (TM[5,1..4])."""

    app: str
    name: str
    severity: int
    text: str
    args: dict[str, Any]
    event_id: int | None
    t_onboard: float
    t_ground: float
    t_mono: float

    @property
    def severity_name(self) -> str:
        return _severity_name(self.severity)


@dataclass(frozen=True, slots=True)
class Report:
    """Any other telemetry: pongs, parameter and schedule reports, mission services."""

    app: str
    apid: int
    service: int
    subtype: int
    data: Any  #: decoded msgpack where the ICD says msgpack, else the raw bytes
    t_onboard: float
    t_ground: float
    t_mono: float


def _severity_name(value: int) -> str:
    try:
        return Severity(value).name
    except ValueError:
        return str(value)


def _severity(value: int | str | None) -> int | None:
    if value is None or isinstance(value, int):
        return value
    try:
        return int(Severity[str(value).upper()])
    except KeyError:
        raise ValidationError(f"unknown severity {value!r}; known: "
                              f"{', '.join(s.name for s in Severity)}") from None


# ------------------------------------------------------------------------------ handles


class CommandHandle:
    """A telecommand sent, and its verification stages as they arrive.

    All waiting happens on the station's condition variable; ``stages`` is a snapshot.
    """

    def __init__(self, cond: threading.Condition, tc: Telecommand, app: str, name: str,
                 args: Mapping[str, Any] | None, closed: Callable[[], bool]) -> None:
        self._cond = cond
        self._closed = closed
        self._stages: list[Stage] = []
        self.tc = tc
        self.request_id = int.from_bytes(tc.request_id, "big")
        self.app = app
        self.command = name
        self.args = dict(args or {})
        self.raw = b""
        self.sent_mono = math.nan
        self.sent_ground = math.nan
        self.arm_handle: CommandHandle | None = None
        # Set with the final stage: wait() sleeps on it alone instead of waking at every
        # packet the station receives, which would take the GIL from the receiving thread
        # just when the answer is coming in.
        self._finished = threading.Event()
        #: What the command returned (TM[8,128]); None until it came, or if it returned nothing.
        self.data: Any = None

    @property
    def label(self) -> str:
        return f"{self.app}.{self.command}"

    @property
    def stages(self) -> list[Stage]:
        with self._cond:
            return list(self._stages)

    @property
    def final(self) -> Stage | None:
        """The completion or failure report, once it arrived."""
        with self._cond:
            return next((s for s in self._stages if s.final), None)

    @property
    def done(self) -> bool:
        return self.final is not None

    @property
    def ok(self) -> bool | None:
        """True when completed, False when failed, None while still open."""
        final = self.final
        return None if final is None else final.ok

    @property
    def status(self) -> str:
        """``sent``, the last stage reached (``accepted`` ...), ``completed`` or ``failed``."""
        with self._cond:
            if any(not s.ok for s in self._stages):
                return "failed"
            return self._stages[-1].name if self._stages else "sent"

    @property
    def round_trip(self) -> float | None:
        """Seconds from sending to the final report (ground monotonic clock)."""
        final = self.final
        return None if final is None else final.t_mono - self.sent_mono

    def stage(self, name: str) -> Stage | None:
        with self._cond:
            return next((s for s in self._stages if s.name == name), None)

    def wait(self, timeout: float = DEFAULT_TIMEOUT) -> Stage:
        """Block until the final stage (completion or failure) and return it.

        A failure is returned, not raised (see :meth:`result`); ``CommandTimeout`` if none
        came within ``timeout`` seconds.
        """
        if not self._finished.wait(timeout):
            if self._closed():
                raise GroundError(f"{self.label}: the ground station was closed")
            raise CommandTimeout(self, "completed", timeout)
        with self._cond:
            final = self._first(lambda s: s.final)
        if final is None:  # woken by close()
            raise GroundError(f"{self.label}: the ground station was closed")
        return final

    def _wake(self) -> None:
        """The station is closing: end any wait() at once."""
        self._finished.set()

    def result(self, timeout: float = DEFAULT_TIMEOUT) -> Stage:
        """The completion stage; ``CommandFailed`` with the reason if the command failed."""
        stage = self.wait(timeout)
        if not stage.ok:
            raise CommandFailed(self, stage)
        return stage

    def wait_stage(self, name: str, timeout: float = DEFAULT_TIMEOUT) -> Stage:
        """Block until stage ``name`` succeeded; ``CommandFailed`` as soon as a failure shows
        it never will (a failed acceptance means no start, and so on)."""
        if name not in STAGE_ORDER:
            raise ValueError(f"stage must be one of {', '.join(STAGE_ORDER)}, not {name!r}")

        def check() -> Stage | None:
            failed = self._first(lambda s: not s.ok)
            if failed is not None:
                raise CommandFailed(self, failed)
            return self._first(lambda s: s.name == name)

        return self._wait_for(check, name, timeout)

    def _first(self, match: Callable[[Stage], bool]) -> Stage | None:
        return next((s for s in self._stages if match(s)), None)

    def _wait_for(self, check: Callable[[], Stage | None], awaited: str,
                  timeout: float) -> Stage:
        deadline = time.monotonic() + timeout
        with self._cond:
            while (found := check()) is None:
                left = deadline - time.monotonic()
                if self._closed():
                    raise GroundError(f"{self.label}: the ground station was closed")
                if left <= 0:
                    raise CommandTimeout(self, awaited, timeout)
                self._cond.wait(left)
            return found

    def _add(self, stage: Stage) -> None:
        """Called with the station's lock held."""
        self._stages.append(stage)
        if stage.final:
            self._finished.set()

    def __repr__(self) -> str:
        return f"<CommandHandle {self.label} {self.request_id:#010x} {self.status}>"


@dataclass(frozen=True)
class Scheduled:
    """A time-tagged command on board: its insertion (TC[11,4]) and the command itself, whose
    stages arrive when it is released."""

    insertion: CommandHandle
    command: CommandHandle
    release_t: float  #: mission UNIX seconds

    @property
    def request_id(self) -> int:
        """The embedded command's request id: what ``unschedule`` and TM[11,13] use."""
        return self.command.request_id


# ------------------------------------------------------------------------------ histories

T = TypeVar("T")
R = TypeVar("R")


class _Log(Generic[T]):
    """A bounded history with a running count, so a waiter inspects only what is new."""

    def __init__(self, maxlen: int) -> None:
        self._items: deque[T] = deque(maxlen=maxlen)
        self.total = 0

    def append(self, item: T) -> None:
        self._items.append(item)
        self.total += 1

    def after(self, total: int) -> list[T]:
        """Items appended since the count was ``total`` (those still retained)."""
        n = min(self.total - total, len(self._items))
        if n <= 0:
            return []
        out = []
        for item in reversed(self._items):
            out.append(item)
            if len(out) == n:
                break
        out.reverse()
        return out

    def items(self) -> list[T]:
        return list(self._items)


class _Query(Generic[T, R]):
    """What an ``await_*`` call looks for, and what it saw that came close (for the error)."""

    def __init__(self, what: str, match: Callable[[T], R | None],
                 near: Callable[[T], str | None]) -> None:
        self.what = what
        self.match = match
        self._near = near
        self.near_count = 0
        self.near_last: deque[str] = deque(maxlen=5)

    def __call__(self, item: T) -> R | None:
        found = self.match(item)
        if found is None:
            seen = self._near(item)
            if seen is not None:
                self.near_count += 1
                self.near_last.append(seen)
        return found

    def timeout_message(self, timeout: float, got: int, count: int) -> str:
        text = f"timed out after {timeout:g} s waiting for {self.what}"
        if count > 1:
            text += f" ({got} of {count} seen)"
        if self.near_count:
            text += (f"; {self.near_count} other(s) seen, last: "
                     f"{'; '.join(self.near_last)}")
        else:
            text += "; nothing else of that kind arrived"
        return text


def resolve_channel(values: Mapping[str, Any], channel: str) -> tuple[bool, Any]:
    """``values[channel]``, descending into maps for dotted names (``loads.compute``)."""
    if channel in values:
        return True, values[channel]
    head, sep, rest = channel.partition(".")
    if sep and isinstance(values.get(head), Mapping):
        return resolve_channel(values[head], rest)
    return False, None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _describe(predicate: Callable[..., bool] | None, value: Any) -> str:
    if value is not _ANY:
        return f" == {value!r}"
    if predicate is None:
        return ""
    return f" matching {getattr(predicate, '__name__', repr(predicate))}"


Since = float | CommandHandle | None


def _since_value(since: Since, history: bool) -> float:
    """A point in history as a monotonic time: a handle means "since it was sent"."""
    if isinstance(since, CommandHandle):
        return since.sent_mono
    if since is not None:
        return float(since)
    return -math.inf if history else time.monotonic()


# ------------------------------------------------------------------------------ the station


class GroundStation:
    """A connected ground station: send, track, wait, look back. See the module docs.

    Build one with :meth:`connect`; the constructor takes an open link (a :class:`GroundLink`,
    or anything with the :class:`ground.link.Link` methods, such as an archive replay).
    Thread-safe: any thread may send and wait.
    """

    def __init__(self, link: Link, dictionary: Dictionary | Mapping[str, Any] | str |
                 os.PathLike[str] | None = None, *, archive: Any = None,
                 history: int = DEFAULT_HISTORY) -> None:
        self.link = link
        self.dictionary = Dictionary.load(dictionary)
        self._cond = threading.Condition(threading.RLock())
        self._closed = False
        self._owned_state: SenderState | None = None  #: the counters connect() opened for it
        self._reports: _Log[TelemetryReport] = _Log(history)
        self._events: _Log[Event] = _Log(history)
        self._others: _Log[Report] = _Log(history)
        self._verifications: _Log[tuple[int, Stage]] = _Log(history)
        self._handles: OrderedDict[int, CommandHandle] = OrderedDict()
        self._commands: deque[CommandHandle] = deque(maxlen=history)
        self._latest: dict[str, TelemetryReport] = {}
        self._armed: set[tuple[str, str]] = set()
        # (onboard, mono) of the last pongs, kept 0.1 s apart at least to measure the rate
        self._clock: deque[tuple[float, float]] = deque(maxlen=2)
        self._listeners: list[Callable[[Any], None]] = []
        self._request_locks: dict[tuple[int, int, int], threading.Lock] = {}
        self._bad_data: Counter[str] = Counter()
        self._unmatched = 0
        self._archive, self._owns_archive = self._open_archive(archive)
        self._archive_errors = 0
        self._thread = threading.Thread(target=self._receive_loop, daemon=True,
                                        name=f"ground-rx:{link.local_address[1]}")
        self._thread.start()

    @classmethod
    def connect(cls, address: Address | str = DEFAULT_ADDRESS, *,
                key_file: str | os.PathLike[str] | None = None,
                dictionary: Dictionary | Mapping[str, Any] | str | os.PathLike[str] | None = None,
                archive: Any = None, spi: int = 1, plain: bool = False,
                state_dir: str | os.PathLike[str] | None = None, local: Address | None = None,
                announce: bool = True, history: int = DEFAULT_HISTORY) -> GroundStation:
        """Open the link and start receiving.

        ``key_file`` defaults to the default run directory's ``keys/link.key``;
        ``state_dir`` (the ARSN counter) to :func:`ground.link.default_state_dir`. With
        ``announce`` a ping goes out at once (not awaited): the spacecraft sends telemetry to
        the source of the last telecommand it accepted, so this is what starts the downlink.
        """
        if isinstance(address, str):
            address = parse_address(address)
        key = None if plain else load_key(key_file or default_key_file())
        state = SenderState(state_dir if state_dir is not None else default_state_dir())
        link = GroundLink(address, key=key, spi=spi, plain=plain, state=state, local=local)
        try:
            station = cls(link, dictionary, archive=archive, history=history)
        except BaseException:
            link.close()
            state.close()
            raise
        station._owned_state = state
        if announce:
            station.send_tc(COMMS_APID, Service.TEST, Ping.PING, app="comms", name="ping")
        return station

    # -------------------------------------------------------------- life cycle

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Stop receiving, wake every waiter (they raise), flush and close an owned archive."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
            handles = list(self._commands.values()) if isinstance(self._commands, dict) \
                else list(self._commands)
        for handle in handles:
            handle._wake()
        self.link.close()
        if self._owned_state is not None:
            self._owned_state.close()  # its lock and record files
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
        if self._archive is not None:
            with contextlib.suppress(Exception):  # closing must not fail on a broken disk
                if self._owns_archive:
                    self._archive.close()
                else:
                    self._archive.flush()

    def __enter__(self) -> GroundStation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def _open_archive(archive: Any) -> tuple[Any, bool]:
        if archive is None:
            return None, False
        if isinstance(archive, (str, os.PathLike)):
            from ground.archive import Archive  # lazily: SQLite only when archiving

            return Archive(Path(archive)), True
        return archive, False

    @property
    def archive(self) -> Any:
        """The archive everything is recorded in (``ground.archive.Archive``), or None."""
        return self._archive

    def mark(self) -> float:
        """A point in history to pass as ``since=`` (a ground monotonic time)."""
        return time.monotonic()

    # -------------------------------------------------------------- sending

    def send(self, app: str, command: str, /, *, arm: bool | None = None,
             args: Mapping[str, Any] | None = None, **kwargs: Any) -> CommandHandle:
        """Check and send ``app.command(**kwargs)`` (TC[8,1]); return its handle at once.

        Arguments that clash with this method's own names go in ``args={...}``. A hazardous
        command needs ``arm=True`` (send ``arm`` first and wait for it to complete), or an
        ``arm`` of it sent earlier through this station; ``arm=False`` sends it unarmed on
        purpose (the spacecraft will refuse it with NOT_ARMED). ``ValidationError`` before
        anything is sent when the dictionary says no.
        """
        spec = self.dictionary.command(app, command)
        values = check_args(app, spec, {**kwargs, **(args or {})})
        arm_handle = self._arm_if_needed(app, spec, arm)
        data = int(spec["opcode"]).to_bytes(2, "big")
        if values:
            data += msgpack.packb(values)
        handle = self.send_tc(self.dictionary.apid(app), Service.FUNCTION, 1, data, app=app,
                              name=command, args=values)
        handle.arm_handle = arm_handle
        return handle

    def send_and_wait(self, app: str, command: str, /, *, timeout: float = DEFAULT_TIMEOUT,
                      arm: bool | None = None, args: Mapping[str, Any] | None = None,
                      **kwargs: Any) -> CommandHandle:
        """:meth:`send`, then wait for completion: ``CommandFailed`` with the reason if it
        failed, ``CommandTimeout`` if no final report came within ``timeout`` seconds."""
        handle = self.send(app, command, arm=arm, args=args, **kwargs)
        handle.result(timeout)
        return handle

    #: The scripting spelling: ``gs.command("health", "noop")``.
    command = send_and_wait

    def _arm_if_needed(self, app: str, spec: Mapping[str, Any],
                       arm: bool | None) -> CommandHandle | None:
        if not spec.get("hazardous"):
            return None
        key = (app, str(spec["name"]))
        handle = None
        if arm:
            handle = self.send_and_wait(app, "arm", args={"command": spec["name"]})
        with self._cond:
            if arm is None and key not in self._armed:
                raise HazardousCommandError(
                    f"{app}.{spec['name']} is hazardous: send it with arm=True (--arm on the "
                    f"command line), which sends {app}.arm command={spec['name']} first, or "
                    f"arm it yourself just before")
            self._armed.discard(key)  # one arm allows one execution on board too
        return handle

    def send_tc(self, apid: int, service: int, subtype: int, data: bytes = b"", *,
                app: str | None = None, name: str | None = None,
                args: Mapping[str, Any] | None = None, ack: Ack = Ack.ALL) -> CommandHandle:
        """Send any telecommand (no dictionary check) and track it: the low-level door."""
        if self._closed:
            raise GroundError("the ground station is closed")
        label = name or f"tc[{service},{subtype}]"
        app = app or self.dictionary.app_at(apid)
        made: list[CommandHandle] = []

        def before_send(tc: Telecommand, frame: bytes) -> None:
            # Registered, stamped and archived before the datagram leaves, so that no report
            # can arrive for a command the station (or the archive) has not heard of yet.
            handle = CommandHandle(self._cond, tc, app, label, args, lambda: self._closed)
            self._register(handle)
            handle.raw = frame
            handle.sent_mono, handle.sent_ground = time.monotonic(), time.time()
            self._record("record_command", handle.request_id, app, label, dict(handle.args),
                         handle.sent_ground, frame)
            made.append(handle)

        self.link.send_new(apid, service, subtype, data, ack=ack, before_send=before_send)
        return made[0]

    def _register(self, handle: CommandHandle) -> None:
        with self._cond:
            self._handles[handle.request_id] = handle
            self._handles.move_to_end(handle.request_id)
            while len(self._handles) > _MAX_HANDLES:
                self._handles.popitem(last=False)
            self._commands.append(handle)

    def commands(self) -> list[CommandHandle]:
        """Every command sent through this station (bounded history), oldest first."""
        with self._cond:
            return list(self._commands)

    # -------------------------------------------------------------- link services

    def ping(self, timeout: float = 5.0) -> float:
        """Send TC[17,1] to comms and return the round trip to its TM[17,2], in seconds."""
        try:
            handle, pong = self._request(COMMS_APID, Service.TEST, Ping.PING, b"",
                                         app="comms", name="ping", answer=Ping.PONG,
                                         timeout=timeout)
        except TimeoutError as exc:
            raise TimeoutError(f"no answer to a ping within {timeout:g} s: "
                               f"{NO_ANSWER_HINT}") from exc
        return pong.t_mono - handle.sent_mono

    def mission_time(self, timeout: float = 5.0) -> float:
        """The spacecraft's clock now (mission UNIX seconds), from a fresh ping's reply.

        The reply's onboard stamp plus half the round trip; the clock's rate is measured
        between the last two replies (at least 0.1 s apart), so a simulation running faster
        than real time is followed too.
        """
        rtt = self.ping(timeout)
        with self._cond:
            samples = list(self._clock)
        onboard, mono = samples[-1]
        rate = 1.0
        if len(samples) == 2 and samples[1][1] - samples[0][1] >= 0.1:
            rate = (samples[1][0] - samples[0][0]) / (samples[1][1] - samples[0][1])
        return onboard + (time.monotonic() - mono + rtt / 2) * rate

    def set_hk_interval(self, app: str, seconds: float, *, wait: bool = True,
                        timeout: float = DEFAULT_TIMEOUT) -> CommandHandle:
        """Downlink ``app``'s housekeeping at most every ``seconds`` mission seconds
        (0: every packet) with TC[3,31]."""
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or \
                not 0 <= seconds <= 86_400:
            raise ValidationError(f"interval must be 0..86400 s, got {seconds!r}")
        data = msgpack.packb({self._structure(app): seconds})
        return self._service(Service.HOUSEKEEPING, Housekeeping.MODIFY_INTERVAL, data,
                             "set_hk_interval", {"app": app, "seconds": seconds}, wait, timeout)

    def enable_hk(self, *apps: str, wait: bool = True,
                  timeout: float = DEFAULT_TIMEOUT) -> CommandHandle:
        """Resume periodic housekeeping of ``apps`` (none: all) with TC[3,5]."""
        data = msgpack.packb([self._structure(a) for a in apps])
        return self._service(Service.HOUSEKEEPING, Housekeeping.ENABLE_PERIODIC, data,
                             "enable_hk", {"apps": list(apps)}, wait, timeout)

    def disable_hk(self, *apps: str, wait: bool = True,
                   timeout: float = DEFAULT_TIMEOUT) -> CommandHandle:
        """Stop periodic housekeeping of ``apps`` (none: all) with TC[3,6]."""
        data = msgpack.packb([self._structure(a) for a in apps])
        return self._service(Service.HOUSEKEEPING, Housekeeping.DISABLE_PERIODIC, data,
                             "disable_hk", {"apps": list(apps)}, wait, timeout)

    def request_hk(self, *apps: str, wait: bool = True,
                   timeout: float = DEFAULT_TIMEOUT) -> CommandHandle:
        """Ask for the latest housekeeping report of each of ``apps`` now (TC[3,27])."""
        data = msgpack.packb([self._structure(a) for a in apps])
        return self._service(Service.HOUSEKEEPING, Housekeeping.GENERATE_ONE_SHOT, data,
                             "request_hk", {"apps": list(apps)}, wait, timeout)

    def enable_events(self, *names: str, wait: bool = True,
                      timeout: float = DEFAULT_TIMEOUT) -> CommandHandle:
        """Downlink these events again (TC[5,5]): ``"app.EVENT"``, ``"app.*"``; none: all."""
        data = msgpack.packb([self._event_pattern(n) for n in names])
        return self._service(Service.EVENT, EventService.ENABLE, data, "enable_events",
                             {"names": list(names)}, wait, timeout)

    def disable_events(self, *names: str, wait: bool = True,
                       timeout: float = DEFAULT_TIMEOUT) -> CommandHandle:
        """Stop downlinking these events (TC[5,6]): ``"app.EVENT"``, ``"app.*"``, ``"*"``."""
        data = msgpack.packb([self._event_pattern(n) for n in names])
        return self._service(Service.EVENT, EventService.DISABLE, data, "disable_events",
                             {"names": list(names)}, wait, timeout)

    def _structure(self, app: str) -> int:
        return int(self.dictionary.app(app)["id"])

    def _event_pattern(self, pattern: str) -> str:
        if pattern == "*":
            return pattern
        app, sep, name = pattern.partition(".")
        if not sep:
            raise ValidationError(f"event {pattern!r}: expected app.EVENT, app.* or *")
        if name == "*":
            self.dictionary.app(app)
        else:
            self.dictionary.event(app, name)
        return pattern

    def _service(self, service: int, subtype: int, data: bytes, name: str,
                 args: Mapping[str, Any], wait: bool, timeout: float,
                 apid: int = COMMS_APID) -> CommandHandle:
        handle = self.send_tc(apid, service, subtype, data,
                              app=self.dictionary.app_at(apid) if apid != COMMS_APID
                              else "comms", name=name, args=args)
        if wait:
            handle.result(timeout)
        return handle

    # -------------------------------------------------------------- parameters

    def params(self, app: str, *names: str, timeout: float = DEFAULT_TIMEOUT
               ) -> dict[str, dict[str, Any]]:
        """``{"active": {...}, "staged": {...}}`` of ``app``'s parameters (TC[20,1])."""
        for name in names:
            self.dictionary.parameter(app, name)
        _, report = self._request(self.dictionary.apid(app), Service.PARAMETER,
                                  ParameterManagement.REPORT, msgpack.packb(list(names)),
                                  app=app, name="params", args={"names": list(names)},
                                  answer=ParameterManagement.VALUE_REPORT, timeout=timeout)
        return dict(report.data) if isinstance(report.data, Mapping) else {}

    def set_params(self, app: str, *, timeout: float = DEFAULT_TIMEOUT,
                   **values: Any) -> CommandHandle:
        """Load and activate parameter values all at once (TC[20,3]); ``CommandFailed`` if the
        spacecraft refused any (then none is active)."""
        if not values:
            raise ValidationError("set_params: no values given")
        checked = {n: check_value(self.dictionary.parameter(app, n), v, f"{app}.{n}")
                   for n, v in values.items()}
        return self._service(Service.PARAMETER, ParameterManagement.SET,
                             msgpack.packb(checked), "set_params", checked, True, timeout,
                             apid=self.dictionary.apid(app))

    # -------------------------------------------------------------- time-tagged commands

    def schedule(self, at: float | datetime.datetime | datetime.timedelta, app: str,
                 command: str, /, *, timeout: float = DEFAULT_TIMEOUT,
                 args: Mapping[str, Any] | None = None, **kwargs: Any) -> Scheduled:
        """Put ``app.command(**kwargs)`` on board to run at ``at`` (TC[11,4]).

        ``at`` is mission time: UNIX seconds, an aware datetime, or a timedelta from
        :meth:`mission_time`. Waits until the insertion is confirmed (``CommandFailed`` with
        ``RELEASE_TIME_PASSED``, ``SCHEDULE_FULL``, ...); the returned ``command`` handle
        collects the command's own stages when it is released.
        """
        spec = self.dictionary.command(app, command)
        if spec.get("hazardous"):
            raise HazardousCommandError(f"{app}.{command} is hazardous: it cannot be "
                                        f"time-tagged (its arm would expire)")
        values = check_args(app, spec, {**kwargs, **(args or {})})
        release = self._release_time(at)
        data = int(spec["opcode"]).to_bytes(2, "big") + (msgpack.packb(values) if values else b"")
        embedded = self.link.make_tc(self.dictionary.apid(app), Service.FUNCTION, 1, data)
        inner = CommandHandle(self._cond, embedded, app, command, values, lambda: self._closed)
        self._register(inner)
        outer_data = CdsTime.from_unix(release).encode() + embedded.encode(self.link.max_size)
        insertion = self.send_tc(COMMS_APID, Service.SCHEDULING, TimeScheduling.INSERT,
                                 outer_data, app="comms", name="schedule",
                                 args={"release_t": release, "command": inner.label,
                                       "args": values, "request_id": inner.request_id})
        inner.sent_mono, inner.sent_ground = insertion.sent_mono, insertion.sent_ground
        self._record("record_command", inner.request_id, app, command, values,
                     insertion.sent_ground, None)
        insertion.result(timeout)
        return Scheduled(insertion, inner, release)

    def _release_time(self, at: float | datetime.datetime | datetime.timedelta) -> float:
        if isinstance(at, datetime.timedelta):
            return self.mission_time() + at.total_seconds()
        if isinstance(at, datetime.datetime):
            if at.tzinfo is None:
                raise ValidationError("naive datetime: give a timezone-aware one")
            return at.timestamp()
        return float(at)

    def unschedule(self, *request_ids: int | Scheduled | CommandHandle,
                   timeout: float = DEFAULT_TIMEOUT) -> CommandHandle:
        """Delete time-tagged commands by request id (TC[11,5])."""
        ids = [r.request_id if isinstance(r, (Scheduled, CommandHandle)) else int(r)
               for r in request_ids]
        return self._service(Service.SCHEDULING, TimeScheduling.DELETE_BY_ID,
                             msgpack.packb(ids), "unschedule", {"request_ids": ids}, True,
                             timeout)

    def schedule_summary(self, timeout: float = DEFAULT_TIMEOUT) -> list[dict[str, Any]]:
        """Every activity waiting on board (TC[11,17] -> TM[11,13]), with its app's name."""
        _, report = self._request(COMMS_APID, Service.SCHEDULING,
                                  TimeScheduling.REPORT_SUMMARY_ALL, b"", app="comms",
                                  name="schedule_summary",
                                  answer=TimeScheduling.SUMMARY_REPORT, timeout=timeout)
        rows = report.data if isinstance(report.data, list) else []
        return [{**row, "app": self.dictionary.app_at(int(row.get("apid", -1)))}
                for row in rows if isinstance(row, Mapping)]

    def _request(self, apid: int, service: int, subtype: int, data: bytes, *, app: str,
                 name: str, answer: int, args: Mapping[str, Any] | None = None,
                 timeout: float = DEFAULT_TIMEOUT) -> tuple[CommandHandle, Report]:
        """Send a request whose answer is a report without a request id (pong, TM[20,2],
        TM[11,13]) and return that answer: the first of its kind after sending.

        Requests of one kind to one APID take turns, so two threads asking at once cannot
        take each other's answers.
        """
        with self._cond:
            lock = self._request_locks.setdefault((apid, service, answer), threading.Lock())
        with lock:
            handle = self.send_tc(apid, service, subtype, data, app=app, name=name, args=args)
            return handle, self._await_report(handle, apid, service, answer, timeout)

    def _await_report(self, handle: CommandHandle, apid: int, service: int, subtype: int,
                      timeout: float) -> Report:
        """The TM a request is answered with, or ``CommandFailed``.

        The answer carries no request id, so it is told from a late answer to an earlier
        request by where it falls among this request's own verification reports: the
        spacecraft sends acceptance, the answer, then completion, in that order. So it is the
        first report of its kind after this request's acceptance; if the acceptance was lost
        on the link, the last one before its completion (or the first after it, when the link
        reordered them). A request sent without asking for acceptance takes the first after
        sending.
        """
        deadline = time.monotonic() + timeout
        wants_acceptance = bool(handle.tc.ack & Ack.ACCEPTANCE)
        candidates: list[Report] = []

        def collect(r: Report) -> None:
            if r.apid == apid and r.service == service and r.subtype == subtype:
                candidates.append(r)

        def choose() -> list[Report] | None:
            final = handle.final
            if final is not None and not final.ok:
                raise CommandFailed(handle, final)
            accepted = handle.stage("accepted")
            if accepted is not None or not wants_acceptance:
                after = accepted.t_mono if accepted is not None else handle.sent_mono
                return next(([r] for r in candidates if r.t_mono >= after), None)
            if final is not None and candidates:
                before = [r for r in candidates if r.t_mono <= final.t_mono]
                return [before[-1] if before else candidates[0]]
            return None

        query: _Query[Report, Report] = _Query(f"TM[{service},{subtype}] answering "
                                               f"{handle.label}", collect, lambda r: None)
        return self._await(self._others, query, 1, deadline, handle.sent_mono, choose)[0]

    # -------------------------------------------------------------- waiting

    def await_telemetry(self, app: str | None = None, channel: str | None = None,
                        predicate: Callable[[Any], bool] | None = None, *, value: Any = _ANY,
                        timeout: float = DEFAULT_TIMEOUT, since: Since = None,
                        history: bool = False) -> Sample:
        """The first telemetry value of ``app.channel`` satisfying ``predicate`` (or equal to
        ``value``) received after ``since`` (default: now; ``history=True``: anything still
        in the history). ``TimeoutError`` after ``timeout`` seconds, naming the last values
        seen. Without ``channel``, the predicate sees each housekeeping report's whole map."""
        return self.await_telemetry_count(1, app, channel, predicate, value=value,
                                          timeout=timeout, since=since, history=history)[0]

    def await_telemetry_count(self, count: int, app: str | None = None,
                              channel: str | None = None,
                              predicate: Callable[[Any], bool] | None = None, *,
                              value: Any = _ANY, timeout: float = DEFAULT_TIMEOUT,
                              since: Since = None, history: bool = False) -> list[Sample]:
        """Like :meth:`await_telemetry`, until ``count`` matching values arrived."""
        query = self._telemetry_query(app, channel, predicate, value)
        start = _since_value(since, history)
        return self._await(self._reports, query, count, time.monotonic() + timeout, start)

    def await_event(self, app: str | None = None, name: str | None = None,
                    severity: int | str | None = None,
                    predicate: Callable[[Event], bool] | None = None, *,
                    timeout: float = DEFAULT_TIMEOUT, since: Since = None,
                    history: bool = False) -> Event:
        """The first event of ``app`` named ``name`` at ``severity`` or above (each optional)
        satisfying ``predicate`` (which sees the :class:`Event`), received after ``since``."""
        return self.await_event_count(1, app, name, severity, predicate, timeout=timeout,
                                      since=since, history=history)[0]

    def await_event_count(self, count: int, app: str | None = None, name: str | None = None,
                          severity: int | str | None = None,
                          predicate: Callable[[Event], bool] | None = None, *,
                          timeout: float = DEFAULT_TIMEOUT, since: Since = None,
                          history: bool = False) -> list[Event]:
        """Like :meth:`await_event`, until ``count`` matching events arrived."""
        query = self._event_query(app, name, severity, predicate)
        start = _since_value(since, history)
        return self._await(self._events, query, count, time.monotonic() + timeout, start)

    def _await(self, log_: _Log[T], query: _Query[T, R], count: int, deadline: float,
               since: float, check: Callable[[], list[R] | None] | None = None) -> list[R]:
        """Collect ``count`` matches from ``log_`` (history after ``since``, then new items),
        sleeping on the condition between packets; ``TimeoutError`` at the deadline.
        ``check`` runs after each batch: it may raise, or return the answer itself."""
        timeout = max(deadline - time.monotonic(), 0.0)
        found: list[R] = []
        with self._cond:
            fresh, seen = log_.items(), log_.total
            while True:
                for item in fresh:
                    if getattr(item, "t_mono", math.inf) >= since and \
                            (hit := query(item)) is not None:
                        found.append(hit)
                        if len(found) >= count:
                            return found
                if check is not None and (decided := check()) is not None:
                    return decided
                left = deadline - time.monotonic()
                if self._closed:
                    raise GroundError(f"the ground station was closed while waiting for "
                                      f"{query.what}")
                if left <= 0:
                    raise TimeoutError(query.timeout_message(timeout, len(found), count))
                self._cond.wait(left)
                fresh, seen = log_.after(seen), log_.total

    def _telemetry_query(self, app: str | None, channel: str | None,
                         predicate: Callable[[Any], bool] | None,
                         value: Any) -> _Query[TelemetryReport, Sample]:
        self._check_channel(app, channel)
        if value is not _ANY:
            predicate = (lambda v: v == value)  # noqa: E731
        what = f"{app or '*'}{'.' + channel if channel else ''}{_describe(predicate, value)}"

        def pick(report: TelemetryReport) -> Sample | None:
            if app is not None and report.app != app:
                return None
            if channel is None:
                return _sample(report, None, report.values)
            found, val = resolve_channel(report.values, channel)
            return _sample(report, channel, val) if found else None

        def match(report: TelemetryReport) -> Sample | None:
            sample = pick(report)
            ok = sample is not None and (predicate is None or predicate(sample.value))
            return sample if ok else None

        def near(report: TelemetryReport) -> str | None:
            if app is not None and report.app != app:
                return None
            sample = pick(report)
            if sample is None:
                return f"a {report.app} report without {channel}"
            return _short(sample.value) if channel else f"a {report.app} report"

        return _Query(what, match, near)

    def _event_query(self, app: str | None, name: str | None, severity: int | str | None,
                     predicate: Callable[[Event], bool] | None) -> _Query[Event, Event]:
        if app is not None:
            self.dictionary.app(app)
            if name is not None:
                self.dictionary.event(app, name)
        level = _severity(severity)
        what = f"event {app or '*'}.{name or '*'}"
        what += f" at {_severity_name(level)} or above" if level is not None else ""
        what += _describe(predicate, _ANY)

        def match(event: Event) -> Event | None:
            ok = (app is None or event.app == app) and (name is None or event.name == name) \
                and (level is None or event.severity >= level) \
                and (predicate is None or predicate(event))
            return event if ok else None

        def near(event: Event) -> str | None:
            if app is not None and event.app != app:
                return None
            return f"{event.app}.{event.name} {event.severity_name}: {_short(event.text)}"

        return _Query(what, match, near)

    def _check_channel(self, app: str | None, channel: str | None) -> None:
        """Refuse names the dictionary does not have: a typo would otherwise just time out."""
        if app is None:
            if channel is not None:
                raise ValidationError("a channel needs its app")
            return
        if app in self.apps_seen() and app not in self.dictionary.apps:
            return  # an APID outside the dictionary, named apid_0x0NN
        self.dictionary.app(app)
        if channel is not None:
            self.dictionary.channel(app, channel)

    def apps_seen(self) -> set[str]:
        with self._cond:
            return set(self._latest)

    # -------------------------------------------------------------- history

    def telemetry_history(self, app: str | None = None, channel: str | None = None, *,
                          since: Since = None, until: float | None = None,
                          predicate: Callable[[Any], bool] | None = None,
                          limit: int | None = None) -> list[Sample]:
        """Values received (oldest first), one per channel per report when ``channel`` is
        None; ``since``/``until`` are ground monotonic times (or a handle: since it was sent);
        ``limit`` keeps the newest."""
        self._check_channel(app, channel)
        start = _since_value(since, history=True)
        out: list[Sample] = []
        for report in self.reports(app, since=start, until=until):
            if channel is None:
                samples = [_sample(report, k, v) for k, v in report.values.items()]
            else:
                found, val = resolve_channel(report.values, channel)
                samples = [_sample(report, channel, val)] if found else []
            out.extend(s for s in samples if predicate is None or predicate(s.value))
        return out[-limit:] if limit else out

    def reports(self, app: str | None = None, *, since: Since = None,
                until: float | None = None) -> list[TelemetryReport]:
        """Housekeeping reports received (oldest first)."""
        start = _since_value(since, history=True)
        with self._cond:
            items = self._reports.items()
        return [r for r in items if (app is None or r.app == app) and r.t_mono >= start
                and (until is None or r.t_mono < until)]

    def latest(self, app: str, channel: str | None = None) -> Sample | None:
        """The newest value of ``app.channel`` received (the whole report without channel)."""
        self._check_channel(app, channel)
        with self._cond:
            report = self._latest.get(app)
        if report is None:
            return None
        if channel is None:
            return _sample(report, None, report.values)
        found, val = resolve_channel(report.values, channel)
        if found:
            return _sample(report, channel, val)
        hits = self.telemetry_history(app, channel, limit=1)
        return hits[0] if hits else None

    def event_history(self, app: str | None = None, name: str | None = None,
                      severity: int | str | None = None, *, since: Since = None,
                      until: float | None = None,
                      predicate: Callable[[Event], bool] | None = None,
                      limit: int | None = None) -> list[Event]:
        """Events received (oldest first), filtered like :meth:`await_event`."""
        query = self._event_query(app, name, severity, predicate)
        start = _since_value(since, history=True)
        with self._cond:
            items = self._events.items()
        out = [e for e in items if e.t_mono >= start and (until is None or e.t_mono < until)
               and query.match(e) is not None]
        return out[-limit:] if limit else out

    def other_reports(self, service: int | None = None, subtype: int | None = None, *,
                      since: Since = None) -> list[Report]:
        """Telemetry other than housekeeping, events and verification (oldest first)."""
        start = _since_value(since, history=True)
        with self._cond:
            items = self._others.items()
        return [r for r in items if r.t_mono >= start and service in (None, r.service)
                and subtype in (None, r.subtype)]

    def verification_history(self, request_id: int | None = None) -> list[tuple[int, Stage]]:
        """Every verification report received, ``(request id, stage)``, also those about
        commands this station did not send (another ground, an earlier session)."""
        with self._cond:
            items = self._verifications.items()
        return [(rid, s) for rid, s in items if request_id in (None, rid)]

    def assert_telemetry_count(self, count: int | Callable[[int], bool], app: str | None = None,
                               channel: str | None = None,
                               predicate: Callable[[Any], bool] | None = None, *,
                               since: Since = None) -> list[Sample]:
        """Check how many values are in the history now (no waiting); ``AssertionError``."""
        samples = self.telemetry_history(app, channel, since=since, predicate=predicate)
        _check_count(count, len(samples), f"telemetry {app or '*'}.{channel or '*'}")
        return samples

    def assert_event_count(self, count: int | Callable[[int], bool], app: str | None = None,
                           name: str | None = None, severity: int | str | None = None, *,
                           since: Since = None) -> list[Event]:
        """Check how many events are in the history now (no waiting); ``AssertionError``."""
        events = self.event_history(app, name, severity, since=since)
        _check_count(count, len(events), f"events {app or '*'}.{name or '*'}")
        return events

    def listen(self, callback: Callable[[Any], None]) -> Callable[[], None]:
        """Call ``callback(item)`` from the receive thread for everything decoded from now on
        (a :class:`TelemetryReport`, :class:`Event`, :class:`Report`, or ``(request id,
        Stage)``); returns the function that stops it. Keep callbacks short (hand the item
        to a queue): the receive thread waits for them, holding the station's lock, so a
        callback must not send (sending takes the link's lock, then the station's)."""
        with self._cond:
            self._listeners.append(callback)

        def stop() -> None:
            with self._cond, contextlib.suppress(ValueError):
                self._listeners.remove(callback)

        return stop

    def _publish(self, item: Any) -> None:
        """Append-side notification: wake waiters, then tell listeners (lock held)."""
        self._cond.notify_all()
        for callback in list(self._listeners):
            try:
                callback(item)
            except Exception:  # a broken listener must not stop the downlink
                log.exception("ground: listener %r failed", callback)

    def stats(self) -> dict[str, Any]:
        """Link counters and the station's own: undecodable source data, unmatched reports."""
        link: LinkStats = self.link.stats()
        with self._cond:
            return {"link": link, "bad_data": dict(self._bad_data),
                    "unmatched_verifications": self._unmatched,
                    "archive_errors": self._archive_errors,
                    "reports": self._reports.total, "events": self._events.total,
                    "others": self._others.total, "commands": len(self._commands)}

    # -------------------------------------------------------------- receiving

    def _receive_loop(self) -> None:
        while not self._closed:
            rx = self.link.receive()
            if rx is None:
                if self.link.closed:
                    return
                continue
            try:
                self._on_received(rx)
            except Exception:  # one bad packet must never stop the downlink
                log.exception("ground: could not process a received packet")

    def _on_received(self, rx: Received) -> None:
        packet_id = self._archive_packet(rx)
        packet = rx.packet
        if packet is None:
            return
        app = self.dictionary.app_at(packet.apid)
        handlers: dict[int, Callable[[Received, TelemetryPacket, str, int | None], None]] = {
            Service.VERIFICATION: self._on_verification, Service.FUNCTION: self._on_result,
            Service.HOUSEKEEPING: self._on_housekeeping, Service.EVENT: self._on_event}
        handler = handlers.get(packet.service, self._on_other)  # IntEnum keys hash as ints
        try:
            handler(rx, packet, app, packet_id)
        except (LinkError, ValueError, TypeError, KeyError, msgpack.UnpackException) as exc:
            reason = f"tm[{packet.service},{packet.subtype}]"
            with self._cond:
                self._bad_data[reason] += 1
            log.warning("ground: undecodable source data in %s from %s: %s", reason, app, exc)

    def _on_verification(self, rx: Received, packet: TelemetryPacket, app: str,
                         packet_id: int | None) -> None:
        report = VerificationReport.decode(packet.subtype, packet.source_data)
        rid = int.from_bytes(report.request_id, "big")
        name, ok = STAGES[packet.subtype]
        stage = Stage(name, ok, report.code, self.dictionary.reason_name(report.code),
                      report.data.decode("utf-8", "replace"), report.step, rx.t_mono,
                      rx.t_ground, packet.time.to_unix())
        with self._cond:
            handle = self._handles.get(rid)
            if handle is None:
                self._unmatched += 1
            else:
                handle._add(stage)
                self._note_arm(handle, stage)
            self._verifications.append((rid, stage))
            self._publish((rid, stage))
        self._record("record_verification", rid, name, ok, report.code, rx.t_ground,
                     command=handle.label if handle else None, packet_id=packet_id,
                     step=report.step, text=stage.message or None)

    def _on_result(self, rx: Received, packet: TelemetryPacket, app: str,
                   packet_id: int | None) -> None:
        """TM[8,128]: a command's return value, kept on its handle (sent before completion)."""
        if packet.subtype != FunctionManagement.RESULT_REPORT or len(packet.source_data) < 4:
            self._on_other(rx, packet, app, packet_id)
            return
        rid = int.from_bytes(packet.source_data[:4], "big")
        data = _unpack(packet.source_data[4:])
        with self._cond:
            handle = self._handles.get(rid)
            if handle is not None:
                handle.data = data

    def _note_arm(self, handle: CommandHandle, stage: Stage) -> None:
        if handle.command == "arm" and stage.name == "completed" and stage.ok:
            self._armed.add((handle.app, str(handle.args.get("command"))))

    def _on_housekeeping(self, rx: Received, packet: TelemetryPacket, app: str,
                         packet_id: int | None) -> None:
        if packet.subtype != Housekeeping.PARAMETER_REPORT:
            self._on_other(rx, packet, app, packet_id)
            return
        data = packet.source_data
        if len(data) < 2:
            raise ValueError("TM[3,25] without a structure id")
        values = _unpack(data[2:])
        if not isinstance(values, dict):
            raise ValueError("TM[3,25] values are not a map")
        t_onboard = packet.time.to_unix()
        report = TelemetryReport(app, values, t_onboard, rx.t_ground, rx.t_mono, packet.apid,
                                 packet.seq_count)
        with self._cond:
            self._reports.append(report)
            self._latest[app] = report
            self._publish(report)
        self._record("record_values", t_onboard, app, values, packet_id=packet_id,
                     t_ground=rx.t_ground)

    def _on_event(self, rx: Received, packet: TelemetryPacket, app: str,
                  packet_id: int | None) -> None:
        if packet.subtype not in range(1, 5):
            self._on_other(rx, packet, app, packet_id)
            return
        data = _unpack(packet.source_data)
        if not isinstance(data, dict):
            raise ValueError("TM[5,x] data is not a map")
        name = str(data.get("event", ""))
        raw_args = data.get("args")
        args: dict[str, Any] = raw_args if isinstance(raw_args, dict) else {}
        event_id = data.get("id", self.dictionary.event_id(app, name))
        event = Event(app, name, packet.subtype, str(data.get("text", "")), args,
                      event_id if isinstance(event_id, int) else None, packet.time.to_unix(),
                      rx.t_ground, rx.t_mono)
        with self._cond:
            self._events.append(event)
            self._publish(event)
        self._record("record_event", event.t_onboard, app, name, event.severity, event.text,
                     args, packet_id=packet_id, t_ground=rx.t_ground)

    def _on_other(self, rx: Received, packet: TelemetryPacket, app: str,
                  packet_id: int | None) -> None:
        data: Any = packet.source_data
        if (packet.service, packet.subtype) in _MSGPACK_REPORTS:
            data = _unpack(data)
        report = Report(app, packet.apid, packet.service, packet.subtype, data,
                        packet.time.to_unix(), rx.t_ground, rx.t_mono)
        with self._cond:
            self._others.append(report)
            if (packet.service, packet.subtype) == (Service.TEST, Ping.PONG):
                self._note_clock(report.t_onboard, rx.t_mono)
            self._publish(report)

    def _note_clock(self, onboard: float, mono: float) -> None:
        """Keep the newest pong and an older one at least 0.1 s before it (lock held)."""
        if len(self._clock) == 2 and mono - self._clock[1][1] < 0.1:
            self._clock[1] = (onboard, mono)  # too close to tell a rate: keep the older one
        else:
            self._clock.append((onboard, mono))

    # -------------------------------------------------------------- archive

    def _archive_packet(self, rx: Received) -> int | None:
        if self._archive is None:
            return None
        p = rx.packet
        if p is None:
            if hasattr(self._archive, "record_downlink"):
                row = self._record("record_downlink", rx.raw, t_ground=rx.t_ground)
                return None if row is None else int(row[0])
            return self._record("record_packet", "down", rx.raw, t_ground=rx.t_ground,
                                status=rx.reason or "rejected")
        return self._record("record_packet", "down", rx.raw, t_ground=rx.t_ground,
                            apid=p.apid, service=p.service, subtype=p.subtype,
                            seq=p.seq_count, t_onboard=p.time.to_unix(), status="ok")

    def _record(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call an archive method; a failing archive is counted and logged, never fatal."""
        if self._archive is None:
            return None
        try:
            return getattr(self._archive, method)(*args, **kwargs)
        except Exception as exc:
            with self._cond:
                self._archive_errors += 1
                first = self._archive_errors == 1
            if first:
                log.error("ground: archive %s failed (%s); counting further failures", method,
                          exc)
            return None


#: Reports whose source data the ICD defines as msgpack.
_MSGPACK_REPORTS = {(Service.PARAMETER, ParameterManagement.VALUE_REPORT),
                    (Service.SCHEDULING, TimeScheduling.SUMMARY_REPORT)}


def _unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


def _sample(report: TelemetryReport, channel: str | None, value: Any) -> Sample:
    return Sample(report.app, channel, value, report.t_onboard, report.t_ground, report.t_mono)


def _check_count(count: int | Callable[[int], bool], actual: int, what: str) -> None:
    ok = count(actual) if callable(count) else actual == count
    if not ok:
        raise AssertionError(f"{what}: {actual} in the history, expected "
                             f"{getattr(count, '__name__', count)}")

