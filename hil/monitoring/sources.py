"""Where the monitor's telemetry comes from: a local flatsat's bus, or the space link.

Both sources feed a :class:`~hil.monitoring.state.FlatsatState` from a thread of their own and
report their transport counters (what arrived, what the transport itself refused, what went
missing on the way) for the exporter's own metrics.

* :class:`BusSource` subscribes to ``tlm.`` and ``evt.`` on a run directory's bus, like any
  onboard subscriber: every housekeeping report of every app, at the apps' own rate. The bus
  subscriber's bounded decoder counts malformed and oversized messages and sequence gaps.
* :class:`LinkSource` is a :class:`ground.station.GroundStation` on the space link: what comms
  downlinks (housekeeping and events), authenticated like any ground. The link counts rejected
  datagrams by reason and missed packets per APID.

A source never gives up on a flatsat that is not there yet or restarts: ZeroMQ reconnects to the
bus socket by itself, and the link keeps listening. Staleness shows it instead.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import zmq

from flight.bus import Envelope, RunDir, Subscriber
from flight.bus.rundir import MAX_IPC_PATH
from hil.monitoring.state import FlatsatState

if TYPE_CHECKING:
    from ground.station import GroundStation

log = logging.getLogger("sunlit.monitor")

#: How long the bus thread waits for a message before checking whether it should stop.
POLL_MS = 200


class SourceError(RuntimeError):
    """A source cannot be set up (a bad address, key, dictionary or run directory)."""


@dataclass(frozen=True)
class Transport:
    """A source's transport counters: messages or datagrams that arrived, those the transport
    refused (by reason), and those missed on the way (sequence gaps)."""

    received: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    gaps: int = 0


class Source(Protocol):
    """What the exporter needs from a source."""

    kind: str  #: ``bus`` or ``link``
    target: str  #: the run directory or the link address, for the info metric

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def transport(self) -> Transport: ...


# ------------------------------------------------------------------------------ the bus


def ingest_envelope(state: FlatsatState, envelope: Envelope) -> None:
    """Store one bus message: ``tlm.<app>`` reports and ``evt.<app>`` events; count the rest."""
    kind, _, app = envelope.topic.partition(".")
    if kind == "tlm":
        state.telemetry(app, envelope.data, envelope.t)
    elif kind == "evt":
        data = envelope.data
        if not isinstance(data, Mapping):
            state.reject("bad_event")
            return
        state.event(app, data.get("name"), data.get("severity"))
    else:
        state.reject("unexpected_topic")


class BusSource:
    """Subscribes to a local flatsat's bus (``RUN_DIR/bus/sub``) from a thread."""

    kind = "bus"

    def __init__(self, run_dir: str | os.PathLike[str], state: FlatsatState) -> None:
        self.run_dir = RunDir(Path(run_dir))
        self.target = str(self.run_dir.root)
        self._state = state
        endpoint = self.run_dir.sub_endpoint
        if len(endpoint) - len("ipc://") > MAX_IPC_PATH:
            raise SourceError(f"run directory {self.target} is too long for an ipc socket "
                              f"({len(endpoint) - len('ipc://')} > {MAX_IPC_PATH} characters)")
        if not self.run_dir.bus_dir.is_dir():
            log.warning("monitor: no bus in %s yet; waiting for a flatsat to start there",
                        self.target)
        self._ctx: zmq.Context[Any] = zmq.Context()
        try:
            self._subscriber = Subscriber(self._ctx, endpoint, ("tlm.", "evt."))
        except zmq.ZMQError as exc:
            self._ctx.term()
            raise SourceError(f"cannot subscribe to {endpoint}: {exc}") from exc
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="monitor-bus", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        """Receive until stopped; the socket is used and closed by this thread only."""
        try:
            while not self._stop.is_set():
                envelope = self._subscriber.recv(timeout_ms=POLL_MS)
                if envelope is not None:
                    ingest_envelope(self._state, envelope)
                    for more in self._subscriber.drain(limit=500):
                        ingest_envelope(self._state, more)
        finally:
            self._subscriber.close()

    def transport(self) -> Transport:
        c = self._subscriber.counters
        return Transport(c.rx + c.rx_malformed + c.rx_oversized,
                         {"malformed": c.rx_malformed, "oversized": c.rx_oversized}, c.rx_gaps)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5.0)
        else:
            self._subscriber.close()
        self._ctx.term()


