"""pytest plugin: a simulated flatsat and a ground station connected to it, as fixtures.

Load it with ``pytest -p hil.pytest_plugin``, or ``pytest_plugins = ["hil.pytest_plugin"]`` in
the root ``conftest.py``. Then a test of the whole space link reads like an operator's script::

    def test_noop_completes(ground):
        handle = ground.command("health", "noop")
        assert [s.name for s in handle.stages] == ["accepted", "started", "completed"]

    def test_soc_is_reported(ground):
        assert 0 <= ground.await_telemetry("power", "soc", timeout=10).value <= 1

Fixtures:

* ``flatsat`` — a :class:`Flatsat`: the onboard stack of the built-in sim profile running as
  real processes in a fresh short run directory, comms listening on a free UDP port, always in
  contact, with fast supervision and housekeeping periods (``FLATSAT_OVERRIDES``). It is
  stopped and its run directory removed after the test (``--flatsat-keep`` keeps it).
* ``ground`` — a connected :class:`ground.station.GroundStation` (key from the run directory,
  dictionary built from the stack's resolved ``config.json``), already answered a ping. It
  listens on the flatsat's fixed ground port, which comms sends telemetry to whatever other
  ground (a CLI under test) sent the last telecommand.
* ``flatsat_overrides`` — the ``--set`` overrides the flatsat starts with; override this
  fixture in a module to change them (``return (*FLATSAT_OVERRIDES, "time.speed=600")``).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from hil.stack import LocalStack

if TYPE_CHECKING:
    from ground.station import GroundStation

__all__ = ["FLATSAT_OVERRIDES", "Flatsat", "flatsat", "flatsat_overrides", "free_udp_port",
           "ground", "start_flatsat"]

#: Fast supervision and telemetry, always in contact, mission time 60x the wall clock (the
#: power app's first state of charge comes after one 10 s control period: 1/6 s here).
FLATSAT_OVERRIDES: tuple[str, ...] = (
    "executive.heartbeat_period_s=0.2", "executive.hang_misses=10",
    "executive.backoff_initial_s=0.1", "executive.backoff_max_s=0.4",
    "executive.stop_grace_s=0.5", "executive.housekeeping_period_s=0.3",
    "apps.health.housekeeping_period_s=0.3", "apps.power.housekeeping_period_s=0.2",
    "apps.thermal.housekeeping_period_s=0.2", "apps.world.housekeeping_period_s=0.2",
    "apps.comms.housekeeping_period_s=0.3", "apps.comms.contact=always", "time.speed=60",
)


def free_udp_port(host: str = "127.0.0.1") -> int:
    """A UDP port nobody listens on right now (a small race, acceptable on a test machine)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class Flatsat:
    """A running local stack, and what a ground needs to reach it."""

    stack: LocalStack
    run_dir: Path
    address: tuple[str, int]  #: where comms listens
    ground_address: tuple[str, int]  #: a ground port comms always sends telemetry to

    @property
    def key_file(self) -> Path:
        return self.run_dir / "keys" / "link.key"

    @property
    def config(self) -> dict[str, Any]:
        """The resolved configuration the stack runs with."""
        return dict(json.loads((self.run_dir / "config.json").read_text(encoding="utf-8")))

    def dictionary(self) -> dict[str, Any]:
        """The flight dictionary of exactly this stack's configuration."""
        from flight.dictionary import build_dictionary

        return build_dictionary(self.config)

    def connect(self, **kwargs: Any) -> GroundStation:
        """A new :class:`~ground.station.GroundStation` to this flatsat (any free port)."""
        from ground.station import GroundStation

        options: dict[str, Any] = {"key_file": self.key_file, "dictionary": self.dictionary(),
                                   "state_dir": self.run_dir / "ground"}
        options.update(kwargs)
        return GroundStation.connect(self.address, **options)

    def command(self, app: str, name: str, args: dict[str, Any] | None = None) -> Any:
        """A command over the onboard bus, bypassing the space link (for test set-up)."""
        return self.stack.command(app, name, args)


@contextlib.contextmanager
def start_flatsat(overrides: Iterable[str] = FLATSAT_OVERRIDES, *, config: str | None = None,
                  keep: bool = False, timeout: float = 30.0) -> Iterator[Flatsat]:
    """Start a flatsat (see :data:`FLATSAT_OVERRIDES`), yield it, stop it and clean up.

    The run directory is made under /tmp with a short name: ``ipc://`` paths must stay under
    107 bytes, which pytest's ``tmp_path`` can exceed.
    """
    run_dir = Path(tempfile.mkdtemp(prefix="sl-", dir="/tmp"))
    address = ("127.0.0.1", free_udp_port())
    ground_address = ("127.0.0.1", free_udp_port())
    sets = [*overrides, f"apps.comms.address={address[0]}:{address[1]}",
            f"apps.comms.ground={ground_address[0]}:{ground_address[1]}"]
    stack = LocalStack(run_dir, config=config, overrides=sets, log_to=run_dir / "stack.out")
    try:
        stack.start(timeout=timeout)
        yield Flatsat(stack, run_dir, address, ground_address)
    finally:
        stack.stop()
        if not keep:
            shutil.rmtree(run_dir, ignore_errors=True)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--flatsat-keep", action="store_true",
                     help="keep each flatsat's run directory (logs, archive) after the test")


@pytest.fixture
def flatsat_overrides() -> tuple[str, ...]:
    """The ``--set`` overrides of the ``flatsat`` fixture; override it to change them."""
    return FLATSAT_OVERRIDES


@pytest.fixture
def flatsat(flatsat_overrides: tuple[str, ...],
            request: pytest.FixtureRequest) -> Iterator[Flatsat]:
    """A running simulated flatsat (see the module docs)."""
    keep = bool(request.config.getoption("flatsat_keep", default=False))
    with start_flatsat(flatsat_overrides, keep=keep) as sat:
        yield sat


@pytest.fixture
def ground(flatsat: Flatsat) -> Iterator[GroundStation]:
    """A ground station connected to ``flatsat``, proven by a ping."""
    station = flatsat.connect(local=flatsat.ground_address,
                              archive=flatsat.run_dir / "ground" / "archive.sqlite")
    try:
        station.ping(timeout=10.0)
        yield station
    finally:
        station.close()
