"""The console's model: what the operator's screen shows, kept apart from the screen.

Everything here is plain Python with no I/O, no threads and no clock of its own: the views ask
"what is there *now*" with an explicit ``now``, so limits, staleness, the link indicator and the
event filter are unit-tested without a terminal, a socket or a sleep.

Time. Every item is ingested with ``t``, a point on the source's *timeline*: the ground monotonic
clock for a live link, the archived ground-receive time during a replay (whose clock runs at the
replay's speed). Ages and staleness are differences on that timeline. The wall-clock and onboard
times an operator reads (``t_ground``, ``t_onboard``) are kept alongside for display only.

Limits come from the dictionary (``yellow_low`` .. ``red_high``) and are judged by
``flight.app.model.Limits``, the same code the flight side raises ``LIMIT`` events with, so the
console never disagrees with the spacecraft about a colour.
"""

from __future__ import annotations

import datetime
import math
import statistics
from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flight.app.model import Limits, Severity
from ground.station import Dictionary, Event, Stage, TelemetryReport

__all__ = [
    "SEVERITY_LEVELS",
    "CommandEntry",
    "ConsoleModel",
    "EventEntry",
    "EventLog",
    "LinkModel",
    "LinkStatus",
    "StageEntry",
    "StalenessPolicy",
    "TelemetryModel",
    "TelemetryRow",
    "TelemetryValue",
    "VerificationModel",
    "format_age",
    "format_clock",
    "format_value",
    "limit_state",
]

#: Severities the downlink carries (DEBUG is never downlinked), lowest first: the event
#: filter cycles through these.
SEVERITY_LEVELS: tuple[int, ...] = (Severity.INFO, Severity.WARNING, Severity.ERROR,
                                    Severity.CRITICAL)
#: The verification stages in the order they happen.
STAGE_NAMES = ("accepted", "started", "progress", "completed")


# ------------------------------------------------------------------------------ formatting


def severity_name(value: int) -> str:
    try:
        return Severity(value).name
    except ValueError:
        return str(value)


def format_value(value: Any, width: int = 40) -> str:
    """A telemetry value as an operator reads it: short, never scientific for everyday sizes."""
    if value is None:
        return "unsupported"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if abs(value) >= 1e4:
            return f"{value:.1f}"
        return f"{value:.4g}"
    if isinstance(value, Mapping):
        text = "{}" if not value else "{" + ", ".join(f"{k}: {format_value(v)}"
                                                       for k, v in value.items()) + "}"
    elif isinstance(value, (bytes, bytearray)):
        text = bytes(value).hex()
    else:
        text = str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def format_age(age: float | None) -> str:
    """``<1s``, ``12s``, ``4m05s``, ``2h10m``; ``-`` when unknown. Whole seconds: a table
    of fresh values does not have to be redrawn at every report."""
    if age is None or not math.isfinite(age):
        return "-"
    age = max(age, 0.0)
    if age < 1:
        return "<1s"
    if age < 60:
        return f"{int(age)}s"
    if age < 3600:
        minutes, seconds = divmod(int(age), 60)
        return f"{minutes}m{seconds:02d}s"
    hours, rest = divmod(int(age), 3600)
    return f"{hours}h{rest // 60:02d}m"


