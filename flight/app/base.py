"""The app runtime: everything an onboard app gets for free by subclassing :class:`App`.

An app declares a :class:`~flight.app.model.AppModel` and writes ``do_<command>`` handlers and a
``housekeeping()`` method. The framework gives it one single-threaded main loop that

* serves its commands (ROUTER) with argument checking, counters and failure events,
* heartbeats on the monotonic clock, also while long work runs in :meth:`App.offload`,
* publishes housekeeping telemetry on its period and checks channel limits,
* follows the executive's shared state (the mode) by snapshot + sequenced updates,
* restores its parameters from the checkpoint store and changes them by load → activate,
* logs JSON lines with mission and wall time, and stops cleanly on SIGTERM,
* exits when the executive that started it has gone.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import zmq

import flight
from flight.app.clock import MissionClock
from flight.app.common import COMMON
from flight.app.model import AppModel, Channel, Field, InvalidValue, Severity, ValueType
from flight.app.params import ParameterTable
from flight.bus import (
    DEFAULT_LIMITS,
    BusCounters,
    CommandClient,
    CommandServer,
    Envelope,
    Outcome,
    Publisher,
    Reason,
    Reply,
    Request,
    RunDir,
    Subscriber,
)
from flight.bus.clone import STATE_TOPIC, SharedStateReplica
from flight.bus.limits import DecodeLimits
from flight.bus.pubsub import DEFAULT_HWM
from flight.checkpoint import CheckpointStore, MirroredStore

EXECUTIVE = "executive"
#: How often a process that lost the shared state asks the executive for a new snapshot.
RESYNC_INTERVAL_S = 1.0
#: A process hears its own hello on this topic prefix once it has joined the bus.
HELLO_TOPIC = "hello."
JOIN_TIMEOUT_S = 5.0
JOIN_RETRY_MS = 20


class CommandFailed(Exception):
    """Raised by a handler to end its command FAILED with a reason code."""

    def __init__(self, reason: Reason, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass
class AppContext:
    """What the process that hosts an app knows when it starts it."""

    name: str
    run_dir: RunDir
    settings: dict[str, Any] = field(default_factory=dict)  # the app's own config section
    heartbeat_period_s: float = 0.5
    housekeeping_period_s: float = 1.0
    clock: MissionClock = field(default_factory=MissionClock)
    supervised: bool = True  # started by an executive: exit if it goes away
    hwm: int = DEFAULT_HWM
    limits: DecodeLimits = DEFAULT_LIMITS
    #: The whole validated configuration, for the sections every app may read (``hal``).
    config: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_config(cls, name: str, run_dir: RunDir, config: dict[str, Any],
                    **overrides: Any) -> AppContext:
        """The context of app ``name`` (or the executive) under a validated configuration."""
        bus = config["bus"]
        section = config["executive"] if name == EXECUTIVE else config["apps"][name]
        fields: dict[str, Any] = {
            "settings": section,
            "clock": MissionClock.from_file(run_dir.clock_file),
            "config": config,
            "heartbeat_period_s": config["executive"]["heartbeat_period_s"],
            "housekeeping_period_s": section["housekeeping_period_s"],
            "hwm": bus["hwm"],
            "limits": DecodeLimits(max_message_bytes=bus["max_message_bytes"],
                                   max_bin_len=bus["max_message_bytes"]),
            **overrides,
        }
        return cls(name=name, run_dir=run_dir, **fields)


Handler = Callable[[Envelope], None]


class App:
    """Base class of every onboard app; see the module docstring for what it provides."""

    #: Identifier used in the dictionary and (later) to derive the app's APID.
    app_id: ClassVar[int] = 0
    version: ClassVar[str] = flight.__version__
    model: ClassVar[AppModel] = AppModel()
    #: The app's model with the framework's common entries first (set per subclass).
    full_model: ClassVar[AppModel] = COMMON
    #: App-specific configuration keys of ``[apps.<name>]``, validated with the config.
    settings: ClassVar[tuple[Field, ...]] = ()
    #: Longest an offloaded piece of work may run before the app counts as hung.
    work_timeout_s: ClassVar[float] = 60.0
    #: Wall seconds within which an armed hazardous command must follow its ``arm``.
    arm_timeout_s: ClassVar[float] = 30.0

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.full_model = cls.model.merged(COMMON)
        missing = [c.name for c in cls.full_model.commands
                   if not callable(getattr(cls, f"do_{c.name}", None))]
        if missing:
            raise TypeError(f"{cls.__name__} declares commands without do_ handlers: {missing}")

    # ----------------------------------------------------------------- construction
    def __init__(self, ctx: AppContext):
        self.name = ctx.name
        self.ctx = ctx
        self.clock = ctx.clock
        self.log = logging.getLogger(f"sunlit.{self.name}")
        self.counters = BusCounters()
        self.cmd_count = 0
        self.cmd_error_count = 0
        self.started_mono = time.monotonic()
        self._stopping: str | None = None
        self._channels = {ch.name: ch for ch in self.full_model.telemetry}
        self._limit_state: dict[str, str] = {}
        self._work: list[tuple[float, concurrent.futures.Future[Any], Callable[..., None]]] = []
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._handlers: list[tuple[str, Handler]] = []
        self._fds: dict[int, Callable[[], None]] = {}
        self._armed: dict[str, tuple[str, float]] = {}  # command -> (sender, deadline)
        self._current_src = ""  # sender of the command being executed
        self._next_resync = 0.0
        self._resync_pending = False
        self._ctx = zmq.Context()
        self.params = ParameterTable(self.full_model.parameters, self.mirrored_store("params"))
        self.shared = SharedStateReplica(self._shared_changed)

    def checkpoint_store(self, name: str, generations: int = 3,
                         max_bytes: int = 64 << 20) -> CheckpointStore:
        """A checkpoint store in this app's own state directory."""
        return CheckpointStore(self.ctx.run_dir.state_dir / self.name, name,
                               generations=generations, max_bytes=max_bytes)

    def mirrored_store(self, name: str) -> MirroredStore:
        """Two copies of a small critical object (queue, parameters, schedule): a damaged
        newest file then costs nothing, where one store would fall back a generation."""
        return MirroredStore(self.ctx.run_dir.state_dir / self.name, name)

    # ----------------------------------------------------------------- hooks for apps
    def on_start(self) -> None:
        """Called once the bus is up and parameters are restored."""

    def on_stop(self) -> None:
        """Called on the way out (SIGTERM or a stop request)."""

    def on_tick(self) -> None:
        """Called once per heartbeat period, and whenever :meth:`next_deadline` comes due."""

    def next_deadline(self) -> float | None:
        """Monotonic time at which ``on_tick`` must run, if sooner than the next heartbeat.

        Lets an app sleep until something is due instead of polling: the executive returns
        the moment the first of its children would miss its heartbeat deadline.
        """
        return None

    def housekeeping(self) -> dict[str, Any]:
        """Return this app's own channel values for the housekeeping packet."""
        return {}

    def check_parameters(self, table: dict[str, Any]) -> str | None:
        """Whole-table check before activation; return a reason to refuse."""
        return None

    def on_parameters_changed(self, changes: dict[str, Any]) -> None:
        """Called after a new parameter table became active."""

    def on_mode_change(self, old: str | None, new: str) -> None:
        """Called when the spacecraft mode changes (also on first learning it)."""

    # ----------------------------------------------------------------- services for apps
    @property
    def mode(self) -> str:
        """The spacecraft mode as last learned from the executive."""
        return str(self.shared.values.get("mode", "BOOT"))

    def emit(self, event: str, severity: Severity | None = None, **args: Any) -> None:
        """Publish a declared event (``evt.<app>``) and log it."""
        spec = self.full_model.event(event)
        level = spec.severity if severity is None else severity
        try:
            text = spec.text.format(**args)
        except (KeyError, IndexError, ValueError):
            text = f"{spec.text} {args}"
        self.publisher.publish(f"evt.{self.name}", {
            "name": event, "severity": level.name, "text": text, "args": args})
        self.log.log(_LOG_LEVELS[level], text, extra={"event": event})

    def publish(self, topic: str, data: Any) -> None:
        self.publisher.publish(topic, data)

    def subscribe(self, prefix: str, handler: Handler) -> None:
        """Call ``handler`` for every bus message whose topic starts with ``prefix``."""
        self._handlers.append((prefix, handler))
        if hasattr(self, "subscriber"):
            self.subscriber.subscribe(prefix)

    def watch_fd(self, fd: int, callback: Callable[[], None]) -> None:
        """Call ``callback`` from the main loop whenever ``fd`` is readable."""
        self._fds[fd] = callback
        if hasattr(self, "_poller"):
            self._poller.register(fd, zmq.POLLIN)

    def unwatch_fd(self, fd: int) -> None:
        self._fds.pop(fd, None)
        if hasattr(self, "_poller"):
            self._poller.unregister(fd)

    def offload(self, fn: Callable[..., Any], *args: Any,
                on_done: Callable[[concurrent.futures.Future[Any]], None]) -> None:
        """Run ``fn(*args)`` on a worker thread; the main loop keeps heartbeating meanwhile.

        ``on_done(future)`` is called back on the main loop. Work that runs longer than
        ``work_timeout_s`` stops the heartbeats, so the executive treats the app as hung.
        """
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(1, f"{self.name}-work")
        future = self._pool.submit(fn, *args)
        future.add_done_callback(self._wake)  # the main loop reaps it at once, not at a poll
        self._work.append((time.monotonic(), future, on_done))

    def _wake(self, _future: concurrent.futures.Future[Any]) -> None:
        """Called on the worker thread: a byte on the wake-up pipe ends the main loop's poll."""
        with contextlib.suppress(OSError):  # full (a wake-up is pending anyway) or closed
            os.write(self._wake_w, b"w")

    def send(self, app: str, name: str, args: dict[str, Any] | None = None, *,
             on_reply: Callable[[Reply], None] | None = None, timeout: float = 5.0,
             on_accepted: Callable[[Reply], None] | None = None) -> str:
        """Send a command to another app without waiting; ``on_reply`` gets its final reply.

        The main loop never blocks on another app: a peer that is down or restarting must
        not make this app miss its own heartbeats.
        """
        client = self._clients.get(app)
        if client is None:
            client = CommandClient(self._ctx, self.ctx.run_dir.command_endpoint(app),
                                   self.name, self.clock, limits=self.ctx.limits,
                                   counters=self.counters)
            self._clients[app] = client
            self._poller.register(client.socket, zmq.POLLIN)

        def finished(reply: Reply) -> None:
            if on_reply is not None:
                self._guarded(on_reply, f"reply handler for {app}.{name}", reply)
            elif not reply.ok:
                self.log.warning("%s.%s ended %s: %s", app, name, reply.reason.name,
                                 reply.message)

        accepted = None if on_accepted is None else (
            lambda reply: self._guarded(on_accepted, f"accept handler for {app}.{name}", reply))
        return client.submit(name, args, on_reply=finished, timeout=timeout,
                             on_accepted=accepted)

    @property
    def busy(self) -> bool:
        """True while offloaded work is running."""
        return bool(self._work)

    def request_stop(self, why: str) -> None:
        self._stopping = why

    # ----------------------------------------------------------------- the main loop
    def run(self) -> int:
        """Run until SIGTERM or a stop request; return the process exit status."""
        self._open()
        try:
            self._join_bus()
            self._started()
            while self._stopping is None:
                self._cycle()
            self.emit("STOPPING", app=self.name, why=self._stopping)
            self.on_stop()
            return 0
        finally:
            self._close()

    def _open(self) -> None:
        rd = self.ctx.run_dir
        self._clients: dict[str, CommandClient] = {}
        ctx = self.ctx
        self.publisher = Publisher(self._ctx, rd.pub_endpoint, self.name, self.clock,
                                   hwm=ctx.hwm, counters=self.counters)
        self.subscriber = Subscriber(self._ctx, rd.sub_endpoint,
                                     [prefix for prefix, _ in self._handlers],
                                     hwm=ctx.hwm, limits=ctx.limits, counters=self.counters)
        self.server = CommandServer(self._ctx, rd.command_endpoint(self.name), self.name,
                                    self.clock, self._validate, self._execute,
                                    limits=ctx.limits, counters=self.counters)
        self._wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._wake_w = wake_w
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGTERM, self._on_signal)
        # A Ctrl-C in the terminal reaches the whole process group; only the executive acts
        # on it, and stops its children in order.
        signal.signal(signal.SIGINT, signal.SIG_IGN if self.ctx.supervised else self._on_signal)
        self._poller = zmq.Poller()
        self._poller.register(self.server.socket, zmq.POLLIN)
        self._poller.register(self.subscriber.socket, zmq.POLLIN)
        self._poller.register(self._wake_r, zmq.POLLIN)
        for fd in self._fds:
            self._poller.register(fd, zmq.POLLIN)
        self._ppid = os.getppid()

    def _join_bus(self) -> None:
        """Wait until what this process publishes reaches subscribers, before saying anything.

        A PUB socket drops messages until its connection is up and the subscriptions have
        come back through the proxy, so the first events of a (re)started app — STARTED, a
        checkpoint fallback — would be lost on a busy board. The app publishes a hello on a
        topic only it listens to until it hears itself: then the proxy has handed this
        publisher every subscription that existed when it connected.
        """
        topic = f"{HELLO_TOPIC}{self.name}"
        self.subscriber.subscribe(topic)
        deadline = time.monotonic() + JOIN_TIMEOUT_S
        try:
            while time.monotonic() < deadline and self._stopping is None:
                self.publisher.publish(topic, None)
                envelope = self.subscriber.recv(timeout_ms=JOIN_RETRY_MS)
                if envelope is not None and envelope.topic == topic:
                    return
                if envelope is not None:
                    self._dispatch([envelope])  # for a subscription made before run()
            self.log.warning("bus not joined after %.0f s: early events may be lost",
                             JOIN_TIMEOUT_S)
        finally:
            self.subscriber.socket.setsockopt(zmq.UNSUBSCRIBE, topic.encode("ascii"))

    def _started(self) -> None:
        if not self.owns_shared_state():
            self.subscribe(STATE_TOPIC, self._state_update)
            self.subscribe(f"hb.{EXECUTIVE}", self._executive_heartbeat)
            self._resync_shared_state()
        report = self.params.restore()
        for rejection in report.fallbacks:
            self.emit("CHECKPOINT_FALLBACK", store=f"{self.name}/params",
                      generation=rejection.generation, reason=rejection.reason,
                      used=report.generation)
        for why in report.dropped:
            self.emit("PARAM_DROPPED", why=why)
        now = time.monotonic()
        self._next_hb = now
        self._next_hk = now + self.ctx.housekeeping_period_s
        subscriptions = len(self._handlers)
        self.on_start()
        if len(self._handlers) > subscriptions:
            # Subscriptions made in on_start reach the proxy asynchronously: join again, so
            # the app hears its own first events (and everyone else's) from here on.
            self._join_bus()
        self.emit("STARTED", app=self.name, pid=os.getpid(), version=self.version)

    def _cycle(self) -> None:
        now = time.monotonic()
        due = [self._next_hb, self._next_hk]
        # Offloaded work needs no polling: its done-callback writes to the wake-up pipe, and
        # each wake-up of this loop takes the GIL from the worker that is computing.
        due.extend(d for d in (self.next_deadline(), *self._client_deadlines()) if d is not None)
        ready = dict(self._poller.poll(max(0, int((min(due) - now) * 1000) + 1)))
        if self.server.socket in ready:
            self.server.handle_ready()
        if self.subscriber.socket in ready:
            self._dispatch(self.subscriber.drain())
        if self._wake_r in ready:
            self._drain_wakeups()
        for fd, callback in list(self._fds.items()):
            if fd in ready:
                self._guarded(callback, f"callback for fd {fd}")
        for client in list(self._clients.values()):
            if client.pending or client.socket in ready:
                client.service()
        self._reap_work()
        now = time.monotonic()
        app_due = self.next_deadline()
        if now >= self._next_hb:
            self._next_hb = now + self.ctx.heartbeat_period_s
            self._heartbeat()
            self._keep_shared_state_synced()
            self._guarded(self.on_tick, "on_tick")
        elif app_due is not None and now >= app_due:
            self._guarded(self.on_tick, "on_tick")
        if now >= self._next_hk:
            self._next_hk += self.ctx.housekeeping_period_s
            if self._next_hk < now:
                self._next_hk = now + self.ctx.housekeeping_period_s
            self._housekeeping()

    def _client_deadlines(self) -> list[float | None]:
        return [client.next_deadline() for client in self._clients.values() if client.pending]

    def _guarded(self, fn: Callable[..., Any], what: str, *args: Any) -> None:
        """Run an app's hook; a bug in it is logged, never the end of the process."""
        try:
            fn(*args)
        except Exception:
            self.log.exception("%s failed", what)

    def _close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        signal.set_wakeup_fd(-1)
        os.close(self._wake_r)
        os.close(self._wake_w)
        for client in self._clients.values():
            client.close()
        self.server.close()
        self.subscriber.close()
        self.publisher.close()
        self._ctx.term()

    def _on_signal(self, signum: int, _frame: Any) -> None:
        self._stopping = signal.Signals(signum).name

    def _drain_wakeups(self) -> None:
        try:
            while os.read(self._wake_r, 64):
                pass
        except BlockingIOError:
            pass

    # ----------------------------------------------------------------- heartbeat and work
    def _heartbeat(self) -> None:
        if self.ctx.supervised and os.getppid() != self._ppid:
            self.request_stop("the executive went away")
            return
        busy = self._busy_seconds()
        if busy > self.work_timeout_s:
            self.log.error("work running for %.1f s: withholding heartbeat", busy)
            return
        self.publisher.publish(f"hb.{self.name}", {"pid": os.getpid(), "busy_s": busy,
                                                   **self.heartbeat_extra()})

    def heartbeat_extra(self) -> dict[str, Any]:
        """More fields for this app's heartbeat (the executive adds the shared-state seq)."""
        return {}

    def _busy_seconds(self) -> float:
        if not self._work:
            return 0.0
        return time.monotonic() - min(started for started, _, _ in self._work)

    def _reap_work(self) -> None:
        if not self._work:
            return
        current, self._work = self._work, []
        still = []
        for started, future, on_done in current:
            if future.done():
                self._guarded(on_done, "on_done", future)
            else:
                still.append((started, future, on_done))
        self._work = still + self._work  # work an on_done callback offloaded is kept

    # ----------------------------------------------------------------- housekeeping
    def _housekeeping(self) -> None:
        values = self._common_values()
        try:
            values.update(self.housekeeping())
        except Exception:
            self.log.exception("housekeeping() failed")
        packet = {k: v for k, v in values.items() if k in self._channels}
        self.publisher.publish(f"tlm.{self.name}", packet)
        for name, value in packet.items():
            self._check_limits(self._channels[name], value)

    def _common_values(self) -> dict[str, Any]:
        c = self.counters
        return {
            "mode": self.mode,
            "uptime_s": round(time.monotonic() - self.started_mono, 3),
            "cmd_count": self.cmd_count,
            "cmd_error_count": self.cmd_error_count,
            "bus_rx_malformed": c.rx_malformed,
            "bus_rx_oversized": c.rx_oversized,
            "bus_rx_gaps": c.rx_gaps,
            "bus_tx_dropped": c.tx_dropped,
        }

    def _check_limits(self, channel: Channel, value: Any) -> None:
        if channel.limits is None:
            return
        items = value.items() if channel.type is ValueType.MAP and isinstance(value, dict) \
            else [("", value)]
        for key, item in items:
            if isinstance(item, bool) or not isinstance(item, (int, float)):
                continue
            label = f"{channel.name}.{key}" if key else channel.name
            state = channel.limits.state(item)
            previous = self._limit_state.get(label, "nominal")
            if state != previous:
                self._limit_state[label] = state
                self.emit("LIMIT", _LIMIT_SEVERITY[state], channel=label, value=item,
                          state=state, previous=previous)

    # ----------------------------------------------------------------- shared state
    def owns_shared_state(self) -> bool:
        """True for the executive, which serves the shared state instead of following it."""
        return False

    def _state_update(self, envelope: Envelope) -> None:
        if envelope.src != EXECUTIVE:
            self.counters.rx_malformed += 1  # only the executive may change shared state
            return
        if not self.shared.on_update(envelope):
            self._resync_shared_state()

    def _executive_heartbeat(self, envelope: Envelope) -> None:
        """The executive's heartbeat carries its state seq: notice an update we missed."""
        seq = envelope.data.get("state_seq") if isinstance(envelope.data, dict) else None
        known = self.shared.seq
        if envelope.src == EXECUTIVE and type(seq) is int and known is not None and seq > known:
            self.shared.seq = None
            self._resync_shared_state()

    def _resync_shared_state(self) -> None:
        """Ask the executive for a snapshot; the answer comes back through the main loop."""
        if self._resync_pending:
            return
        self._resync_pending = True
        self._next_resync = time.monotonic() + RESYNC_INTERVAL_S
        self.send(EXECUTIVE, "state_snapshot", on_reply=self._snapshot_arrived,
                  timeout=RESYNC_INTERVAL_S)

    def _snapshot_arrived(self, reply: Reply) -> None:
        self._resync_pending = False
        if not reply.ok:
            self.log.warning("no shared-state snapshot: %s %s", reply.reason.name,
                             reply.message)
        elif not self.shared.apply_snapshot(reply.data):
            self.log.warning("shared-state snapshot unusable or followed by a gap: retrying")

    def _keep_shared_state_synced(self) -> None:
        if not self.owns_shared_state() and not self.shared.synced \
                and not self._resync_pending and time.monotonic() >= self._next_resync:
            self._resync_shared_state()

    def _shared_changed(self, key: str, old: Any, new: Any) -> None:
        if key == "mode":
            self.emit("MODE_CHANGED", Severity.DEBUG, old=old, new=new)
            self.on_mode_change(old, str(new))

    def _dispatch(self, envelopes: list[Envelope]) -> None:
        for envelope in envelopes:
            for prefix, handler in self._handlers:
                if envelope.topic.startswith(prefix):
                    try:
                        handler(envelope)
                    except Exception:
                        self.log.exception("handler for %s failed", envelope.topic)

    # ----------------------------------------------------------------- commands
    def _validate(self, request: Request) -> Outcome | None:
        command = self.full_model.command(request.name)
        if command is None:
            return self._refuse(request, Reason.UNKNOWN_COMMAND,
                                f"{self.name} has no command {request.name!r}")
        try:
            command.bind(request.args)
        except InvalidValue as exc:
            return self._refuse(request, Reason.BAD_ARGUMENTS, str(exc))
        if command.hazardous and not self._take_arm(command.name, request.src):
            return self._refuse(request, Reason.NOT_ARMED,
                                f"{command.name} is hazardous: send arm(command="
                                f"{command.name!r}) first, then this within "
                                f"{self.arm_timeout_s:.0f} s")
        return None

    def _take_arm(self, command: str, sender: str) -> bool:
        """Consume a valid arm of ``command`` by ``sender``; one arm allows one execution."""
        armed = self._armed.pop(command, None)
        return armed is not None and armed[0] == sender and time.monotonic() <= armed[1]

    def _execute(self, request: Request) -> Outcome:
        command = self.full_model.command(request.name)
        assert command is not None  # _validate ran first
        handler = getattr(self, f"do_{command.name}")
        self._current_src = request.src
        try:
            data = handler(**command.bind(request.args))
        except CommandFailed as exc:
            return self._refuse(request, exc.reason, str(exc))
        except InvalidValue as exc:
            return self._refuse(request, Reason.BAD_ARGUMENTS, str(exc))
        except Exception as exc:
            self.log.exception("command %s failed", command.name)
            return self._refuse(request, Reason.EXECUTION_ERROR, f"{type(exc).__name__}: {exc}")
        if command.name != "reset_counters":  # counters read zero right after a reset
            self.cmd_count += 1
        return Outcome.completed(data)

    def _refuse(self, request: Request, reason: Reason, message: str) -> Outcome:
        self.cmd_error_count += 1
        self.emit("COMMAND_FAILED", cmd=request.name, src=request.src, reason=reason.name,
                  msg=message)
        return Outcome.failed(reason, message)

    # ----------------------------------------------------------------- common commands
    def do_noop(self) -> dict[str, Any]:
        self.emit("NOOP", app=self.name, version=self.version)
        return {"version": self.version}

    def do_reset_counters(self) -> None:
        self.cmd_count = 0
        self.cmd_error_count = 0
        self.counters.reset()
        self.emit("COUNTERS_RESET")

    def do_param_load(self, name: str, value: Any) -> dict[str, Any]:
        checked = self.params.load(name, value)
        self.emit("PARAM_STAGED", name=name, value=checked)
        return {"name": name, "value": checked}

    def do_param_validate(self) -> dict[str, Any]:
        return {"table": self.params.validate(self.check_parameters)}

    def do_param_activate(self) -> dict[str, Any]:
        changes = self.params.activate(self.check_parameters)
        self.emit("PARAM_ACTIVATED", changes=changes)
        self.on_parameters_changed(changes)
        return {"changes": changes}

    def do_param_abort(self) -> None:
        self.params.abort()

    def do_param_report(self) -> dict[str, Any]:
        return self.params.report()

    def do_arm(self, command: str) -> dict[str, Any]:
        spec = self.full_model.command(command)
        if spec is None or not spec.hazardous:
            raise CommandFailed(Reason.BAD_ARGUMENTS,
                                f"{command!r} is not a hazardous command of {self.name}")
        src = self._current_src
        self._armed[command] = (src, time.monotonic() + self.arm_timeout_s)
        self.emit("ARMED", cmd=command, src=src, timeout_s=self.arm_timeout_s)
        return {"armed": command, "timeout_s": self.arm_timeout_s}


_LOG_LEVELS = {
    Severity.DEBUG: logging.DEBUG,
    Severity.INFO: logging.INFO,
    Severity.WARNING: logging.WARNING,
    Severity.ERROR: logging.ERROR,
    Severity.CRITICAL: logging.CRITICAL,
}
_LIMIT_SEVERITY = {"nominal": Severity.INFO, "yellow": Severity.WARNING, "red": Severity.ERROR}
