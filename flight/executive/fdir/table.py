"""The data-driven FDIR table: monitor -> persistence -> action.

Fault detection, isolation and recovery on a satellite has to be changed by operators without new
flight code (in the style of the cFS Limit Checker and Health & Safety apps), so rules live in the
configuration: a monitor expression over telemetry, how long it must persist before anyone reacts
(so a single noisy sample does not put the spacecraft in SAFE mode), and what to do about it.

This module only *decides*: :meth:`FdirTable.evaluate` returns the rules that fired, and the
executive carries out their actions (raise the event, send the command, change mode, restart the
app). Keeping the table free of side effects makes it trivially testable with explicit times.

Everything about a rule is validated when the configuration is loaded, and every mistake raises
:class:`~flight.config.errors.ConfigError` naming the dotted key, so a typo is found on the
flatsat rather than on orbit when the fault finally happens. See ``docs/fdir.md``.
"""

from __future__ import annotations

import copy
import difflib
import enum
import math
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Final

from flight.config.errors import ConfigError
from flight.executive.fdir.expr import ExprError, Expression, parse

__all__ = [
    "MODES",
    "REARM_POLICIES",
    "SEVERITIES",
    "Action",
    "ActionKind",
    "FdirTable",
    "Firing",
    "Rule",
    "parse_rules",
]

#: Event severities, lowest first.
SEVERITIES: Final = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
#: Modes a ``mode`` action may command.
MODES: Final = ("NOMINAL", "POWER_SAVE", "SAFE")
#: ``clear``: fire once per episode; ``always``: fire every time persistence is met again.
REARM_POLICIES: Final = ("clear", "always")

_MAX_NAME_LENGTH: Final = 64
_RULE_NAME: Final = re.compile(r"[a-z0-9_-]+")
_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_COMMAND: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*")


class ActionKind(enum.Enum):
    """What the executive does when a rule fires (an event is raised for every kind)."""

    EVENT = "event"
    COMMAND = "command"
    MODE = "mode"
    RESTART = "restart"


#: Keys every rule may have, and the extra keys each action kind allows. A key of another action
#: (``mode = "SAFE"`` on an ``event`` rule) is almost certainly a mistake, so it is rejected.
_COMMON_KEYS: Final = frozenset(
    {"name", "monitor", "samples", "seconds", "action", "severity", "message", "enabled", "rearm"}
)
_ACTION_KEYS: Final[dict[ActionKind, frozenset[str]]] = {
    ActionKind.EVENT: frozenset(),
    ActionKind.COMMAND: frozenset({"command", "args"}),
    ActionKind.MODE: frozenset({"mode"}),
    ActionKind.RESTART: frozenset({"app"}),
}
_ALL_KEYS: Final = _COMMON_KEYS.union(*_ACTION_KEYS.values())


@dataclass(frozen=True)
class Action:
    """What to do when a rule fires; fields that do not belong to ``kind`` are None."""

    kind: ActionKind
    severity: str
    message: str
    command: str | None = None
    # Excluded from the hash so Action (and Rule) stay hashable; never mutate it.
    args: dict[str, object] = field(default_factory=dict, hash=False)
    mode: str | None = None
    app: str | None = None


@dataclass(frozen=True)
class Rule:
    """One row of the table. Exactly one of ``samples`` and ``seconds`` is set."""

    name: str
    monitor: Expression
    samples: int | None
    seconds: float | None
    action: Action
    enabled: bool = True
    rearm: str = "clear"

    def __post_init__(self) -> None:
        # Rules built in code (tests, defaults) get the same guarantees as parsed ones.
        if (self.samples is None) == (self.seconds is None):
            raise ValueError(f"rule {self.name!r}: exactly one of samples and seconds must be set")
        if self.rearm not in REARM_POLICIES:
            raise ValueError(f"rule {self.name!r}: rearm must be one of {REARM_POLICIES}")


@dataclass(frozen=True)
class Firing:
    """A rule whose persistence was met: the executive performs ``rule.action``.

    ``value_names`` maps each name of the monitor to the value it had in this cycle (None when it
    was unavailable), so the event can say *why* the rule fired.
    """

    rule: Rule
    at: float
    value_names: dict[str, object] = field(default_factory=dict, hash=False)


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


