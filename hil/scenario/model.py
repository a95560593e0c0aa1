"""What a scenario file is: its schema, read from TOML into frozen records, shape-checked.

A scenario is a timeline a test engineer writes once and CI plays on every change::

    [scenario]
    name = "jobs survive a crash"
    overrides = ["time.speed=120"]

    [[step]]
    command = "jobs.submit"
    args = { kind = "matmul", params = { n = 256 } }
    save = "job"

    [[step]]
    inject = "crash"
    target = "jobs"

This module checks everything that can be checked from the file alone — TOML syntax, known
keys, one action per step, types and ranges of the harness's own fields, references between
steps — and names the file, the step and the field of the first thing wrong. What needs the
flight dictionary or the fault registry (command names, argument types, channels, events, fault
parameters) is checked by :mod:`hil.scenario.validate`. Nothing here starts a process.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from hil.faults.base import did_you_mean
from hil.scenario.template import references

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Jetson's Python 3.10
    import tomli as tomllib

#: Seconds a command or an await may take when the step does not say (``within_s``).
DEFAULT_WITHIN_S = 10.0
#: The whole scenario's cap when ``[scenario]`` does not say (``timeout_s``), in seconds.
DEFAULT_TIMEOUT_S = 120.0
#: Predicate operators of ``await_telemetry``.
OPS = ("==", "!=", "<", "<=", ">", ">=", "in", "changes")
#: Where an await listens: the ground station over the (possibly faulted) link, or the bus.
VIA = ("link", "bus")
#: From when an await looks: what the previous step matched (or began, if it was not an await),
#: the start of the last step that was not an await, this step's start, the first step's start.
SINCE = ("previous", "action", "step", "start")
#: How a command must end: ``completed``, ``failed``, ``failed:REASON``, or ``unanswered`` (no
#: verification report at all within the deadline: a frame the link or comms must drop).
EXPECT_RE = re.compile(r"^(completed|failed|unanswered)(?::([A-Z][A-Z0-9_]*))?$")
#: The largest tmpfs a scenario may put its run directory on (``disk_mb``): the fault injector
#: refuses to fill anything larger.
MAX_DISK_MB = 4096
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,47}$")
_DOTTED_RE = re.compile(r"^[a-z][a-z0-9_]*\.[A-Za-z0-9_.]+$")


class ScenarioError(ValueError):
    """A scenario file is wrong; the message names the file, the step and the field."""

    def __init__(self, file: str, message: str, *, step: int | None = None,
                 step_name: str | None = None, key: str | None = None) -> None:
        self.file = file
        self.step = step
        self.key = key
        self.problem = message
        where = file
        if step is not None:
            where += f": step {step}" + (f" ({step_name})" if step_name else "")
        if key is not None:
            where += f": {key}"
        super().__init__(f"{where}: {message}")


# ------------------------------------------------------------------------------ records


@dataclass(frozen=True)
class Step:
    """What every step has: its number (1-based, as people count) and its name."""

    #: The action key this step was written with (``command``, ``inject`` ...).
    action: ClassVar[str]

    index: int
    name: str


@dataclass(frozen=True)
class CommandStep(Step):
    """A telecommand through the space link (or the bus), verified to its final report."""

    action: ClassVar[str] = "command"

    app: str
    command: str
    args: dict[str, Any]
    expect: str  #: ``completed``, ``failed`` or ``unanswered``
    reason: str | None  #: with ``failed``: the reason name the failure must carry
    within_s: float
    via: str
    arm: bool | None  #: hazardous commands: True arms first, False sends unarmed on purpose
    save: str | None


@dataclass(frozen=True)
class InjectStep(Step):
    """A fault from the registry (:mod:`hil.faults`)."""

    action: ClassVar[str] = "inject"

    fault: str
    target: str | None  #: None: the fault picks one with the scenario's seeded generator
    params: dict[str, Any]
    id: str | None  #: what ``clear`` and ``${id.field}`` refer to


@dataclass(frozen=True)
class ClearStep(Step):
    """End a lasting fault injected by an earlier step."""

    action: ClassVar[str] = "clear"

    injection: str


@dataclass(frozen=True)
class AwaitEventStep(Step):
    """An event (``app.NAME``, arguments equal to ``where``) within a deadline."""

    action: ClassVar[str] = "await_event"

    app: str
    event: str
    where: dict[str, Any]
    within_s: float
    via: str
    since: str
    save: str | None


@dataclass(frozen=True)
class NoEventStep(Step):
    """An event that must not come: none received since ``since``, nor for ``for_s`` more."""

    action: ClassVar[str] = "no_event"

    app: str
    event: str
    where: dict[str, Any]
    for_s: float
    via: str
    since: str


@dataclass(frozen=True)
class AwaitTelemetryStep(Step):
    """A telemetry value (``app.channel``, map entries as ``app.channel.key``) satisfying
    ``op value`` within a deadline."""

    action: ClassVar[str] = "await_telemetry"

    app: str
    channel: str
    op: str
    value: Any
    within_s: float
    via: str
    since: str
    save: str | None


@dataclass(frozen=True)
class WaitStep(Step):
    """Wall-clock seconds: only for letting a lasting fault act."""

    action: ClassVar[str] = "wait_s"

    seconds: float


@dataclass(frozen=True)
class Scenario:
    """One scenario file, shape-checked (see :func:`load_scenario`)."""

    path: Path
    name: str
    description: str
    overrides: tuple[str, ...]
    config: Path | None  #: a flight configuration file instead of the built-in sim profile
    timeout_s: float
    seed: int
    disk_mb: int | None = None  #: run directory on a tmpfs of this size (root only)
    steps: tuple[Step, ...] = field(default=())

    @property
    def label(self) -> str:
        return str(self.path)


# ------------------------------------------------------------------------------ keys

_SCENARIO_KEYS = ("name", "description", "overrides", "config", "timeout_s", "seed", "disk_mb")
_COMMON_KEYS = ("name",)
#: action key -> the other keys a step with that action may have.
_ACTION_KEYS: dict[str, tuple[str, ...]] = {
    "command": ("args", "expect", "within_s", "via", "arm", "save"),
    "inject": ("target", "params", "id"),
    "clear": (),
    "await_event": ("where", "within_s", "via", "since", "save"),
    "await_telemetry": ("op", "value", "within_s", "via", "since", "save"),
    "no_event": ("where", "for_s", "via", "since"),
    "wait_s": (),
}


# ------------------------------------------------------------------------------ loading


def load_scenario(path: str | Path) -> Scenario:
    """Read and shape-check one scenario file; :class:`ScenarioError` on anything wrong."""
    path = Path(path)
    label = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ScenarioError(label, f"cannot read it: {reason}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(label, f"TOML syntax error: {exc}") from None
    return parse_scenario(raw, path)


def parse_scenario(raw: Mapping[str, Any], path: Path) -> Scenario:
    """Build a :class:`Scenario` from parsed TOML (``path`` names it in errors)."""
    label = str(path)
    for key in raw:
        if key not in ("scenario", "step"):
            raise ScenarioError(label, f"unknown table {key!r}{did_you_mean(key, _TOP)}; a "
                                "scenario has [scenario] and [[step]] tables")
    head = raw.get("scenario")
    if not isinstance(head, dict):
        raise ScenarioError(label, "no [scenario] table (name, description, overrides, ...)")
    _check_keys(label, head, _SCENARIO_KEYS, "scenario")
    steps_raw = raw.get("step")
    if not isinstance(steps_raw, list) or not steps_raw:
        raise ScenarioError(label, "no steps: add at least one [[step]] table")
    fields = _Fields(label, head, "scenario")
    config_text = fields.text("config", None)
    config = None
    if config_text is not None:
        config = Path(config_text)
        config = config if config.is_absolute() else path.parent / config
    steps = tuple(_parse_step(label, i, s) for i, s in enumerate(steps_raw, start=1))
    scenario = Scenario(
        path=path, name=fields.text("name", path.stem) or path.stem,
        description=fields.text("description", "") or "",
        overrides=tuple(fields.text_list("overrides")), config=config,
        timeout_s=fields.seconds("timeout_s", DEFAULT_TIMEOUT_S), seed=fields.integer("seed", 0),
        disk_mb=_disk_mb(fields), steps=steps)
    _check_references(scenario)
    return scenario


_TOP = ("scenario", "step")


def _disk_mb(fields: _Fields) -> int | None:
    if "disk_mb" not in fields.table:
        return None
    value = fields.integer("disk_mb", 0)
    if not 1 <= value <= MAX_DISK_MB:
        raise fields.error("disk_mb", f"expected 1..{MAX_DISK_MB} (MiB), got {value}")
    return value


def _check_keys(label: str, table: Mapping[str, Any], allowed: tuple[str, ...], where: str,
                *, step: int | None = None, step_name: str | None = None,
                action: str | None = None) -> None:
    for key in table:
        if key not in allowed:
            if action is not None and any(key in keys for keys in _ACTION_KEYS.values()):
                text = f"{key!r} does not apply to a {action} step; it takes {list(allowed)}"
            else:
                text = f"unknown key {key!r}{did_you_mean(key, allowed)}; known: {list(allowed)}"
            raise ScenarioError(label, text, step=step, step_name=step_name,
                                key=None if step is not None else where)


class _Fields:
    """Typed reads of one table's fields, each error naming the file, step and key."""

    def __init__(self, label: str, table: Mapping[str, Any], where: str,
                 step: int | None = None, step_name: str | None = None) -> None:
        self.label, self.table, self.where = label, table, where
        self.step, self.step_name = step, step_name

    def error(self, key: str, message: str) -> ScenarioError:
        full = key if self.step is not None else f"{self.where}.{key}"
        return ScenarioError(self.label, message, step=self.step, step_name=self.step_name,
                             key=full)

    def text(self, key: str, default: str | None) -> str | None:
        value = self.table.get(key, default)
        if value is not None and not isinstance(value, str):
            raise self.error(key, f"expected text, got {value!r}")
        return value

    def text_list(self, key: str) -> list[str]:
        value = self.table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(key, f"expected a list of texts, got {value!r}")
        return list(value)

    def integer(self, key: str, default: int) -> int:
        value = self.table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"expected an integer, got {value!r}")
        return value

    def seconds(self, key: str, default: float) -> float:
        value = self.table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value) or value <= 0:
            raise self.error(key, f"expected a number of seconds above 0, got {value!r}")
        if value > 86_400:
            raise self.error(key, f"at most 86400 s (one day), got {value!r}")
        return float(value)

    def table_of(self, key: str) -> dict[str, Any]:
        value = self.table.get(key, {})
        if not isinstance(value, dict):
            raise self.error(key, f"expected a table (e.g. {key} = {{ name = value }}), "
                             f"got {value!r}")
        return dict(value)

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self.table.get(key, default)
        if value not in choices:
            raise self.error(key, f"expected one of {list(choices)}, got {value!r}"
                             f"{did_you_mean(value, choices)}")
        return str(value)

    def name(self, key: str) -> str | None:
        value = self.text(key, None)
        if value is not None and not _NAME_RE.match(value):
            raise self.error(key, f"{value!r} is not a usable name: letters, digits, _ and -, "
                             "starting with a letter, at most 48 characters")
        return value

    def dotted(self, key: str, what: str) -> tuple[str, str]:
        value = self.text(key, None)
        if value is None or not _DOTTED_RE.match(value):
            raise self.error(key, f"expected {what}, got {value!r}")
        app, _, rest = value.partition(".")
        return app, rest


