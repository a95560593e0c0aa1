"""The Prometheus side: a collector that renders the flatsat's latest state on each scrape, and
the HTTP server that serves it.

Why a custom collector: a flatsat publishes a few hundred numbers several times a second, and
Prometheus reads them every few seconds. Storing each report as it comes and turning the latest
ones into metric families only when Prometheus asks costs nothing between scrapes, and every
scrape shows one consistent snapshot instead of gauges half-way through an update.

The metric names (docs/monitoring.md has the full table):

* ``sunlit_telemetry{app, channel}`` — every numeric telemetry channel of every app, one labelled
  family (booleans as 0/1); ``sunlit_telemetry_map{app, channel, key}`` — the numeric entries
  of map channels (power's ``loads``, the executive's ``restarts``); text values are skipped;
* ``sunlit_telemetry_age_seconds{app}``, ``sunlit_telemetry_mission_time_seconds{app}``,
  ``sunlit_telemetry_reports_total{app}`` — staleness, the sender's clock, and report counts;
* ``sunlit_events_total{app, name, severity}``;
* process health from the executive's telemetry: ``sunlit_mode`` (a state set),
  ``sunlit_apps_running``, ``sunlit_apps_down``, ``sunlit_app_restarts_total{app}``,
  ``sunlit_app_heartbeat_age_seconds{app}``;
* the exporter's own: ``sunlit_exporter_source_info``, ``sunlit_exporter_received_total``,
  ``sunlit_exporter_messages_total{kind}``, ``sunlit_exporter_rejected_total{reason}``,
  ``sunlit_exporter_gaps_total``, ``sunlit_exporter_last_message_age_seconds``.
"""

from __future__ import annotations

import math
import socket
import threading
from collections.abc import Iterator, Mapping
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, ProcessCollector, make_wsgi_app
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    StateSetMetricFamily,
)
from prometheus_client.registry import Collector

from flight.executive.modes import Mode
from hil.monitoring.sources import Source, Transport
from hil.monitoring.state import FlatsatState, Snapshot, valid_name

Metric = Any  # prometheus_client's Metric; families are yielded as they are built

#: The app whose telemetry carries the spacecraft mode and the process table.
EXECUTIVE = "executive"
#: Every spacecraft mode, so the state set always lists them all (a mode never seen is 0).
MODES: tuple[str, ...] = tuple(m.value for m in Mode)


def numeric(value: object) -> float | None:
    """A telemetry value as a sample value: numbers, booleans as 0/1; None for anything else."""
    if isinstance(value, (bool, int, float)):
        try:
            return float(value)
        except OverflowError:  # an integer beyond a double: not a measurement
            return None
    return None


def map_entries(value: Mapping[Any, Any], prefix: str = "", depth: int = 2
                ) -> Iterator[tuple[str, float]]:
    """``(key, number)`` for the numeric entries of a map channel; nested maps give dotted keys
    (``a.b``) down to ``depth`` levels; keys that are not short names are skipped."""
    for key, item in value.items():
        if not valid_name(key):
            continue
        name = f"{prefix}{key}"
        number = numeric(item)
        if number is not None:
            yield name, number
        elif isinstance(item, Mapping) and depth > 1:
            yield from map_entries(item, f"{name}.", depth - 1)


class FlatsatCollector(Collector):
    """Renders a :class:`FlatsatState` (and its source's counters) on each scrape."""

    def __init__(self, state: FlatsatState, source: Source | None = None) -> None:
        self.state = state
        self.source = source

    def collect(self) -> Iterator[Metric]:
        snap = self.state.snapshot()
        yield from telemetry_families(snap)
        yield events_family(snap)
        yield from health_families(snap)
        transport = self.source.transport() if self.source is not None else Transport()
        yield from exporter_families(snap, transport, self.source)


def telemetry_families(snap: Snapshot) -> Iterator[Metric]:
    values = GaugeMetricFamily("sunlit_telemetry", "Numeric telemetry channel, latest value "
                               "(booleans as 0/1).", labels=["app", "channel"])
    maps = GaugeMetricFamily("sunlit_telemetry_map", "Numeric entry of a map telemetry "
                             "channel, latest value.", labels=["app", "channel", "key"])
    age = GaugeMetricFamily("sunlit_telemetry_age_seconds", "Seconds since the app's latest "
                            "report reached the exporter.", labels=["app"])
    mission = GaugeMetricFamily("sunlit_telemetry_mission_time_seconds", "Mission time stamp "
                                "of the app's latest report (UNIX seconds).", labels=["app"])
    reports = CounterMetricFamily("sunlit_telemetry_reports", "Housekeeping reports received.",
                                  labels=["app"])
    for app in sorted(snap.latest):
        report = snap.latest[app]
        for channel, value in report.values.items():
            number = numeric(value)
            if number is not None:
                values.add_metric([app, channel], number)
            elif isinstance(value, Mapping):
                for key, entry in map_entries(value):
                    maps.add_metric([app, channel, key], entry)
        age.add_metric([app], snap.age(app) or 0.0)
        mission.add_metric([app], report.t_mission)
        reports.add_metric([app], snap.reports.get(app, 0))
    yield from (values, maps, age, mission, reports)