def _type_name(value: object) -> str:
    return type(value).__name__


def _suggest(word: str, choices: Collection[str]) -> str:
    """A "did you mean" hint; case is ignored so 'safe' suggests 'SAFE'."""
    by_lower = {choice.lower(): choice for choice in sorted(choices)}
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=1)
    return f"; did you mean {by_lower[close[0]]!r}?" if close else ""


def _listing(choices: Collection[str]) -> str:
    return ", ".join(sorted(choices)) or "none"


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _string(raw: Mapping[str, object], key: str, where: str, expected: str) -> str:
    if key not in raw:
        raise ConfigError(f"{where}.{key}", f"{expected} (required)")
    value = raw[key]
    if not isinstance(value, str):
        raise ConfigError(f"{where}.{key}", expected, value)
    return value


def _choice(
    raw: Mapping[str, object], key: str, where: str, choices: tuple[str, ...], default: str | None
) -> str:
    expected = "one of " + ", ".join(repr(choice) for choice in choices)
    if key not in raw and default is not None:
        return default
    value = _string(raw, key, where, expected)
    if value not in choices:
        raise ConfigError(f"{where}.{key}", expected + _suggest(value, choices), value)
    return value


def _check_names(
    monitor: Expression, where: str, known: Mapping[str, Collection[str]] | None
) -> None:
    if known is None:
        return
    for name in sorted(monitor.names):
        app, channel = name.split(".")[:2]
        if app not in known:
            raise ConfigError(
                where,
                f"names of known apps: app {app!r} in {name!r} is not one of "
                f"{_listing(known)}{_suggest(app, known)}",
                monitor.text,
            )
        channels = known[app]
        if channel not in channels:
            raise ConfigError(
                where,
                f"names of known channels: app {app!r} has no channel {channel!r} "
                f"(channels: {_listing(channels)}){_suggest(channel, channels)}",
                monitor.text,
            )


def _monitor(
    raw: Mapping[str, object], where: str, known: Mapping[str, Collection[str]] | None
) -> Expression:
    text = _string(raw, "monitor", where, "an expression string")
    key = f"{where}.monitor"
    try:
        monitor = parse(text)
    except ExprError as exc:
        raise ConfigError(
            key, f"a valid expression ({exc.message} at column {exc.column})", text
        ) from exc
    if monitor.kind not in ("bool", "any"):
        raise ConfigError(
            key,
            f"a condition (comparison, and/or/not or a boolean name), not a {monitor.kind} "
            "expression that can never be true",
            text,
        )
    _check_names(monitor, key, known)
    return monitor


def _persistence(raw: Mapping[str, object], where: str) -> tuple[int | None, float | None]:
    if "samples" in raw and "seconds" in raw:
        raise ConfigError(f"{where}.seconds", "either samples or seconds, not both", raw["seconds"])
    if "seconds" in raw:
        seconds = raw["seconds"]
        expected = "a finite number of seconds > 0"
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
            raise ConfigError(f"{where}.seconds", expected, seconds)
        try:
            value = float(seconds)
        except OverflowError:
            value = math.inf
        if not math.isfinite(value) or value <= 0:
            raise ConfigError(f"{where}.seconds", expected, seconds)
        return None, value
    samples = raw.get("samples", 1)
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ConfigError(f"{where}.samples", "an integer number of samples >= 1", samples)
    return samples, None


