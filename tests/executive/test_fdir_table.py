"""Tests of the FDIR rule table: config validation, persistence, re-arming, enable/disable."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flight.config.errors import ConfigError
from flight.executive.fdir import (
    UNKNOWN,
    Action,
    ActionKind,
    FdirTable,
    Firing,
    Rule,
    parse,
    parse_rules,
    resolve_path,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def raw_rule(**overrides: Any) -> dict[str, Any]:
    """A minimal valid rule table with ``overrides`` applied (None removes a key)."""
    rule: dict[str, Any] = {"name": "r", "monitor": "t.v == 1", "action": "event"}
    for key, value in overrides.items():
        if value is None:
            rule.pop(key, None)
        else:
            rule[key] = value
    return rule


def one_rule(**overrides: Any) -> Rule:
    (rule,) = parse_rules([raw_rule(**overrides)])
    return rule


def feed(value: object) -> Callable[[str], object]:
    """Lookup for the monitor ``t.v == 1``: True -> 1, False -> 0, UNKNOWN -> missing."""

    def lookup(name: str) -> object:
        if value is UNKNOWN:
            raise KeyError(name)
        return 1 if value is True else 0

    return lookup


def run(table: FdirTable, steps: Sequence[tuple[float, object]]) -> list[float]:
    """Evaluate at each (time, truth) step and return the times at which anything fired."""
    fired: list[float] = []
    for now, value in steps:
        if table.evaluate(now, feed(value)):
            fired.append(now)
    return fired


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------

_TOML = """
[[fdir.rules]]
name = "health-cpu-hot"
monitor = "health.cpu_percent > 95"
samples = 5
action = "event"
severity = "WARNING"
message = "CPU above 95 % for 5 samples"

[[fdir.rules]]
name = "jobs-runaway"
monitor = "health.process_cpu_percent.jobs > 90 and executive.mode != 'SAFE'"
seconds = 10.0
action = "command"
command = "health.reset_counters"
args = { scope = "all", level = 2 }
rearm = "always"

[[fdir.rules]]
name = "battery_low"
monitor = "power.soc < 0.2 or power.bus_voltage < 26.5"
seconds = 30
action = "mode"
mode = "SAFE"
severity = "CRITICAL"

