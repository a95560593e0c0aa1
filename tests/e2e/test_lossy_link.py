"""End to end over the link proxy with 5 % loss and reordering each way: commands to every app
verified, telemetry archived on the ground, a result downlinked whole and matching its digest.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from flight.dictionary import build_dictionary
from flight.results import ResultStore
from ground.archive import Archive
from ground.results import download_result
from ground.station import CommandTimeout, GroundStation
from hil.linksim import LinkSim
from hil.pytest_plugin import free_udp_port
from hil.stack import LocalStack
from tests.conftest import FAST

LOSSY = {"loss": 0.05, "reorder": 0.05, "reorder_delay_ms": 20, "delay_ms": 2, "jitter_ms": 2}
APPS = ("comms", "executive", "health", "power", "thermal", "world")


def _verified(station: GroundStation, app: str, attempts: int = 8) -> int:
    """Send app.noop until one is verified complete; a lost TC or report costs a retry."""
    for attempt in range(1, attempts + 1):
        try:
            stage = station.send(app, "noop").wait(3.0)
        except CommandTimeout:
            continue
        assert stage.ok and stage.name == "completed"
        return attempt
    raise AssertionError(f"{app}.noop never verified over the lossy link")


def test_commands_telemetry_and_a_result_over_a_lossy_link(run_dir: Path) -> None:
    port = free_udp_port()
    overrides = (*FAST, f"apps.comms.address=127.0.0.1:{port}")
    with LocalStack(run_dir, overrides=overrides, log_to=run_dir / "stack.out") as stack, \
            LinkSim(("127.0.0.1", 0), ("127.0.0.1", port), uplink=LOSSY, downlink=LOSSY,
                    seed=2026) as sim:
        dictionary = build_dictionary(json.loads(stack.run_dir.config_file.read_text()))
        archive_path = run_dir / "ground.sqlite"
        with GroundStation.connect(sim.ground_address, key_file=run_dir / "keys" / "link.key",
                                   dictionary=dictionary, archive=archive_path,
                                   state_dir=run_dir / "ground") as station:
            attempts = {app: _verified(station, app) for app in APPS}
            assert all(n >= 1 for n in attempts.values())
            station.await_telemetry("power", "soc", timeout=15)
            station.await_telemetry("thermal", "chip_temp_c", timeout=15)
            data = os.urandom(64 * 1024)
            ResultStore(stack.run_dir.results_dir).put("e2e", data)
            assert download_result(station, "e2e", timeout=60, request_timeout=2.0) == data
        stats = sim.stats()
        assert stats["downlink"]["dropped_loss"] > 0 and stats["downlink"]["reordered"] > 0
        with Archive(archive_path, readonly=True) as archive:
            assert archive.values(app="power", channel="soc")
            verified = [c for c in archive.commands() if c.name == "noop"]
            assert {c.app for c in verified} >= set(APPS)
