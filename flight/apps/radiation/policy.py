"""The radiation response policy: which evidence of an upset leads to which response.

How hard to react to an upset is a mission decision that changes as the team learns the board
(a first ABFT hit is corrected in place; the fifth rollback in ten minutes says the jobs app's
memory is unhealthy and it is restarted; a third crash in an hour sends the spacecraft to SAFE),
so it lives in the configuration as an array of tables under ``apps.radiation.policy``::

    [[apps.radiation.policy]]
    evidence = "rollback"
    action = "restart_jobs"
    count = 5          # fire on the 5th occurrence ...
    window_s = 600     # ... within 600 mission seconds (0: ever)
    note = "repeated rollbacks: restart the jobs app"

Like the executive's FDIR table this module only *decides*: :meth:`Policy.decide` returns the
rules that fired and the radiation app carries them out. Every rule is validated at load time
and a mistake raises :class:`~flight.config.errors.ConfigError` naming ``policy[i].field``.

Counting: each rule keeps the mission times of the occurrences towards its next firing. A rule
with ``count = N`` fires on the occurrence that makes N of them within ``window_s`` (inclusive:
the first and the Nth may be exactly ``window_s`` apart) and then starts afresh, so it fires
once per N occurrences, never on every occurrence after the Nth. Only the last N - 1 times are
kept, which bounds memory and the size of the checkpointed state.
"""

from __future__ import annotations

import difflib
import math
from collections import deque
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from flight.config.errors import ConfigError

__all__ = [
    "ACTIONS",
    "DEFAULT_POLICY",
    "EVIDENCE",
    "MAX_COUNT",
    "SEVERITY",
    "Decision",
    "Policy",
    "Rule",
    "parse_policy",
]

#: What an upset can be seen as. ``rollback`` is a rollback the app performed, fed back as
#: evidence so repeated rollbacks can escalate.
EVIDENCE: Final = (
    "abft_single",
    "abft_multiple",
    "digest_mismatch",
    "checkpoint_corrupt",
    "table_mismatch",
    "edac_ce",
    "edac_ue",
    "jobs_crash",
    "rollback",
)
#: Responses, mildest first (the order :meth:`Policy.first_response` ranks them by).
ACTIONS: Final = ("log", "correct", "repair", "rollback", "restart_jobs", "safe")
SEVERITY: Final = {action: rank for rank, action in enumerate(ACTIONS)}
#: Actions that make sense for one kind of evidence only: ``correct`` recomputes the single
#: element ABFT located, ``repair`` rewrites a protected table from its golden copy.
_ONLY_FOR: Final = {"correct": ("abft_single",), "repair": ("table_mismatch",)}
#: Upper bound on ``count``: the rule keeps count - 1 times, and they are checkpointed.
MAX_COUNT: Final = 10_000
_KEYS: Final = ("evidence", "action", "count", "window_s", "note")
_MAX_NOTE: Final = 200
_STATE_VERSION: Final = 1

#: The policy flown unless the configuration says otherwise (raw tables, as in TOML).
DEFAULT_POLICY: list[dict[str, Any]] = [
    {"evidence": "abft_single", "action": "correct",
     "note": "one wrong element located by the residuals: recompute it"},
    {"evidence": "abft_multiple", "action": "rollback",
     "note": "several wrong elements: roll the job back to its last checkpoint"},
    {"evidence": "digest_mismatch", "action": "rollback",
     "note": "weights or inputs changed in memory: roll the job back"},
    {"evidence": "checkpoint_corrupt", "action": "log",
     "note": "the store fell back to an older generation"},
    {"evidence": "table_mismatch", "action": "repair",
     "note": "protected table differs from its digest: rewrite it from the golden copy"},
    {"evidence": "edac_ce", "action": "log", "note": "corrected by the memory controller"},
    {"evidence": "edac_ue", "action": "safe", "note": "uncorrectable memory error"},
    {"evidence": "jobs_crash", "action": "log", "note": "the executive restarts the jobs app"},
    {"evidence": "rollback", "action": "restart_jobs", "count": 5, "window_s": 600.0,
     "note": "repeated rollbacks: restart the jobs app with fresh memory"},
    {"evidence": "jobs_crash", "action": "safe", "count": 3, "window_s": 3600.0,
     "note": "the jobs app keeps crashing"},
]


