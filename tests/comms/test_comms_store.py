"""Out of contact, telemetry is stored on board, survives a comms restart, and comes down in
order at the next contact."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import msgpack

from flight.apps.comms.store import TelemetryStore
from hil.stack import LocalStack, wait_until
from tests.comms.client import LinkClient
from tests.conftest import FAST, ORBITING


def test_store_is_bounded_ordered_and_survives_a_crash(tmp_path: Path) -> None:
    store = TelemetryStore(tmp_path / "tm.sqlite", max_packets=100)
    for i in range(150):
        store.append(i.to_bytes(4, "big"))
    assert store.count == 100 and store.dropped == 50
    del store  # no close(): as if the process had been killed
    again = TelemetryStore(tmp_path / "tm.sqlite", max_packets=100)
    batch = again.peek(10)
    assert [int.from_bytes(p, "big") for _, p in batch] == list(range(50, 60))
    again.remove_through(batch[-1][0])
    assert again.count == 90
    again.close()


def test_a_corrupt_store_is_moved_aside(tmp_path: Path) -> None:
    (tmp_path / "tm.sqlite").write_bytes(b"this is not a database" * 100)
    store = TelemetryStore(tmp_path / "tm.sqlite", max_packets=10)
    assert store.recovered_from is not None and store.recovered_from.exists()
    store.append(b"x")
    assert store.count == 1
    store.close()


def test_stored_telemetry_survives_a_comms_restart_and_comes_down_in_order(run_dir: Path
                                                                         ) -> None:
    with LocalStack(run_dir, overrides=FAST, log_to=run_dir / "stack.out") as stack:
        # Nobody has sent a telecommand: comms knows no ground, so everything is stored.
        stored = wait_until(lambda: s if (s := stack.command("comms", "status").data)[
            "store_packets"] >= 40 else None, 20, "a backlog").get("store_packets")
        old_pid = stack.process_row("comms")["pid"]
        os.kill(old_pid, signal.SIGKILL)
        stack.wait_running("comms", not_pid=old_pid)
        after = stack.command("comms", "status").data["store_packets"]
        assert after >= stored  # nothing lost
        link = LinkClient(stack)
        link.send(link.tc(0x10, 17, 1))
        link.wait(lambda p: p.service == 17, timeout=15, what="pong after the backlog")
        started = [msgpack.unpackb(p.source_data)["args"].get("pid") for p in link.received
                   if p.service == 5 and p.apid == 0x10
                   and msgpack.unpackb(p.source_data)["event"] == "STARTED"]
        assert started[:2] == [old_pid, stack.process_row("comms")["pid"]]  # oldest first
        assert len(link.received) >= after


def test_contact_windows_store_then_downlink(run_dir: Path) -> None:
    overrides = (*ORBITING, "apps.comms.contact=world", "apps.comms.housekeeping_period_s=0.2")
    with LocalStack(run_dir, overrides=overrides, log_to=run_dir / "stack.out") as stack:
        tap = stack.tap("tlm.comms", "evt.comms")
        link = LinkClient(stack)
        link.send(link.tc(0x10, 17, 1))
        tap.wait_telemetry("comms", lambda t: not t["in_contact"] and t["store_packets"] > 20,
                           timeout=30)
        tap.wait_event("comms", "CONTACT", timeout=30, where=lambda a: a["state"] == "start")
        tap.wait_telemetry("comms", lambda t: t["in_contact"] and t["store_packets"] == 0
                           and t["tm_sent"] > 50, timeout=10)
