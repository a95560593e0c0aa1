"""Monitoring a flatsat with Prometheus: ``sunlit-hil monitor`` and its parts.

* :mod:`hil.monitoring.state` — the latest report of each app, event counts, refusals;
* :mod:`hil.monitoring.sources` — what feeds it: a local bus, or the space link;
* :mod:`hil.monitoring.exporter` — the collector rendering it on each scrape, the HTTP server;
* :mod:`hil.monitoring.campaign` — campaign progress from ``progress.json``;
* :mod:`hil.monitoring.cli` — the command.

The Grafana dashboard and the Prometheus scrape configuration are in ``hil/deploy/``;
docs/monitoring.md explains the metrics.
"""

from hil.monitoring.campaign import CampaignCollector, Progress, ProgressError, read_progress
from hil.monitoring.exporter import FlatsatCollector, MetricsServer, build_registry
from hil.monitoring.sources import BusSource, LinkOptions, LinkSource, SourceError, Transport
from hil.monitoring.state import FlatsatState

__all__ = [
    "BusSource",
    "CampaignCollector",
    "FlatsatCollector",
    "FlatsatState",
    "LinkOptions",
    "LinkSource",
    "MetricsServer",
    "Progress",
    "ProgressError",
    "SourceError",
    "Transport",
    "build_registry",
    "read_progress",
]