@dataclass(frozen=True)
class Rule:
    """One row of the policy: ``count`` occurrences of ``evidence`` within ``window_s``."""

    evidence: str
    action: str
    count: int = 1
    window_s: float = 0.0
    note: str = ""

    def __post_init__(self) -> None:
        # Rules built in code (tests, defaults) get the same guarantees as parsed ones.
        if self.evidence not in EVIDENCE:
            raise ValueError(f"unknown evidence {self.evidence!r}")
        if self.action not in ACTIONS:
            raise ValueError(f"unknown action {self.action!r}")
        if isinstance(self.count, bool) or not isinstance(self.count, int) \
                or not 1 <= self.count <= MAX_COUNT:
            raise ValueError(f"count must be in 1..{MAX_COUNT}, got {self.count!r}")
        if isinstance(self.window_s, bool) or not isinstance(self.window_s, (int, float)) \
                or not (math.isfinite(self.window_s) and self.window_s >= 0):
            raise ValueError(f"window_s must be a finite number >= 0, got {self.window_s!r}")

    @property
    def signature(self) -> tuple[str, str, int, float]:
        """What identifies the rule's counting, so state is only restored into the same rule."""
        return (self.evidence, self.action, self.count, self.window_s)


@dataclass(frozen=True)
class Decision:
    """A rule that fired: the app performs ``action`` (and raises an event saying why)."""

    index: int
    evidence: str
    action: str
    count: int
    window_s: float
    note: str
    t: float

    def as_dict(self) -> dict[str, Any]:
        """Event payload: plain values only."""
        return {"rule": self.index, "evidence": self.evidence, "action": self.action,
                "count": self.count, "window_s": self.window_s, "note": self.note, "t": self.t}


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


