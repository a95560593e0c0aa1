"""What a campaign run looks at: the onboard bus, the stack's own answers, its files, the ground.

Detection is never told about an injection, and neither is the observer: it records what the
stack says (events, telemetry, the job queue, stored results, parameters, the process table)
and what the ground archived, each stamped with the run's own wall clock, and leaves judging to
:mod:`hil.campaign.classify`. Everything here is read-only towards the stack: bus queries and
file reads the bench is entitled to, never a command that would change what it observes.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hil.testbed import Testbed

#: Most events one run keeps (a storm of rejections must not fill the journal).
MAX_EVENTS = 500


class BusLog:
    """A thread draining its own tap of the onboard bus: events and the latest telemetry.

    Its own subscriber, so it never competes with an injector that waits on ``bed.tap``. Each
    message is stamped with seconds since ``t0`` (``time.monotonic``) when it was received.
    """

    def __init__(self, bed: Testbed, t0: float) -> None:
        self.t0 = t0
        self._tap = bed.stack.tap("evt.", "tlm.")
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.events: list[dict[str, Any]] = []
        self.dropped_events = 0
        self.latest: dict[str, dict[str, Any]] = {}
        self.tlm_times: dict[str, float] = {}  #: app -> last telemetry receipt (run seconds)
        self._thread = threading.Thread(target=self._run, name="campaign-buslog", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                envelope = self._tap.subscriber.recv(timeout_ms=50)
            except Exception:
                return
            if envelope is None or not isinstance(envelope.data, dict):
                continue
            now = time.monotonic() - self.t0
            kind, _, app = envelope.topic.partition(".")
            with self._lock:
                if kind == "tlm":
                    self.latest[app] = envelope.data
                    self.tlm_times[app] = now
                elif kind == "evt":
                    self._take_event(app, now, envelope.t, envelope.data)

    def _take_event(self, app: str, now: float, mission_t: float, data: dict[str, Any]) -> None:
        if len(self.events) >= MAX_EVENTS:
            self.dropped_events += 1
            return
        args = data.get("args")
        self.events.append({"t": round(now, 3), "mission_t": mission_t, "app": app,
                            "name": str(data.get("name")),
                            "severity": str(data.get("severity", "INFO")),
                            "text": str(data.get("text", ""))[:300],
                            "args": _plain(args if isinstance(args, dict) else {})})

    def events_since(self, t: float) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.events if e["t"] >= t]

    def telemetry(self, app: str) -> dict[str, Any]:
        with self._lock:
            return dict(self.latest.get(app, {}))

    def stop(self) -> None:
        """Stop the thread (before the stack closes the tap's socket)."""
        self._stop.set()
        self._thread.join(timeout=5.0)


def _plain(value: Any, depth: int = 0) -> Any:
    """``value`` as JSON-able plain data (bytes as hex, unknown types as text), bounded."""
    if depth > 6:
        return "..."
    if isinstance(value, dict):
        return {str(k): _plain(v, depth + 1) for k, v in list(value.items())[:50]}
    if isinstance(value, (list, tuple)):
        return [_plain(v, depth + 1) for v in list(value)[:50]]
    if isinstance(value, (bytes, bytearray)):
        return bytes(value[:64]).hex()
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return str(value)[:300]


# ---------------------------------------------------------------------------- snapshots


def jobs_table(bed: Testbed) -> dict[str, dict[str, Any]] | None:
    """The job queue as the job runner holds it now (id -> record), or None if it did not
    answer (restarting, hung)."""
    with contextlib.suppress(Exception):
        reply = bed.stack.command("jobs", "list", timeout=1.0)
        if reply.ok and isinstance(reply.data, dict):
            return {str(r["id"]): {"kind": r.get("kind"), "state": r.get("state"),
                                   "steps_done": r.get("steps_done"),
                                   "sha256": r.get("sha256"), "result": r.get("result")}
                    for r in reply.data.get("jobs", []) if isinstance(r, dict)}
    return None


def stored_results(bed: Testbed) -> dict[str, str]:
    """Every stored result file and the SHA-256 of its bytes now (the files, not the index)."""
    out: dict[str, str] = {}
    root = bed.stack.run_dir.results_dir
    with contextlib.suppress(OSError):
        for path in sorted(root.iterdir()):
            if path.is_file() and not path.name.startswith(".") and "." not in path.name:
                with contextlib.suppress(OSError):
                    out[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def archived_downlink(archive: Path, until: float) -> int | None:
    """Downlinked packets the ground archive holds with a ground time up to ``until``."""
    try:
        conn = sqlite3.connect(f"file:{archive}?mode=ro", uri=True, timeout=2.0)
    except sqlite3.Error:
        return None
    try:
        row = conn.execute("SELECT COUNT(*) FROM packets WHERE direction = 'down' "
                           "AND t_ground <= ?", (until,)).fetchone()
        return int(row[0])
    except sqlite3.Error:
        return None
    finally:
        conn.close()


def process_table(bed: Testbed) -> dict[str, Any] | None:
    """Mode and each app's state and restarts, from the executive; None if it did not answer."""
    with contextlib.suppress(Exception):
        reply = bed.stack.command("executive", "status", timeout=1.0)
        if reply.ok and isinstance(reply.data, dict):
            rows = {str(r["name"]): {"state": r.get("state"), "restarts": r.get("restarts", 0)}
                    for r in reply.data.get("processes", [])}
            return {"mode": str(reply.data.get("mode")), "apps": rows}
    return None


def parameters(bed: Testbed, apps: list[str]) -> dict[str, Any]:
    """Each app's active parameters (None for an app that did not answer)."""
    out: dict[str, Any] = {}
    for app in apps:
        out[app] = None
        with contextlib.suppress(Exception):
            reply = bed.stack.command(app, "param_report", timeout=1.0)
            if reply.ok and isinstance(reply.data, dict):
                out[app] = _plain(reply.data.get("active", {}))
    return out


def is_nominal(table: dict[str, Any] | None, safe_allowed: bool) -> bool:
    """Every app RUNNING and the mode NOMINAL or POWER_SAVE (SAFE only where the radiation
    policy asked for it: leaving SAFE needs a ground command)."""
    if not table:
        return False
    mode_ok = table["mode"] in ("NOMINAL", "POWER_SAVE") or (table["mode"] == "SAFE"
                                                              and safe_allowed)
    return mode_ok and all(r["state"] == "RUNNING" for r in table["apps"].values())
