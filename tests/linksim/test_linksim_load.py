"""Load: throughput without loss of its own, and a garbage flood it must survive.

The figures a lab quotes come from ``python -m hil.linksim.bench`` (the proxy in its own process);
these tests only check that nothing is lost or broken, with loose rate floors for a busy CI box.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time

from hil.linksim import ControlClient
from tests.linksim.linksim_helpers import drain_until, invariant_holds, seq_of, seq_payload, udp

N = 10_000


def test_forwards_ten_thousand_datagrams_without_loss(make_rig) -> None:
    rig = make_rig()
    window = threading.Semaphore(256)         # never more in flight than a socket buffer holds
    payloads = [seq_payload(i) for i in range(N)]
    failed: list[str] = []

    def sender() -> None:
        for data in payloads:
            if not window.acquire(timeout=5):
                failed.append("stalled: a datagram went missing")
                return
            rig.up(data)

    t0 = time.monotonic()
    thread = threading.Thread(target=sender)
    thread.start()
    seen = 0
    rig.flight.settimeout(5)
    try:
        while seen < N and not failed:
            data = rig.flight.recv(65535)
            assert seq_of(data) == seen
            seen += 1
            window.release()
    finally:
        thread.join()
    elapsed = time.monotonic() - t0
    assert failed == []
    s = rig.stats()
    assert s["received"] == s["forwarded"] == N
    print(f"\nlinksim in-process throughput: {N / elapsed:.0f} datagrams/s of 100 bytes")
    assert N / elapsed > 2_000


def test_survives_a_garbage_flood(make_rig) -> None:
    rig = make_rig(control="127.0.0.1:0")
    flood = udp()
    pool = os.urandom(70_000)
    targets = (rig.sim.ground_address, rig.sim.flight_side_address, rig.sim.control_address)
    t0 = time.monotonic()
    for n in range(N):
        size = 65_000 if n % 1000 == 0 else (n * 7919) % 1500
        start = n % 4000
        with contextlib.suppress(BlockingIOError):
            flood.sendto(pool[start:start + size], targets[n % 3])
    flooded_for = time.monotonic() - t0
    flood.close()

    assert rig.sim.running
    with ControlClient(rig.sim.control_address) as ctl:
        assert ctl.ping()["ok"] is True
    marker = b"still alive"
    rig.up(marker)
    drain_until(rig.flight, lambda got: marker in got, timeout=10)
    rig.down(marker)                            # the ground is the last uplink sender again
    drain_until(rig.ground, lambda got: marker in got, timeout=10)
    stats = rig.sim.stats()
    assert stats["uplink"]["received"] > 1      # some garbage got through the kernel, too
    assert all(invariant_holds(s) for s in stats.values())
    assert flooded_for < 10
