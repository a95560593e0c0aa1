"""``sunlit-hil flatsat --board user@host``: deploy, start, and watch a board over the space link.

The lab machine has no bus tap on a board — everything it learns comes down the real link, as
it would from orbit: the ground pings, sends a verified ``noop`` to every app in the dictionary,
then prints a line of live housekeeping every few seconds with every event as it arrives.
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, TextIO

from hil.board.ssh import BoardError
from hil.board.stack import BoardStack

if TYPE_CHECKING:
    from ground.station import GroundStation

#: Wall seconds between live lines.
LINE_EVERY_S = 3.0

#: (app, channel, label, format) of the live line.
LINE = (("executive", "mode", "mode", "s"), ("power", "soc", "soc", ".0%"),
        ("thermal", "chip_temp_c", "chip °C", ".1f"), ("thermal", "duty_limit", "duty≤", ".2f"),
        ("jobs", "done", "jobs done", "d"), ("health", "cpu_percent", "cpu %", ".0f"),
        ("health", "temp_max_c", "board °C", ".1f"))


def fly_board(stack: BoardStack, *, duration: float, keep: bool, out: TextIO) -> int:
    """Deploy, start, check every app over the link, watch, stop (unless ``keep``)."""
    try:
        report = stack.deploy()
        print(f"Deployed to {stack.board} in {report.seconds:.1f} s", file=out, flush=True)
        link = stack.start(timeout=90.0)
    except BoardError as exc:
        print(f"flatsat on the board failed: {exc}", file=out)
        return 2
    print(link.describe(), file=out, flush=True)
    try:
        with link.connect() as ground:
            rtt = ground.ping(timeout=15.0)
            print(f"ping over the link: {rtt * 1000:.1f} ms", file=out, flush=True)
            _noop_every_app(ground, out)
            _watch(ground, duration, out)
    finally:
        if keep:
            print(f"The stack keeps running on {stack.board}; stop it with "
                  f"`sunlit-hil flatsat --board {stack.board} --stop`.", file=out)
    return 0 if keep else _stop(stack, out)


def _noop_every_app(ground: GroundStation, out: TextIO) -> None:
    """A verified ``noop`` to every app the dictionary names: the whole command path works."""
    for app in sorted(ground.dictionary.apps):
        stage = ground.send(app, "noop").wait(15.0)
        print(f"  {app}.noop: {stage.name}", file=out, flush=True)


def _watch(ground: GroundStation, duration: float, out: TextIO) -> None:
    """A line of live housekeeping every ``LINE_EVERY_S``, each event as it came down."""
    deadline = time.monotonic() + duration
    since = ground.mark()
    while (left := deadline - time.monotonic()) > 0:
        with contextlib.suppress(TimeoutError):  # nothing new: still print the line
            ground.await_event(timeout=min(LINE_EVERY_S, left), since=since)
        for event in ground.event_history(since=since):
            print(f"  {event.severity_name:<8} {event.app}.{event.name}: {event.text}",
                  file=out, flush=True)
        since = ground.mark()
        print("  " + "  ".join(_value(ground, app, channel, label, spec)
                               for app, channel, label, spec in LINE), file=out, flush=True)


def _value(ground: GroundStation, app: str, channel: str, label: str, spec: str) -> str:
    try:
        sample = ground.latest(app, channel)
    except (KeyError, ValueError):  # this board's dictionary has no such channel
        return f"{label}=-"
    if sample is None:
        return f"{label}=n/a"
    try:
        return f"{label}={format(sample.value, spec)}"
    except (TypeError, ValueError):
        return f"{label}={sample.value}"


def _stop(stack: BoardStack, out: TextIO) -> int:
    code = stack.stop()
    print({0: "Stack on the board stopped cleanly.", 1: "Stack on the board had to be killed.",
           3: "Nothing was running on the board."}.get(code, f"stop returned {code}"), file=out)
    return 0 if code in (0, 3) else 1