def _parse_step(label: str, index: int, raw: Any) -> Step:
    if not isinstance(raw, dict):
        raise ScenarioError(label, "a step must be a table", step=index)
    given = raw.get("name")
    name = given if isinstance(given, str) and given else None
    actions = [key for key in _ACTION_KEYS if key in raw]
    if not actions:
        raise ScenarioError(label, f"no action: a step needs exactly one of "
                            f"{list(_ACTION_KEYS)}", step=index, step_name=name)
    if len(actions) > 1:
        raise ScenarioError(label, f"two actions ({' and '.join(actions)}): a step does one "
                            "thing; split it into one step each", step=index, step_name=name)
    action = actions[0]
    _check_keys(label, raw, (action, *_COMMON_KEYS, *_ACTION_KEYS[action]), "step",
                step=index, step_name=name, action=action)
    f = _Fields(label, raw, "step", index, name)
    if given is not None and not isinstance(given, str):
        raise f.error("name", f"expected text, got {given!r}")
    return _BUILDERS[action](f, index, name)


def _command(f: _Fields, index: int, name: str | None) -> CommandStep:
    app, command = f.dotted("command", "app.command, e.g. \"jobs.submit\"")
    expect = f.text("expect", "completed") or "completed"
    match = EXPECT_RE.match(expect)
    if match is None or (match.group(2) and match.group(1) != "failed"):
        raise f.error("expect", f"expected \"completed\", \"failed\", \"failed:REASON\" or "
                      f"\"unanswered\", got {expect!r}")
    arm = f.table.get("arm")
    if arm is not None and not isinstance(arm, bool):
        raise f.error("arm", f"expected true or false, got {arm!r}")
    return CommandStep(index, name or f"command {app}.{command}", app, command,
                       f.table_of("args"), match.group(1), match.group(2),
                       f.seconds("within_s", DEFAULT_WITHIN_S), f.choice("via", VIA, "link"),
                       arm, f.name("save"))