# ------------------------------------------------------------------------------ the link


@dataclass(frozen=True)
class LinkOptions:
    """How to reach a flatsat over the space link (the ``sunlit-ground`` options)."""

    address: tuple[str, int]
    key_file: Path | None = None  #: None: the default run directory's key
    dictionary: Path | None = None  #: None: the built-in profile's dictionary
    plain: bool = False
    spi: int = 1
    state_dir: Path | None = None  #: None: the ground's default (shared with sunlit-ground)
    local: tuple[str, int] | None = None  #: bind here, e.g. the flatsat's configured ground
    announce_every: float = 0.0  #: re-send the announcing ping this often (0: only at start)
    history: int = 1000  #: the station's history bound: the monitor reads only the latest


class LinkSource:
    """A ground station on the space link whose received reports feed the state."""

    kind = "link"

    def __init__(self, options: LinkOptions, state: FlatsatState) -> None:
        self.options = options
        host, port = options.address
        self.target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self._state = state
        self._stop = threading.Event()
        self._station: GroundStation | None = None
        self._announcer = threading.Thread(target=self._announce_loop, name="monitor-announce",
                                           daemon=True)

    def start(self) -> None:
        """Open the link, start listening, then announce (a ping: telemetry comes back to the
        source of the last telecommand comms accepted)."""
        from flight.link import KeyFileError
        from ground.station import Dictionary, GroundStation

        o = self.options
        try:
            dictionary = Dictionary.load(o.dictionary)
            station = GroundStation.connect(
                o.address, key_file=o.key_file, dictionary=dictionary, plain=o.plain,
                spi=o.spi, state_dir=o.state_dir, local=o.local, announce=False,
                history=o.history)
        except (KeyFileError, ValueError, KeyError, OSError) as exc:
            raise SourceError(f"cannot open the link to {self.target}: {exc}") from exc
        station.listen(self._on_item)
        self._station = station
        self._announce()
        self._announcer.start()

    def _announce(self) -> None:
        from flight.link import Service
        from flight.link.services import Ping
        from ground.station import COMMS_APID, GroundError

        station = self._station
        if station is None:
            return
        try:
            station.send_tc(COMMS_APID, Service.TEST, Ping.PING, app="comms", name="ping")
        except (GroundError, OSError) as exc:
            log.warning("monitor: could not send the announcing ping: %s", exc)

    def _announce_loop(self) -> None:
        every = self.options.announce_every
        if every <= 0:
            return
        while not self._stop.wait(every):
            self._announce()

    def _on_item(self, item: Any) -> None:
        """Called on the station's receive thread for everything it decoded: keep it short."""
        from ground.station import Event, TelemetryReport

        if isinstance(item, TelemetryReport):
            self._state.telemetry(item.app, item.values, item.t_onboard)
        elif isinstance(item, Event):
            self._state.event(item.app, item.name, item.severity_name)

    def transport(self) -> Transport:
        if self._station is None:
            return Transport()
        from flight.link import RejectReason

        stats = self._station.stats()
        link = stats["link"]
        rejected = {reason.value: 0 for reason in RejectReason}
        rejected.update(link.rejected)
        rejected["undecodable_source_data"] = sum(stats["bad_data"].values())
        return Transport(link.received, rejected, sum(link.gaps.values()))

    def stop(self) -> None:
        self._stop.set()
        if self._announcer.is_alive():
            self._announcer.join(timeout=5.0)
        if self._station is not None:
            with contextlib.suppress(Exception):  # closing must not fail on a broken archive
                self._station.close()