[[fdir.rules]]
name = "health-restarts"
monitor = "executive.restarts.health >= 3"
action = "restart"
app = "health"
enabled = false
"""

_KNOWN = {
    "health": ["cpu_percent", "process_cpu_percent", "reset_counters"],
    "executive": ["mode", "restarts"],
    "power": ["soc", "bus_voltage"],
}


def test_parse_full_toml_document() -> None:
    document = tomllib.loads(_TOML)
    rules = parse_rules(document["fdir"]["rules"], known=_KNOWN)
    assert [rule.name for rule in rules] == [
        "health-cpu-hot",
        "jobs-runaway",
        "battery_low",
        "health-restarts",
    ]
    cpu, jobs, battery, restarts = rules

    assert cpu.samples == 5 and cpu.seconds is None
    assert cpu.action == Action(ActionKind.EVENT, "WARNING", "CPU above 95 % for 5 samples")
    assert cpu.enabled is True and cpu.rearm == "clear"
    assert cpu.monitor.names == frozenset({"health.cpu_percent"})

    assert jobs.samples is None and jobs.seconds == 10.0
    assert jobs.action.kind is ActionKind.COMMAND
    assert jobs.action.command == "health.reset_counters"
    assert jobs.action.args == {"scope": "all", "level": 2}
    assert jobs.action.severity == "WARNING"
    assert jobs.action.message == (
        "FDIR jobs-runaway: health.process_cpu_percent.jobs > 90 and executive.mode != 'SAFE'"
    )
    assert jobs.rearm == "always"

    assert battery.seconds == 30.0 and isinstance(battery.seconds, float)
    assert battery.action.kind is ActionKind.MODE and battery.action.mode == "SAFE"
    assert battery.action.severity == "CRITICAL"
    assert battery.action.command is None and battery.action.app is None

    assert restarts.samples == 1
    assert restarts.action.kind is ActionKind.RESTART and restarts.action.app == "health"
    assert restarts.enabled is False

    # Frozen and hashable, even with the args dict.
    assert len({hash(rule) for rule in rules}) == 4


def test_empty_rule_list_is_valid() -> None:
    assert parse_rules([]) == []
    assert FdirTable([]).evaluate(0.0, feed(True)) == []


def test_args_are_copied() -> None:
    raw = raw_rule(action="command", command="health.reset", args={"deep": {"x": 1}})
    (rule,) = parse_rules([raw])
    raw["args"]["deep"]["x"] = 2
    assert rule.action.args == {"deep": {"x": 1}}


def _error(raw: object, **kwargs: Any) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_rules(raw, **kwargs)
    return info.value


@pytest.mark.parametrize(
    ("overrides", "key", "fragment"),
    [
        ({"sample": 5}, "fdir.rules[0].sample", "did you mean 'samples'"),
        ({"severty": "INFO"}, "fdir.rules[0].severty", "known rule key"),
        ({"name": None}, "fdir.rules[0].name", "required"),
        ({"name": 3}, "fdir.rules[0].name", "rule name"),
        ({"name": "CPU hot"}, "fdir.rules[0].name", "[a-z0-9_-]"),
        ({"name": ""}, "fdir.rules[0].name", "rule name"),
        ({"name": "x" * 65}, "fdir.rules[0].name", "1-64"),
        ({"monitor": None}, "fdir.rules[0].monitor", "required"),
        ({"monitor": 95}, "fdir.rules[0].monitor", "expression"),
        ({"monitor": "t.v >"}, "fdir.rules[0].monitor", "at column 6"),
        ({"monitor": "cpu > 95"}, "fdir.rules[0].monitor", "at column 1"),
        ({"monitor": "t.v < 1 < 2"}, "fdir.rules[0].monitor", "chained"),
        ({"monitor": "t.v - 95"}, "fdir.rules[0].monitor", "can never be true"),
        ({"monitor": "'SAFE'"}, "fdir.rules[0].monitor", "string expression"),
        ({"samples": 0}, "fdir.rules[0].samples", ">= 1"),
        ({"samples": -3}, "fdir.rules[0].samples", ">= 1"),
        ({"samples": 1.5}, "fdir.rules[0].samples", "integer"),
        ({"samples": True}, "fdir.rules[0].samples", "integer"),
        ({"samples": "5"}, "fdir.rules[0].samples", "integer"),
        ({"seconds": 0}, "fdir.rules[0].seconds", "> 0"),
        ({"seconds": -1.0}, "fdir.rules[0].seconds", "> 0"),
        ({"seconds": math.nan}, "fdir.rules[0].seconds", "finite"),
        ({"seconds": math.inf}, "fdir.rules[0].seconds", "finite"),
        ({"seconds": 10**400}, "fdir.rules[0].seconds", "finite"),
        ({"seconds": "10"}, "fdir.rules[0].seconds", "seconds"),
        ({"seconds": True}, "fdir.rules[0].seconds", "seconds"),
        ({"samples": 2, "seconds": 1.0}, "fdir.rules[0].seconds", "not both"),
        ({"action": None}, "fdir.rules[0].action", "required"),
        ({"action": "explode"}, "fdir.rules[0].action", "'event'"),
        ({"action": "evnt"}, "fdir.rules[0].action", "did you mean 'event'"),
        ({"action": 1}, "fdir.rules[0].action", "one of"),
        ({"severity": "warning"}, "fdir.rules[0].severity", "'WARNING'"),
        ({"severity": 3}, "fdir.rules[0].severity", "one of"),
        ({"message": 5}, "fdir.rules[0].message", "message"),
        ({"enabled": "yes"}, "fdir.rules[0].enabled", "true or false"),
        ({"enabled": 1}, "fdir.rules[0].enabled", "true or false"),
        ({"rearm": "never"}, "fdir.rules[0].rearm", "'clear'"),
        ({"action": "command"}, "fdir.rules[0].command", "required"),
        ({"action": "command", "command": "reset"}, "fdir.rules[0].command", "app.command"),
        ({"action": "command", "command": "a.b.c"}, "fdir.rules[0].command", "app.command"),
        ({"action": "command", "command": 7}, "fdir.rules[0].command", "app.command"),
        (
            {"action": "command", "command": "health.reset", "args": [1]},
            "fdir.rules[0].args",
            "table",
        ),
        ({"action": "mode"}, "fdir.rules[0].mode", "required"),
        ({"action": "mode", "mode": "safe"}, "fdir.rules[0].mode", "did you mean 'SAFE'"),
        ({"action": "mode", "mode": "SLEEP"}, "fdir.rules[0].mode", "'POWER_SAVE'"),
        ({"action": "restart"}, "fdir.rules[0].app", "required"),
        ({"action": "restart", "app": "bad app"}, "fdir.rules[0].app", "app name"),
        ({"action": "restart", "app": 1}, "fdir.rules[0].app", "app name"),
        # Keys of another action kind are mistakes, not silently ignored.
        ({"mode": "SAFE"}, "fdir.rules[0].mode", "unless action = 'mode'"),
        ({"args": {}}, "fdir.rules[0].args", "unless action = 'command'"),
        ({"action": "mode", "mode": "SAFE", "app": "x"}, "fdir.rules[0].app", "'restart'"),
        (
            {"action": "restart", "app": "x", "command": "x.y"},
            "fdir.rules[0].command",
            "'command'",
        ),
    ],
)
def test_rule_errors_name_the_key(overrides: dict[str, Any], key: str, fragment: str) -> None:
    error = _error([raw_rule(**overrides)])
    assert error.key == key, str(error)
    assert fragment in error.expected, str(error)
    assert str(error).startswith(f"{key}: expected ")


def test_parse_error_reports_message_and_column() -> None:
    error = _error([raw_rule(monitor="t.v = 1")])
    assert error.expected == "a valid expression (unexpected '='; use '==' to compare at column 5)"
    assert error.got == "t.v = 1"


def test_error_keys_carry_the_index_and_prefix() -> None:
    rules = [raw_rule(name="a"), raw_rule(name="b", samples=0)]
    assert _error(rules).key == "fdir.rules[1].samples"
    assert _error(rules, key="cfg.fdir").key == "cfg.fdir[1].samples"


def test_duplicate_names() -> None:
    error = _error([raw_rule(name="a"), raw_rule(name="b"), raw_rule(name="a")])
    assert error.key == "fdir.rules[2].name"
    assert "fdir.rules[0]" in error.expected
    assert error.got == "a"


@pytest.mark.parametrize("raw", [None, {"name": "x"}, "rules", 3])
def test_rules_must_be_an_array(raw: object) -> None:
    assert _error(raw).key == "fdir.rules"


@pytest.mark.parametrize("item", [1, "rule", ["name", "x"], None])
def test_each_rule_must_be_a_table(item: object) -> None:
    assert _error([raw_rule(), item]).key == "fdir.rules[1]"


@pytest.mark.parametrize(
    ("overrides", "key", "fragment"),
    [
        ({"monitor": "helth.cpu_percent > 1"}, "fdir.rules[0].monitor", "did you mean 'health'"),
        ({"monitor": "health.cpu > 1"}, "fdir.rules[0].monitor", "no channel 'cpu'"),
        (
            {"monitor": "health.cpu_percent > 1 and power.soc < 0.1"},
            "fdir.rules[0].monitor",
            "app 'power'",
        ),
        (
            {"action": "command", "command": "power.reset"},
            "fdir.rules[0].command",
            "known app",
        ),
        ({"action": "restart", "app": "jobs"}, "fdir.rules[0].app", "known app"),
    ],
)
def test_known_names_catch_typos(overrides: dict[str, Any], key: str, fragment: str) -> None:
    known = {"health": ["cpu_percent", "process_cpu_percent"], "executive": ["mode"]}
    overrides.setdefault("monitor", "health.cpu_percent > 1")
    error = _error([raw_rule(**overrides)], known=known)
    assert error.key == key, str(error)
    assert fragment in error.expected, str(error)


def test_known_does_not_check_map_keys() -> None:
    known = {"health": ["process_cpu_percent"], "executive": ["restarts"]}
    rules = parse_rules(
        [
            raw_rule(monitor="health.process_cpu_percent.anything > 1"),
            raw_rule(name="b", monitor="executive.restarts.whatever > 1"),
        ],
        known=known,
    )
    assert len(rules) == 2


def test_rules_built_in_code_are_checked() -> None:
    action = Action(ActionKind.EVENT, "INFO", "m")
    with pytest.raises(ValueError, match="exactly one"):
        Rule("x", parse("t.v == 1"), None, None, action)
    with pytest.raises(ValueError, match="exactly one"):
        Rule("x", parse("t.v == 1"), 1, 1.0, action)
    with pytest.raises(ValueError, match="rearm"):
        Rule("x", parse("t.v == 1"), 1, None, action, rearm="sometimes")
    rule = Rule("x", parse("t.v == 1"), 1, None, action)
    with pytest.raises(ValueError, match="duplicate"):
        FdirTable([rule, rule])


# --------------------------------------------------------------------------------------------
# Persistence
# --------------------------------------------------------------------------------------------

T, F, U = True, False, UNKNOWN


def test_samples_default_to_one() -> None:
    table = FdirTable([one_rule()])
    assert run(table, [(0, F), (1, T), (2, T), (3, F), (4, T)]) == [1, 4]


def test_samples_need_consecutive_true() -> None:
    table = FdirTable([one_rule(samples=3)])
    steps = [(0, T), (1, T), (2, F), (3, T), (4, T), (5, T), (6, T)]
    assert run(table, steps) == [5]


def test_unknown_resets_persistence() -> None:
    table = FdirTable([one_rule(samples=3)])
    steps = [(0, T), (1, T), (2, U), (3, T), (4, T), (5, T)]
    assert run(table, steps) == [5]


def test_seconds_persistence() -> None:
    table = FdirTable([one_rule(seconds=10)])
    steps = [(100.0, T), (105.0, T), (109.9, T), (110.0, T), (111.0, T)]
    assert run(table, steps) == [110.0]


def test_seconds_restart_after_false_or_unknown() -> None:
    table = FdirTable([one_rule(seconds=10)])
    steps = [(0, T), (5, F), (6, T), (12, T), (15, U), (16, T), (25, T), (26, T)]
    assert run(table, steps) == [16 + 10]


def test_seconds_with_sparse_evaluations_fires_on_the_first_late_enough_sample() -> None:
    table = FdirTable([one_rule(seconds=10)])
    assert run(table, [(0, T), (30, T)]) == [30]
    # A single true sample never satisfies a time persistence, however long ago the last was.
    table = FdirTable([one_rule(seconds=10)])
    assert run(table, [(0, F), (30, T), (31, F)]) == []


# --------------------------------------------------------------------------------------------
# Re-arming
# --------------------------------------------------------------------------------------------


def test_rearm_clear_fires_once_per_episode() -> None:
    table = FdirTable([one_rule(samples=2)])
    steps = [(t, T) for t in range(6)] + [(6, F)] + [(t, T) for t in range(7, 10)]
    assert run(table, steps) == [1, 8]


def test_rearm_clear_needs_a_not_true_evaluation_unknown_counts() -> None:
    table = FdirTable([one_rule()])
    assert run(table, [(0, T), (1, T), (2, U), (3, T)]) == [0, 3]


def test_rearm_always_samples() -> None:
    table = FdirTable([one_rule(samples=2, rearm="always")])
    assert run(table, [(t, T) for t in range(7)]) == [1, 3, 5]


def test_rearm_always_samples_one_fires_every_cycle() -> None:
    table = FdirTable([one_rule(rearm="always")])
    assert run(table, [(0, T), (1, T), (2, F), (3, T)]) == [0, 1, 3]


def test_rearm_always_seconds() -> None:
    table = FdirTable([one_rule(seconds=10, rearm="always")])
    assert run(table, [(float(t), T) for t in range(0, 35)]) == [10.0, 20.0, 30.0]


# --------------------------------------------------------------------------------------------
# Enable / disable / reset / status
# --------------------------------------------------------------------------------------------


def test_disabled_in_config_is_never_evaluated() -> None:
    calls: list[str] = []

    def lookup(name: str) -> object:
        calls.append(name)
        return 1

    table = FdirTable([one_rule(enabled=False)])
    assert table.evaluate(0.0, lookup) == []
    assert calls == []
    assert table.status()[0]["enabled"] is False
    table.set_enabled("r", True)
    assert [f.rule.name for f in table.evaluate(1.0, lookup)] == ["r"]


def test_disabling_resets_persistence() -> None:
    table = FdirTable([one_rule(samples=3)])
    assert run(table, [(0, T), (1, T)]) == []
    table.set_enabled("r", False)
    assert table.status()[0]["state"] == "idle"
    assert table.status()[0]["consecutive"] == 0
    assert run(table, [(2, T), (3, T), (4, T)]) == []  # not evaluated while disabled
    table.set_enabled("r", True)
    assert run(table, [(5, T), (6, T), (7, T)]) == [7]


def test_disabling_a_tripped_rule_rearms_it() -> None:
    table = FdirTable([one_rule()])
    assert run(table, [(0, T), (1, T)]) == [0]
    table.set_enabled("r", False)
    table.set_enabled("r", True)
    assert run(table, [(2, T)]) == [2]


def test_enabling_an_enabled_rule_keeps_its_state() -> None:
    table = FdirTable([one_rule(samples=2)])
    run(table, [(0, T)])
    table.set_enabled("r", True)
    assert run(table, [(1, T)]) == [1]


def test_unknown_rule_names_raise_key_error() -> None:
    table = FdirTable([one_rule()])
    with pytest.raises(KeyError):
        table.set_enabled("nope", False)
    with pytest.raises(KeyError):
        table.reset("nope")


def test_reset_rearms_and_keeps_history() -> None:
    table = FdirTable([one_rule(name="a", samples=2), one_rule(name="b")])
    for now in range(3):
        table.evaluate(float(now), feed(True))
    table.reset("a")
    status = {s["name"]: s for s in table.status()}
    assert status["a"]["state"] == "idle" and status["a"]["trip_count"] == 1
    assert status["a"]["last_fired"] == 1.0
    assert status["b"]["state"] == "tripped"
    assert [f.rule.name for f in table.evaluate(3.0, feed(True))] == []
    assert [f.rule.name for f in table.evaluate(4.0, feed(True))] == ["a"]
    table.reset()
    assert {s["state"] for s in table.status()} == {"idle"}
    assert [f.rule.name for f in table.evaluate(5.0, feed(True))] == ["b"]


def test_status_tracks_states() -> None:
    table = FdirTable([one_rule(samples=2)])
    (status,) = table.status()
    assert status == {
        "name": "r",
        "enabled": True,
        "state": "idle",
        "consecutive": 0,
        "trip_count": 0,
        "last_fired": None,
        "last_result": None,
    }
    table.evaluate(0.0, feed(True))
    assert table.status()[0]["state"] == "pending"
    assert table.status()[0]["consecutive"] == 1
    table.evaluate(1.0, feed(True))
    table.evaluate(2.0, feed(True))
    (status,) = table.status()
    assert (status["state"], status["consecutive"], status["trip_count"]) == ("tripped", 3, 1)
    assert status["last_fired"] == 1.0 and status["last_result"] == "true"
    table.evaluate(3.0, feed(UNKNOWN))
    (status,) = table.status()
    assert (status["state"], status["consecutive"], status["last_result"]) == ("idle", 0, "unknown")
    assert status["trip_count"] == 1
    table.evaluate(4.0, feed(False))
    assert table.status()[0]["last_result"] == "false"


# --------------------------------------------------------------------------------------------
# Firings
# --------------------------------------------------------------------------------------------


def test_firing_carries_rule_time_and_values() -> None:
    (rule,) = parse_rules(
        [
            raw_rule(
                monitor="health.cpu_percent > 95 or power.soc < 0.1",
                action="mode",
                mode="SAFE",
                severity="ERROR",
            )
        ]
    )
    telemetry = {"health": {"cpu_percent": 99.5}}
    firings = FdirTable([rule]).evaluate(7.5, lambda name: resolve_path(telemetry, name))
    assert firings == [
        Firing(rule, 7.5, {"health.cpu_percent": 99.5, "power.soc": None}),
    ]
    assert firings[0].rule.action.mode == "SAFE"
    assert hash(firings[0]) == hash(Firing(rule, 7.5, {}))


def test_firings_in_table_order_and_lookups_shared_per_cycle() -> None:
    calls: list[str] = []
    telemetry = {"health": {"cpu_percent": 99.0, "process_cpu_percent": {"jobs": 80.0}}}

    def lookup(name: str) -> object:
        calls.append(name)
        return resolve_path(telemetry, name)

    rules = parse_rules(
        [
            raw_rule(name="z-last", monitor="health.cpu_percent > 90"),
            raw_rule(name="a-first", monitor="health.cpu_percent > 95 and x.y != 1"),
            raw_rule(name="jobs", monitor="health.process_cpu_percent.jobs >= 80"),
            raw_rule(name="quiet", monitor="health.cpu_percent < 10"),
        ]
    )
    firings = FdirTable(rules).evaluate(0.0, lookup)
    assert [f.rule.name for f in firings] == ["z-last", "jobs"]
    assert sorted(calls) == sorted(set(calls))  # every name read at most once per cycle


def test_broken_lookup_never_breaks_the_cycle() -> None:
    def lookup(name: str) -> object:
        raise RuntimeError("cache corrupted")

    table = FdirTable([one_rule(), one_rule(name="n", monitor="not (t.v == 1) or true")])
    firings = table.evaluate(0.0, lookup)
    assert [f.rule.name for f in firings] == ["n"]
    assert firings[0].value_names == {"t.v": None}


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------

_truths = st.lists(st.sampled_from([T, F, U]), max_size=60)


@settings(max_examples=150)
@given(samples=st.integers(1, 6), truths=_truths, rearm=st.sampled_from(["clear", "always"]))
def test_samples_fire_exactly_on_n_consecutive_trues(
    samples: int, truths: list[object], rearm: str
) -> None:
    table = FdirTable([one_rule(samples=samples, rearm=rearm)])
    run_length = 0
    for index, truth in enumerate(truths):
        run_length = run_length + 1 if truth is True else 0
        fired = bool(table.evaluate(float(index), feed(truth)))
        if rearm == "clear":
            expected = run_length == samples
        else:
            expected = run_length > 0 and run_length % samples == 0
        assert fired == expected, (index, run_length)
        (status,) = table.status()
        assert status["consecutive"] == run_length
        assert status["state"] == (
            "idle" if run_length == 0 else "tripped" if run_length >= samples else "pending"
        )


@settings(max_examples=150)
@given(
    seconds=st.integers(1, 20).map(float),
    steps=st.lists(st.tuples(st.integers(0, 8), st.sampled_from([T, F, U])), max_size=40),
)
def test_seconds_fire_once_when_true_long_enough(
    seconds: float, steps: list[tuple[int, object]]
) -> None:
    table = FdirTable([one_rule(seconds=seconds)])
    now = 0.0
    start: float | None = None
    fired_in_episode = False
    for delta, truth in steps:
        now += delta
        if truth is True:
            if start is None:
                start = now
            expected = not fired_in_episode and now - start >= seconds
            fired_in_episode = fired_in_episode or expected
        else:
            start, fired_in_episode, expected = None, False, False
        assert bool(table.evaluate(now, feed(truth))) == expected