def _inject(f: _Fields, index: int, name: str | None) -> InjectStep:
    fault = f.text("inject", None)
    if not fault:
        raise f.error("inject", f"expected a fault name, got {fault!r}")
    target = f.text("target", None)
    default = f"inject {fault}" + (f" into {target}" if target else "")
    return InjectStep(index, name or default, fault, target, f.table_of("params"), f.name("id"))


def _clear(f: _Fields, index: int, name: str | None) -> ClearStep:
    ref = f.name("clear")
    if ref is None:
        raise f.error("clear", "expected the id of an earlier inject step")
    return ClearStep(index, name or f"clear {ref}", ref)


def _await_event(f: _Fields, index: int, name: str | None) -> AwaitEventStep:
    app, event = f.dotted("await_event", "app.EVENT, e.g. \"executive.APP_RUNNING\"")
    where = f.table_of("where")
    text = f"await {app}.{event}" + (
        " with " + ", ".join(f"{k} = {v!r}" for k, v in where.items()) if where else "")
    return AwaitEventStep(index, name or text, app, event, where,
                          f.seconds("within_s", DEFAULT_WITHIN_S), f.choice("via", VIA, "link"),
                          f.choice("since", SINCE, "previous"), f.name("save"))


def _no_event(f: _Fields, index: int, name: str | None) -> NoEventStep:
    app, event = f.dotted("no_event", "app.EVENT, e.g. \"executive.APP_FLAPPING\"")
    where = f.table_of("where")
    for_s = f.seconds("for_s", 1.0) if "for_s" in f.table else 0.0
    text = f"no {app}.{event}" + (
        " with " + ", ".join(f"{k} = {v!r}" for k, v in where.items()) if where else "")
    return NoEventStep(index, name or text, app, event, where, for_s,
                       f.choice("via", VIA, "link"), f.choice("since", SINCE, "previous"))


