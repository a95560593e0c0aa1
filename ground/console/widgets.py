"""The console's widgets: each draws one part of the :class:`~ground.console.model.ConsoleModel`.

They hold no state of their own beyond what is on screen (and a cache of it, so that a refresh
touches only the cells that changed); all the judging (limits, staleness, filters) is the
model's.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Static

from ground.console.commandline import Completion, Feedback, ParsedCommand
from ground.console.model import (
    CommandEntry,
    ConsoleModel,
    EventEntry,
    LinkStatus,
    StageEntry,
    format_age,
    format_clock,
    severity_name,
)

__all__ = [
    "STATE_STYLES",
    "CommandInput",
    "ConfirmScreen",
    "EventTable",
    "FeedbackLine",
    "LinkBar",
    "TelemetryTable",
    "VerificationTable",
]

#: Limit state -> style of the value cell.
STATE_STYLES = {"nominal": "green", "yellow": "bold yellow", "red": "bold white on red",
                "none": ""}
#: Event severity -> style of its row.
SEVERITY_STYLES = {0: "dim", 1: "", 2: "yellow", 3: "bold red", 4: "bold white on red"}
SEVERITY_SHORT = {0: "DEBUG", 1: "INFO", 2: "WARN", 3: "ERROR", 4: "CRIT"}
STALE_STYLE = "dim italic"
FEEDBACK_STYLES = {"idle": "dim", "hint": "cyan", "ok": "green", "hazardous": "bold magenta",
                   "error": "bold red"}


# ------------------------------------------------------------------------------ link bar


class LinkBar(Static):
    """Link up/down, time since the last packet, contact, store backlog, rejections."""

    def show(self, status: LinkStatus, counts: dict[str, int], description: str,
             replay: str = "") -> None:
        self.update(render_link(status, counts, description, replay), layout=False)


def render_link(status: LinkStatus, counts: dict[str, int], description: str,
                replay: str = "") -> Text:
    text = Text()
    if status.mode == "replay":
        text.append(" REPLAY ", style="bold black on cyan")
        text.append(f" {replay}  ")
    if status.up:
        text.append(" LINK UP ", style="bold black on green")
    else:
        text.append(" LINK DOWN ", style="bold white on red")
    text.append(f" last packet {format_age(status.since_last)}", style="")
    text.append("  │ ")
    if status.in_contact is None:
        text.append("contact ?", style="dim")
    elif status.in_contact:
        station = f" {status.station}" if status.station else ""
        text.append(f"IN CONTACT{station}", style="bold green")
    else:
        text.append("NO CONTACT", style="bold yellow")
    if status.contact_age is not None and not status.up:
        text.append(f" (as of {format_age(status.contact_age)} ago)", style="dim")
    text.append("  │ store ")
    backlog = status.store_packets
    text.append("?" if backlog is None else str(backlog),
                style="yellow" if backlog else "")
    text.append("  │ rejected ")
    text.append(_counter_text("ground", status.rejected_ground))
    text.append(" ")
    text.append(_counter_text("flight", status.rejected_flight))
    if status.gaps:
        text.append(f"  │ gaps {status.gaps}", style="yellow")
    text.append("\n")
    text.append(" telemetry ")
    text.append(f"{counts.get('nominal', 0)} ok", style="green")
    text.append("  ")
    text.append(f"{counts.get('yellow', 0)} yellow",
                style="bold yellow" if counts.get("yellow") else "dim")
    text.append("  ")
    text.append(f"{counts.get('red', 0)} red", style="bold red" if counts.get("red") else "dim")
    text.append("  ")
    text.append(f"{counts.get('stale', 0)} stale",
                style="italic" if counts.get("stale") else "dim")
    text.append(f"  │ packets {status.received}  │ {description}", style="dim")
    return text


def _counter_text(label: str, counts: dict[str, int]) -> Text:
    if not counts:
        return Text(f"{label} 0", style="dim")
    detail = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    return Text(f"{label} {sum(counts.values())} ({detail})", style="bold yellow")


# ------------------------------------------------------------------------------ telemetry


class TelemetryTable(DataTable[Text]):
    """One row per channel (map entries as ``channel.key``): value coloured by its limit
    state, age, and stale rows dimmed and marked."""

    COLUMNS = (("app", "app"), ("channel", "channel"), ("value", "value"), ("unit", "unit"),
               ("age", "age"))
    WIDTHS = {"app": 9, "channel": 24, "value": 14, "unit": 8, "age": 9}

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)  # type: ignore[arg-type]
        self._shown: dict[str, tuple[str, str, bool, str]] = {}
        self._keys: list[str] = []

    def on_mount(self) -> None:
        for label, key in self.COLUMNS:
            self.add_column(label, key=key, width=self.WIDTHS[key])

    def refresh_from(self, model: ConsoleModel, now: float, app: str | None = None,
                     alarms_only: bool = False) -> None:
        rows = model.telemetry.rows(now, app, alarms_only=alarms_only)
        keys = [r.key for r in rows]
        if keys != self._keys:
            self.clear()
            self._shown.clear()
            self._keys = keys
            for row in rows:
                self.add_row(*self._cells(row.app, row.channel, row.text, row.unit, row.state,
                                          row.stale, format_age(row.age)), key=row.key)
                self._shown[row.key] = (row.text, row.state, row.stale, format_age(row.age))
            return
        for row in rows:
            age = format_age(row.age)
            shown = (row.text, row.state, row.stale, age)
            previous = self._shown.get(row.key)
            if previous == shown:
                continue
            cells = self._cells(row.app, row.channel, row.text, row.unit, row.state, row.stale,
                                age)
            if previous is None or previous[:3] != shown[:3]:
                for (_, column), cell in zip(self.COLUMNS, cells, strict=True):
                    self.update_cell(row.key, column, cell)
            else:
                self.update_cell(row.key, "age", cells[-1])
            self._shown[row.key] = shown

    @staticmethod
    def _cells(app: str, channel: str, text: str, unit: str, state: str, stale: bool,
               age: str) -> tuple[Text, ...]:
        base = STALE_STYLE if stale else ""
        value_style = STALE_STYLE if stale else STATE_STYLES.get(state, "")
        if stale and state in ("yellow", "red"):
            value_style = f"{state} italic"
        return (Text(app, style=base), Text(channel, style=base),
                Text(text, style=value_style, justify="right"), Text(unit, style=base),
                Text(f"{age} STALE" if stale else age, style="italic magenta" if stale else "",
                     justify="right"))

    def row_text(self, key: str) -> list[str]:
        """The cells of a row as plain text (for tests and screenshots)."""
        return [cell.plain for cell in self.get_row(key)]

    def row_keys(self) -> list[str]:
        return list(self._keys)


# ------------------------------------------------------------------------------ verification


class VerificationTable(DataTable[Text]):
    """Each command sent and when each verification stage came (✓ success, ✗ failure)."""

    COLUMNS = (("sent", "sent"), ("command", "command"), ("accepted", "accepted"),
               ("started", "started"), ("completed", "completed"), ("status", "status"))
    WIDTHS = {"sent": 12, "command": 34, "accepted": 14, "started": 14, "completed": 14,
              "status": None}

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", **kwargs)  # type: ignore[arg-type]
        self._rows: set[str] = set()

    def on_mount(self) -> None:
        for label, key in self.COLUMNS:
            self.add_column(label, key=key, width=self.WIDTHS[key])

    def refresh_from(self, model: ConsoleModel) -> None:
        changed = model.verification.take_changed()
        if not changed:
            return
        added = False
        for entry in changed:
            key = f"{entry.request_id:08x}"
            cells = self._cells(entry)
            if key in self._rows:
                for (_, column), cell in zip(self.COLUMNS, cells, strict=True):
                    self.update_cell(key, column, cell, update_width=column == "status")
            else:
                self.add_row(*cells, key=key)
                self._rows.add(key)
                added = True
        stale = self._rows - {f"{e.request_id:08x}" for e in model.verification.entries()}
        for key in stale:
            self.remove_row(key)
            self._rows.discard(key)
        if added:
            self.scroll_end(animate=False)

    @staticmethod
    def _cells(entry: CommandEntry) -> tuple[Text, ...]:
        status = entry.status
        style = {"completed": "green", "failed": "bold red"}.get(status, "yellow")
        failure = entry.failure
        detail = status if failure is None else f"failed at {failure.name}: {failure.text}"
        command = Text(entry.command_text, style="" if entry.known else "dim")
        return (Text(format_clock(entry.t_ground, millis=True)), command,
                _stage_cell(entry.stages.get("accepted")),
                _stage_cell(entry.stages.get("started")),
                _stage_cell(entry.stages.get("completed")), Text(detail, style=style))

    def row_text(self, request_id: int) -> list[str]:
        return [cell.plain for cell in self.get_row(f"{request_id:08x}")]


def _stage_cell(stage: StageEntry | None) -> Text:
    if stage is None:
        return Text("·", style="dim", justify="center")
    mark, style = ("✓", "green") if stage.ok else ("✗", "bold red")
    return Text(f"{mark} {format_clock(stage.t_ground, millis=True)}", style=style)


# ------------------------------------------------------------------------------ events


class EventTable(DataTable[Text]):
    """The event log at or above the chosen severity, coloured by severity, newest last."""

    COLUMNS = (("onboard", "time"), ("sev", "sev"), ("app", "app"), ("event", "event"),
               ("text", "text"))
    MAX_ROWS = 1000

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", **kwargs)  # type: ignore[arg-type]
        self._last_seq = 0
        self._filter: int | None = None
        self._shown: list[str] = []

    def on_mount(self) -> None:
        for label, key in self.COLUMNS:
            self.add_column(label, key=key)

    def refresh_from(self, model: ConsoleModel) -> None:
        log = model.events
        if self._filter != log.min_severity:
            self.clear()
            self._shown.clear()
            self._filter = log.min_severity
            self._last_seq = 0
        entries = log.visible(after=self._last_seq)
        if not entries:
            return
        for entry in entries[-self.MAX_ROWS:]:
            key = str(entry.seq)
            self.add_row(*self._cells(entry), key=key)
            self._shown.append(key)
        self._last_seq = entries[-1].seq
        while len(self._shown) > self.MAX_ROWS:
            self.remove_row(self._shown.pop(0))
        self.scroll_end(animate=False)

    @staticmethod
    def _cells(entry: EventEntry) -> tuple[Text, ...]:
        style = SEVERITY_STYLES.get(entry.severity, "")
        return (Text(format_clock(entry.t_onboard), style=style),
                Text(SEVERITY_SHORT.get(entry.severity, severity_name(entry.severity)),
                     style=style),
                Text(entry.app, style=style), Text(entry.name, style=style),
                Text(entry.text, style=style))

    def shown_events(self) -> list[tuple[str, str, str]]:
        """``(app, EVENT, SEVERITY)`` of each row, oldest first (for tests)."""
        out = []
        for key in self._shown:
            row = self.get_row(key)
            out.append((row[2].plain, row[3].plain, row[1].plain))
        return out


# ------------------------------------------------------------------------------ command line


class CommandInput(Input):
    """The command line: Tab completes, Up/Down walk the history of lines sent."""

    BINDINGS = [
        Binding("tab", "complete", "Complete", show=False),
        Binding("up", "history(-1)", "Previous", show=False),
        Binding("down", "history(1)", "Next", show=False),
        Binding("escape", "clear_line", "Clear", show=False),
    ]

    class Completed(Message):
        """Tab was pressed: these were the candidates."""

        def __init__(self, completion: Completion) -> None:
            self.completion = completion
            super().__init__()

    def __init__(self, completer: Callable[[str], Completion], **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._completer = completer
        self.history: list[str] = []
        self._history_index = 0

    def action_complete(self) -> None:
        completion = self._completer(self.value)
        if completion.text != self.value:
            self.value = completion.text
        self.cursor_position = len(self.value)
        self.post_message(self.Completed(completion))

    def action_history(self, step: int) -> None:
        if not self.history:
            return
        self._history_index = max(0, min(len(self.history), self._history_index + step))
        self.value = self.history[self._history_index] \
            if self._history_index < len(self.history) else ""
        self.cursor_position = len(self.value)

    def action_clear_line(self) -> None:
        self.value = ""
        self._history_index = len(self.history)

    def remember(self, line: str) -> None:
        if line and (not self.history or self.history[-1] != line):
            self.history.append(line)
        self._history_index = len(self.history)


class FeedbackLine(Static):
    """What is wrong with the command line, or what Enter will do."""

    def show(self, feedback: Feedback) -> None:
        self.level = feedback.level
        self.message = feedback.message
        self.update(Text(feedback.message, style=FEEDBACK_STYLES.get(feedback.level, ""),
                         no_wrap=True, overflow="ellipsis"), layout=False)

    def say(self, level: str, message: str) -> None:
        self.show(Feedback(level, message))  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ confirmation


class ConfirmScreen(ModalScreen[bool]):
    """Asks before a hazardous command: ``y`` sends arm + command, ``n``/Escape cancels."""

    BINDINGS = [
        Binding("y", "answer(True)", "Arm and send"),
        Binding("n,escape", "answer(False)", "Cancel"),
    ]

    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical {
        width: 72; height: auto; padding: 1 2; border: thick $error; background: $surface;
    }
    ConfirmScreen Static { width: 100%; margin-bottom: 1; }
    ConfirmScreen Horizontal { height: auto; align: center middle; }
    ConfirmScreen Button { margin: 0 2; }
    """

    def __init__(self, command: ParsedCommand) -> None:
        super().__init__()
        self.command = command

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text.assemble(
                ("HAZARDOUS COMMAND\n\n", "bold red"),
                (self.command.text, "bold"),
                (f"\n\n{self.command.spec.get('doc', '')}\n\nThis sends "
                 f"{self.command.app}.arm command={self.command.command}, waits for it to "
                 f"complete, then sends the command.", "")))
            with Horizontal():
                yield Button("Arm and send (y)", variant="error", id="confirm")
                yield Button("Cancel (n)", variant="primary", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)
