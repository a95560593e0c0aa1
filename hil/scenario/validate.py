"""Checking a scenario against the flight dictionary of its configuration and the fault registry.

Run before anything starts, so a typo costs a second and a clear message instead of a testbed
brought up, a deadline waited out and a failure that says "timed out": every command, argument
(name and type), telemetry channel, event and ``where`` field is looked up in the dictionary
built from exactly the configuration the scenario will run (the testbed's defaults, the file's
``config`` and ``overrides``), and every fault name and parameter in the registry.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any

from flight.config.errors import ConfigError
from flight.link import FailureCode
from ground.station import Dictionary, ValidationError, check_value
from hil.faults import FaultError, get_fault
from hil.scenario.model import (
    AwaitEventStep,
    AwaitTelemetryStep,
    CommandStep,
    InjectStep,
    NoEventStep,
    Scenario,
    ScenarioError,
    Step,
    did_you_mean,
)
from hil.scenario.template import has_references


def scenario_config(scenario: Scenario) -> dict[str, Any]:
    """The resolved flight configuration the scenario's testbed will run with."""
    from flight.config.loader import load_config
    from hil.testbed import FLATSAT_OVERRIDES

    try:
        return load_config(scenario.config, [*FLATSAT_OVERRIDES, *scenario.overrides])
    except ConfigError as exc:
        key = "scenario.config" if exc.key == "<file>" else "scenario.overrides"
        raise ScenarioError(scenario.label, f"the flight configuration is wrong: {exc}",
                            key=key) from None


def validate_scenario(scenario: Scenario) -> Dictionary:
    """Check every step; return the dictionary it was checked against."""
    from flight.dictionary import build_dictionary

    config = scenario_config(scenario)
    dictionary = Dictionary(build_dictionary(config))
    disabled = {name for name, app in config.get("apps", {}).items()
                if isinstance(app, dict) and app.get("enabled") is False}
    # An app that is declared but not started cannot answer: drop it from what the checks see.
    visible = Dictionary({**dictionary.doc, "apps": {
        name: entry for name, entry in dictionary.apps.items() if name not in disabled}})
    for step in scenario.steps:
        try:
            _CHECKS.get(type(step), _nothing)(scenario, step, visible)
        except ScenarioError as exc:
            app = getattr(step, "app", None)
            if app in disabled:
                raise ScenarioError(scenario.label, f"app {app!r} is not started in this "
                                    f"scenario's configuration (apps.{app}.enabled = false)",
                                    step=step.index, step_name=step.name, key=exc.key) from None
            raise
    return dictionary


class _StepCheck:
    """Raising errors that name the scenario, the step and the key."""

    def __init__(self, scenario: Scenario, step: Step) -> None:
        self.scenario, self.step = scenario, step

    def error(self, key: str, message: str) -> ScenarioError:
        return ScenarioError(self.scenario.label, message, step=self.step.index,
                             step_name=self.step.name, key=key)

    def app(self, dictionary: Dictionary, key: str, app: str) -> dict[str, Any]:
        if app not in dictionary.apps:
            raise self.error(key, f"unknown app {app!r}{did_you_mean(app, dictionary.apps)}; "
                             f"apps: {sorted(dictionary.apps)}")
        return dictionary.apps[app]

    def entry(self, entries: list[dict[str, Any]], name: str, key: str,
              what: str) -> dict[str, Any]:
        for entry in entries:
            if entry["name"] == name:
                return entry
        names = [e["name"] for e in entries]
        raise self.error(key, f"unknown {what} {name!r}{did_you_mean(name, names)}; "
                         f"known: {', '.join(names) or 'none'}")


def _nothing(scenario: Scenario, step: Step, dictionary: Dictionary) -> None:
    del scenario, step, dictionary


def _check_command(scenario: Scenario, step: Step, dictionary: Dictionary) -> None:
    assert isinstance(step, CommandStep)
    c = _StepCheck(scenario, step)
    entry = c.app(dictionary, "command", step.app)
    spec = c.entry(entry["commands"], step.command, "command", f"{step.app} command")
    declared = {a["name"]: a for a in spec["args"]}
    for name, value in step.args.items():
        if name not in declared:
            raise c.error(f"args.{name}", f"{step.app}.{step.command} has no argument {name!r}"
                          f"{did_you_mean(name, declared)}; arguments: "
                          f"{list(declared) or 'none'}")
        if not has_references(value):
            try:
                check_value(declared[name], value, f"{step.app}.{step.command}")
            except ValidationError as exc:
                raise c.error(f"args.{name}", str(exc)) from None
    missing = [n for n, a in declared.items() if "default" not in a and n not in step.args]
    if missing:
        raise c.error("args", f"{step.app}.{step.command} needs argument(s) {missing}")
    hazardous = bool(spec.get("hazardous"))
    if hazardous and step.arm is None:
        raise c.error("arm", f"{step.app}.{step.command} is hazardous: say arm = true (arm it, "
                      "then send it) or arm = false (send it unarmed, to see it refused)")
    if not hazardous and step.arm is not None:
        raise c.error("arm", f"{step.app}.{step.command} is not hazardous: drop arm")
    if step.reason is not None:
        reasons = [*dictionary.doc.get("reasons", {}), *(code.name for code in FailureCode)]
        if step.reason not in reasons:
            raise c.error("expect", f"unknown failure reason {step.reason!r}"
                          f"{did_you_mean(step.reason, reasons)}; reasons: {reasons}")


