"""The operator console: a Textual app over a :class:`~ground.console.source.StationSource`.

::

    python -m ground.console                                  # 127.0.0.1:52001, default key
    python -m ground.console --address 10.0.0.7:52001 --key keys/link.key --archive pass.sqlite
    python -m ground.console --replay pass.sqlite --speed 10  # look back at a pass

See ``docs/console.md`` for the panels, the key bindings and the command-line syntax.
"""

from __future__ import annotations

import argparse
import logging
import math
import queue
import sys
from collections.abc import Sequence
from functools import partial
from typing import Any

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Footer, Input

from ground.console.commandline import CommandLine, CommandLineError, ParsedCommand
from ground.console.model import ConsoleModel, StalenessPolicy, format_clock, severity_name
from ground.console.source import ReplaySource, StationSource
from ground.console.widgets import (
    CommandInput,
    ConfirmScreen,
    EventTable,
    FeedbackLine,
    LinkBar,
    TelemetryTable,
    VerificationTable,
)

__all__ = ["ConsoleApp", "build_parser", "main"]


class ConsoleApp(App[None]):
    """Command line, verification, telemetry, events and the link, on one screen."""

    TITLE = "Sunlit console"
    ENABLE_COMMAND_PALETTE = False

    CSS = """
    Screen { layout: vertical; }
    #link { height: 2; background: $panel; }
    #panes { height: 1fr; }
    #telemetry { width: 1fr; max-width: 84; height: 100%; border: round $primary; }
    #events { width: 1fr; height: 100%; border: round $primary; }
    #verification { height: 10; border: round $primary; }
    #feedback { height: 1; padding: 0 1; }
    #command { border: tall $accent; }
    DataTable { scrollbar-size-vertical: 1; }
    """

    BINDINGS = [
        Binding("f2", "cycle_severity", "Events ≥"),
        Binding("f3", "cycle_app", "Telemetry app"),
        Binding("f4", "toggle_alarms", "Alarms only"),
        Binding("f5", "toggle_pause", "Pause replay"),
        Binding("f6", "focus_next_pane", "Next pane"),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(self, source: StationSource, *, poll_interval: float = 0.2,
                 policy: StalenessPolicy | None = None, link_timeout: float = 5.0) -> None:
        super().__init__()
        self.source = source
        self.poll_interval = poll_interval
        self.model = ConsoleModel(source.dictionary, policy=policy, link_timeout=link_timeout,
                                  mode=source.mode)
        self.command_line = CommandLine(source.dictionary)
        self.app_filter: str | None = None
        self.alarms_only = False
        self.sending = 0
        #: ``(level, text)`` of log records to show as notifications (see ``main``)
        self.log_messages: queue.SimpleQueue[tuple[int, str]] = queue.SimpleQueue()

    # -------------------------------------------------------------- layout

    def compose(self) -> ComposeResult:
        yield LinkBar(id="link")
        with Horizontal(id="panes"):
            yield TelemetryTable(id="telemetry")
            yield EventTable(id="events")
        yield VerificationTable(id="verification")
        yield FeedbackLine(id="feedback")
        placeholder = "replay: no link, nothing can be sent" if not self.source.can_send \
            else "APP.COMMAND ARG=VALUE ...   (Tab completes)"
        yield CommandInput(self.command_line.complete, id="command", placeholder=placeholder,
                           disabled=not self.source.can_send)
        yield Footer()

    def on_mount(self) -> None:
        self.telemetry_table = self.query_one(TelemetryTable)
        self.verification_table = self.query_one(VerificationTable)
        self.event_table = self.query_one(EventTable)
        self.link_bar = self.query_one(LinkBar)
        self.feedback = self.query_one(FeedbackLine)
        self.command_input = self.query_one(CommandInput)
        self.verification_table.border_title = "Verification"
        self._titles()
        self.feedback.show(self.command_line.check(""))
        if self.source.can_send:
            self.command_input.focus()
        else:
            self.feedback.say("idle", f"{self.source.description}: F5 pauses, Ctrl+Q quits")
            self.telemetry_table.focus()
        self.refresh_data()
        self.set_interval(self.poll_interval, self.refresh_data)

    def on_unmount(self) -> None:
        self.source.close()

    def _titles(self) -> None:
        what = self.app_filter or "all apps"
        alarms = ", alarms only" if self.alarms_only else ""
        self.telemetry_table.border_title = f"Telemetry: {what}{alarms} (F3, F4)"
        self.event_table.border_title = \
            f"Events ≥ {severity_name(self.model.events.min_severity)} (F2)"

    # -------------------------------------------------------------- data

    def refresh_data(self) -> None:
        """Take what the source has, redraw what changed (the UI timer calls this)."""
        while not self.log_messages.empty():
            level, text = self.log_messages.get_nowait()
            self.notify(text, severity="error" if level >= logging.ERROR else "warning")
        self.source.poll(self.model)
        now = self.source.clock()
        self.telemetry_table.refresh_from(self.model, now, self.app_filter, self.alarms_only)
        self.verification_table.refresh_from(self.model)
        self.event_table.refresh_from(self.model)
        self.link_bar.show(self.model.link_status(now), self.model.telemetry.counts(now),
                           self.source.description, self._replay_text(now))

    def _replay_text(self, now: float) -> str:
        if not isinstance(self.source, ReplaySource):
            return ""
        done, total = self.source.progress
        state = "finished" if self.source.finished else \
            "paused" if self.source.replay.paused else "playing"
        return f"{state} {done}/{total} packets, replay time {format_clock(now)}"

    # -------------------------------------------------------------- command line

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input is self.command_input:
            self.feedback.show(self.command_line.check(event.value))

    def on_command_input_completed(self, event: CommandInput.Completed) -> None:
        candidates = event.completion.candidates
        if len(candidates) > 1:
            shown = "  ".join(c.split(".", 1)[-1] if "." in c and " " not in c else c
                              for c in candidates)
            self.feedback.say("hint", shown)
        else:
            self.feedback.show(self.command_line.check(self.command_input.value))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input is not self.command_input:
            return
        text = event.value
        try:
            parsed = self.command_line.parse(text)
        except CommandLineError as exc:
            self.feedback.say("error", str(exc))
            self.bell()
            return
        if not self.source.can_send:
            self.feedback.say("error", "replay: there is no link to send on")
            return
        if parsed.hazardous:
            self.push_screen(ConfirmScreen(parsed), partial(self._confirmed, parsed, text))
            return
        self._send(parsed, text)

    def _confirmed(self, parsed: ParsedCommand, text: str, answer: bool | None) -> None:
        if answer:
            self._send(parsed, text)
        else:
            self.feedback.say("hint", f"cancelled: {parsed.text} was not sent")
        self.command_input.focus()

    def _send(self, parsed: ParsedCommand, text: str) -> None:
        self.command_input.remember(text)
        self.command_input.value = ""
        what = f"arming and sending {parsed.text}" if parsed.hazardous else \
            f"sending {parsed.text}"
        self.feedback.say("ok", what)
        self.sending += 1
        self.run_worker(partial(self._send_in_thread, parsed), thread=True, group="send",
                        exit_on_error=False)

    def _send_in_thread(self, parsed: ParsedCommand) -> None:
        try:
            handle = self.source.send(parsed)
        except Exception as exc:  # validation, a failed arm, a closed link: tell, never crash
            self.call_from_thread(self._send_done, parsed, None, exc)
        else:
            self.call_from_thread(self._send_done, parsed, handle, None)

    def _send_done(self, parsed: ParsedCommand, handle: Any, error: Exception | None) -> None:
        self.sending -= 1
        if error is not None:
            self.feedback.say("error", f"{parsed.label} not sent: {error}")
            self.bell()
        else:
            self.feedback.say("ok", f"sent {parsed.text} (request {handle.request_id:#010x})")
        self.refresh_data()

    # -------------------------------------------------------------- actions

    def action_cycle_severity(self) -> None:
        level = self.model.events.cycle()
        self._titles()
        self.event_table.refresh_from(self.model)
        self.notify(f"events at {severity_name(level)} and above", timeout=2)

    def action_cycle_app(self) -> None:
        apps: list[str | None] = [None, *self.model.telemetry.apps()]
        index = apps.index(self.app_filter) if self.app_filter in apps else 0
        self.app_filter = apps[(index + 1) % len(apps)]
        self._titles()
        self.refresh_data()

    def action_toggle_alarms(self) -> None:
        self.alarms_only = not self.alarms_only
        self._titles()
        self.refresh_data()

    def action_toggle_pause(self) -> None:
        if isinstance(self.source, ReplaySource):
            paused = self.source.toggle_pause()
            self.notify("replay paused" if paused else "replay resumed", timeout=2)
            self.refresh_data()

    def action_focus_next_pane(self) -> None:
        self.screen.focus_next()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "toggle_pause":
            return isinstance(self.source, ReplaySource)
        return True


# ------------------------------------------------------------------------------ entry point


def build_parser(prog: str = "python -m ground.console") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description="The Sunlit operator console (Textual): command, verify, "
        "watch telemetry and events live, or replay an archived pass.")
    parser.add_argument("--address", default="127.0.0.1:52001", metavar="HOST:PORT",
                        help="where the spacecraft's comms app listens (default %(default)s)")
    parser.add_argument("--key", metavar="FILE",
                        help="link key file (default: RUN_DIR/keys/link.key of the default "
                        "run directory)")
    parser.add_argument("--no-auth", action="store_true",
                        help="send plain, unauthenticated telecommands (lab profile only)")
    parser.add_argument("--dictionary", metavar="FILE",
                        help="flight dictionary JSON (default: built from the flight config)")
    parser.add_argument("--archive", metavar="FILE",
                        help="archive everything sent and received in this SQLite file")
    parser.add_argument("--state-dir", metavar="DIR",
                        help="where the ground keeps its ARSN and sequence counters")
    parser.add_argument("--local", metavar="HOST:PORT",
                        help="address to receive telemetry on (default: any free port)")
    parser.add_argument("--replay", metavar="FILE",
                        help="replay this archive instead of connecting (nothing is sent)")
    parser.add_argument("--speed", type=float, default=1.0, metavar="X",
                        help="replay speed: archive seconds per second; inf: no waiting "
                        "(default %(default)s)")
    parser.add_argument("--max-gap", type=float, default=60.0, metavar="S",
                        help="replay: shorten silences longer than S archive seconds "
                        "(default %(default)s; a negative value keeps them)")
    parser.add_argument("--stale-factor", type=float, default=3.0, metavar="N",
                        help="a value is stale after N times its app's housekeeping period "
                        "(default %(default)s)")
    parser.add_argument("--stale-after", type=float, default=10.0, metavar="S",
                        help="...or after S seconds while that period is unknown "
                        "(default %(default)s)")
    return parser


