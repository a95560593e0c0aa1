"""Where the console's data comes from: a live ground station, or a replayed archive.

Both are a :class:`ground.station.GroundStation`; what differs is the link under it (a UDP
:class:`ground.link.GroundLink`, or a :class:`~ground.console.replay.ReplayLink` reading an
archive) and the clock the console measures ages on. A source hands the model what the
station decoded, from its history at start and then from its ``listen`` feed, on the UI's
timer (:meth:`StationSource.poll`); the receive thread only ever appends to a queue.
"""

from __future__ import annotations

import math
import os
import queue
import time
import weakref
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ground.console.commandline import ParsedCommand
from ground.console.model import ConsoleModel
from ground.console.replay import ReplayLink
from ground.station import CommandHandle, Dictionary, GroundStation, Stage

__all__ = ["ReplaySource", "StationSource", "open_live"]

#: Items taken from the station per poll at most: a burst (a stored-telemetry dump, a fast
#: replay) is drawn over a few frames instead of freezing the screen.
MAX_ITEMS_PER_POLL = 4000


class StationSource:
    """A live ground station as the console's source (``owns``: close it with the console)."""

    mode = "live"
    can_send = True

    def __init__(self, station: GroundStation, *, owns: bool = False,
                 description: str = "") -> None:
        self.station = station
        self.owns = owns
        self.description = description or _describe_link(station)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._stop_listening: Any = None
        self._backlog: deque[Any] = deque()
        self._seen_at_start: dict[int, Any] = {}
        self._known_handles: weakref.WeakSet[CommandHandle] = weakref.WeakSet()
        self._started = False

    @property
    def dictionary(self) -> Dictionary:
        return self.station.dictionary

    # -------------------------------------------------------------- time

    def clock(self) -> float:
        """Now, on the timeline items are stamped with (see ``ground.console.model``)."""
        return time.monotonic()

    def stamp(self, item: Any) -> float:
        """Where an item sits on the timeline: its ground monotonic time of receipt."""
        return float(_record(item).t_mono)

    def _handle_stamp(self, handle: CommandHandle) -> float:
        return float(handle.sent_mono)

    # -------------------------------------------------------------- feeding the model

    def start(self) -> None:
        """Listen for new items, then take the history so far (no item is lost or doubled:
        those in both are recognised by identity)."""
        if self._started:
            return
        self._started = True
        self._stop_listening = self.station.listen(self._queue.put)
        history: list[Any] = [*self.station.reports(), *self.station.event_history(),
                              *self.station.verification_history()]
        history.sort(key=lambda item: _record(item).t_mono)
        self._backlog = deque(history)
        # by identity; the records are held here so that no id can be reused meanwhile
        self._seen_at_start = {id(_record(item)): _record(item) for item in history}

    def poll(self, model: ConsoleModel, max_items: int = MAX_ITEMS_PER_POLL) -> int:
        """Move what arrived since the last poll into ``model``; returns how many items."""
        self.start()
        self._poll_commands(model)
        taken = 0
        while self._backlog and taken < max_items:
            self._ingest(model, self._backlog.popleft())
            taken += 1
        while taken < max_items:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if self._seen_at_start and id(_record(item)) in self._seen_at_start:
                continue
            self._ingest(model, item)
            taken += 1
        if not self._backlog and self._queue.empty():
            self._seen_at_start.clear()
        self._poll_stats(model)
        return taken

    def _ingest(self, model: ConsoleModel, item: Any) -> None:
        if isinstance(item, tuple):  # a verification report: know its command first
            self._commands_until(model, self.stamp(item))
        model.ingest(item, self.stamp(item))

    def _poll_commands(self, model: ConsoleModel) -> None:
        """Commands sent through the station since the last poll (any thread, any tool)."""
        fresh = []
        for handle in reversed(self.station.commands()):
            if handle in self._known_handles:
                break
            if math.isnan(handle.sent_mono):  # registered, not yet sent: next poll
                continue
            fresh.append(handle)
        for handle in reversed(fresh):
            self._known_handles.add(handle)
            model.verification.add_command(handle.request_id, handle.label, handle.args,
                                           self._handle_stamp(handle), handle.sent_ground)

    def _commands_until(self, model: ConsoleModel, t: float) -> None:
        """Register commands sent up to ``t`` (replay: from the archive)."""
        self._poll_commands(model)

    def _poll_stats(self, model: ConsoleModel) -> None:
        stats = self.station.link.stats()
        model.link.note_stats(stats.received, stats.rejected, sum(stats.gaps.values()),
                              self.clock())

    # -------------------------------------------------------------- commanding

    def send(self, parsed: ParsedCommand) -> CommandHandle:
        """Send a checked command; a hazardous one as arm, wait for the arm, then the command
        (blocks up to the station's timeout: call from a worker thread)."""
        return self.station.send(parsed.app, parsed.command,
                                 arm=True if parsed.hazardous else None, args=parsed.args)

    # -------------------------------------------------------------- the end

    def close(self) -> None:
        if self._stop_listening is not None:
            self._stop_listening()
            self._stop_listening = None
        if self.owns:
            self.station.close()


