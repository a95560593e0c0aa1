"""A stand-in spacecraft for the ground's unit tests: a real UDP peer that answers like comms.

Built only from ``flight.link`` (the shared codec) and the ICD's application-data layouts, so
the ground is tested against the wire contract, not against itself. The integration tests
(``test_station_flatsat.py``) run the same API against the real comms app.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack

from flight.link import (
    Authenticator,
    CdsTime,
    FailureCode,
    LinkError,
    PlainLink,
    SequenceCounters,
    Telecommand,
    TelemetryPacket,
    Verification,
    VerificationReport,
    verification_packet,
)

#: The ICD's published test key (32 bytes of 0x01): never used outside tests.
TEST_KEY = bytes([1]) * 32
COMMS = 0x10
NOT_ARMED = 10
Address = tuple[str, int]


def write_key(path: Path, key: bytes = TEST_KEY) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with open(fd, "w") as fh:
        fh.write(key.hex() + "\n")
    return path


@dataclass
class Failure:
    """How the fake fails a command: at which stage, with which code and text."""

    stage: Verification
    code: int
    text: str = ""


Behaviour = Failure | str | Callable[["FakeSpacecraft", Telecommand, dict[str, Any]], None]


class FakeSpacecraft:
    """Listens on 127.0.0.1, opens frames, answers telecommands (see the module docs).

    ``behaviours["app.command"]`` changes how a dictionary command is answered: a
    :class:`Failure`, ``"silent"`` (no report at all), ``"accept-only"``, or a callable.
    """

    def __init__(self, dictionary: dict[str, Any], *, plain: bool = False,
                 key: bytes = TEST_KEY, clock_offset: float = 0.0) -> None:
        self.apps = {int(a.get("apid", 0x10 + a["id"])): (name, a)
                     for name, a in dictionary["apps"].items()}
        self.link: Authenticator | PlainLink = PlainLink() if plain else Authenticator({1: key})
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.clock_offset = clock_offset
        self.seq = SequenceCounters()
        self.ground: Address | None = None
        self.frames: list[bytes] = []
        self.tcs: list[Telecommand] = []
        self.rejected: list[str] = []
        self.behaviours: dict[str, Behaviour] = {}
        self.armed: set[tuple[str, str]] = set()
        self.params: dict[str, dict[str, Any]] = {
            name: {p["name"]: p.get("default") for p in a.get("parameters", [])}
            for name, a in dictionary["apps"].items()}
        self.service_data: list[tuple[int, int, Any]] = []
        self.schedule: dict[int, tuple[float, bytes]] = {}
        self._timers: list[threading.Timer] = []
        self._lock = threading.Lock()
        self._received = threading.Condition(self._lock)
        self._stop_r, self._stop_w = socket.socketpair()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @property
    def address(self) -> Address:
        host, port = self.sock.getsockname()
        return str(host), int(port)

    def now(self) -> float:
        return time.time() + self.clock_offset

    def close(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._stop_w.send(b"x")
        self._thread.join(5)
        for sock in (self.sock, self._stop_r, self._stop_w):
            sock.close()

    def wait_tcs(self, count: int, timeout: float = 5.0) -> list[Telecommand]:
        """Block until ``count`` telecommands arrived (deadline, no polling)."""
        deadline = time.monotonic() + timeout
        with self._received:
            while len(self.tcs) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self.tcs)} of {count} telecommands arrived")
                self._received.wait(left)
            return list(self.tcs)

    # ------------------------------------------------------------------ receiving
    def _run(self) -> None:
        with selectors.DefaultSelector() as sel:
            sel.register(self.sock, selectors.EVENT_READ)
            sel.register(self._stop_r, selectors.EVENT_READ)
            while True:
                ready = sel.select()
                if any(key.fileobj is self._stop_r for key, _ in ready):
                    return
                data, source = self.sock.recvfrom(65_535)
                self._datagram(data, (source[0], source[1]))

    def _datagram(self, data: bytes, source: Address) -> None:
        try:
            tc = Telecommand.decode(self.link.open(data).packet)
        except LinkError as exc:
            self.rejected.append(exc.reason.value)
            return
        self.ground = source
        with self._received:
            self.frames.append(data)
            self.tcs.append(tc)
            self._received.notify_all()
        self.serve(tc)

    def serve(self, tc: Telecommand) -> None:
        handlers: dict[tuple[int, int], Callable[[Telecommand], None]] = {
            (17, 1): self._ping, (8, 1): self._perform, (20, 1): self._param_report,
            (20, 3): self._param_set, (11, 4): self._tt_insert, (11, 5): self._tt_delete,
            (11, 17): self._tt_summary}
        handler = handlers.get((tc.service, tc.subtype))
        if handler is not None:
            handler(tc)
        elif tc.service in (3, 5, 11):
            self.service_data.append((tc.service, tc.subtype, _unpack(tc.app_data)))
            self.verify(tc, Verification.ACCEPTANCE_SUCCESS)
            self.verify(tc, Verification.COMPLETION_SUCCESS)
        else:
            self.verify(tc, Verification.ACCEPTANCE_FAILURE, FailureCode.UNKNOWN_SERVICE,
                        f"no service {tc.service}")

    # ------------------------------------------------------------------ services
    def _ping(self, tc: Telecommand) -> None:
        self.verify(tc, Verification.ACCEPTANCE_SUCCESS)
        self.tm(COMMS, 17, 2, b"")
        self.verify(tc, Verification.COMPLETION_SUCCESS)

    def _perform(self, tc: Telecommand) -> None:
        app, entry = self.apps[tc.apid]
        opcode = int.from_bytes(tc.app_data[:2], "big")
        args = _unpack(tc.app_data[2:]) if len(tc.app_data) > 2 else {}
        command = entry["commands"][opcode]
        behaviour = self.behaviours.get(f"{app}.{command['name']}")
        if behaviour == "silent":
            return
        self.verify(tc, Verification.ACCEPTANCE_SUCCESS)
        if behaviour == "accept-only":
            return
        if command["hazardous"] and (app, command["name"]) not in self.armed:
            self.verify(tc, Verification.START_FAILURE, NOT_ARMED, f"{command['name']} is "
                        "hazardous: send arm first")
            return
        self.armed.discard((app, command["name"]))
        if isinstance(behaviour, Failure):
            if behaviour.stage != Verification.START_FAILURE:
                self.verify(tc, Verification.START_SUCCESS)
            self.verify(tc, behaviour.stage, behaviour.code, behaviour.text)
            return
        self.verify(tc, Verification.START_SUCCESS)
        self._execute(tc, app, command["name"], args, behaviour)

    def _execute(self, tc: Telecommand, app: str, name: str, args: dict[str, Any],
                 behaviour: Behaviour | None) -> None:
        if callable(behaviour):
            behaviour(self, tc, args)
        elif name == "arm":
            self.armed.add((app, str(args["command"])))
        elif name == "noop":
            self.event(app, "NOOP", 1, f"No-op received by {app}", {"app": app})
        self.verify(tc, Verification.COMPLETION_SUCCESS)

    def _param_report(self, tc: Telecommand) -> None:
        app, _ = self.apps[tc.apid]
        names = _unpack(tc.app_data) or list(self.params[app])
        self.verify(tc, Verification.ACCEPTANCE_SUCCESS)
        self.verify(tc, Verification.START_SUCCESS)
        active = {n: v for n, v in self.params[app].items() if n in names}
        self.tm(tc.apid, 20, 2, msgpack.packb({"active": active, "staged": {}}))
        self.verify(tc, Verification.COMPLETION_SUCCESS)

    def _param_set(self, tc: Telecommand) -> None:
        app, _ = self.apps[tc.apid]
        self.verify(tc, Verification.ACCEPTANCE_SUCCESS)
        self.verify(tc, Verification.START_SUCCESS)
        self.params[app].update(_unpack(tc.app_data))
        self.verify(tc, Verification.COMPLETION_SUCCESS)

    def _tt_insert(self, tc: Telecommand) -> None:
        release = CdsTime.decode(tc.app_data[:7]).to_unix()
        embedded = bytes(tc.app_data[7:])
        if release <= self.now():
            self.verify(tc, Verification.ACCEPTANCE_FAILURE, FailureCode.RELEASE_TIME_PASSED,
                        "release time is not in the future")
            return
        inner = Telecommand.decode(embedded)
        rid = int.from_bytes(inner.request_id, "big")
        self.schedule[rid] = (release, embedded)
        timer = threading.Timer(release - self.now(), self._release, (rid,))
        timer.daemon = True
        self._timers.append(timer)
        timer.start()
        self.verify(tc, Verification.ACCEPTANCE_SUCCESS)
        self.verify(tc, Verification.COMPLETION_SUCCESS)

    def _release(self, rid: int) -> None:
        entry = self.schedule.pop(rid, None)
        if entry is not None:
            self.serve(Telecommand.decode(entry[1]))

    def _tt_delete(self, tc: Telecommand) -> None:
        for rid in _unpack(tc.app_data):
            self.schedule.pop(rid, None)
        self.verify(tc, Verification.ACCEPTANCE_SUCCESS)
        self.verify(tc, Verification.COMPLETION_SUCCESS)

    def _tt_summary(self, tc: Telecommand) -> None:
        self.verify(tc, Verification.ACCEPTANCE_SUCCESS)
        rows = [{"request_id": rid, "release_t": release,
                 "apid": int.from_bytes(raw[:2], "big") & 0x7FF, "service": raw[7],
                 "subtype": raw[8]} for rid, (release, raw) in self.schedule.items()]
        self.tm(COMMS, 11, 13, msgpack.packb(rows))
        self.verify(tc, Verification.COMPLETION_SUCCESS)

    # ------------------------------------------------------------------ telemetry out
    def tm(self, apid: int, service: int, subtype: int, data: bytes) -> bytes:
        packet = TelemetryPacket(apid, service, subtype, CdsTime.from_unix(self.now()), data,
                                 seq_count=self.seq.next(apid), destination_id=1)
        raw = packet.encode()
        self.send_raw(raw)
        return raw

    def send_raw(self, raw: bytes) -> None:
        if self.ground is not None:
            with contextlib.suppress(OSError):
                self.sock.sendto(raw, self.ground)

    def verify(self, tc: Telecommand, subtype: Verification, code: int | None = None,
               text: str = "") -> None:
        report = VerificationReport(subtype, tc.request_id, code=code,
                                    data=text.encode() if code is not None else b"")
        apid = tc.apid if tc.apid in self.apps or tc.apid == COMMS else COMMS
        packet = verification_packet(report, apid=apid, time=CdsTime.from_unix(self.now()),
                                     seq_count=self.seq.next(apid), destination_id=1)
        self.send_raw(packet.encode())

    def hk(self, app: str, values: dict[str, Any]) -> None:
        apid = self.apid(app)
        self.tm(apid, 3, 25, (apid - 0x10).to_bytes(2, "big") + msgpack.packb(values))

    def event(self, app: str, name: str, severity: int, text: str,
              args: dict[str, Any] | None = None) -> None:
        self.tm(self.apid(app), 5, severity,
                msgpack.packb({"event": name, "text": text, "args": args or {}}))

    def apid(self, app: str) -> int:
        return next(apid for apid, (name, _) in self.apps.items() if name == app)


def _unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, strict_map_key=False) if data else []
