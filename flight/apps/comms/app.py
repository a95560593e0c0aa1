"""The comms app: the only bridge between the space link and the onboard bus.

Uplink: every datagram is authenticated (or, on a lab bench, explicitly not), decoded and
checked; a rejection is counted by reason, and where the packet is authentic enough to answer
the ground gets a PUS 1 failure report saying why. Accepted telecommands are served here
(ping, housekeeping and event control, the time-tagged schedule) or routed over the bus to the
app at their APID (dictionary commands, parameters), with a verification report at each stage.

Downlink: every app's housekeeping and events become PUS 3 and PUS 5 packets under that app's
APID, and go to the ground while a station is in view, or into the on-board store while none
is, to be downlinked in order at the next contact (:mod:`flight.apps.comms.downlink`).
"""

from __future__ import annotations

import collections
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flight.app.base import App
from flight.app.model import InvalidValue
from flight.apps.comms import appdata
from flight.apps.comms.appdata import BadAppData
from flight.apps.comms.downlink import Address, Downlink
from flight.apps.comms.model import COMMS_MODEL, COMMS_SETTINGS
from flight.apps.comms.schedule import Activity, Schedule
from flight.apps.comms.store import TelemetryStore
from flight.bus import Envelope, Reason, Reply
from flight.config.loader import resolve_app_class
from flight.dictionary import APID_BASE, apid_of
from flight.hal import ENV_SENSORS
from flight.link import (
    GROUND_ID,
    Ack,
    Authenticator,
    CdsTime,
    FailureCode,
    FileArsnStore,
    LinkError,
    MessageCounters,
    PlainLink,
    RejectReason,
    SequenceCounters,
    Service,
    Telecommand,
    TelemetryPacket,
    Verification,
    VerificationReport,
    failure_code_for,
    generate_key,
    load_key,
    request_id_of,
)
from flight.link.arsn import DeferredArsnStore
from flight.link.services import (
    MAX_FAILURE_DATA,
    EventReport,
    FunctionManagement,
    Housekeeping,
    Jobs,
    ParameterManagement,
    Ping,
    TimeScheduling,
)
from flight.results import ResultError, ResultStore

RX_BATCH = 256  # datagrams read per turn of the main loop
JOBS_APP = "jobs"
CHUNK_SIZE = 1024  # bytes of a result per TM[128,6] unless the ground asks otherwise
#: A result downlink reports its progress, TM[1,5] with the chunks sent so far as the step id,
#: after every this many chunks (for a ground that asked for progress reports).
PROGRESS_EVERY_CHUNKS = 64
ROUTE_TIMEOUT_S = 60.0
REJECTION_REPORT_S = 10.0
#: Reasons an app gives before it executes anything: a start-of-execution failure.
NOT_STARTED = {Reason.UNKNOWN_COMMAND, Reason.BAD_ARGUMENTS, Reason.EXPIRED, Reason.NOT_ARMED,
               Reason.MALFORMED, Reason.TIMEOUT}
#: What serves one telecommand (service, subtype) once it has been checked.
Handler = Callable[[Telecommand], None]
SEVERITY_SUBTYPE = {"INFO": 1, "WARNING": 2, "ERROR": 3, "CRITICAL": 4}


def parse_address(text: str) -> Address:
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


