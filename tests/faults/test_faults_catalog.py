"""The catalogue and the injector interface, without a flatsat: names, parameters, records."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hil.faults import FaultClass, FaultError, Injection, Param, all_faults, get_fault
from hil.faults.memory import candidates, parse_maps

MAPS = """\
55a00ec8a000-55a00ee19000 rw-p 00000000 00:00 0                          [heap]
7f048d90b000-7f048e10b000 rw-p 00000000 00:00 0
7f048e10b000-7f048e10c000 ---p 00000000 00:00 0
7f048e200000-7f048e201000 rw-p 00002000 08:01 1234                       /usr/lib/libc.so.6
7ffd1c1e0000-7ffd1c201000 rw-p 00000000 00:00 0                          [stack]
7ffd1c3f0000-7ffd1c3f4000 r--p 00000000 00:00 0                          [vvar]
garbage line
"""


def test_every_class_has_faults_and_every_fault_documents_itself() -> None:
    faults = all_faults()
    assert {f.fault_class for f in faults.values()} == set(FaultClass)
    for name, fault in faults.items():
        assert fault.name == name and fault.doc and fault.target_doc
        assert all(p.doc for p in fault.params)
        assert fault.check_params({}) == {p.name: p.default for p in fault.params}
        json.dumps(fault.describe())
    expected = {"crash", "hang", "memflip", "upset", "checkpoint_corrupt", "tmstore_corrupt",
                "disk_full", "link_loss", "link_delay", "link_corrupt", "link_outage",
                "tc_forged", "tc_replayed", "tc_malformed", "sensor_stuck", "sensor_noisy",
                "sensor_offline", "solar_string_loss", "battery_fade", "radiator_degradation"}
    assert expected <= set(faults)


def test_unknown_fault_suggests_the_closest() -> None:
    with pytest.raises(FaultError, match="did you mean 'memflip'"):
        get_fault("memflp")


@pytest.mark.parametrize(("given", "message"), [
    ({"flip": 2}, "no parameter 'flip' (did you mean 'flips'?)"),
    ({"flips": 0}, "must be ≥ 1"),
    ({"flips": 65}, "must be ≤ 64"),
    ({"flips": 2.5}, "whole number"),
    ({"flips": "two"}, "must be int"),
    ({"region": "stack"}, "must be one of"),
])
def test_bad_parameters_say_what_is_wrong(given: dict, message: str) -> None:
    with pytest.raises(FaultError) as refused:
        get_fault("memflip").check_params(given)
    assert message in str(refused.value)


def test_float_and_bool_parameters() -> None:
    with pytest.raises(FaultError, match="finite"):
        get_fault("link_loss").check_params({"loss": math.nan})
    with pytest.raises(FaultError, match="true or false"):
        get_fault("checkpoint_corrupt").check_params({"restart": "yes"})
    assert get_fault("link_loss").check_params({"loss": "0.25"}) == {"loss": 0.25}


@given(st.integers(min_value=-10, max_value=10))
def test_param_bounds_hold_for_any_int(value: int) -> None:
    spec = Param("n", int, "a count", default=1, min=1, max=5)
    if 1 <= value <= 5:
        assert spec.check(value) == value
    else:
        with pytest.raises(FaultError):
            spec.check(value)


def test_injection_round_trips_through_json() -> None:
    injection = Injection("link_loss", "link", "uplink", {"loss": 0.5}, "link uplink: loss=0.5",
                          evidence={"before": {"uplink": {"loss": 0.0}}}, lasting=True)
    again = Injection.from_dict(json.loads(json.dumps(injection.to_dict())))
    assert again == injection
    with pytest.raises(FaultError, match="no 'target'"):
        Injection.from_dict({"fault": "crash", "class": "process", "detail": ""})
    with pytest.raises(FaultError, match="JSON object"):
        Injection.from_dict([])  # type: ignore[arg-type]


def test_memory_candidates_are_heap_and_anonymous_private_writable() -> None:
    mappings = parse_maps(MAPS)
    assert len(mappings) == 6
    assert [m.path for m in candidates(mappings, "any")] == ["[heap]", ""]
    assert [m.path for m in candidates(mappings, "heap")] == ["[heap]"]
    assert [m.path for m in candidates(mappings, "anonymous")] == [""]
