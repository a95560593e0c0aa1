"""What the monitor knows about one flatsat: each app's latest report, events, refusals.

The receive side (a bus subscriber or a ground station's listener, :mod:`hil.monitoring.sources`)
only stores: the latest housekeeping map of each app as it came, and a few counters. Turning that
into metric families is left to the scrape (:mod:`hil.monitoring.exporter`), so the receive loop
costs one dictionary assignment per report however many channels a report carries, and a scrape
always shows one consistent snapshot.

Everything stored here came from another process and may be wrong, so it is checked first and
bounded: a report that is not a map of named values, an event without a name, a name too long,
or one app or event too many (a faulty app spraying random names must not grow the exporter's
memory or the Prometheus server's series without bound) is refused and counted by reason.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: Apps the monitor keeps telemetry for; more would mean someone is inventing topics.
MAX_APPS = 64
#: Channels in one report, and entries in one map channel (``loads``, ``restarts``).
MAX_CHANNELS = 512
MAX_MAP_ENTRIES = 256
#: Distinct (app, event, severity) series.
MAX_EVENT_SERIES = 4096
#: Apps, channels, events and severities are short identifiers; label values stay small.
NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:\-]{0,63}\Z")
#: Every reason this module (and the bus source) counts a refusal under, so each series exists,
#: at 0, from the first scrape: a counter that first appears at 1 hides its first increase.
REASONS = ("bad_app_name", "telemetry_not_a_map", "bad_channel_name", "too_many_channels",
           "too_many_map_entries", "too_many_apps", "bad_event", "too_many_event_series",
           "unexpected_topic")


def valid_name(value: object) -> bool:
    """True for a short identifier: an app, channel, map key, event or severity name."""
    return isinstance(value, str) and NAME_RE.match(value) is not None


@dataclass(frozen=True)
class AppReport:
    """One app's latest housekeeping report, as received (never modified afterwards)."""

    values: Mapping[str, Any]
    t_mission: float  #: the sender's mission time stamp (seconds)
    received: float  #: the monitor's monotonic clock at receipt


@dataclass(frozen=True)
class Snapshot:
    """A consistent copy of the state, taken under the lock at the start of a scrape."""

    now: float  #: the monitor's monotonic clock when the snapshot was taken
    latest: dict[str, AppReport]
    reports: dict[str, int]
    events: dict[tuple[str, str, str], int]
    messages: dict[str, int]
    rejected: dict[str, int]
    last_message: float | None

    def age(self, app: str) -> float | None:
        """Seconds since ``app``'s latest report arrived (None if it never reported)."""
        report = self.latest.get(app)
        return None if report is None else max(0.0, self.now - report.received)


@dataclass
class FlatsatState:
    """Thread-safe store fed by a source and read by the collector."""

    clock: Callable[[], float] = time.monotonic
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _latest: dict[str, AppReport] = field(default_factory=dict)
    _reports: Counter[str] = field(default_factory=Counter)
    _events: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    _messages: Counter[str] = field(default_factory=Counter)
    _rejected: Counter[str] = field(default_factory=lambda: Counter(dict.fromkeys(REASONS, 0)))
    _last_message: float | None = None

    def telemetry(self, app: str, values: object, t_mission: float) -> bool:
        """Store ``values`` as ``app``'s latest report; False (and counted) if refused."""
        problem = _report_problem(app, values)
        if problem is not None:
            self.reject(problem)
            return False
        assert isinstance(values, Mapping)
        now = self.clock()
        with self._lock:
            if app not in self._latest and len(self._latest) >= MAX_APPS:
                self._rejected["too_many_apps"] += 1
                return False
            self._latest[app] = AppReport(values, float(t_mission), now)
            self._reports[app] += 1
            self._messages["telemetry"] += 1
            self._last_message = now
        return True

    def event(self, app: object, name: object, severity: object) -> bool:
        """Count one event of ``app``; False (and counted) if refused."""
        if not (valid_name(app) and valid_name(name) and valid_name(severity)):
            self.reject("bad_event")
            return False
        key = (str(app), str(name), str(severity).upper())
        now = self.clock()
        with self._lock:
            if key not in self._events and len(self._events) >= MAX_EVENT_SERIES:
                self._rejected["too_many_event_series"] += 1
                return False
            self._events[key] += 1
            self._messages["event"] += 1
            self._last_message = now
        return True

    def reject(self, reason: str) -> None:
        """Count a message refused for ``reason`` (a short fixed word chosen by the caller)."""
        with self._lock:
            self._rejected[reason] += 1

    def snapshot(self) -> Snapshot:
        with self._lock:
            return Snapshot(self.clock(), dict(self._latest), dict(self._reports),
                            dict(self._events), dict(self._messages), dict(self._rejected),
                            self._last_message)


def _report_problem(app: str, values: object) -> str | None:
    """Why a housekeeping report cannot be stored, as a rejection reason; None if it can."""
    if not valid_name(app):
        return "bad_app_name"
    if not isinstance(values, Mapping):
        return "telemetry_not_a_map"
    if len(values) > MAX_CHANNELS:
        return "too_many_channels"
    for name, value in values.items():
        if not valid_name(name):
            return "bad_channel_name"
        if isinstance(value, Mapping) and len(value) > MAX_MAP_ENTRIES:
            return "too_many_map_entries"
    return None
