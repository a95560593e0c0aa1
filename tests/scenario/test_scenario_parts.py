"""The small parts a scenario is played with: ``${name.field}`` references and predicates."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hil.scenario.predicate import Predicate
from hil.scenario.template import TemplateError, references, substitute

SAVED = {"job": {"job": 3, "params": {"n": 64}}, "boom": {"target": "jobs", "pids": [7, 9]},
         "count": 5}


def test_a_whole_reference_keeps_the_value_and_a_part_is_formatted() -> None:
    assert substitute("${job.job}", SAVED) == 3
    assert substitute("${count}", SAVED) == 5
    assert substitute("${job.params}", SAVED) == {"n": 64}
    assert substitute("${boom.pids.1}", SAVED) == 9
    assert substitute("job ${job.job} on ${boom.target}", SAVED) == "job 3 on jobs"
    assert substitute({"a": ["${job.job}", {"b": "${boom.target}"}], "c": 1.5}, SAVED) == \
        {"a": [3, {"b": "jobs"}], "c": 1.5}
    assert substitute("no reference $ {x}", SAVED) == "no reference $ {x}"


def test_references_are_found_anywhere() -> None:
    assert references({"a": ["${job.job}", {"b": "x ${boom} y ${count.z}"}], "c": 2}) == \
        {"job", "boom", "count"}
    assert references(["plain", 1, None]) == set()


@pytest.mark.parametrize(("text", "message"), [
    ("${nothing}", "nothing was saved under 'nothing'"),
    ("${job.id}", r"\$\{job.id\}: job has no field 'id'; it has \['job', 'params'\]"),
    ("${count.x}", r"count has no field 'x'; it is 5"),
    ("${boom.pids.5}", r"boom.pids has no field '5'"),
])
def test_a_missing_field_names_what_there_is(text: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        substitute(text, SAVED)


@pytest.mark.parametrize(("op", "reference", "value", "expected"), [
    ("==", 1, 1, True), ("==", 1, 1.0, True), ("==", 1, True, False), ("==", True, 1, False),
    ("!=", "SAFE", "NOMINAL", True), ("<", 5, 4.9, True), ("<=", 5, 5, True),
    (">", 0, None, False), (">=", 1, "1", False), ("in", ["A", "B"], "B", True),
    ("in", [1, 2], 3, False), ("==", {"a": 1}, {"a": 1}, True),
])
def test_comparisons(op: str, reference: Any, value: Any, expected: bool) -> None:
    assert Predicate(op, reference)(value) is expected


def test_changes_compares_with_the_baseline_or_the_first_value_seen() -> None:
    with_baseline = Predicate("changes", baseline=3)
    assert not with_baseline(3) and with_baseline(4)
    first_seen = Predicate("changes")
    assert not first_seen(7) and not first_seen(7) and first_seen(8)
    assert first_seen.describe() == "changes from 7"


scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=3), inner, max_size=3), max_leaves=8)


@given(op=st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "in", "changes"]),
       reference=values, seen=st.lists(values, max_size=4))
def test_a_predicate_never_raises_whatever_telemetry_brings(op: str, reference: Any,
                                                            seen: list[Any]) -> None:
    predicate = Predicate(op, [reference] if op == "in" else reference)
    for value in seen:
        assert predicate(value) in (True, False)