def _suggest(word: str, choices: Collection[str]) -> str:
    close = difflib.get_close_matches(word.lower(), sorted(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _name(raw: Mapping[str, object], key: str, where: str, choices: tuple[str, ...]) -> str:
    expected = "one of " + ", ".join(repr(choice) for choice in choices)
    if key not in raw:
        raise ConfigError(f"{where}.{key}", f"{expected} (required)")
    value = raw[key]
    if not isinstance(value, str):
        raise ConfigError(f"{where}.{key}", expected, value)
    if value not in choices:
        raise ConfigError(f"{where}.{key}", expected + _suggest(value, choices), value)
    return value


def _rule(raw: object, where: str) -> Rule:
    if not isinstance(raw, Mapping):
        raise ConfigError(where, "a policy rule table", raw)
    for key in raw:
        if key not in _KEYS:
            name = key if isinstance(key, str) else repr(key)
            raise ConfigError(f"{where}.{name}", f"a known rule key ({', '.join(_KEYS)})"
                              + _suggest(str(key), _KEYS))
    evidence = _name(raw, "evidence", where, EVIDENCE)
    action = _name(raw, "action", where, ACTIONS)
    if action in _ONLY_FOR and evidence not in _ONLY_FOR[action]:
        raise ConfigError(f"{where}.action", f"an action that applies to {evidence!r} "
                          f"({action!r} is only for {', '.join(_ONLY_FOR[action])})", action)
    if evidence == "rollback" and action == "rollback":
        raise ConfigError(f"{where}.action", "an escalation of rollbacks, not another rollback "
                          "(each would count as evidence for the next)", action)
    count = raw.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_COUNT:
        raise ConfigError(f"{where}.count", f"an integer from 1 to {MAX_COUNT}", count)
    window = raw.get("window_s", 0.0)
    expected = "a finite number of mission seconds >= 0 (0: no window)"
    if isinstance(window, bool) or not isinstance(window, (int, float)):
        raise ConfigError(f"{where}.window_s", expected, window)
    try:
        window_s = float(window)
    except OverflowError:
        window_s = math.inf
    if not (math.isfinite(window_s) and window_s >= 0):
        raise ConfigError(f"{where}.window_s", expected, window)
    note = raw.get("note", "")
    if not isinstance(note, str) or len(note) > _MAX_NOTE:
        raise ConfigError(f"{where}.note", f"a string of at most {_MAX_NOTE} characters", note)
    return Rule(evidence, action, count, window_s, note)


def parse_policy(raw: object, *, key: str = "apps.radiation.policy") -> list[Rule]:
    """Validate the policy's array of rule tables and build the rules, in order.

    Two rules with the same evidence, count and window would fire together and mean the same
    thing; that is almost certainly a copy-paste slip and is rejected.
    """
    if not isinstance(raw, (list, tuple)):
        raise ConfigError(key, "an array of policy rule tables", raw)
    rules: list[Rule] = []
    seen: dict[tuple[str, int, float], int] = {}
    for index, item in enumerate(raw):
        where = f"{key}[{index}]"
        rule = _rule(item, where)
        trigger = (rule.evidence, rule.count, rule.window_s)
        if trigger in seen:
            raise ConfigError(where, f"a rule that differs from {key}[{seen[trigger]}] in "
                              "evidence, count or window_s", dict(item))
        seen[trigger] = index
        rules.append(rule)
    return rules


# --------------------------------------------------------------------------------------------
# Deciding
# --------------------------------------------------------------------------------------------


@dataclass
class _Window:
    """Mutable per-rule counting state; the rules themselves stay frozen."""

    times: deque[float]
    seen: int = 0
    fired: int = 0
    last_fired: float | None = None


class Policy:
    """Counts evidence per rule and says which rules fire.

    Times are mission seconds. A time earlier than a kept occurrence (a clock reset, or state
    restored into another run) drops those occurrences: they belong to another time line.
    """

    def __init__(self, rules: Iterable[Rule]) -> None:
        self._rules = tuple(rules)
        self._windows = [_Window(deque(maxlen=max(1, rule.count - 1))) for rule in self._rules]
        self._by_evidence: dict[str, list[int]] = {evidence: [] for evidence in EVIDENCE}
        for index, rule in enumerate(self._rules):
            self._by_evidence[rule.evidence].append(index)

    @classmethod
    def from_config(cls, raw: object | None = None, *,
                    key: str = "apps.radiation.policy") -> Policy:
        """The policy from a raw config array; ``None`` gives :data:`DEFAULT_POLICY`."""
        return cls(parse_policy(DEFAULT_POLICY if raw is None else raw, key=key))

    @property
    def rules(self) -> tuple[Rule, ...]:
        return self._rules

    def decide(self, evidence: str, t: float) -> list[Decision]:
        """Count one occurrence of ``evidence`` at mission time ``t``; the rules that fire.

        Raises ValueError for an unknown evidence name or a time that is not finite.
        """
        if evidence not in self._by_evidence:
            raise ValueError(f"unknown evidence {evidence!r}{_suggest(str(evidence), EVIDENCE)}")
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t):
            raise ValueError(f"time must be a finite number, got {t!r}")
        t = float(t)
        decisions: list[Decision] = []
        for index in self._by_evidence[evidence]:
            rule, window = self._rules[index], self._windows[index]
            window.seen += 1
            times = window.times
            while times and times[-1] > t:  # from another time line
                times.pop()
            if rule.window_s > 0:
                while times and t - times[0] > rule.window_s:  # span, as validated
                    times.popleft()
            if len(times) + 1 >= rule.count:
                times.clear()
                window.fired += 1
                window.last_fired = t
                decisions.append(Decision(index, rule.evidence, rule.action, rule.count,
                                          rule.window_s, rule.note, t))
            else:
                times.append(t)
        return decisions

    def first_response(self, evidence: str) -> str:
        """The action a single occurrence of ``evidence`` gets: the most severe count-1 rule.

        "log" when no count-1 rule covers it. The jobs app asks this to know whether a single
        wrong element is corrected in place or the job rolled back.
        """
        if evidence not in self._by_evidence:
            raise ValueError(f"unknown evidence {evidence!r}{_suggest(str(evidence), EVIDENCE)}")
        actions = [self._rules[i].action for i in self._by_evidence[evidence]
                   if self._rules[i].count == 1]
        return max(actions, key=SEVERITY.__getitem__, default="log")

    def pending(self, index: int) -> int:
        """Occurrences counted towards rule ``index``'s next firing."""
        return len(self._windows[index].times)

    def reset(self) -> None:
        """Forget every occurrence counted towards a firing (an operator's re-arm)."""
        for window in self._windows:
            window.times.clear()

    def status(self) -> list[dict[str, Any]]:
        """One dict per rule, in table order, for housekeeping telemetry."""
        pairs = enumerate(zip(self._rules, self._windows, strict=True))
        return [{"rule": index, "evidence": rule.evidence, "action": rule.action,
                 "count": rule.count, "window_s": rule.window_s,
                 "pending": len(window.times), "seen": window.seen, "fired": window.fired,
                 "last_fired": window.last_fired}
                for index, (rule, window) in pairs]

    # ------------------------------------------------------------------ checkpointing

    def to_state(self) -> dict[str, Any]:
        """The counting state of every rule, as plain msgpack-able values."""
        return {"version": _STATE_VERSION,
                "rules": [{"evidence": rule.evidence, "action": rule.action,
                           "count": rule.count, "window_s": rule.window_s,
                           "times": list(window.times), "seen": window.seen,
                           "fired": window.fired, "last_fired": window.last_fired}
                          for rule, window in zip(self._rules, self._windows, strict=True)]}

    def load_state(self, state: object) -> int:
        """Restore counting state saved by :meth:`to_state`; returns the rules restored.

        The whole state is validated first (ValueError, nothing changed, if any part is
        malformed). Each saved entry goes to the first not yet restored rule with the same
        evidence, action, count and window, so a configuration change keeps the counting of
        the rules it did not touch and starts the changed ones afresh.
        """
        entries = _entries(state)
        free = list(range(len(self._rules)))
        restored = 0
        for signature, window in entries:
            match = next((i for i in free if self._rules[i].signature == signature), None)
            if match is None:
                continue
            free.remove(match)
            window.times = deque(window.times, maxlen=max(1, signature[2] - 1))
            self._windows[match] = window
            restored += 1
        return restored


def _entries(state: object) -> list[tuple[tuple[str, str, int, float], _Window]]:
    """Validate a saved policy state; the signature and counting state of each entry."""
    if not isinstance(state, dict):
        raise ValueError("policy state: not a map")
    if type(state.get("version")) is not int or state["version"] != _STATE_VERSION:
        raise ValueError(f"policy state: version {state.get('version')!r} is not "
                         f"{_STATE_VERSION}")
    rules = state.get("rules")
    if not isinstance(rules, list):
        raise ValueError("policy state: rules is not a list")
    out = []
    for index, entry in enumerate(rules):
        where = f"policy state: rules[{index}]"
        if not isinstance(entry, dict):
            raise ValueError(f"{where} is not a map")
        evidence, action = entry.get("evidence"), entry.get("action")
        if not isinstance(evidence, str) or not isinstance(action, str):
            raise ValueError(f"{where}: evidence and action are not strings")
        try:
            rule = Rule(evidence, action,
                        _int(entry.get("count"), where, "count"),
                        _number(entry.get("window_s"), where, "window_s"))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: {exc}") from exc
        times = entry.get("times")
        if not isinstance(times, list) or len(times) > rule.count - 1:
            raise ValueError(f"{where}.times is not a list of at most count - 1 times")
        values = [_number(value, where, "times") for value in times]
        if values != sorted(values):
            raise ValueError(f"{where}.times is not in order")
        if values and rule.window_s > 0 and values[-1] - values[0] > rule.window_s:
            raise ValueError(f"{where}.times span more than window_s")
        last = entry.get("last_fired")
        window = _Window(deque(values), _int(entry.get("seen"), where, "seen"),
                         _int(entry.get("fired"), where, "fired"),
                         None if last is None else _number(last, where, "last_fired"))
        out.append((rule.signature, window))
    return out


def _int(value: object, where: str, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{where}.{key} is not an int >= 0")
    return value


def _number(value: object, where: str, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value):
        raise ValueError(f"{where}.{key} is not a finite number")
    return float(value)