def _action(
    raw: Mapping[str, object],
    where: str,
    rule_name: str,
    monitor: Expression,
    known: Mapping[str, Collection[str]] | None,
) -> Action:
    kinds = tuple(kind.value for kind in ActionKind)
    kind = ActionKind(_choice(raw, "action", where, kinds, None))
    allowed = _ACTION_KEYS[kind]
    foreign = _ALL_KEYS - _COMMON_KEYS - allowed
    for other in sorted(key for key in raw if key in foreign):
        owner = next(k.value for k, keys in _ACTION_KEYS.items() if other in keys)
        raise ConfigError(
            f"{where}.{other}", f"no {other!r} key unless action = {owner!r}", raw[other]
        )
    severity = _choice(raw, "severity", where, SEVERITIES, "WARNING")
    message = f"FDIR {rule_name}: {monitor.text}"
    if "message" in raw:
        message = _string(raw, "message", where, "a message string")
    command: str | None = None
    args: dict[str, object] = {}
    mode: str | None = None
    app: str | None = None
    if kind is ActionKind.COMMAND:
        command = _string(raw, "command", where, "a command name 'app.command'")
        if not _COMMAND.fullmatch(command):
            raise ConfigError(f"{where}.command", "a command name 'app.command'", command)
        target = command.split(".")[0]
        if known is not None and target not in known:
            raise ConfigError(
                f"{where}.command",
                f"a command of a known app ({_listing(known)}){_suggest(target, known)}",
                command,
            )
        raw_args = raw.get("args", {})
        if not isinstance(raw_args, Mapping) or not all(isinstance(k, str) for k in raw_args):
            raise ConfigError(f"{where}.args", "a table of command arguments", raw_args)
        # A private deep copy: the rule must not change if the caller edits its config dict.
        args = copy.deepcopy(dict(raw_args))
    elif kind is ActionKind.MODE:
        mode = _choice(raw, "mode", where, MODES, None)
    elif kind is ActionKind.RESTART:
        app = _string(raw, "app", where, "an app name")
        if not _IDENTIFIER.fullmatch(app):
            raise ConfigError(f"{where}.app", "an app name", app)
        if known is not None and app not in known:
            raise ConfigError(
                f"{where}.app", f"a known app ({_listing(known)}){_suggest(app, known)}", app
            )
    return Action(kind, severity, message, command, args, mode, app)


def _rule(
    raw: object,
    where: str,
    known: Mapping[str, Collection[str]] | None,
    seen: dict[str, str],
) -> Rule:
    if not isinstance(raw, Mapping):
        raise ConfigError(where, "a rule table", raw)
    for key in raw:
        if key not in _ALL_KEYS:
            name = key if isinstance(key, str) else repr(key)
            raise ConfigError(
                f"{where}.{name}",
                f"a known rule key ({_listing(_ALL_KEYS)}){_suggest(str(key), _ALL_KEYS)}",
            )
    name_expected = f"a rule name of 1-{_MAX_NAME_LENGTH} characters from [a-z0-9_-]"
    name = _string(raw, "name", where, name_expected)
    if len(name) > _MAX_NAME_LENGTH or not _RULE_NAME.fullmatch(name):
        raise ConfigError(f"{where}.name", name_expected, name)
    if name in seen:
        raise ConfigError(f"{where}.name", f"a unique rule name (also used by {seen[name]})", name)
    seen[name] = where
    monitor = _monitor(raw, where, known)
    samples, seconds = _persistence(raw, where)
    action = _action(raw, where, name, monitor, known)
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError(f"{where}.enabled", "true or false", enabled)
    rearm = _choice(raw, "rearm", where, REARM_POLICIES, "clear")
    return Rule(name, monitor, samples, seconds, action, enabled, rearm)


def parse_rules(
    raw: object,
    *,
    key: str = "fdir.rules",
    known: Mapping[str, Collection[str]] | None = None,
) -> list[Rule]:
    """Validate the ``fdir.rules`` array of tables and build the rules, in order.

    ``known`` maps each app to its channel names. When given, every monitor name must start with
    a known app and one of its channels (deeper parts are map keys and are not checked), and
    command and restart actions must target known apps: this catches typos at load time that
    would otherwise leave a monitor silently UNKNOWN forever.
    """
    if not isinstance(raw, (list, tuple)):
        raise ConfigError(key, "an array of rule tables", raw)
    seen: dict[str, str] = {}
    return [_rule(item, f"{key}[{index}]", known, seen) for index, item in enumerate(raw)]


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------


@dataclass
class _State:
    """Mutable per-rule state; the rules themselves stay frozen."""

    enabled: bool
    consecutive: int = 0  # consecutive true evaluations in the current episode
    window_count: int = 0  # true evaluations counted towards the next firing
    window_start: float | None = None  # when the window towards the next firing began
    tripped: bool = False  # fired during the current episode
    trip_count: int = 0
    last_fired: float | None = None
    last_result: str | None = None  # "true", "false", "unknown" or None (not evaluated)

    def clear(self) -> None:
        self.consecutive = 0
        self.window_count = 0
        self.window_start = None
        self.tripped = False
        self.last_result = None


_MISSING: Final = object()


