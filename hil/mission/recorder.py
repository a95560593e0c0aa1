"""What the mission samples while it flies: the onboard bus as the bench's tap sees it.

The plots and the summary come from here, not from the ground's archive: the tap sees every
housekeeping message of every app, in or out of contact, while the space link is lossy and
stores-and-forwards by design (its completeness is one of the things the mission *measures*).
Each app's housekeeping becomes a column store (mission time plus the channels the report
uses); events are kept as they are; what the ground does is added by the operator thread.

Everything here is plain data (lists of numbers, strings and dicts), so a recording goes to
JSON and back unchanged and the report can be rendered again from ``timeline.json``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: The channels kept per app (the rest of each housekeeping message is dropped).
CHANNELS: dict[str, tuple[str, ...]] = {
    "world": ("mission_t", "in_sun", "in_saa", "contact", "orbit_number", "battery_soc",
              "solar_power_w", "load_power_w", "compute_duty", "chip_temp_c", "plate_temp_c",
              "battery_temp_c", "upsets", "lag_s"),
    "power": ("soc", "solar_power_w", "load_power_w", "compute_power_w", "compute_budget_w",
              "loads.compute", "shed_count", "restore_count"),
    "thermal": ("chip_temp_c", "plate_temp_c", "battery_temp_c", "duty_limit", "setpoint_c",
                "battery_heater"),
    "jobs": ("running_job", "progress", "queued", "duty", "duty_allowed", "detections",
             "corrected", "masked", "rollbacks", "done", "failed", "sim_flips", "checkpoints"),
    "radiation": ("upsets", "upsets_saa", "in_saa"),
    "executive": ("mode", "apps_running", "apps_down"),
    "comms": ("in_contact", "station", "tm_sent", "tm_stored", "store_packets",
              "downlink_queue", "store_dropped"),
}
#: Housekeeping channels whose last value matters (maps): kept whole, latest only.
LATEST_MAPS = {"world": ("energy_wh",), "radiation": ("by_outcome", "by_evidence"),
               "executive": ("restarts",)}


def pick(data: Mapping[str, Any], dotted: str) -> Any:
    """``data["a"]["b"]`` for ``"a.b"``; None where any step is missing."""
    value: Any = data
    for part in dotted.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


@dataclass
class Recording:
    """The time series, events and ground actions of one mission (JSON-able)."""

    t0: float = 0.0
    series: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    latest: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    ground: list[dict[str, Any]] = field(default_factory=list)

    def column(self, app: str, channel: str) -> tuple[list[float], list[Any]]:
        """Mission times and values of one channel (values may contain None)."""
        table = self.series.get(app, {})
        return list(table.get("t", [])), list(table.get(channel, []))

    def last(self, app: str, channel: str, default: Any = None) -> Any:
        """The newest non-None value of a channel, or ``default``."""
        _, values = self.column(app, channel)
        return next((v for v in reversed(values) if v is not None), default)

    def to_json(self) -> dict[str, Any]:
        return {"t0": self.t0, "series": self.series, "latest": self.latest,
                "events": self.events, "ground": self.ground}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Recording:
        """A recording read back; ValueError naming what is missing or of the wrong type."""
        if not isinstance(data, Mapping):
            raise ValueError("a recording must be a JSON object")
        kinds: dict[str, type | tuple[type, ...]] = {
            "t0": (int, float), "series": dict, "latest": dict, "events": list, "ground": list}
        for key, kind in kinds.items():
            if not isinstance(data.get(key), kind):
                raise ValueError(f"recording: {key!r} is missing or not a "
                                 f"{getattr(kind, '__name__', 'number')}")
        return cls(float(data["t0"]), dict(data["series"]), dict(data["latest"]),
                   list(data["events"]), list(data["ground"]))


class Recorder:
    """Feeds a :class:`Recording` from bus envelopes; the live state the mission reacts to.

    The main thread calls :meth:`take` for every message; the ground operator thread reads
    :meth:`now` and the contact flag and adds its actions with :meth:`note_ground`.
    """

    def __init__(self, t0: float, speed: float, world_step_s: float = 1.0) -> None:
        self.recording = Recording(t0=t0)
        self.speed = speed
        self.world_step_s = world_step_s
        self.lock = threading.Lock()
        self.in_contact = threading.Event()
        self.station = ""
        self.world_epoch: float | None = None
        self._clock: tuple[float, float] | None = None  # (mission t, monotonic) of the newest
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        #: Called with True at AOS before the ground is told, with False at LOS after it is:
        #: the bench opens the link's uplink before anyone may use it.
        self.contact_hook: Callable[[bool], None] | None = None

    # ------------------------------------------------------------------ input
    def take(self, topic: str, t: float, data: Any) -> dict[str, Any] | None:
        """Record one bus message; return it as an event dict when it is an event."""
        if not isinstance(data, dict) or "." not in topic:
            return None
        kind, app = topic.split(".", 1)
        with self.lock:
            if kind == "tlm":
                self._housekeeping(app, t, data)
                return None
            if kind != "evt" or data.get("severity") == "DEBUG":
                return None
            event: dict[str, Any] = {"t": t, "app": app, "name": str(data.get("name", "")),
                     "severity": str(data.get("severity", "INFO")),
                     "text": str(data.get("text", "")),
                     "args": data.get("args") if isinstance(data.get("args"), dict) else {}}
            self.recording.events.append(event)
        self._contact_event(event)
        return event

    def _housekeeping(self, app: str, t: float, data: dict[str, Any]) -> None:
        if app == "world":
            self._world(data)
        channels = CHANNELS.get(app)
        if channels is not None:
            table = self.recording.series.setdefault(app, {"t": []})
            table["t"].append(t)
            for name in channels:
                table.setdefault(name, []).append(_plain(pick(data, name)))
        for name in LATEST_MAPS.get(app, ()):
            if isinstance(data.get(name), dict):
                self.recording.latest.setdefault(app, {})[name] = data[name]
        if app == "comms":
            self.recording.latest["comms"] = {**self.recording.latest.get("comms", {}),
                                              **{k: _plain(data.get(k)) for k in CHANNELS[app]}}

    def _world(self, data: dict[str, Any]) -> None:
        mission_t = data.get("mission_t")
        if not isinstance(mission_t, (int, float)):
            return
        self._clock = (float(mission_t), time.monotonic())
        steps = data.get("steps")
        if self.world_epoch is None and isinstance(steps, int):
            # The world began at its app's first mission time and steps at a fixed rate.
            self.world_epoch = float(mission_t) - steps * self.world_step_s

    def _contact_event(self, event: dict[str, Any]) -> None:
        """Comms' own CONTACT events are the truth about the link being up."""
        if event["app"] != "comms" or event["name"] != "CONTACT":
            return
        args = event["args"]
        if args.get("state") == "start":
            self.station = str(args.get("station", ""))
            if self.contact_hook is not None:
                self.contact_hook(True)
            self.in_contact.set()
        else:
            self.in_contact.clear()
            if self.contact_hook is not None:
                self.contact_hook(False)

    def note(self, what: str, text: str, **info: Any) -> dict[str, Any]:
        """Record what the ground or the bench did (uplink, download, a kill) at mission now."""
        entry = {"t": self.now(), "what": what, "text": text, **info}
        with self.lock:
            self.recording.ground.append(entry)
        for listener in list(self.listeners):
            listener(entry)
        return entry

    # ------------------------------------------------------------------ state
    def now(self) -> float:
        """Mission time now: the world's newest sample, advanced at the clock's speed."""
        if self._clock is None:
            return self.recording.t0
        mission_t, mono = self._clock
        return mission_t + (time.monotonic() - mono) * self.speed

    def latest(self, app: str) -> dict[str, Any]:
        """The newest recorded values of ``app`` (channel → value)."""
        with self.lock:
            table = self.recording.series.get(app)
            if not table or not table["t"]:
                return {}
            return {name: values[-1] for name, values in table.items()}


def _plain(value: Any) -> Any:
    """Numbers, strings, bools and None as they are; anything else as text (JSON-safe)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
