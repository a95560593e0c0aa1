"""The downlink keeps to the link rate: a token bucket in bytes, the rest queued in order."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from flight.apps.comms import downlink as downlink_module
from flight.apps.comms.downlink import Downlink
from flight.apps.comms.store import TelemetryStore


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ground() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(2)
    yield sock
    sock.close()


def test_telemetry_leaves_at_the_link_rate_and_in_order(
        tmp_path: Path, ground: socket.socket, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = _Clock()
    monkeypatch.setattr(downlink_module.time, "monotonic", clock)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    store = TelemetryStore(tmp_path / "tm.sqlite", 10_000)
    link = Downlink(sock, store, rate_bps=8 * 100_000, fixed=(ground.getsockname(),))
    try:
        packets = [i.to_bytes(2, "big") + bytes(998) for i in range(50)]  # 50 kB at 100 kB/s
        for packet in packets:
            link.send(packet)
        assert link.sent == 5 and len(link.queue) == 45  # the 5 kB burst now, the rest waits
        started = clock.now
        while link.queue:  # the main loop: pump whenever the next packet is due
            deadline = link.next_deadline()
            assert deadline is not None
            clock.now = max(clock.now, deadline) + 1e-6
            link.pump()
        assert clock.now - started == pytest.approx(0.45, abs=0.02)  # 45 kB at 100 kB/s
        arrived = [ground.recv(2048)[:2] for _ in range(50)]
        assert arrived == [p[:2] for p in packets]  # in order
        link.set_rate(8 * 10_000)  # a tenth of the rate from here on
        clock.now += 10  # an idle link: a full bucket (4 kB, the smallest burst)
        for packet in packets[:14]:
            link.send(packet)
        assert link.sent == 54
        started = clock.now
        while link.queue:
            clock.now = max(clock.now, link.next_deadline() or clock.now) + 1e-6
            link.pump()
        assert clock.now - started == pytest.approx(1.0, abs=0.05)  # 10 kB at 10 kB/s
    finally:
        sock.close()
        store.close()
