"""The live timeline: a status line every few seconds, and each event as it happens.

Written for someone watching their first flatsat: every line starts with the mission elapsed
time, the status line has a progress bar and the few numbers that tell the story (sun or
shadow, contact, battery, heat, duty, the job being computed, upsets), and only the events
that change something are printed — in words, not event codes. On a terminal it uses colour
and box-drawing characters; anywhere else (a pipe, a CI log, a test) it is plain ASCII with
the same words, so it can be read and searched.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any, TextIO

from hil.mission.plan import Plan, met
from hil.mission.recorder import Recorder

BAR_WIDTH = 20
#: Throttling is told when the thermal duty limit falls below the first and over once it is
#: back above the second (the governor trims by a few percent all the time; that is not news).
THROTTLE_BELOW, THROTTLE_OVER = 0.9, 0.98
#: Events never printed: routine, or repeated by a clearer line elsewhere.
QUIET = {"LIMIT", "STARTED", "THROTTLING", "UNTHROTTLED", "STOPPING", "NOOP",
         "UPSET_DETECTED", "UPSET_MASKED",
         "JOB_SUBMITTED", "APP_STARTED", "APP_RESTART_SCHEDULED", "POWER_DATA", "SENSORS",
         "NO_TEMPERATURE", "LINK_OPEN", "KEY_GENERATED", "MODE_CHANGED", "DVFS_UNAVAILABLE",
         "JOB_PAUSED", "JOB_RESUMED", "PARAM_ACTIVATED", "REJECTIONS"}
COLOURS = {"sun": "33", "eclipse": "34", "contact": "32", "warn": "33", "bad": "31",
           "ground": "36", "dim": "2"}


class Timeline:
    """Prints the mission as it flies; safe to call from the main and the operator thread."""

    def __init__(self, plan: Plan, recorder: Recorder, out: TextIO = sys.stdout,
                 tty: bool | None = None) -> None:
        self.plan = plan
        self.recorder = recorder
        self.out = out
        self.tty = out.isatty() if tty is None else tty
        self._lock = threading.Lock()
        self._sun: bool | None = None
        self._saa: bool | None = None
        self._lowest: float | None = None  # the duty limit's low point while throttled

    # ------------------------------------------------------------------ output
    def say(self, text: str, colour: str = "") -> None:
        """One line, whole (never interleaved with another thread's)."""
        if self.tty and colour in COLOURS:
            text = f"\033[{COLOURS[colour]}m{text}\033[0m"
        with self._lock:
            print(text, file=self.out, flush=True)

    def line(self, t: float, mark: str, text: str, colour: str = "") -> None:
        """An event line: mission time, a mark, what happened."""
        self.say(f"{met(t - self.plan.t0)}   {self._mark(mark)} {text}", colour)

    def _mark(self, mark: str) -> str:
        symbols = {"sun": "☀", "eclipse": "☾", "aos": "▲", "los": "▼", "saa": "☢",
                   "upset": "⚡", "kill": "☠", "ok": "✔", "warn": "!", "bad": "✖",
                   "ground": "⇅", "job": "▶", "info": "·"}
        if self.tty:
            return symbols.get(mark, "·")
        return {"bad": "!!", "warn": "! ", "kill": "!!"}.get(mark, "- ")

    # ------------------------------------------------------------------ status line
    def status(self) -> None:
        self.say(self.status_text())

    def status_text(self) -> str:
        """The periodic line: progress, orbit, light, link, energy, heat, duty, job, upsets."""
        r = self.recorder
        now = r.now()
        w, p, th = r.latest("world"), r.latest("power"), r.latest("thermal")
        j, c, e, rad = r.latest("jobs"), r.latest("comms"), r.latest("executive"), \
            r.latest("radiation")
        share = self.plan.fraction(now)
        light = "sun" if w.get("in_sun", True) else "ECLIPSE"
        if w.get("in_saa"):
            light += "+SAA"
        parts = [f"{met(now - self.plan.t0)} {self._bar(share)} {share:4.0%}",
                 f"orbit {self.plan.orbit(now)}", light, _link(c),
                 f"SoC {_num(p.get('soc'), '.0%')}",
                 f"chip {_num(th.get('chip_temp_c'), '.0f')}C "
                 f"batt {_num(th.get('battery_temp_c'), '.0f')}C",
                 f"duty<={_num(j.get('duty_allowed'), '.2f')} ran {_num(j.get('duty'), '.2f')}",
                 _job(j), f"upsets {_num(rad.get('upsets'), 'd')}"]
        mode = e.get("mode")
        if mode and mode != "NOMINAL":
            parts.insert(2, str(mode))
        sep = " │ " if self.tty else " | "
        return sep.join(parts)

    def _bar(self, share: float) -> str:
        filled = round(share * BAR_WIDTH)
        if self.tty:
            return "▕" + "█" * filled + "░" * (BAR_WIDTH - filled) + "▏"
        return "[" + "#" * filled + "-" * (BAR_WIDTH - filled) + "]"

    # ------------------------------------------------------------------ events
    def world(self, t: float, data: dict[str, Any]) -> None:
        """Light and SAA transitions, from the world's housekeeping."""
        in_sun, in_saa = data.get("in_sun"), data.get("in_saa")
        if isinstance(in_sun, bool) and self._sun is not None and in_sun != self._sun:
            if in_sun:
                self.line(t, "sun", "sunrise: the array charges the battery again", "sun")
            else:
                self.line(t, "eclipse", "eclipse: in the Earth's shadow, the battery carries "
                          "every load", "eclipse")
        if isinstance(in_saa, bool) and self._saa is not None and in_saa != self._saa:
            self.line(t, "saa", "entering the South Atlantic Anomaly: upset rate x"
                      if in_saa else "leaving the South Atlantic Anomaly", "warn")
        self._sun = in_sun if isinstance(in_sun, bool) else self._sun
        self._saa = in_saa if isinstance(in_saa, bool) else self._saa

    def event(self, event: dict[str, Any]) -> None:
        """An onboard event, in words, or nothing for routine ones."""
        name = event["name"]
        if name in QUIET:
            return
        handler = EVENT_LINES.get(name)
        if handler is not None:
            shown = handler(self, event)
            if shown is not None:
                self.line(event["t"], *shown)
            return
        if event["severity"] in ("WARNING", "ERROR", "CRITICAL"):
            mark = "warn" if event["severity"] == "WARNING" else "bad"
            self.line(event["t"], mark, f"{event['app']}: {event['text']}",
                      "warn" if mark == "warn" else "bad")

    def ground(self, entry: dict[str, Any]) -> None:
        """What the ground station (or the bench) did: uplink, download, check, a kill."""
        if entry.get("quiet"):
            return  # summed up in the pass's own line
        if entry.get("what") == "kill":
            self.line(entry["t"], "kill", entry["text"], "bad")
            return
        colour = "bad" if entry.get("ok") is False else "ground"
        self.line(entry["t"], "bad" if colour == "bad" else "ground",
                  f"ground: {entry['text']}", colour)

    def thermal(self, t: float, data: dict[str, Any]) -> None:
        """Throttling episodes, from the thermal app's duty limit."""
        limit, chip = data.get("duty_limit"), data.get("chip_temp_c")
        if not isinstance(limit, (int, float)) or isinstance(limit, bool):
            return
        if self._lowest is None and limit < THROTTLE_BELOW:
            self._lowest = limit
            self.line(t, "warn", f"hot: the chip is at {_num(chip, '.1f')} °C, thermal limits "
                      f"the compute duty to {limit:.2f}", "warn")
        elif self._lowest is not None and limit >= THROTTLE_OVER:
            self.line(t, "ok", f"cool again: compute duty back to full (chip "
                      f"{_num(chip, '.1f')} °C; the limit went down to {self._lowest:.2f})")
            self._lowest = None
        elif self._lowest is not None:
            self._lowest = min(self._lowest, limit)


def _contact(tl: Timeline, event: dict[str, Any]) -> tuple[str, str, str]:
    args = event["args"]
    if args.get("state") == "start":
        stored = int(args.get("stored", 0) or 0)
        return ("aos", f"AOS {args.get('station')}: contact; {stored} telemetry packets stored "
                "on board start coming down", "contact")
    return ("los", f"LOS {args.get('station')}: out of contact, telemetry is stored on board",
            "contact")


def _upset(tl: Timeline, event: dict[str, Any]) -> tuple[str, str, str]:
    a = event["args"]
    outcome = str(a.get("outcome", "seen"))
    colour = "bad" if "roll" in outcome or "restart" in outcome else "warn"
    return ("upset", f"upset ({a.get('position', '')}): {a.get('evidence')} in "
            f"{a.get('where')} -> {outcome}", colour)


def _simple(mark: str, colour: str = "") -> Callable[[Timeline, dict[str, Any]],
                                                    tuple[str, str, str]]:
    def shown(tl: Timeline, event: dict[str, Any]) -> tuple[str, str, str]:
        return (mark, f"{event['app']}: {event['text']}", colour)
    return shown


def _app_exited(tl: Timeline, event: dict[str, Any]) -> tuple[str, str, str]:
    return ("bad", f"executive: {event['text']}", "bad")


def _app_running(tl: Timeline, event: dict[str, Any]) -> tuple[str, str, str] | None:
    app = event["args"].get("app")
    restarts = [e for e in tl.recorder.recording.events
                if e["name"] == "APP_EXITED" and e["args"].get("app") == app]
    if not restarts:
        return None  # the first start at boot: routine
    gone = event["t"] - restarts[-1]["t"]
    return ("ok", f"executive: {app} is back, restarted {gone / tl.plan.speed:.1f} s "
            f"after it died", "contact")


def _job_started(tl: Timeline, event: dict[str, Any]) -> tuple[str, str, str] | None:
    a = event["args"]
    if a.get("how") == "started":
        return ("job", f"jobs: job #{a.get('job')} ({a.get('kind')}) starts computing", "")
    return ("job", f"jobs: job #{a.get('job')} ({a.get('kind')}) resumes at step "
            f"{a.get('step')}/{a.get('total')}, from its last checkpoint", "contact")


def _job_done(tl: Timeline, event: dict[str, Any]) -> tuple[str, str, str] | None:
    a = event["args"]
    return ("ok", f"jobs: job #{a.get('job')} ({a.get('kind')}) done, result stored on board "
            f"({int(a.get('size', 0) or 0) / 1024:.0f} KiB) for the next pass", "")


EVENT_LINES: dict[str, Callable[[Timeline, dict[str, Any]], tuple[str, str, str] | None]] = {
    "CONTACT": _contact,
    "UPSET": _upset,
    "LOAD_SHED": _simple("warn", "warn"),
    "LOAD_RESTORED": _simple("ok"),
    "APP_EXITED": _app_exited,
    "APP_RUNNING": _app_running,
    "JOB_STARTED": _job_started,
    "JOB_DONE": _job_done,
    "ROLLED_BACK": _simple("warn", "warn"),
}


def _num(value: Any, spec: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "--"
    return format(int(value) if spec == "d" else value, spec)


def _link(c: dict[str, Any]) -> str:
    stored = c.get("store_packets")
    if c.get("in_contact"):
        return f"contact {c.get('station') or ''}".rstrip()
    return f"no contact, {_num(stored, 'd')} stored"


def _job(j: dict[str, Any]) -> str:
    running = j.get("running_job")
    queued = _num(j.get("queued"), "d")
    if not running:
        return f"no job running, {queued} queued"
    return f"job #{running} {_num(j.get('progress'), '.0%')}, {queued} queued"