def _check_inject(scenario: Scenario, step: Step, dictionary: Dictionary) -> None:
    assert isinstance(step, InjectStep)
    del dictionary
    c = _StepCheck(scenario, step)
    try:
        fault = get_fault(step.fault)
    except FaultError as exc:
        raise c.error("inject", str(exc)) from None
    plain = {k: v for k, v in step.params.items() if not has_references(v)}
    try:
        fault.check_params(plain)
        known = {p.name for p in fault.params}
        for name in step.params:
            if name not in known:  # a referenced value under an unknown name
                fault.check_params({name: None})
    except FaultError as exc:
        raise c.error("params", str(exc)) from None


def _check_event(scenario: Scenario, step: Step, dictionary: Dictionary) -> None:
    assert isinstance(step, (AwaitEventStep, NoEventStep))
    c = _StepCheck(scenario, step)
    entry = c.app(dictionary, step.action, step.app)
    spec = c.entry(entry["events"], step.event, step.action, f"{step.app} event")
    fields = event_fields(spec)
    for name in step.where:
        if name not in fields:
            raise c.error(f"where.{name}", f"{step.app}.{step.event} carries no field {name!r}"
                          f"{did_you_mean(name, fields)}; its fields: {fields or 'none'}")


def event_fields(spec: Mapping[str, Any]) -> list[str]:
    """The argument names an event carries: the fields of its declared text."""
    names = [f for _, f, _, _ in string.Formatter().parse(str(spec.get("text", ""))) if f]
    return sorted({n.split(".")[0].split("[")[0] for n in names})


def _check_telemetry(scenario: Scenario, step: Step, dictionary: Dictionary) -> None:
    assert isinstance(step, AwaitTelemetryStep)
    c = _StepCheck(scenario, step)
    entry = c.app(dictionary, "await_telemetry", step.app)
    head, _, rest = step.channel.partition(".")
    spec = c.entry(entry["telemetry"], head, "await_telemetry", f"{step.app} channel")
    kind = str(spec["type"])
    if rest and kind != "map":
        raise c.error("await_telemetry", f"{step.app}.{head} is a {kind}, not a map: it has no "
                      f"entry {rest!r}")
    if step.op == "changes" or has_references(step.value):
        return
    values = step.value if step.op == "in" else [step.value]
    for value in values:
        problem = _type_problem(kind if not rest else "entry", step.op, value)
        if problem:
            raise c.error("value", f"{step.app}.{step.channel} is {_A[kind]}{problem}")


_A = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "text",
      "map": "a table", "enum": "text", "any": "a value", "entry": "a map entry"}


def _type_problem(kind: str, op: str, value: Any) -> str:
    """Why ``value`` cannot be compared with ``op`` to a channel of ``kind`` ("" if it can)."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if op in ("<", "<=", ">", ">=") and kind not in ("int", "float", "entry", "any"):
        return f": op {op!r} does not apply"
    if kind in ("int", "float") and not number:
        return f": compare it with a number, not {value!r}"
    if kind == "bool" and not isinstance(value, bool):
        return f": compare it with true or false, not {value!r}"
    if kind in ("str", "enum") and not isinstance(value, str):
        return f": compare it with text, not {value!r}"
    if kind == "map" and not isinstance(value, dict):
        return f": compare it with a table, or await one entry (app.channel.key), not {value!r}"
    return ""


_CHECKS = {CommandStep: _check_command, InjectStep: _check_inject,
           AwaitEventStep: _check_event, NoEventStep: _check_event,
           AwaitTelemetryStep: _check_telemetry}


def load(path: Any) -> tuple[Scenario, Dictionary]:
    """Read, shape-check and validate one scenario file: everything short of running it."""
    from hil.scenario.model import load_scenario

    scenario = load_scenario(path)
    return scenario, validate_scenario(scenario)