class ReplaySource(StationSource):
    """An archive played back through a ground station over a :class:`ReplayLink`."""

    mode = "replay"
    can_send = False

    def __init__(self, archive: str | os.PathLike[str], *, speed: float = 1.0,
                 max_gap: float | None = 60.0,
                 dictionary: Dictionary | Mapping[str, Any] | str | os.PathLike[str] | None = None
                 ) -> None:
        self.replay = ReplayLink(Path(archive), speed=speed, max_gap=max_gap)
        try:
            self._archived_commands = self.replay.archive.commands()
            station = GroundStation(self.replay, dictionary)
        except BaseException:
            self.replay.close()
            raise
        self._next_command = 0
        speed_text = "max speed" if math.isinf(speed) else f"{speed:g}x"
        super().__init__(station, owns=True,
                         description=f"replay {self.replay.path.name} at {speed_text}")

    def clock(self) -> float:
        return self.replay.clock()

    def stamp(self, item: Any) -> float:
        return float(_record(item).t_ground)

    def _poll_commands(self, model: ConsoleModel) -> None:
        now = self.clock()
        if not math.isnan(now):
            self._commands_until(model, now)

    def _commands_until(self, model: ConsoleModel, t: float) -> None:
        rows = self._archived_commands
        while self._next_command < len(rows) and rows[self._next_command].t_ground <= t:
            row = rows[self._next_command]
            self._next_command += 1
            model.verification.add_command(row.request_id, f"{row.app}.{row.name}", row.args,
                                           row.t_ground, row.t_ground)

    @property
    def progress(self) -> tuple[int, int]:
        """Packets replayed so far, and in the archive."""
        return self.replay.delivered, self.replay.total

    @property
    def finished(self) -> bool:
        return self.replay.finished

    def toggle_pause(self) -> bool:
        return self.replay.toggle_pause()

    def send(self, parsed: ParsedCommand) -> CommandHandle:
        raise OSError("replay: commands cannot be sent")


def _record(item: Any) -> Any:
    """The record an item carries its times on: the stage of a ``(request id, stage)``."""
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], Stage):
        return item[1]
    return item


def _describe_link(station: GroundStation) -> str:
    link = station.link
    address = getattr(link, "address", None)
    where = f"{address[0]}:{address[1]}" if isinstance(address, tuple) else str(address)
    auth = "plain (NO AUTHENTICATION)" if getattr(link, "plain", False) else "authenticated"
    return f"{where} {auth}"


def open_live(address: str, *, key_file: str | os.PathLike[str] | None = None,
              plain: bool = False,
              dictionary: Dictionary | Mapping[str, Any] | str | os.PathLike[str] | None = None,
              archive: str | os.PathLike[str] | None = None,
              state_dir: str | os.PathLike[str] | None = None,
              local: tuple[str, int] | None = None, history: int = 20_000) -> StationSource:
    """Connect a ground station for the console (it pings at once to start the downlink)."""
    station = GroundStation.connect(address, key_file=key_file, dictionary=dictionary,
                                    archive=archive, plain=plain, state_dir=state_dir,
                                    local=local, history=history)
    return StationSource(station, owns=True)
