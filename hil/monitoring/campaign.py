"""Campaign progress: ``DIR/progress.json``, read on each scrape.

The campaign tool rewrites ``progress.json`` as runs finish::

    {"name": "seu-sweep", "planned": 200, "done": 57, "running": 4,
     "by_class": {"masked": 40, "detected_recovered": 12, "sdc": 3, "due": 1, "data_lost": 1},
     "started_unix": 1750000000.0, "updated_unix": 1750000321.5, "finished": false}

Reading it when Prometheus asks (a small file, every few seconds) means no watcher thread and
never a stale copy. The file may be missing (no campaign yet, or one starting) or malformed (a
bug, a half-written copy, a disk problem): then the campaign series are left out, the scrape
still succeeds, and ``sunlit_campaign_progress_ok`` is 0 and
``sunlit_campaign_progress_errors_total{reason}`` counts the scrapes that found it so; the
reason text goes to the log once each time it changes.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger("sunlit.monitor")

PROGRESS_FILE = "progress.json"
#: Far more than any real progress file; a larger one is refused unread.
MAX_PROGRESS_BYTES = 1024 * 1024
#: The outcome classes a campaign reports (others are shown too, up to MAX_CLASSES).
CLASSES = ("masked", "detected_recovered", "sdc", "due", "data_lost")
MAX_CLASSES = 32
MAX_NAME_LEN = 200


class ProgressError(ValueError):
    """``progress.json`` is missing or wrong; ``reason`` is ``missing`` or ``malformed``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Progress:
    """One valid reading of ``progress.json``."""

    name: str
    planned: int
    done: int
    running: int
    by_class: dict[str, int]
    started_unix: float
    updated_unix: float
    finished: bool


def read_progress(directory: str | os.PathLike[str]) -> Progress:
    """Read and check ``directory/progress.json``; :class:`ProgressError` saying what is wrong."""
    path = Path(directory) / PROGRESS_FILE
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_PROGRESS_BYTES + 1)
    except FileNotFoundError:
        raise ProgressError("missing", f"{path}: no such file") from None
    except OSError as exc:
        raise ProgressError("missing", f"{path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_PROGRESS_BYTES:
        raise ProgressError("malformed", f"{path}: larger than {MAX_PROGRESS_BYTES} bytes")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProgressError("malformed", f"{path}: not JSON ({exc})") from None
    try:
        return parse_progress(doc)
    except ProgressError as exc:
        raise ProgressError(exc.reason, f"{path}: {exc}") from None


def parse_progress(doc: Any) -> Progress:
    """Check a decoded ``progress.json`` document field by field."""
    if not isinstance(doc, Mapping):
        raise ProgressError("malformed", "not a JSON object")
    name = _field(doc, "name", str)
    if len(name) > MAX_NAME_LEN:
        raise ProgressError("malformed", f"'name' is longer than {MAX_NAME_LEN} characters")
    counts = {key: _count(doc, key) for key in ("planned", "done", "running")}
    by_class = _field(doc, "by_class", Mapping)
    if len(by_class) > MAX_CLASSES:
        raise ProgressError("malformed", f"'by_class' has more than {MAX_CLASSES} classes")
    classes = {str(key): _count(by_class, key, "by_class.") for key in by_class}
    return Progress(name, counts["planned"], counts["done"], counts["running"], classes,
                    _time(doc, "started_unix"), _time(doc, "updated_unix"),
                    _field(doc, "finished", bool))


def _field(doc: Mapping[str, Any], key: str, kind: type | tuple[type, ...],
           prefix: str = "") -> Any:
    if key not in doc:
        raise ProgressError("malformed", f"'{prefix}{key}' is missing")
    value = doc[key]
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise ProgressError("malformed", f"'{prefix}{key}' should be {_KIND_NAMES[kind]}, "
                                         f"not {value!r:.60}")
    return value


def _count(doc: Mapping[str, Any], key: str, prefix: str = "") -> int:
    if not isinstance(key, str) or not key or len(key) > 64:
        raise ProgressError("malformed", f"{prefix}{key!r:.60} is not a class name")
    value = _field(doc, key, int, prefix)
    if value < 0:
        raise ProgressError("malformed", f"'{prefix}{key}' is negative ({value})")
    return int(value)


def _time(doc: Mapping[str, Any], key: str) -> float:
    value = _field(doc, key, (int, float))
    if not 0 <= value < 1e11:
        raise ProgressError("malformed", f"'{key}' is not a UNIX time ({value!r})")
    return float(value)


_KIND_NAMES: dict[Any, str] = {str: "a string", int: "an integer", bool: "true or false",
                               Mapping: "an object", (int, float): "a number"}


class CampaignCollector(Collector):
    """Renders ``DIR/progress.json`` on each scrape; counts the scrapes that found it wrong."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self._lock = threading.Lock()
        self._errors: Counter[str] = Counter()
        self._last_problem: str | None = None

    def collect(self) -> Iterator[Any]:
        try:
            progress: Progress | None = read_progress(self.directory)
            problem = None
        except ProgressError as exc:
            progress, problem = None, exc
        with self._lock:
            if problem is not None:
                self._errors[problem.reason] += 1
            self._note(problem)
            errors = dict(self._errors)
        yield GaugeMetricFamily("sunlit_campaign_progress_ok", "1 when the campaign's "
                                "progress.json was read and valid at this scrape.",
                                value=1.0 if progress is not None else 0.0)
        family = CounterMetricFamily("sunlit_campaign_progress_errors", "Scrapes that found "
                                     "progress.json missing or malformed.", labels=["reason"])
        for reason in ("missing", "malformed"):
            family.add_metric([reason], errors.get(reason, 0))
        yield family
        if progress is not None:
            yield from progress_families(progress)

    def _note(self, problem: ProgressError | None) -> None:
        """Log a problem when it first appears or changes, and its end (lock held)."""
        text = None if problem is None else str(problem)
        if text == self._last_problem:
            return
        if text is None:
            log.info("monitor: campaign progress readable again in %s", self.directory)
        else:
            log.warning("monitor: campaign progress: %s", text)
        self._last_problem = text


def progress_families(p: Progress) -> Iterator[Any]:
    info = InfoMetricFamily("sunlit_campaign", "The campaign being monitored.")
    info.add_metric([], {"name": p.name})
    yield info
    for key, value, text in (("planned", p.planned, "Runs planned."),
                             ("done", p.done, "Runs finished."),
                             ("running", p.running, "Runs in progress.")):
        yield GaugeMetricFamily(f"sunlit_campaign_runs_{key}", text, value=value)
    outcomes = GaugeMetricFamily("sunlit_campaign_outcomes", "Finished runs by outcome class.",
                                 labels=["class"])
    for name in (*CLASSES, *sorted(set(p.by_class) - set(CLASSES))):
        outcomes.add_metric([name], p.by_class.get(name, 0))
    yield outcomes
    yield GaugeMetricFamily("sunlit_campaign_started_timestamp_seconds", "When the campaign "
                            "started (UNIX seconds).", value=p.started_unix)
    yield GaugeMetricFamily("sunlit_campaign_updated_timestamp_seconds", "When progress.json "
                            "was last written (UNIX seconds).", value=p.updated_unix)
    yield GaugeMetricFamily("sunlit_campaign_finished", "1 once the campaign has finished.",
                            value=1.0 if p.finished else 0.0)