class CommsApp(App):
    """The radio: authenticated uplink, verified routing, stored-and-forwarded downlink."""

    app_id = 0
    model = COMMS_MODEL
    settings = COMMS_SETTINGS

    # ------------------------------------------------------------------ start and stop
    def on_start(self) -> None:
        s = self.ctx.settings
        self.max = s["max_datagram"]
        self.address = parse_address(s["address"])
        self.sock = self._open_socket()
        self.link = self._open_link()
        self.apps = self._app_table()
        self.app_ids = {name: apid - APID_BASE for apid, (name, _) in self.apps.items()}
        self.event_ids = {(apid, event.name): index for apid, (_, cls) in self.apps.items()
                          for index, event in enumerate(cls.full_model.events)}
        self.services = self._service_table()
        self.seq, self.msgs = SequenceCounters(), MessageCounters()
        self.store = TelemetryStore(self.ctx.run_dir.state_dir / self.name / "tm-store.sqlite",
                                    s["store_max_packets"])
        if self.store.recovered_from is not None:
            self.emit("STORE_RECOVERED", path=str(self.store.recovered_from))
        fixed = tuple(parse_address(a) for a in s["ground"].split(",") if a.strip())
        self.downlink = Downlink(self.sock, self.store, s["link_rate_bps"], fixed)
        self.schedule = Schedule(self.mirrored_store("schedule"))
        self.schedule.load()
        self.rx = self.accepted = 0
        self.rejected: collections.Counter[str] = collections.Counter()
        self._reported_rejections = 0
        self._next_rejection_report = time.monotonic() + REJECTION_REPORT_S
        self.hk_interval: dict[str, float] = {}
        self.hk_disabled: set[str] = set()
        self.hk_last_sent: dict[str, float] = {}
        self.hk_latest: dict[str, dict[str, Any]] = {}
        self.events_disabled: set[str] = set()
        self.station = ""
        self.watch_fd(self.sock.fileno(), self._receive)
        self.subscribe("tlm.", self._housekeeping_in)
        self.subscribe("evt.", self._event_in)
        self.subscribe(ENV_SENSORS, self._world)
        self.emit("LINK_OPEN", address=f"{self.address[0]}:{self.address[1]}", auth=s["auth"])

    def _open_socket(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        sock.setblocking(False)
        try:
            sock.bind(self.address)
        except OSError as exc:  # a radio that cannot open its port is a fault: say which
            sock.close()
            raise RuntimeError(f"cannot listen on {self.address[0]}:{self.address[1]}: "
                               f"{exc.strerror}") from None
        self.address = sock.getsockname()[:2]
        return sock

    def _open_link(self) -> Authenticator | PlainLink:
        s = self.ctx.settings
        if s["auth"] == "none":
            self.emit("AUTH_DISABLED", address=s["address"])
            print(f"*** sunlit comms: TELECOMMAND AUTHENTICATION IS OFF on {s['address']} ***",
                  file=sys.stderr, flush=True)
            return PlainLink(max_packet=self.max)
        path = Path(s["key_file"]) if s["key_file"] else self.ctx.run_dir.root / "keys" / \
            "link.key"
        if not s["key_file"] and not path.exists():
            path.parent.mkdir(mode=0o700, exist_ok=True)
            generate_key(path)
            self.emit("KEY_GENERATED", path=str(path))
            print(f"sunlit comms: generated the link key {path}", file=sys.stderr, flush=True)
        state = self.ctx.run_dir.state_dir / self.name
        state.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.arsn_store = DeferredArsnStore(FileArsnStore(state, "arsn"), state / "arsn.fast")
        return Authenticator({s["spi"]: load_key(path)}, store=self.arsn_store,
                             max_packet=self.max)

    def _app_table(self) -> dict[int, tuple[str, Any]]:
        """APID → (app name, app class) for every configured app, the executive included."""
        from flight.config.loader import EXECUTIVE_CLASS

        table = {apid_of(1): ("executive", resolve_app_class("executive", EXECUTIVE_CLASS,
                                                             "executive"))}
        for name, section in self.ctx.config["apps"].items():
            cls = resolve_app_class(name, section["class"], f"apps.{name}")
            table[apid_of(cls.app_id)] = (name, cls)  # type: ignore[attr-defined]
        return table

    def on_stop(self) -> None:
        self.downlink.spill()  # what the link rate still held back: keep it
        if isinstance(getattr(self, "arsn_store", None), DeferredArsnStore):
            self.arsn_store.close()
        self.store.close()
        self.sock.close()

    # ------------------------------------------------------------------ the loop
    def next_deadline(self) -> float | None:
        due = [self.downlink.next_deadline()]
        release = self.schedule.next_release()
        if release is not None:
            due.append(self.clock.monotonic_at(release))
        return min((d for d in due if d is not None), default=None)

    def on_tick(self) -> None:
        self.downlink.pump()
        self.store.maybe_commit()
        now = self.clock.now()
        for act in self.schedule.due(now):
            self.emit("TIMETAG_RELEASED", request_id=act.request_id, late_s=now - act.release_t)
            self._serve(Telecommand.decode(act.packet), act.packet)
        self._report_rejections()

    def _receive(self) -> None:
        for _ in range(RX_BATCH):
            try:
                data, address = self.sock.recvfrom(65_535)
            except (BlockingIOError, InterruptedError):
                break
            self.rx += 1
            self._datagram(data, address)
        self.downlink.pump()

    # ------------------------------------------------------------------ uplink
    def _datagram(self, data: bytes, address: Address) -> None:
        try:
            packet = self.link.open(data).packet
        except LinkError as exc:
            self._reject(exc.reason)  # not authentic: never answered
            return
        try:
            tc = Telecommand.decode(packet, self.max)
        except LinkError as exc:
            self._reject(exc.reason)
            code = failure_code_for(exc.reason)
            if code is not None and len(packet) >= 4:
                self.downlink.reply_to = address
                self._verify_raw(bytes(packet), Verification.ACCEPTANCE_FAILURE, code, str(exc))
            return
        self.downlink.reply_to = address
        self.accepted += 1
        self._serve(tc, bytes(packet))

    def _reject(self, reason: RejectReason | str) -> None:
        self.rejected[str(reason)] += 1

    def _serve(self, tc: Telecommand, raw: bytes) -> None:
        """Check a decoded TC against what is served at its APID, then carry it out."""
        handler, failure = self._handler(tc)
        if handler is None:
            self._reject(failure.name.lower())
            self._verify(tc, Verification.ACCEPTANCE_FAILURE, failure, "not served")
            return
        try:
            handler(tc)
        except BadAppData as exc:
            self._reject(RejectReason.BAD_APP_DATA)
            self._verify(tc, Verification.ACCEPTANCE_FAILURE, FailureCode.BAD_APP_DATA, str(exc))

    def _service_table(self) -> dict[bool, dict[int, dict[int, Handler]]]:
        """(served at comms' own APID?) → service → subtype → handler, built once."""
        routed: dict[int, dict[int, Handler]] = {
            Service.TEST: {Ping.PING: self._ping},
            Service.FUNCTION: {1: self._perform},
            Service.PARAMETER: {ParameterManagement.REPORT: self._param_report,
                                ParameterManagement.SET: self._param_set},
        }
        own: dict[int, dict[int, Handler]] = {
            **routed,
            Service.HOUSEKEEPING: {
                Housekeeping.ENABLE_PERIODIC: self._hk_enable,
                Housekeeping.DISABLE_PERIODIC: self._hk_disable,
                Housekeeping.GENERATE_ONE_SHOT: self._hk_one_shot,
                Housekeeping.MODIFY_INTERVAL: self._hk_interval},
            Service.EVENT: {EventReport.ENABLE: self._events_enable,
                            EventReport.DISABLE: self._events_disable},
            Service.JOBS: {Jobs.SUBMIT: self._job_submit, Jobs.CANCEL: self._job_cancel,
                           Jobs.REPORT_STATUS: self._job_status,
                           Jobs.DOWNLINK_RESULT: self._downlink_result},
            Service.SCHEDULING: {
                TimeScheduling.ENABLE: self._tt_enable, TimeScheduling.DISABLE: self._tt_disable,
                TimeScheduling.RESET: self._tt_reset, TimeScheduling.INSERT: self._tt_insert,
                TimeScheduling.DELETE_BY_ID: self._tt_delete,
                TimeScheduling.REPORT_SUMMARY_ALL: self._tt_summary},
        }
        return {True: own, False: routed}

    def _handler(self, tc: Telecommand) -> tuple[Handler | None, FailureCode]:
        if tc.apid != APID_BASE and tc.apid not in self.apps:
            return None, FailureCode.UNKNOWN_APID
        subtypes = self.services[tc.apid == APID_BASE].get(tc.service)
        if subtypes is None:
            return None, FailureCode.UNKNOWN_SERVICE
        return subtypes.get(tc.subtype), FailureCode.UNKNOWN_SUBTYPE

    def _target(self, tc: Telecommand) -> tuple[str, Any]:
        return ("comms", type(self)) if tc.apid == APID_BASE else self.apps[tc.apid]

    # ------------------------------------------------------------------ services 17 and 8
    def _ping(self, tc: Telecommand) -> None:
        self._accept(tc)
        self._tm(tc.apid, Service.TEST, Ping.PONG, b"")
        self._complete(tc)

    def _perform(self, tc: Telecommand) -> None:
        opcode, args = appdata.function_call(tc.app_data, self.ctx.limits)
        app, cls = self._target(tc)
        commands = cls.full_model.commands
        if opcode >= len(commands):
            raise BadAppData(f"{app} has no function id {opcode}")
        command = commands[opcode]
        try:
            command.bind(args)
        except InvalidValue as exc:
            raise BadAppData(f"{app}.{command.name}: {exc}") from None
        self._accept(tc)
        self._route(tc, app, command.name, args)

    def _route(self, tc: Telecommand, app: str, name: str, args: dict[str, Any],
               then: Callable[[Reply], None] | None = None) -> None:
        began = [False]

        def started(_reply: Reply) -> None:
            began[0] = True
            self._verify(tc, Verification.START_SUCCESS, success=Ack.START)

        def finished(reply: Reply) -> None:
            if reply.ok:
                if then is not None:
                    then(reply)
                elif reply.data is not None:
                    self._result(tc, reply.data)
                self._complete(tc)
            elif reply.reason in NOT_STARTED and not began[0]:
                self._verify(tc, Verification.START_FAILURE, int(reply.reason), reply.message)
            else:
                self._verify(tc, Verification.COMPLETION_FAILURE, int(reply.reason),
                             reply.message)

        self.send(app, name, args, on_reply=finished, on_accepted=started,
                  timeout=ROUTE_TIMEOUT_S)

    def _result(self, tc: Telecommand, data: Any) -> None:
        """TM[8,128]: what a command returned, ahead of its completion report."""
        body = appdata.pack(data)
        if len(body) > self.max - 64:
            body = appdata.pack({"error": "result too large for one packet",
                                 "bytes": len(body)})
        self._tm(tc.apid, Service.FUNCTION, FunctionManagement.RESULT_REPORT,
                 tc.request_id + body)

    # ------------------------------------------------------------------ service 20
    def _param_report(self, tc: Telecommand) -> None:
        names = appdata.typed(tc.app_data, self.ctx.limits, list, "TC[20,1]")
        app, _ = self._target(tc)
        self._accept(tc)

        def report(reply: Reply) -> None:
            data = reply.data or {}
            if names:
                data = {k: {n: v for n, v in (data.get(k) or {}).items() if n in names}
                        for k in ("active", "staged")}
            self._tm(tc.apid, Service.PARAMETER, ParameterManagement.VALUE_REPORT,
                     appdata.pack(data))

        self._route(tc, app, "param_report", {}, then=report)

    def _param_set(self, tc: Telecommand) -> None:
        values = appdata.typed(tc.app_data, self.ctx.limits, dict, "TC[20,3]")
        if not values:
            raise BadAppData("TC[20,3]: no parameter values")
        app, _ = self._target(tc)
        self._accept(tc)
        self._load_next(tc, app, list(values.items()))

    def _load_next(self, tc: Telecommand, app: str, items: list[tuple[str, Any]]) -> None:
        """Stage each value in turn, then activate; any refusal aborts the whole table."""
        if not items:
            self._route(tc, app, "param_activate", {})
            return
        (name, value), rest = items[0], items[1:]

        def loaded(reply: Reply) -> None:
            if reply.ok:
                self._load_next(tc, app, rest)
            else:
                self.send(app, "param_abort")
                self._verify(tc, Verification.START_FAILURE, int(reply.reason),
                             f"{name}: {reply.message}")

        self.send(app, "param_load", {"name": str(name), "value": value}, on_reply=loaded)

    # ------------------------------------------------------------------ services 3 and 5
    def _structure(self, sid: Any) -> str:
        if not isinstance(sid, int) or (apid_of(sid) not in self.apps and sid != 0):
            raise BadAppData(f"no housekeeping structure {sid!r}")
        return "comms" if sid == 0 else self.apps[apid_of(sid)][0]

    def _hk_enable(self, tc: Telecommand) -> None:
        sids = appdata.typed(tc.app_data, self.ctx.limits, list, "TC[3,5]")
        apps = [self._structure(s) for s in sids]
        self.hk_disabled = self.hk_disabled - set(apps) if apps else set()
        self._accept(tc)
        self._complete(tc)

    def _hk_disable(self, tc: Telecommand) -> None:
        sids = appdata.typed(tc.app_data, self.ctx.limits, list, "TC[3,6]")
        apps = [self._structure(s) for s in sids] or [name for name, _ in self.apps.values()]
        self.hk_disabled |= set(apps)
        self._accept(tc)
        self._complete(tc)

    def _hk_one_shot(self, tc: Telecommand) -> None:
        apps = [self._structure(s) for s in appdata.typed(tc.app_data, self.ctx.limits, list,
                                                          "TC[3,27]")]
        self._accept(tc)
        for app in apps:
            if app in self.hk_latest:
                self._send_hk(app, self.hk_latest[app])
        self._complete(tc)

    def _hk_interval(self, tc: Telecommand) -> None:
        table = appdata.typed(tc.app_data, self.ctx.limits, dict, "TC[3,31]")
        changes = {}
        for sid, interval in table.items():
            if isinstance(interval, bool) or not isinstance(interval, (int, float)) \
                    or not 0 <= interval <= 86_400:
                raise BadAppData(f"interval for structure {sid!r} must be 0..86400 s")
            changes[self._structure(sid)] = float(interval)
        self.hk_interval.update(changes)
        self._accept(tc)
        self._complete(tc)

    def _events_enable(self, tc: Telecommand) -> None:
        names = appdata.typed(tc.app_data, self.ctx.limits, list, "TC[5,5]")
        self.events_disabled -= {str(n) for n in names} if names else set(self.events_disabled)
        self._accept(tc)
        self._complete(tc)

    def _events_disable(self, tc: Telecommand) -> None:
        names = appdata.typed(tc.app_data, self.ctx.limits, list, "TC[5,6]")
        self.events_disabled |= {str(n) for n in names} or {"*"}
        self._accept(tc)
        self._complete(tc)

    def _housekeeping_in(self, envelope: Envelope) -> None:
        app = envelope.topic[4:]
        if not isinstance(envelope.data, dict) or app != envelope.src:
            return
        self.hk_latest[app] = envelope.data
        if app in self.hk_disabled:
            return
        last = self.hk_last_sent.get(app)
        if last is not None and envelope.t - last < self.hk_interval.get(app, 0.0):
            return
        self.hk_last_sent[app] = envelope.t
        self._send_hk(app, envelope.data)

    def _send_hk(self, app: str, values: dict[str, Any]) -> None:
        app_id = self.app_ids.get(app)
        if app_id is not None:
            self._tm(apid_of(app_id), Service.HOUSEKEEPING, Housekeeping.PARAMETER_REPORT,
                     appdata.housekeeping(app_id, values))

    def _event_in(self, envelope: Envelope) -> None:
        app, data = envelope.topic[4:], envelope.data
        if not isinstance(data, dict) or app != envelope.src:
            return
        subtype = SEVERITY_SUBTYPE.get(str(data.get("severity")))
        name = str(data.get("name"))
        app_id = self.app_ids.get(app)
        if subtype is None or app_id is None or \
                {"*", f"{app}.*", f"{app}.{name}"} & self.events_disabled:
            return
        self._tm(apid_of(app_id), Service.EVENT, subtype, appdata.pack(
            {"event": name, "id": self.event_ids.get((apid_of(app_id), name)),
             "text": data.get("text", ""), "args": data.get("args", {})}))

    # ------------------------------------------------------------------ service 11
    def _tt_insert(self, tc: Telecommand) -> None:
        release, embedded, raw = appdata.activity(tc.app_data)
        if release <= self.clock.now():
            self._verify(tc, Verification.ACCEPTANCE_FAILURE, FailureCode.RELEASE_TIME_PASSED,
                         f"release time {release:.3f} is not in the future")
            return
        act = Activity(int.from_bytes(embedded.request_id, "big"), release, raw)
        if not self.schedule.insert(act):
            self._verify(tc, Verification.ACCEPTANCE_FAILURE, FailureCode.SCHEDULE_FULL,
                         "the schedule is full")
            return
        self._accept(tc)
        self._complete(tc)

    def _tt_delete(self, tc: Telecommand) -> None:
        ids = appdata.typed(tc.app_data, self.ctx.limits, list, "TC[11,5]")
        if not all(isinstance(i, int) for i in ids):
            raise BadAppData("TC[11,5]: request ids must be integers")
        self._accept(tc)
        self.schedule.delete(set(ids))
        self._complete(tc)

    def _tt_enable(self, tc: Telecommand) -> None:
        self._accept(tc)
        self.schedule.set_enabled(True)
        self._complete(tc)

    def _tt_disable(self, tc: Telecommand) -> None:
        self._accept(tc)
        self.schedule.set_enabled(False)
        self._complete(tc)

    def _tt_reset(self, tc: Telecommand) -> None:
        self._accept(tc)
        self.schedule.reset()
        self._complete(tc)

    def _tt_summary(self, tc: Telecommand) -> None:
        self._accept(tc)
        self._tm(APID_BASE, Service.SCHEDULING, TimeScheduling.SUMMARY_REPORT,
                 appdata.pack([a.describe() for a in self.schedule.activities]))
        self._complete(tc)

    # ------------------------------------------------------------------ service 128
    def _job_command(self, tc: Telecommand, name: str, args: dict[str, Any]) -> None:
        """Route a job TC to the job runner's command; its answer comes down as TM[128,4]."""
        target = next((entry for entry in self.apps.values() if entry[0] == JOBS_APP), None)
        if target is None:
            self._accept(tc)
            self._verify(tc, Verification.START_FAILURE, int(Reason.UNAVAILABLE),
                         "no job runner in this configuration")
            return
        command = target[1].full_model.command(name)
        assert command is not None, name
        try:
            command.bind(args)
        except InvalidValue as exc:
            raise BadAppData(f"TC[128,{tc.subtype}]: {exc}") from None
        self._accept(tc)
        self._route(tc, JOBS_APP, name, args, then=lambda reply: self._tm(
            APID_BASE, Service.JOBS, Jobs.STATUS_REPORT, self._fitting(reply.data)))

    def _fitting(self, data: Any) -> bytes:
        """A job list that fits one packet: the newest jobs, in short form, first."""
        body = appdata.pack(data)
        if len(body) <= self.max - 64 or not isinstance(data, dict) or "jobs" not in data:
            return body
        keep = ("id", "kind", "state", "priority", "progress", "result", "sha256")
        jobs = [{k: j.get(k) for k in keep} for j in reversed(data["jobs"])]
        while jobs and len(body := appdata.pack({"jobs": jobs, "truncated": True})) \
                > self.max - 64:
            jobs.pop()
        return body

    def _job_submit(self, tc: Telecommand) -> None:
        """TC[128,1] {kind, params, priority} -> TM[128,4] {job, params}."""
        request = appdata.typed(tc.app_data, self.ctx.limits, dict, "TC[128,1]")
        self._job_command(tc, "submit", request)

    def _job_cancel(self, tc: Telecommand) -> None:
        request = appdata.typed(tc.app_data, self.ctx.limits, dict, "TC[128,2]")
        self._job_command(tc, "cancel", request)

    def _job_status(self, tc: Telecommand) -> None:
        """TC[128,3] {job} -> that job's record; {} -> the list of jobs."""
        request = appdata.typed(tc.app_data, self.ctx.limits, dict, "TC[128,3]")
        self._job_command(tc, "status" if request else "list", request)

    def _downlink_result(self, tc: Telecommand) -> None:
        """TM[128,6] chunks of a stored result: all of them, or the ones the ground lacks."""
        request = appdata.typed(tc.app_data, self.ctx.limits, dict, "TC[128,5]")
        result_id, wanted = request.get("result"), request.get("chunks")
        size = request.get("chunk_size", CHUNK_SIZE)
        if not isinstance(result_id, str) or not isinstance(size, int) \
                or not 64 <= size <= self.max - 200:
            raise BadAppData("TC[128,5] needs 'result' (text) and a 'chunk_size' that fits")
        try:
            result = ResultStore(self.ctx.run_dir.results_dir).get(result_id)
        except ResultError as exc:
            self._accept(tc)
            self._verify(tc, Verification.START_FAILURE, int(Reason.UNAVAILABLE), str(exc))
            return
        count = max(1, -(-len(result.data) // size))
        indexes = range(count) if wanted is None else wanted
        if not isinstance(indexes, (list, range)) or not all(
                isinstance(i, int) and 0 <= i < count for i in indexes):
            raise BadAppData(f"TC[128,5]: chunk indexes must be in 0..{count - 1}")
        self._accept(tc)
        self._verify(tc, Verification.START_SUCCESS, success=Ack.START)
        for sent, index in enumerate(indexes, 1):
            self._tm(APID_BASE, Service.JOBS, Jobs.RESULT_CHUNK, appdata.pack({
                "result": result_id, "index": index, "count": count, "size": len(result.data),
                "sha256": result.sha256, "data": result.data[index * size:(index + 1) * size]}))
            if sent % PROGRESS_EVERY_CHUNKS == 0 and sent < len(indexes):
                self._verify(tc, Verification.PROGRESS_SUCCESS, success=Ack.PROGRESS, step=sent)
        self._complete(tc)

    # ------------------------------------------------------------------ contact
    def _world(self, envelope: Envelope) -> None:
        data = envelope.data
        if self.ctx.settings["contact"] != "world" or not isinstance(data, dict):
            return
        station = str(data.get("contact") or "")
        if bool(station) != bool(self.station):
            self.emit("CONTACT", state="start" if station else "end",
                      station=station or self.station, stored=self.store.count)
        self.station = station
        self.downlink.in_contact = bool(station)
        self.downlink.pump()

    # ------------------------------------------------------------------ telemetry out
    def _tm(self, apid: int, service: int, subtype: int, data: bytes) -> None:
        packet = TelemetryPacket(apid, service, subtype, CdsTime.from_unix(self.clock.now()),
                                 data, seq_count=self.seq.next(apid),
                                 msg_counter=self.msgs.next(GROUND_ID, service, subtype),
                                 destination_id=GROUND_ID)
        try:
            raw = packet.encode(self.max)
        except LinkError:
            self.log.error("TM[%d,%d] from APID %#x does not fit in %d bytes: dropped",
                           service, subtype, apid, self.max)
            self.downlink.errors += 1
            return
        self.downlink.send(raw)

    def _accept(self, tc: Telecommand) -> None:
        self._verify(tc, Verification.ACCEPTANCE_SUCCESS, success=Ack.ACCEPTANCE)

    def _complete(self, tc: Telecommand) -> None:
        self._verify(tc, Verification.COMPLETION_SUCCESS, success=Ack.COMPLETION)

    def _verify(self, tc: Telecommand, subtype: Verification, code: int | None = None,
                text: str = "", success: Ack | None = None, step: int | None = None) -> None:
        """A service 1 report; success reports only when the TC's ack flags ask for them."""
        if success is not None and not tc.ack & success:
            return
        self._send_report(tc.apid, tc.request_id, subtype, code, text, step)

    def _verify_raw(self, packet: bytes, subtype: Verification, code: int, text: str) -> None:
        apid = int.from_bytes(packet[0:2], "big") & 0x7FF
        self._send_report(apid if apid in self.apps else APID_BASE, request_id_of(packet),
                          subtype, code, text)

    def _send_report(self, apid: int, request_id: bytes, subtype: Verification,
                     code: int | None, text: str, step: int | None = None) -> None:
        report = VerificationReport(subtype, request_id, step=step, code=code,
                                    data=text.encode()[:MAX_FAILURE_DATA] if code else b"")
        self._tm(apid if apid in self.apps or apid == APID_BASE else APID_BASE,
                 Service.VERIFICATION, subtype, report.encode())

    def _report_rejections(self) -> None:
        now = time.monotonic()
        total = sum(self.rejected.values())
        if now < self._next_rejection_report or total == self._reported_rejections:
            return
        self.emit("REJECTIONS", count=total - self._reported_rejections,
                  period_s=REJECTION_REPORT_S, reasons=dict(self.rejected))
        self._reported_rejections = total
        self._next_rejection_report = now + REJECTION_REPORT_S

    # ------------------------------------------------------------------ telemetry, commands
    def housekeeping(self) -> dict[str, Any]:
        if self.store.dropped and self.store.dropped != getattr(self, "_dropped_said", 0):
            self._dropped_said = self.store.dropped
            self.emit("STORE_DROPPING", dropped=self.store.dropped)
        reply_to = self.downlink.reply_to
        return {
            "auth": self.ctx.settings["auth"], "in_contact": self.downlink.in_contact,
            "station": self.station, "rx_datagrams": self.rx, "tc_accepted": self.accepted,
            "tc_rejected": dict(self.rejected), "tm_sent": self.downlink.sent,
            "tm_stored": self.downlink.stored, "store_packets": self.store.count,
            "downlink_queue": len(self.downlink.queue),
            "store_dropped": self.store.dropped, "send_errors": self.downlink.errors,
            "scheduled": len(self.schedule.activities),
            "ground_address": "" if reply_to is None else f"{reply_to[0]}:{reply_to[1]}",
        }

    def do_status(self) -> dict[str, Any]:
        return {**self.housekeeping(), "address": f"{self.address[0]}:{self.address[1]}",
                "schedule": [a.describe() for a in
                                                    self.schedule.activities],
                "hk_interval": self.hk_interval, "hk_disabled": sorted(self.hk_disabled),
                "events_disabled": sorted(self.events_disabled),
                "highest_arsn": self.link.highest(self.ctx.settings["spi"])
                if isinstance(self.link, Authenticator) else None}

    def do_set_link_rate(self, bps: int) -> dict[str, Any]:
        self.downlink.set_rate(bps)
        return {"bps": bps}
