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

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from hil.testbed import FLATSAT_OVERRIDES, Flatsat, free_udp_port, start_flatsat

if TYPE_CHECKING:
    from ground.station import GroundStation

__all__ = ["FLATSAT_OVERRIDES", "Flatsat", "flatsat", "flatsat_overrides", "free_udp_port",
           "ground", "start_flatsat"]


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