def make_source(args: argparse.Namespace) -> StationSource:
    """The source the options ask for: a replay, or a live connection."""
    if args.replay:
        if args.archive:
            raise ValueError("--archive records a live session; a replay only reads")
        max_gap = None if args.max_gap is not None and args.max_gap < 0 else args.max_gap
        return ReplaySource(args.replay, speed=args.speed, max_gap=max_gap,
                            dictionary=args.dictionary)
    from ground.console.source import open_live
    from ground.link import parse_address

    local = parse_address(args.local) if args.local else None
    return open_live(args.address, key_file=args.key, plain=args.no_auth,
                     dictionary=args.dictionary, archive=args.archive,
                     state_dir=args.state_dir, local=local)


def main(argv: Sequence[str] | None = None, *, prog: str = "python -m ground.console") -> int:
    """Run the console; ``sunlit-ground console ...`` calls this with its arguments."""
    parser = build_parser(prog)
    args = parser.parse_args(list(argv) if argv is not None else None)
    if not args.speed > 0 or math.isnan(args.speed):
        parser.error("--speed must be positive")
    if args.no_auth and not args.replay:
        print("WARNING: --no-auth: telecommands go out UNAUTHENTICATED (lab profile only)",
              file=sys.stderr)
    try:
        source = make_source(args)
    except Exception as exc:  # a missing key, an unreadable archive, a bad address
        print(f"console: {exc}", file=sys.stderr)
        return 1
    policy = StalenessPolicy(factor=args.stale_factor, fallback=args.stale_after)
    app = ConsoleApp(source, policy=policy)
    handler = _NotifyHandler(app)
    logging.getLogger().addHandler(handler)  # warnings on screen, never over it
    try:
        app.run()
    finally:
        logging.getLogger().removeHandler(handler)
        source.close()
    return 0


class _NotifyHandler(logging.Handler):
    """Shows log warnings (an archive write failing, undecodable data) as notifications
    instead of letting them be printed over the screen. It only queues: the record may come
    from a thread that holds the ground station's lock, which the UI thread may be waiting
    for, so it must never wait for the UI."""

    def __init__(self, app: ConsoleApp) -> None:
        super().__init__(logging.WARNING)
        self.app = app

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.app.log_messages.put((record.levelno, self.format(record)))
        except Exception:
            self.handleError(record)
