"""The radiation response policy: validation names the rule and field, windows count right."""

from __future__ import annotations

import copy

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flight.apps.radiation.policy import (
    ACTIONS,
    DEFAULT_POLICY,
    EVIDENCE,
    Policy,
    Rule,
    parse_policy,
)
from flight.config.errors import ConfigError

KEY = "apps.radiation.policy"


# ------------------------------------------------------------------------------ validation


def test_default_policy_parses_and_answers_the_first_responses() -> None:
    policy = Policy.from_config()
    assert len(policy.rules) == len(DEFAULT_POLICY)
    assert policy.first_response("abft_single") == "correct"
    assert policy.first_response("abft_multiple") == "rollback"
    assert policy.first_response("digest_mismatch") == "rollback"
    assert policy.first_response("table_mismatch") == "repair"
    assert policy.first_response("edac_ue") == "safe"
    assert policy.first_response("jobs_crash") == "log"
    assert policy.first_response("rollback") == "log"  # no count-1 rule: nothing at once


def test_first_response_takes_the_most_severe_single_occurrence_rule() -> None:
    policy = Policy.from_config([
        {"evidence": "abft_single", "action": "correct"},
        {"evidence": "abft_single", "action": "rollback", "window_s": 10},
        {"evidence": "abft_single", "action": "safe", "count": 2},
    ])
    assert policy.first_response("abft_single") == "rollback"
    with pytest.raises(ValueError, match="unknown evidence"):
        policy.first_response("abft")


def test_a_parsed_policy_does_not_share_the_callers_tables() -> None:
    raw = copy.deepcopy(DEFAULT_POLICY)
    policy = Policy.from_config(raw)
    raw[0]["action"] = "safe"
    assert policy.first_response("abft_single") == "correct"


