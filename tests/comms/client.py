"""A bare space-link client for the comms tests: seals TCs, reads TMs, nothing more.

The ground station (``ground.station``) is the operator's client; these tests use this small
one so that a fault in the ground software cannot hide (or fake) a fault in comms.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack

from flight.link import (
    Authenticator,
    Telecommand,
    TelemetryPacket,
    VerificationReport,
    load_key,
)
from hil.stack import LocalStack


class LinkClient:
    """Talks to one stack's comms app over UDP."""

    def __init__(self, stack: LocalStack, *, plain: bool = False):
        self.retarget(stack)
        self.auth = None if plain else Authenticator(
            {1: load_key(Path(stack.run_dir.root) / "keys" / "link.key")})
        self.arsn = 0
        self.seq = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(0.2)
        self.received: list[TelemetryPacket] = []

    def retarget(self, stack: LocalStack) -> None:
        """Aim at the port the stack's comms app listens on now."""
        host, port = stack.command("comms", "status").data["address"].split(":")
        self.target = (host, int(port))

    def frame(self, tc: Telecommand, *, arsn: int | None = None) -> bytes:
        if self.auth is None:
            return tc.encode()
        if arsn is None:
            self.arsn += 1
            arsn = self.arsn
        return self.auth.seal(1, arsn, tc.encode())

    def tc(self, apid: int, service: int, subtype: int, data: bytes = b"") -> Telecommand:
        self.seq += 1
        return Telecommand(apid, service, subtype, app_data=data, seq_count=self.seq,
                           source_id=1)

    def send(self, tc: Telecommand, **kw: Any) -> Telecommand:
        self.sock.sendto(self.frame(tc, **kw), self.target)
        return tc

    def raw(self, data: bytes) -> None:
        self.sock.sendto(data, self.target)

    def command(self, apid: int, opcode: int, args: dict[str, Any] | None = None) -> Telecommand:
        data = opcode.to_bytes(2, "big") + (msgpack.packb(args) if args else b"")
        return self.send(self.tc(apid, 8, 1, data))

    def wait(self, predicate: Callable[[TelemetryPacket], bool], timeout: float = 10.0,
             what: str = "a packet") -> TelemetryPacket:
        for packet in self.received:
            if predicate(packet):
                return packet
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data = self.sock.recv(65_535)
            except TimeoutError:
                continue
            packet = TelemetryPacket.decode(data)
            self.received.append(packet)
            if predicate(packet):
                return packet
        raise TimeoutError(f"no {what} within {timeout} s")

    def report(self, tc: Telecommand, subtype: int, timeout: float = 10.0) -> VerificationReport:
        """The service 1 report of ``subtype`` about ``tc``."""
        def match(p: TelemetryPacket) -> bool:
            return p.service == 1 and p.subtype == subtype and \
                p.source_data[:4] == tc.request_id
        packet = self.wait(match, timeout, f"TM[1,{subtype}] for seq {tc.seq_count}")
        return VerificationReport.decode(packet.subtype, packet.source_data)

    def final(self, tc: Telecommand, timeout: float = 10.0) -> VerificationReport:
        """The completion (or any failure) report about ``tc``."""
        def match(p: TelemetryPacket) -> bool:
            return p.service == 1 and p.subtype in (2, 4, 7, 8, 10) and \
                p.source_data[:4] == tc.request_id
        packet = self.wait(match, timeout, f"final report for seq {tc.seq_count}")
        return VerificationReport.decode(packet.subtype, packet.source_data)

    def close(self) -> None:
        self.sock.close()
