"""Shared fixtures: short run directories and a real local stack."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from hil.stack import LocalStack

pytest_plugins = ["hil.pytest_plugin"]

#: Faster supervision for tests; the behaviour is the same, only the periods are shorter
#: (and the link listens on a free port, so stacks never fight over 52001).
#: hang_misses=10 (2 s) keeps a loaded CI machine's scheduling stalls from counting as hangs;
#: tests of hang detection itself add ``executive.hang_misses=3`` after FAST.
FAST = ("executive.heartbeat_period_s=0.2", "executive.hang_misses=10",
        "executive.backoff_initial_s=0.1", "executive.backoff_max_s=0.4",
        "executive.stop_grace_s=0.5", "apps.health.housekeeping_period_s=0.3",
        "apps.comms.address=127.0.0.1:0", "apps.comms.contact=always")

#: A simulated flatsat at 600x (one orbit in ten seconds) with telemetry every 0.2 s. No job
#: runner (and no radiation monitor, so it boots as fast as before): the world's stand-in
#: payload draws compute power whenever power and thermal allow,
#: which is what the power and thermal tests need to see shedding and throttling.
#: World samples count as stale after 1,200 mission s (2 s of wall time at 600x), so a loaded
#: test machine that delays the world a little does not turn one expected fault into another.
ORBITING = (*FAST, "time.speed=600", "hal.stale_s=1200", "apps.jobs.enabled=false",
            "apps.radiation.enabled=false",
            "apps.power.housekeeping_period_s=0.2",
            "apps.thermal.housekeeping_period_s=0.2", "apps.world.housekeeping_period_s=0.2")


@pytest.fixture
def run_dir() -> Iterator[Path]:
    """A run directory short enough for ipc:// paths (pytest's tmp_path can be too long)."""
    path = Path(tempfile.mkdtemp(prefix="sl-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def stack(run_dir: Path) -> Iterator[LocalStack]:
    """The built-in sim profile, running, with fast supervision periods."""
    s = LocalStack(run_dir, overrides=FAST, log_to=run_dir / "stack.out")
    s.start()
    yield s
    s.stop()