def _await_telemetry(f: _Fields, index: int, name: str | None) -> AwaitTelemetryStep:
    app, channel = f.dotted("await_telemetry", "app.channel, e.g. \"jobs.done\"")
    has_value = "value" in f.table
    given = f.table.get("op")
    if isinstance(given, str) and given not in OPS and given[::-1] in OPS:
        raise f.error("op", f"expected one of {list(OPS)}, got {given!r} "
                      f"(did you mean {given[::-1]!r}?)")
    op = f.choice("op", OPS, "==" if has_value else "changes")
    if op == "changes" and has_value:
        raise f.error("value", "op \"changes\" compares with the value when the step began; "
                      "it takes no value")
    if op != "changes" and not has_value:
        raise f.error("value", f"op {op!r} needs a value to compare with")
    value = f.table.get("value")
    if op == "in" and not isinstance(value, list):
        raise f.error("value", f"op \"in\" needs a list of values, got {value!r}")
    if op in ("<", "<=", ">", ">=") and not _orderable(value):
        raise f.error("value", f"op {op!r} needs a number, got {value!r}")
    shown = "changes" if op == "changes" else f"{op} {value!r}"
    return AwaitTelemetryStep(index, name or f"await {app}.{channel} {shown}", app, channel, op,
                              value, f.seconds("within_s", DEFAULT_WITHIN_S),
                              f.choice("via", VIA, "link"), f.choice("since", SINCE, "previous"),
                              f.name("save"))