def format_clock(t: float | None, *, millis: bool = False) -> str:
    """A UNIX time as UTC ``HH:MM:SS`` (``.mmm`` with ``millis``); ``-`` when unknown."""
    if t is None or not math.isfinite(t):
        return "-"
    try:
        stamp = datetime.datetime.fromtimestamp(t, tz=datetime.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return "-"
    return stamp.strftime("%H:%M:%S.%f")[:-3] if millis else stamp.strftime("%H:%M:%S")


# ------------------------------------------------------------------------------ limits


def limit_state(limits: Mapping[str, Any] | None, value: Any) -> str:
    """``"nominal"``, ``"yellow"`` or ``"red"`` for a numeric value of a channel with limits;
    ``"none"`` when the channel has no limits or the value is not a number (text, a boolean,
    ``None`` for an unsupported sensor). NaN is red, as on board."""
    if not limits or isinstance(value, bool) or not isinstance(value, (int, float)):
        return "none"
    known = {k: limits[k] for k in ("yellow_low", "yellow_high", "red_low", "red_high")
             if limits.get(k) is not None}
    if not known:
        return "none"
    return Limits(**known).state(value)


@dataclass(frozen=True)
class StalenessPolicy:
    """When a value counts as stale: not refreshed for ``factor`` times its app's expected
    housekeeping period (measured from the reports seen, never less than ``floor`` seconds),
    or for ``fallback`` seconds while that period is not known yet."""

    factor: float = 3.0
    fallback: float = 10.0
    floor: float = 1.0

    def threshold(self, period: float | None) -> float:
        if period is None or not period > 0:
            return self.fallback
        return max(self.factor * period, self.floor)


class _PeriodEstimator:
    """An app's housekeeping period: the median of its last few report intervals."""

    def __init__(self, window: int = 9) -> None:
        self._last: float | None = None
        self._intervals: deque[float] = deque(maxlen=window)

    def observe(self, t: float) -> None:
        if self._last is not None and t > self._last:
            self._intervals.append(t - self._last)
        if self._last is None or t > self._last:
            self._last = t

    @property
    def period(self) -> float | None:
        return statistics.median(self._intervals) if self._intervals else None


# ------------------------------------------------------------------------------ telemetry


@dataclass
class TelemetryValue:
    """The latest value of one (flattened) channel: ``loads.compute`` for a map entry."""

    app: str
    channel: str
    value: Any
    unit: str
    limits: Mapping[str, Any] | None
    state: str  #: nominal / yellow / red / none
    t: float  #: timeline (see the module docs)
    t_ground: float | None
    updates: int = 1


@dataclass(frozen=True)
class TelemetryRow:
    """One line of the telemetry table, ready to draw."""

    key: str  #: ``app.channel``, unique
    app: str
    channel: str
    value: Any
    text: str
    unit: str
    state: str
    age: float | None
    stale: bool


class TelemetryModel:
    """Latest value, limit state and age of every channel seen, in dictionary order."""

    def __init__(self, dictionary: Dictionary, policy: StalenessPolicy | None = None) -> None:
        self.dictionary = dictionary
        self.policy = policy or StalenessPolicy()
        self._values: dict[tuple[str, str], TelemetryValue] = {}
        self._periods: dict[str, _PeriodEstimator] = {}
        self._last_report: dict[str, float] = {}
        self._order_cache: dict[tuple[str, str], tuple[int, int, str]] = {}
        self.generation = 0  #: bumped whenever a new channel appears (the table's row set)
        self.reports = 0

    # -------------------------------------------------------------- feeding

    def ingest(self, app: str, values: Mapping[str, Any], t: float,
               t_ground: float | None = None) -> list[str]:
        """Take one housekeeping report; return the keys (``app.channel``) it updated."""
        self.reports += 1
        self._periods.setdefault(app, _PeriodEstimator()).observe(t)
        self._last_report[app] = max(t, self._last_report.get(app, t))
        decls = self._declarations(app)
        changed: list[str] = []
        for name, value in values.items():
            decl = decls.get(str(name), {})
            unit = str(decl.get("unit", ""))
            limits = decl.get("limits")
            for channel, leaf in _leaves(str(name), value):
                key = (app, channel)
                state = limit_state(limits, leaf)
                current = self._values.get(key)
                if current is None:
                    self._values[key] = TelemetryValue(app, channel, leaf, unit, limits, state,
                                                       t, t_ground)
                    self.generation += 1
                elif t >= current.t:  # stored telemetry downlinked late never hides newer
                    current.value, current.state = leaf, state
                    current.t, current.t_ground = t, t_ground
                    current.updates += 1
                else:
                    continue
                changed.append(f"{app}.{channel}")
        return changed

    def _declarations(self, app: str) -> dict[str, dict[str, Any]]:
        entry = self.dictionary.apps.get(app) or {}
        return {c["name"]: c for c in entry.get("telemetry", ())}

    # -------------------------------------------------------------- reading

    def get(self, app: str, channel: str) -> TelemetryValue | None:
        return self._values.get((app, channel))

    def values(self, app: str | None = None) -> list[TelemetryValue]:
        """The latest values (of ``app``), in no particular order."""
        return [v for (a, _), v in self._values.items() if app is None or a == app]

    def period(self, app: str) -> float | None:
        estimator = self._periods.get(app)
        return None if estimator is None else estimator.period

    def threshold(self, app: str) -> float:
        """Seconds after which a value of ``app`` is stale."""
        return self.policy.threshold(self.period(app))

    def is_stale(self, value: TelemetryValue, now: float) -> bool:
        return now - value.t > self.threshold(value.app)

    def apps(self) -> list[str]:
        """Apps with telemetry, in dictionary order (apps the dictionary lacks last)."""
        order = list(self.dictionary.apps)
        seen = {app for app, _ in self._values}
        return sorted(seen, key=lambda a: (order.index(a) if a in order else len(order), a))

    def rows(self, now: float, app: str | None = None, *,
             alarms_only: bool = False) -> list[TelemetryRow]:
        """The table: every channel (of ``app``), in dictionary order; ``alarms_only`` keeps
        the yellow, red and stale ones."""
        out = []
        for key in sorted(self._values, key=self._order):
            if app is not None and key[0] != app:
                continue
            v = self._values[key]
            stale = self.is_stale(v, now)
            if alarms_only and not stale and v.state not in ("yellow", "red"):
                continue
            out.append(TelemetryRow(f"{v.app}.{v.channel}", v.app, v.channel, v.value,
                                    format_value(v.value), v.unit, v.state, now - v.t, stale))
        return out

    def _order(self, key: tuple[str, str]) -> tuple[int, int, str]:
        cached = self._order_cache.get(key)
        if cached is None:
            app, channel = key
            apps = list(self.dictionary.apps)
            app_index = apps.index(app) if app in apps else len(apps)
            names = [c["name"] for c in (self.dictionary.apps.get(app) or {}).get("telemetry",
                                                                                 ())]
            head = channel.split(".", 1)[0]
            chan_index = names.index(head) if head in names else len(names)
            cached = self._order_cache[key] = (app_index, chan_index, f"{app}.{channel}")
        return cached

    def counts(self, now: float) -> dict[str, int]:
        """How many channels are nominal, yellow, red, stale."""
        out = {"nominal": 0, "yellow": 0, "red": 0, "stale": 0}
        for v in self._values.values():
            if v.state in out:
                out[v.state] += 1
            if self.is_stale(v, now):
                out["stale"] += 1
        return out


def _leaves(name: str, value: Any, depth: int = 0) -> Iterable[tuple[str, Any]]:
    """A channel's value as table rows: a map becomes one row per entry (``loads.compute``);
    an empty map stays one row showing ``{}``."""
    if isinstance(value, Mapping) and value and depth < 8:
        for key, item in value.items():
            yield from _leaves(f"{name}.{key}", item, depth + 1)
    elif isinstance(value, (list, tuple)):
        yield name, list(value)
    else:
        yield name, value


# ------------------------------------------------------------------------------ events


@dataclass(frozen=True)
class EventEntry:
    seq: int  #: position in the log (1, 2, ...): new entries are those above the last seen
    app: str
    name: str
    severity: int
    text: str
    t: float
    t_onboard: float | None
    t_ground: float | None

    @property
    def severity_name(self) -> str:
        return severity_name(self.severity)


class EventLog:
    """The events received (the newest ``maxlen``), and the operator's severity filter."""

    def __init__(self, maxlen: int = 2000, min_severity: int = Severity.INFO) -> None:
        self._entries: deque[EventEntry] = deque(maxlen=maxlen)
        self.min_severity = int(min_severity)
        self.total = 0
        self.by_severity: dict[int, int] = {}

    def add(self, app: str, name: str, severity: int, text: str, t: float,
            t_onboard: float | None = None, t_ground: float | None = None) -> EventEntry:
        self.total += 1
        entry = EventEntry(self.total, app, name, int(severity), text, t, t_onboard, t_ground)
        self._entries.append(entry)
        self.by_severity[entry.severity] = self.by_severity.get(entry.severity, 0) + 1
        return entry

    def cycle(self) -> int:
        """Raise the filter one level (INFO → WARNING → ERROR → CRITICAL → INFO)."""
        levels = list(SEVERITY_LEVELS)
        index = levels.index(self.min_severity) if self.min_severity in levels else -1
        self.min_severity = int(levels[(index + 1) % len(levels)])
        return self.min_severity

    def shows(self, entry: EventEntry) -> bool:
        return entry.severity >= self.min_severity

    def visible(self, after: int = 0) -> list[EventEntry]:
        """Entries passing the filter, oldest first; ``after``: only those with a higher seq."""
        return [e for e in self._entries if e.seq > after and self.shows(e)]

    def __len__(self) -> int:
        return len(self._entries)


# ------------------------------------------------------------------------------ verification


@dataclass(frozen=True)
class StageEntry:
    name: str
    ok: bool
    reason: str | None
    code: int | None
    message: str
    t: float
    t_ground: float | None

    @property
    def text(self) -> str:
        """``OK`` or ``REASON (code): message``."""
        if self.ok:
            return "OK"
        detail = f": {self.message}" if self.message else ""
        return f"{self.reason or 'FAILED'} ({self.code}){detail}"


@dataclass
class CommandEntry:
    """One telecommand and the verification reports about it."""

    request_id: int
    label: str  #: ``app.command``
    args: dict[str, Any]
    t_sent: float | None
    t_ground: float | None
    known: bool = True  #: False: reports about a command this console did not see sent
    stages: dict[str, StageEntry] = field(default_factory=dict)

    @property
    def status(self) -> str:
        """``sent``, ``accepted``, ``started``, ``progress``, ``completed`` or ``failed``."""
        if any(not s.ok for s in self.stages.values()):
            return "failed"
        for name in reversed(STAGE_NAMES):
            if name in self.stages:
                return name
        return "sent"

    @property
    def failure(self) -> StageEntry | None:
        return next((s for s in self.stages.values() if not s.ok), None)

    @property
    def done(self) -> bool:
        return self.status in ("completed", "failed")

    @property
    def command_text(self) -> str:
        args = " ".join(f"{k}={v}" for k, v in self.args.items())
        return f"{self.label} {args}".rstrip()


class VerificationModel:
    """Commands sent and their stages, the newest ``maxlen`` of them, oldest first."""

    def __init__(self, maxlen: int = 500) -> None:
        self._entries: OrderedDict[int, CommandEntry] = OrderedDict()
        self.maxlen = maxlen
        self._changed: set[int] = set()

    def add_command(self, request_id: int, label: str, args: Mapping[str, Any] | None,
                    t: float | None, t_ground: float | None = None) -> CommandEntry:
        entry = self._entries.get(request_id)
        if entry is None or entry.known:
            # a request id used again (a new session, a wrapped counter) is a new command
            self._entries.pop(request_id, None)
            entry = CommandEntry(request_id, label, dict(args or {}), t, t_ground)
        else:  # reports came first (replay of a partial archive): name them now
            entry.label, entry.args, entry.known = label, dict(args or {}), True
            entry.t_sent, entry.t_ground = t, t_ground
        self._entries[request_id] = entry
        self._changed.add(request_id)
        self._trim()
        return entry

    def add_stage(self, request_id: int, name: str, ok: bool, t: float, *,
                  reason: str | None = None, code: int | None = None, message: str = "",
                  t_ground: float | None = None, label: str | None = None) -> CommandEntry:
        """A verification report; ``label`` names a command this console never saw sent."""
        entry = self._entries.get(request_id)
        if entry is None:
            entry = CommandEntry(request_id, label or f"request {request_id:#010x}", {}, None,
                                 None, known=False)
            self._entries[request_id] = entry
            self._trim()
        if name == "routed":  # a routing failure is a failed acceptance
            name = "accepted"
        entry.stages[name] = StageEntry(name, ok, reason, code, message, t, t_ground)
        self._changed.add(request_id)
        return entry

    def _trim(self) -> None:
        while len(self._entries) > self.maxlen:
            rid, _ = self._entries.popitem(last=False)
            self._changed.discard(rid)

    def get(self, request_id: int) -> CommandEntry | None:
        return self._entries.get(request_id)

    def entries(self) -> list[CommandEntry]:
        return list(self._entries.values())

    def find(self, label: str) -> list[CommandEntry]:
        return [e for e in self._entries.values() if e.label == label]

    def take_changed(self) -> list[CommandEntry]:
        """Entries changed since the last call (for incremental drawing), oldest first."""
        out = [e for rid, e in self._entries.items() if rid in self._changed]
        self._changed.clear()
        return out

    def __len__(self) -> int:
        return len(self._entries)


# ------------------------------------------------------------------------------ link


@dataclass(frozen=True)
class LinkStatus:
    """What the link/contact indicator shows."""

    mode: str  #: live or replay
    up: bool  #: a packet arrived within the link timeout
    since_last: float | None  #: seconds since the last packet; None before the first
    in_contact: bool | None  #: comms housekeeping ``in_contact``; None before any
    station: str  #: ground station in view (comms ``station``)
    contact_age: float | None  #: age of that comms report
    store_packets: int | None  #: telemetry stored on board waiting for contact
    rejected_ground: dict[str, int]  #: datagrams this ground refused, by reason
    rejected_flight: dict[str, int]  #: telecommands comms refused, by reason
    received: int
    gaps: int  #: downlink packets missed (sequence count gaps)


class LinkModel:
    """Link liveness from packet arrivals, contact and backlog from comms housekeeping."""

    def __init__(self, timeout: float = 5.0, mode: str = "live") -> None:
        self.timeout = timeout
        self.mode = mode
        self.last_packet: float | None = None
        self.received = 0
        self.rejected: dict[str, int] = {}
        self.gaps = 0

    def note_packet(self, t: float) -> None:
        if self.last_packet is None or t > self.last_packet:
            self.last_packet = t

    def note_stats(self, received: int, rejected: Mapping[str, int], gaps: int,
                   now: float) -> None:
        """Counters from the link; a grown ``received`` means a packet came (by ``now``)."""
        if received > self.received:
            self.note_packet(now)
        self.received, self.rejected, self.gaps = received, dict(rejected), gaps

    def status(self, telemetry: TelemetryModel, now: float) -> LinkStatus:
        since = None if self.last_packet is None else max(now - self.last_packet, 0.0)
        contact = telemetry.get("comms", "in_contact")
        station = telemetry.get("comms", "station")
        store = telemetry.get("comms", "store_packets")
        rejected = {}
        for value in telemetry.values("comms"):
            if value.channel.startswith("tc_rejected.") and isinstance(value.value, int) \
                    and not isinstance(value.value, bool) and value.value:
                rejected[value.channel.split(".", 1)[1]] = int(value.value)
        return LinkStatus(
            mode=self.mode,
            up=since is not None and since <= self.timeout,
            since_last=since,
            in_contact=None if contact is None else bool(contact.value),
            station=str(station.value) if station is not None and station.value else "",
            contact_age=None if contact is None else now - contact.t,
            store_packets=store.value if store is not None and isinstance(store.value, int)
            else None,
            rejected_ground=dict(self.rejected),
            rejected_flight=rejected,
            received=self.received,
            gaps=self.gaps,
        )


# ------------------------------------------------------------------------------ the whole


class ConsoleModel:
    """Telemetry, events, verification and link state of one console, fed by a source."""

    def __init__(self, dictionary: Dictionary, *, policy: StalenessPolicy | None = None,
                 link_timeout: float = 5.0, mode: str = "live", event_maxlen: int = 2000,
                 command_maxlen: int = 500) -> None:
        self.dictionary = dictionary
        self.telemetry = TelemetryModel(dictionary, policy)
        self.events = EventLog(event_maxlen)
        self.verification = VerificationModel(command_maxlen)
        self.link = LinkModel(link_timeout, mode)

    def ingest(self, item: Any, t: float) -> None:
        """Take one decoded item of the ground station: a housekeeping report (``app`` and
        ``values``), an event (``app``, ``name``, ``severity``, ``text``), a verification
        report ``(request id, stage)``, or any other report (only counts as a packet)."""
        self.link.note_packet(t)
        if isinstance(item, TelemetryReport):
            self.telemetry.ingest(item.app, item.values, t, item.t_ground)
        elif isinstance(item, Event):
            self.events.add(item.app, item.name, item.severity, item.text, t, item.t_onboard,
                            item.t_ground)
        elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], Stage):
            rid, stage = int(item[0]), item[1]
            self.verification.add_stage(rid, stage.name, stage.ok, t, reason=stage.reason,
                                        code=stage.code, message=stage.message,
                                        t_ground=stage.t_ground, label=self._label_for(rid))

    def _label_for(self, request_id: int) -> str:
        """A name for a report about a command this console did not send: the app at the
        request id's APID (its low 11 bits of the first two bytes)."""
        apid = (request_id >> 16) & 0x7FF
        return f"{self.dictionary.app_at(apid)} request {request_id & 0x3FFF}"

    def link_status(self, now: float) -> LinkStatus:
        return self.link.status(self.telemetry, now)