@pytest.mark.parametrize(("rules", "key", "words"), [
    ({"evidence": "abft_single"}, "[0]", "not a list"),
    ([["abft_single", "correct"]], "[0]", "a policy rule table"),
    ([{"action": "log"}], "[0].evidence", "(required)"),
    ([{"evidence": "abft_singel", "action": "correct"}], "[0].evidence", "'abft_single'?"),
    ([{"evidence": 3, "action": "log"}], "[0].evidence", "one of"),
    ([{"evidence": "edac_ce"}], "[0].action", "(required)"),
    ([{"evidence": "edac_ce", "action": "SAFE"}], "[0].action", "'safe'?"),
    ([{"evidence": "edac_ce", "action": "reboot"}], "[0].action", "one of"),
    ([{"evidence": "edac_ce", "action": "correct"}], "[0].action", "only for abft_single"),
    ([{"evidence": "edac_ue", "action": "repair"}], "[0].action", "only for table_mismatch"),
    ([{"evidence": "rollback", "action": "rollback", "count": 3}], "[0].action", "escalation"),
    ([{"evidence": "edac_ce", "action": "log"}, {"evidence": "edac_ce", "action": "log",
                                                 "count": 0}], "[1].count", "from 1 to"),
    ([{"evidence": "edac_ce", "action": "log", "count": True}], "[0].count", "integer"),
    ([{"evidence": "edac_ce", "action": "log", "count": 2.0}], "[0].count", "integer"),
    ([{"evidence": "edac_ce", "action": "log", "count": 10**6}], "[0].count", "from 1 to"),
    ([{"evidence": "edac_ce", "action": "log", "window_s": -1}], "[0].window_s", ">= 0"),
    ([{"evidence": "edac_ce", "action": "log", "window_s": float("inf")}], "[0].window_s",
     "finite"),
    ([{"evidence": "edac_ce", "action": "log", "window_s": float("nan")}], "[0].window_s",
     "finite"),
    ([{"evidence": "edac_ce", "action": "log", "window_s": 10**400}], "[0].window_s", "finite"),
    ([{"evidence": "edac_ce", "action": "log", "window_s": "60"}], "[0].window_s", "finite"),
    ([{"evidence": "edac_ce", "action": "log", "note": 5}], "[0].note", "string"),
    ([{"evidence": "edac_ce", "action": "log", "windw_s": 5}], "[0].windw_s", "'window_s'?"),
    ([{"evidence": "edac_ce", "action": "log"}, {"evidence": "edac_ce", "action": "safe"}],
     "[1]", "differs from apps.radiation.policy[0]"),
])
def test_mistakes_name_the_rule_and_field(rules: object, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_policy(rules)
    error = info.value
    if words == "not a list":
        assert error.key == KEY
        assert "array of policy rule tables" in str(error)
        return
    assert error.key == KEY + key
    assert words in str(error)


def test_rules_built_in_code_are_checked_too() -> None:
    with pytest.raises(ValueError):
        Rule("abft", "log")
    with pytest.raises(ValueError):
        Rule("edac_ce", "panic")
    with pytest.raises(ValueError):
        Rule("edac_ce", "log", count=0)
    with pytest.raises(ValueError):
        Rule("edac_ce", "log", window_s=-0.5)


def test_unknown_evidence_or_bad_time_is_refused_by_decide() -> None:
    policy = Policy.from_config()
    with pytest.raises(ValueError, match="did you mean 'edac_ue'"):
        policy.decide("edac_u", 0.0)
    for t in (float("nan"), float("inf"), True, "1"):
        with pytest.raises(ValueError):
            policy.decide("edac_ue", t)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ deciding


def test_default_policy_escalates_rollbacks_and_crashes() -> None:
    policy = Policy.from_config()
    for i in range(4):
        assert policy.decide("rollback", 100.0 * i) == []
    [restart] = policy.decide("rollback", 400.0)
    assert (restart.action, restart.count, restart.window_s) == ("restart_jobs", 5, 600.0)
    assert restart.as_dict()["rule"] == 8
    assert policy.decide("rollback", 401.0) == []  # the window started afresh

    actions = [[d.action for d in policy.decide("jobs_crash", t)] for t in (0, 1000, 3000)]
    assert actions == [["log"], ["log"], ["log", "safe"]]


def test_window_is_sliding_and_inclusive() -> None:
    policy = Policy([Rule("edac_ce", "safe", count=3, window_s=10.0)])
    assert policy.decide("edac_ce", 0.0) == []
    assert policy.decide("edac_ce", 5.0) == []
    assert policy.decide("edac_ce", 10.5) == []  # 0.0 slid out: 5.0 and 10.5 remain
    assert policy.pending(0) == 2
    assert [d.t for d in policy.decide("edac_ce", 15.0)] == [15.0]  # 5.0 .. 15.0: inclusive


def test_times_from_another_time_line_are_dropped() -> None:
    policy = Policy([Rule("edac_ce", "safe", count=3, window_s=100.0)])
    policy.decide("edac_ce", 5000.0)
    policy.decide("edac_ce", 5001.0)
    assert policy.decide("edac_ce", 10.0) == []  # clock reset: the 5000s do not count
    assert policy.pending(0) == 1


def _reference(times: list[float], count: int, window: float) -> list[int]:
    """Indices that must fire, straight from the rule's definition."""
    fired: list[int] = []
    last = -1
    for i, t in enumerate(times):
        in_window = [j for j in range(last + 1, i + 1) if window == 0 or t - times[j] <= window]
        if len(in_window) >= count:
            fired.append(i)
            last = i
    return fired


times_strategy = st.lists(st.floats(0, 50, allow_nan=False), min_size=0, max_size=60).map(
    lambda gaps: [sum(gaps[: i + 1]) for i in range(len(gaps))])


@settings(max_examples=200, deadline=None)
@given(times=times_strategy, count=st.integers(1, 6),
       window=st.one_of(st.just(0.0), st.floats(0.0, 150.0)))
def test_fires_exactly_on_the_nth_occurrence_in_a_window(
        times: list[float], count: int, window: float) -> None:
    policy = Policy([Rule("digest_mismatch", "rollback", count=count, window_s=window)])
    fired = [i for i, t in enumerate(times) if policy.decide("digest_mismatch", t)]
    assert fired == _reference(times, count, window)
    # Never more than once per N occurrences, and each firing's N occurrences fit the window.
    previous = -1
    for i in fired:
        assert i - previous >= count
        if window > 0:
            assert times[i] - times[i - count + 1] <= window
        previous = i
    assert len(fired) <= len(times) // count
    assert policy.status()[0]["fired"] == len(fired)
    assert policy.status()[0]["seen"] == len(times)


@settings(max_examples=50, deadline=None)
@given(count=st.integers(1, 8), n=st.integers(0, 40))
def test_a_burst_fires_every_nth(count: int, n: int) -> None:
    policy = Policy([Rule("abft_multiple", "rollback", count=count, window_s=60.0)])
    fired = [i for i in range(n) if policy.decide("abft_multiple", 1000.0 + i * 0.01)]
    assert fired == list(range(count - 1, n, count))


def test_other_evidence_does_not_count_towards_a_rule() -> None:
    policy = Policy.from_config()
    for t in range(10):
        for evidence in EVIDENCE:
            if evidence not in ("rollback", "jobs_crash"):
                assert all(d.evidence == evidence for d in policy.decide(evidence, float(t)))
    assert policy.pending(8) == 0 and policy.pending(9) == 0


# ------------------------------------------------------------------------------ state


@settings(max_examples=100, deadline=None)
@given(events=st.lists(st.tuples(st.sampled_from(["rollback", "jobs_crash", "edac_ue"]),
                                 st.floats(0, 400, allow_nan=False)), max_size=40),
       cut=st.integers(0, 40))
def test_state_round_trip_continues_the_windows(
        events: list[tuple[str, float]], cut: int) -> None:
    timeline, t = [], 0.0
    for evidence, gap in events:
        t += gap
        timeline.append((evidence, t))
    whole = Policy.from_config()
    expected = [[d.as_dict() for d in whole.decide(e, t)] for e, t in timeline]

    first = Policy.from_config()
    got = [[d.as_dict() for d in first.decide(e, t)] for e, t in timeline[:cut]]
    state = msgpack.unpackb(msgpack.packb(first.to_state()), raw=False)
    second = Policy.from_config()
    assert second.load_state(state) == len(second.rules)
    got += [[d.as_dict() for d in second.decide(e, t)] for e, t in timeline[cut:]]
    assert got == expected
    assert second.status() == whole.status()


def test_changed_config_keeps_the_windows_of_untouched_rules() -> None:
    policy = Policy.from_config()
    for t in (1.0, 2.0, 3.0):
        policy.decide("rollback", t)
        policy.decide("jobs_crash", t)
    raw = copy.deepcopy(DEFAULT_POLICY)
    raw[-1]["count"] = 4  # jobs_crash escalation changed
    changed = Policy.from_config(raw)
    assert changed.load_state(policy.to_state()) == len(raw) - 1
    assert changed.pending(8) == 3  # rollback rule: untouched
    assert changed.pending(9) == 0  # changed rule: starts afresh


@pytest.mark.parametrize("mutate", [
    lambda s: "not a map",
    lambda s: {**s, "version": 2},
    lambda s: {**s, "rules": None},
    lambda s: {**s, "rules": [5]},
    lambda s: s["rules"][8].update(times=[1.0, 2.0, 3.0, 4.0, 5.0]),  # more than count - 1
    lambda s: s["rules"][8].update(times=[3.0, 1.0]),
    lambda s: s["rules"][8].update(times=[0.0, 601.0]),
    lambda s: s["rules"][8].update(times=[float("nan")]),
    lambda s: s["rules"][8].update(times="1,2"),
    lambda s: s["rules"][8].update(count=-1),
    lambda s: s["rules"][8].update(evidence="rollbak"),
    lambda s: s["rules"][8].update(action=None),
    lambda s: s["rules"][8].update(window_s=float("inf")),
    lambda s: s["rules"][8].update(seen=True),
    lambda s: s["rules"][8].update(fired=-3),
    lambda s: s["rules"][8].update(last_fired="yesterday"),
])
def test_malformed_state_is_refused_and_changes_nothing(mutate) -> None:  # type: ignore[no-untyped-def]
    policy = Policy.from_config()
    policy.decide("rollback", 1.0)
    state = policy.to_state()
    before = policy.to_state()
    result = mutate(state)
    with pytest.raises(ValueError):
        policy.load_state(state if result is None else result)
    assert policy.to_state() == before


def test_actions_are_ordered_mildest_first() -> None:
    assert ACTIONS[0] == "log" and ACTIONS[-1] == "safe"
    policy = Policy.from_config()
    policy.decide("rollback", 0.0)
    policy.reset()
    assert policy.pending(8) == 0
