"""The scenario library (hil/scenarios/): every file checks out, and together they cover every
onboard app and every class of fault."""

from __future__ import annotations

from pathlib import Path

import pytest

import hil
from hil.faults import FaultClass, get_fault
from hil.scenario import load
from hil.scenario.model import AwaitEventStep, AwaitTelemetryStep, CommandStep, InjectStep

LIBRARY = Path(hil.__file__).parent / "scenarios"
FILES = sorted(LIBRARY.glob("*.toml"))
APPS = {"executive", "health", "power", "thermal", "comms", "jobs", "radiation", "world"}


def test_the_library_is_there() -> None:
    assert len(FILES) >= 10


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_every_library_scenario_validates(path: Path) -> None:
    scenario, _ = load(path)
    assert scenario.description.strip(), f"{path.name}: say what it shows in description"
    assert scenario.name != path.stem, f"{path.name}: give it a name that says what it shows"


def test_the_library_covers_every_app_and_every_fault_class() -> None:
    apps: set[str] = set()
    classes: set[FaultClass] = set()
    for path in FILES:
        scenario, _ = load(path)
        for step in scenario.steps:
            if isinstance(step, (CommandStep, AwaitEventStep, AwaitTelemetryStep)):
                apps.add(step.app)
            if isinstance(step, InjectStep):
                classes.add(get_fault(step.fault).fault_class)
    assert apps >= APPS, f"no scenario for {sorted(APPS - apps)}"
    assert classes >= set(FaultClass), f"no scenario for {sorted(set(FaultClass) - classes)}"
