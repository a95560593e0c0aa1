"""The parameter table on a real checkpoint store: load → activate, persistence and fallbacks."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flight.app import InvalidValue, Param, ValueType
from flight.app.params import ParameterTable
from flight.checkpoint import CheckpointStore

SPECS = (
    Param("gain", ValueType.INT, 5, "Gain.", min=0, max=10),
    Param("ratio", ValueType.FLOAT, 0.5, "Ratio.", min=0.0, max=1.0),
    Param("enabled", ValueType.BOOL, True, "Enabled."),
    Param("profile", ValueType.ENUM, "eco", "Profile.", choices=("eco", "max")),
)
DEFAULTS = {"gain": 5, "ratio": 0.5, "enabled": True, "profile": "eco"}


def store(directory: Path) -> CheckpointStore:
    return CheckpointStore(directory, "params")


def table(directory: Path) -> ParameterTable:
    return ParameterTable(SPECS, store(directory))


def ckpt_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if re.fullmatch(r"params\.\d{10}\.ckpt", p.name))


def test_restore_with_nothing_stored_keeps_defaults(tmp_path: Path) -> None:
    params = table(tmp_path)
    report = params.restore()
    assert params.active == DEFAULTS
    assert (report.generation, report.fallbacks, report.dropped) == (None, (), [])
    assert params["gain"] == 5


def test_activate_persists_for_the_next_instance(tmp_path: Path) -> None:
    params = table(tmp_path)
    params.restore()
    assert params.load("gain", 7.0) == 7  # checked and converted
    assert params.load("profile", "max") == "max"
    assert params.active == DEFAULTS  # staged, not active yet
    assert params.report() == {"active": DEFAULTS, "staged": {"gain": 7, "profile": "max"}}
    changes = params.activate()
    assert changes == {"gain": 7, "profile": "max"}
    assert params.active == {**DEFAULTS, "gain": 7, "profile": "max"} and params.staged == {}

    again = table(tmp_path)
    report = again.restore()
    assert again.active == params.active
    assert report.generation == 1 and report.dropped == [] and report.fallbacks == ()


def test_activate_reports_only_real_changes(tmp_path: Path) -> None:
    params = table(tmp_path)
    params.load("gain", 5)  # the value it already has
    params.load("ratio", 1)
    assert params.activate() == {"ratio": 1.0}


def test_activate_with_nothing_staged_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidValue, match="nothing staged"):
        table(tmp_path).activate()
    assert ckpt_files(tmp_path) == []


@pytest.mark.parametrize("name,value", [("gain", 11), ("gain", -1), ("gain", 2.5),
                                        ("ratio", 1.5), ("ratio", float("nan")),
                                        ("enabled", 1), ("profile", "turbo"), ("gain", "5"),
                                        ("gain", True), ("nope", 1)])
def test_invalid_load_raises_and_stages_nothing(tmp_path: Path, name: str, value: Any) -> None:
    params = table(tmp_path)
    params.load("ratio", 0.25)
    with pytest.raises(InvalidValue):
        params.load(name, value)
    assert params.staged == {"ratio": 0.25}
    assert params.active == DEFAULTS


def test_table_check_refusal_changes_nothing(tmp_path: Path) -> None:
    params = table(tmp_path)
    params.load("gain", 9)
    seen: list[dict[str, Any]] = []

    def check(candidate: dict[str, Any]) -> str | None:
        seen.append(candidate)
        return "gain above 8 needs profile max" if candidate["gain"] > 8 and \
            candidate["profile"] != "max" else None

    with pytest.raises(InvalidValue, match="needs profile max"):
        params.activate(check)
    assert seen == [{**DEFAULTS, "gain": 9}]  # the whole candidate table, not just the change
    assert params.active == DEFAULTS
    assert ckpt_files(tmp_path) == [] and store(tmp_path).load() is None
    # Staging the missing piece makes the same table acceptable.
    params.load("profile", "max")
    assert params.activate(check) == {"gain": 9, "profile": "max"}
    assert len(ckpt_files(tmp_path)) == 1


def test_abort_drops_staged_values(tmp_path: Path) -> None:
    params = table(tmp_path)
    params.load("gain", 1)
    params.abort()
    assert params.staged == {}
    with pytest.raises(InvalidValue):
        params.activate()


def test_stored_unknown_and_invalid_entries_are_dropped(tmp_path: Path) -> None:
    store(tmp_path).save_object({"gain": 99, "ratio": 0.25, "retired": 1, "enabled": "yes",
                                 7: "int key", "profile": "max"})
    params = table(tmp_path)
    report = params.restore()
    assert params.active == {"gain": 5, "ratio": 0.25, "enabled": True, "profile": "max"}
    assert report.generation == 1
    assert len(report.dropped) == 4
    joined = " | ".join(report.dropped)
    for word in ("gain", "retired", "enabled", "7"):
        assert word in joined


def test_stored_table_that_is_not_a_map_is_dropped(tmp_path: Path) -> None:
    store(tmp_path).save_object([1, 2, 3])
    params = table(tmp_path)
    report = params.restore()
    assert params.active == DEFAULTS and report.dropped == ["<table is not a map>"]


def test_corrupted_newest_checkpoint_falls_back_to_the_previous_one(tmp_path: Path) -> None:
    params = table(tmp_path)
    params.load("gain", 1)
    params.activate()
    params.load("gain", 2)
    params.activate()
    newest = ckpt_files(tmp_path)[-1]
    raw = bytearray(newest.read_bytes())
    raw[-1] ^= 0x01  # one flipped bit in the payload
    newest.write_bytes(bytes(raw))

    again = table(tmp_path)
    report = again.restore()
    assert again["gain"] == 1
    assert report.generation == 1
    assert [(r.generation, r.path) for r in report.fallbacks] == [(2, newest)]
    assert "digest" in report.fallbacks[0].reason


def test_every_checkpoint_corrupt_means_defaults_and_reported_fallbacks(tmp_path: Path) -> None:
    params = table(tmp_path)
    params.load("gain", 3)
    params.activate()
    for path in ckpt_files(tmp_path):
        path.write_bytes(b"garbage")
    again = table(tmp_path)
    report = again.restore()
    assert again.active == DEFAULTS
    assert report.generation is None and len(report.fallbacks) == 1


def test_a_table_without_parameters_never_touches_the_store(tmp_path: Path) -> None:
    params = ParameterTable((), store(tmp_path))
    report = params.restore()
    assert params.active == {} and report.generation is None


values = st.one_of(st.integers(-20, 20), st.floats(-2, 2), st.booleans(),
                   st.sampled_from(["eco", "max", "other"]), st.none())


@settings(deadline=None, max_examples=40)
@given(steps=st.lists(st.tuples(st.sampled_from([s.name for s in SPECS] + ["ghost"]), values,
                                st.booleans()), max_size=12))
def test_restored_table_is_always_the_last_activated_one(
        steps: list[tuple[str, Any, bool]]) -> None:
    with tempfile.TemporaryDirectory(prefix="sl-params-") as directory:
        params = table(Path(directory))
        params.restore()
        last_activated = dict(DEFAULTS)
        for name, value, activate in steps:
            staged = dict(params.staged)
            try:
                checked = params.load(name, value)
            except InvalidValue:
                assert params.staged == staged
            else:
                spec = next(s for s in SPECS if s.name == name)
                assert checked == spec.check(value)
            if activate and params.staged:
                params.activate()
                last_activated = dict(params.active)
            for key, val in params.active.items():  # active values always validate
                assert next(s for s in SPECS if s.name == key).check(val) == val
        again = table(Path(directory))
        again.restore()
        assert again.active == last_activated


def test_validate_is_a_dry_run_of_activate(tmp_path: Path) -> None:
    params = table(tmp_path)
    params.load("gain", 9)

    def check(candidate: dict[str, Any]) -> str | None:
        return "gain above 8 needs profile max" if candidate["gain"] > 8 and \
            candidate["profile"] != "max" else None

    with pytest.raises(InvalidValue, match="needs profile max"):
        params.validate(check)
    params.load("profile", "max")
    assert params.validate(check) == {**DEFAULTS, "gain": 9, "profile": "max"}
    assert params.active == DEFAULTS and params.staged  # nothing activated, nothing dropped
    assert ckpt_files(tmp_path) == []
