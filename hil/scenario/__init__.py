"""Scenarios: timelines of telecommands, fault injections and expectations, played against a
fresh testbed (``sunlit-hil scenario``; the file format is in docs/scenarios.md).

* :mod:`hil.scenario.model` — the file format, read and shape-checked;
* :mod:`hil.scenario.validate` — checked against the flight dictionary and the fault registry;
* :mod:`hil.scenario.runner` — played, step by step, with a live log;
* :mod:`hil.scenario.junit` — reported as JUnit XML for CI.
"""

from hil.scenario.model import Scenario, ScenarioError, load_scenario
from hil.scenario.runner import ScenarioResult, StepResult, run_scenario
from hil.scenario.validate import load, validate_scenario

__all__ = ["Scenario", "ScenarioError", "ScenarioResult", "StepResult", "load",
           "load_scenario", "run_scenario", "validate_scenario"]