class _CycleLookup:
    """Reads each name once per cycle so all rules see the same snapshot of telemetry."""

    def __init__(self, lookup: Callable[[str], object]) -> None:
        self._lookup = lookup
        self._cache: dict[str, object] = {}

    def __call__(self, name: str) -> object:
        try:
            value = self._cache[name]
        except KeyError:
            try:
                value = self._lookup(name)
            except Exception:
                value = _MISSING
            self._cache[name] = value
        if value is _MISSING:
            raise KeyError(name)
        return value

    def snapshot(self, names: Collection[str]) -> dict[str, object]:
        values: dict[str, object] = {}
        for name in sorted(names):
            try:
                values[name] = self(name)
            except KeyError:
                values[name] = None
        return values


class FdirTable:
    """Evaluates the rules once per cycle and reports which fired.

    Persistence: a rule with ``samples = N`` fires when its monitor was exactly True in N
    consecutive evaluations; with ``seconds = S`` when it was True at every evaluation since one
    at least S seconds ago. A False or UNKNOWN evaluation ends the episode: persistence restarts
    and the rule re-arms. With ``rearm = "clear"`` a rule fires once per episode; with
    ``"always"`` it fires again each time persistence is met anew within the episode.
    """

    def __init__(self, rules: list[Rule]) -> None:
        self._rules = tuple(rules)
        self._states: dict[str, _State] = {}
        for rule in self._rules:
            if rule.name in self._states:
                raise ValueError(f"duplicate FDIR rule name {rule.name!r}")
            self._states[rule.name] = _State(enabled=rule.enabled)

    @property
    def rules(self) -> tuple[Rule, ...]:
        return self._rules

    def evaluate(self, now: float, lookup: Callable[[str], object]) -> list[Firing]:
        """Run one evaluation cycle at monotonic time ``now``; never raises for bad telemetry."""
        cycle = _CycleLookup(lookup)
        firings: list[Firing] = []
        for rule in self._rules:
            state = self._states[rule.name]
            if not state.enabled:
                continue
            result = rule.monitor.evaluate(cycle)
            if result is not True:
                state.clear()
                state.last_result = "false" if result is False else "unknown"
                continue
            state.last_result = "true"
            state.consecutive += 1
            if state.window_start is None:
                state.window_start = now
                state.window_count = 0
            state.window_count += 1
            if state.tripped and rule.rearm == "clear":
                continue
            if rule.samples is not None:
                persisted = state.window_count >= rule.samples
            else:
                assert rule.seconds is not None
                persisted = now - state.window_start >= rule.seconds
            if not persisted:
                continue
            state.tripped = True
            state.trip_count += 1
            state.last_fired = now
            # For "always" the next window starts here: N more samples, or S more seconds.
            state.window_start = now
            state.window_count = 0
            firings.append(Firing(rule, now, cycle.snapshot(rule.monitor.names)))
        return firings

    def _state(self, name: str) -> _State:
        try:
            return self._states[name]
        except KeyError:
            raise KeyError(f"no FDIR rule named {name!r}") from None

    def set_enabled(self, name: str, enabled: bool) -> None:
        """Enable or disable a rule (KeyError if unknown); disabling forgets its persistence."""
        state = self._state(name)
        if state.enabled and not enabled:
            state.clear()
        state.enabled = enabled

    def reset(self, name: str | None = None) -> None:
        """Forget persistence and re-arm one rule or all; trip_count and last_fired are kept.

        The counters are history for the ground; a reset is what an operator sends after handling
        an anomaly so the rule can trip again without waiting for the monitor to clear.
        """
        states = self._states.values() if name is None else [self._state(name)]
        for state in states:
            state.clear()

    def status(self) -> list[dict[str, object]]:
        """One dict per rule, in table order, for housekeeping telemetry."""
        result: list[dict[str, object]] = []
        for rule in self._rules:
            state = self._states[rule.name]
            if state.tripped:
                phase = "tripped"
            elif state.consecutive > 0:
                phase = "pending"
            else:
                phase = "idle"
            result.append(
                {
                    "name": rule.name,
                    "enabled": state.enabled,
                    "state": phase,
                    "consecutive": state.consecutive,
                    "trip_count": state.trip_count,
                    "last_fired": state.last_fired,
                    "last_result": state.last_result,
                }
            )
        return result