def events_family(snap: Snapshot) -> Metric:
    family = CounterMetricFamily("sunlit_events", "Events received.",
                                 labels=["app", "name", "severity"])
    for (app, name, severity), count in sorted(snap.events.items()):
        family.add_metric([app, name, severity], count)
    return family


def health_families(snap: Snapshot) -> Iterator[Metric]:
    """Named views of the executive's telemetry, the ones a dashboard and alerts need."""
    report = snap.latest.get(EXECUTIVE)
    if report is None:
        return
    values = report.values
    mode = values.get("mode")
    if valid_name(mode):
        states = dict.fromkeys(MODES, False)
        states[str(mode)] = True
        mode_family = StateSetMetricFamily("sunlit_mode", "Spacecraft mode (from the "
                                           "executive).")
        mode_family.add_metric([], states)
        yield mode_family
    for channel, name, text in (("apps_running", "sunlit_apps_running", "Apps running."),
                                ("apps_down", "sunlit_apps_down", "Apps not running.")):
        number = numeric(values.get(channel))
        if number is not None:
            yield GaugeMetricFamily(name, text, value=number)
    restarts = values.get("restarts")
    if isinstance(restarts, Mapping):
        counts = CounterMetricFamily("sunlit_app_restarts", "Restarts of each app by the "
                                     "executive (since it started).", labels=["app"])
        for app, count in map_entries(restarts, depth=1):
            counts.add_metric([app], count)
        yield counts
    heartbeats = values.get("heartbeat_age_s")
    if isinstance(heartbeats, Mapping):
        ages = GaugeMetricFamily("sunlit_app_heartbeat_age_seconds", "Seconds since the "
                                 "executive heard each app's heartbeat.", labels=["app"])
        for app, age in map_entries(heartbeats, depth=1):
            ages.add_metric([app], age)
        yield ages


def exporter_families(snap: Snapshot, transport: Transport,
                      source: Source | None) -> Iterator[Metric]:
    if source is not None:
        info = InfoMetricFamily("sunlit_exporter_source", "Where the exporter's telemetry "
                                "comes from.")
        info.add_metric([], {"source": source.kind, "target": source.target})
        yield info
    yield CounterMetricFamily("sunlit_exporter_received", "Bus messages or link datagrams "
                              "that arrived, valid or not.", value=transport.received)
    messages = CounterMetricFamily("sunlit_exporter_messages", "Messages accepted, by kind.",
                                   labels=["kind"])
    for kind in ("telemetry", "event"):
        messages.add_metric([kind], snap.messages.get(kind, 0))
    yield messages
    rejected = CounterMetricFamily("sunlit_exporter_rejected", "Messages refused (and "
                                   "dropped), by reason.", labels=["reason"])
    reasons: dict[str, int] = dict(snap.rejected)
    for reason, count in transport.rejected.items():
        reasons[reason] = reasons.get(reason, 0) + count
    for reason, count in sorted(reasons.items()):
        rejected.add_metric([reason], count)
    yield rejected
    yield CounterMetricFamily("sunlit_exporter_gaps", "Messages missed on the way (sequence "
                              "gaps).", value=transport.gaps)
    age = math.inf if snap.last_message is None else max(0.0, snap.now - snap.last_message)
    yield GaugeMetricFamily("sunlit_exporter_last_message_age_seconds", "Seconds since the "
                            "last accepted message (+Inf: none yet).", value=age)


def build_registry(*collectors: Collector) -> CollectorRegistry:
    """A registry with ``collectors`` and the exporter's own process metrics."""
    registry = CollectorRegistry()
    for collector in collectors:
        registry.register(collector)
    ProcessCollector(registry=registry)
    return registry


# ------------------------------------------------------------------------------ HTTP


class _Server(ThreadingMixIn, WSGIServer):
    """One thread per scrape, so a slow client never holds up Prometheus."""

    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    """No access log: Prometheus scrapes every few seconds."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


class MetricsServer:
    """Serves a registry over HTTP on ``(host, port)`` (port 0: any free port) from a thread.

    ``OSError`` from the constructor when the address cannot be bound.
    """

    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        server_class = _Server6 if ":" in host else _Server
        self._httpd = make_server(host, port, make_wsgi_app(registry), server_class,
                                  handler_class=_QuietHandler)
        self.address: tuple[str, int] = (host, int(self._httpd.server_address[1]))
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="monitor-http",
                                        daemon=True)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://[{host}]:{port}/metrics" if ":" in host else \
            f"http://{host}:{port}/metrics"

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._httpd.shutdown()
            self._thread.join(timeout=5.0)
        self._httpd.server_close()