def _orderable(value: Any) -> bool:
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    return numeric or (isinstance(value, str) and bool(references(value)))


def _wait(f: _Fields, index: int, name: str | None) -> WaitStep:
    seconds = f.seconds("wait_s", 1.0)
    return WaitStep(index, name or f"wait {seconds:g} s", seconds)


_BUILDERS = {"command": _command, "inject": _inject, "clear": _clear,
             "await_event": _await_event, "await_telemetry": _await_telemetry,
             "no_event": _no_event, "wait_s": _wait}


# ------------------------------------------------------------------------------ references


def step_fields(step: Step) -> dict[str, Any]:
    """The values of ``step`` that may hold ``${name.field}`` references, by key."""
    if isinstance(step, CommandStep):
        return {"args": step.args}
    if isinstance(step, InjectStep):
        return {"target": step.target, "params": step.params}
    if isinstance(step, (AwaitEventStep, NoEventStep)):
        return {"where": step.where}
    if isinstance(step, AwaitTelemetryStep):
        return {"value": step.value}
    return {}


def saved_name(step: Step) -> str | None:
    """The name under which ``step`` keeps what it produced, if it keeps anything."""
    if isinstance(step, InjectStep):
        return step.id
    return getattr(step, "save", None)


def _check_references(scenario: Scenario) -> None:
    """Every ``${name}`` and ``clear`` refers to a name an earlier step saves; names unique."""
    label = scenario.label
    known: dict[str, Step] = {}
    for step in scenario.steps:
        for key, value in step_fields(step).items():
            for ref in references(value):
                if ref not in known:
                    raise ScenarioError(label, f"${{{ref}...}} refers to nothing an earlier "
                                        f"step saved{did_you_mean(ref, known)}; saved so far: "
                                        f"{sorted(known) or 'none'}", step=step.index,
                                        step_name=step.name, key=key)
        if isinstance(step, ClearStep):
            source = known.get(step.injection)
            if not isinstance(source, InjectStep):
                injects = sorted(n for n, s in known.items() if isinstance(s, InjectStep))
                raise ScenarioError(label, f"no earlier inject step has id {step.injection!r}"
                                    f"{did_you_mean(step.injection, injects)}; ids: "
                                    f"{injects or 'none'}", step=step.index,
                                    step_name=step.name, key="clear")
        name = saved_name(step)
        if name is not None:
            if name in known:
                raise ScenarioError(label, f"the name {name!r} is already used by step "
                                    f"{known[name].index}", step=step.index,
                                    step_name=step.name,
                                    key="id" if isinstance(step, InjectStep) else "save")
            known[name] = step
