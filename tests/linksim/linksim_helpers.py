"""Helpers for the link-proxy tests: a ground socket, a flight socket and a proxy between them.

Everything waits on sockets with deadlines; nothing sleeps.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import time
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from hil.linksim import LinkSim

HOST = "127.0.0.1"


def udp(host: str = HOST, family: int = socket.AF_INET) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_DGRAM)
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind((host, 0))
    return sock


def seq_payload(n: int, size: int = 100) -> bytes:
    """A datagram carrying sequence number ``n`` (first 4 bytes), padded to ``size``."""
    return struct.pack(">I", n) + bytes((n + i) & 0xFF for i in range(size - 4))


def seq_of(data: bytes) -> int:
    return struct.unpack(">I", data[:4])[0]


def collect(sock: socket.socket, count: int, timeout: float = 2.0) -> list[bytes]:
    """Datagrams from ``sock`` until ``count`` arrived or ``timeout`` passed."""
    got: list[bytes] = []
    deadline = time.monotonic() + timeout
    while len(got) < count and (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            got.append(sock.recv(65535))
        except TimeoutError:
            break
    return got


def silence(sock: socket.socket, within: float) -> list[bytes]:
    """Everything that arrives on ``sock`` during the next ``within`` seconds (expected: none)."""
    return collect(sock, 1 << 30, within)


def drain_until(sock: socket.socket, done: Callable[[list[bytes]], bool],
                timeout: float = 5.0) -> list[bytes]:
    """Receive from ``sock`` until ``done(received)`` is true; fail the test at the deadline."""
    got: list[bytes] = []
    deadline = time.monotonic() + timeout
    while not done(got):
        left = deadline - time.monotonic()
        if left <= 0:
            pytest.fail(f"gave up waiting after {timeout} s with {len(got)} datagrams")
        sock.settimeout(min(left, 0.02))
        with contextlib.suppress(TimeoutError):
            got.append(sock.recv(65535))
    return got


class Rig:
    """Ground socket → proxy → flight socket, and back."""

    def __init__(self, **kwargs: Any) -> None:
        self.flight = udp()
        self.ground = udp()
        self.sim = LinkSim(f"{HOST}:0", self.flight.getsockname(), **kwargs).start()

    def up(self, data: bytes) -> None:
        self.ground.sendto(data, self.sim.ground_address)

    def down(self, data: bytes) -> None:
        self.flight.sendto(data, self.sim.flight_side_address)

    def stats(self, direction: str = "uplink") -> dict[str, int]:
        return self.sim.stats()[direction]

    def pump(self, payloads: Iterable[bytes], direction: str = "uplink",
             chunk: int = 100, timeout: float = 5.0) -> list[bytes]:
        """Send ``payloads`` in chunks small enough for a default socket buffer; after each chunk
        wait until the proxy has decided on every datagram and everything it forwarded arrived.
        Returns what arrived, in arrival order."""
        send = self.up if direction == "uplink" else self.down
        sink = self.flight if direction == "uplink" else self.ground
        items = list(payloads)
        base = self.stats(direction)
        got: list[bytes] = []
        for start in range(0, len(items), chunk):
            part = items[start:start + chunk]
            for data in part:
                send(data)
            sent = start + len(part)

            def done(batch: list[bytes], sent: int = sent) -> bool:
                s = self.stats(direction)
                return (s["received"] - base["received"] >= sent and s["queued"] == 0
                        and len(got) + len(batch) >= s["forwarded"] - base["forwarded"])

            got.extend(drain_until(sink, done, timeout))
        return got

    def close(self) -> None:
        self.sim.stop()
        self.flight.close()
        self.ground.close()


def invariant_holds(stats: dict[str, int]) -> bool:
    drops = sum(v for k, v in stats.items() if k.startswith("dropped_"))
    return (stats["received"] + stats["duplicated"]
            == stats["forwarded"] + drops + stats["send_errors"] + stats["queued"])
