"""The job runner's pure parts: state codec, queue, duty pacing, checkpoint interval, upsets."""

from __future__ import annotations

import contextlib
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from flight.jobs.pacing import DutyMeter, duty_allowed, rest_after, young_interval
from flight.jobs.queue import JobQueue, JobState
from flight.jobs.state import StateError, pack_state, unpack_state
from flight.jobs.upsets import flip_in_arrays, flip_in_files

arrays = hnp.arrays(
    st.sampled_from([np.float32, np.float64, np.int64, np.uint8]),
    hnp.array_shapes(min_dims=0, max_dims=3, max_side=6),
)


@given(
    st.dictionaries(
        st.text("abcdefgh", min_size=1, max_size=8),
        st.one_of(
            arrays,
            st.integers(-(10**9), 10**9),
            st.floats(allow_nan=False),
            st.text(max_size=20),
            st.booleans(),
        ),
        max_size=6,
    ),
    st.integers(0, 10**6),
)
def test_state_round_trips(state: dict, step: int) -> None:
    back, meta = unpack_state(pack_state(state, {"step": step}))
    assert meta == {"step": step}
    assert back.keys() == state.keys()
    for name, value in state.items():
        if isinstance(value, np.ndarray):
            assert back[name].dtype == value.dtype and back[name].shape == value.shape
            assert back[name].tobytes() == value.tobytes()
            assert back[name].flags.writeable
        else:
            assert back[name] == value


@given(st.binary(max_size=200))
def test_garbage_is_never_a_state(payload: bytes) -> None:
    with contextlib.suppress(StateError):
        unpack_state(payload)


def test_a_forged_array_header_is_refused() -> None:
    import msgpack

    forged = msgpack.packb(
        {
            "meta": {},
            "state": {"a": {"__ndarray__": "float64", "shape": [10**9], "data": b"12345678"}},
        }
    )
    with pytest.raises(StateError, match="does not match"):
        unpack_state(forged)
    bad_dtype = msgpack.packb(
        {"meta": {}, "state": {"a": {"__ndarray__": "object", "shape": [1], "data": b"x"}}}
    )
    with pytest.raises(StateError, match="malformed"):
        unpack_state(bad_dtype)


def test_queue_orders_by_priority_then_submission_and_round_trips() -> None:
    q = JobQueue()
    low = q.add("matmul", {"n": 64}, 1, 0.0)
    high = q.add("matmul", {"n": 64}, 7, 1.0)
    high2 = q.add("matmul", {"n": 64}, 7, 2.0)
    assert q.next_runnable() is high
    high.paused.append("operator")
    assert q.next_runnable() is high2
    high2.state = JobState.DONE
    assert q.next_runnable() is low
    back = JobQueue.from_state(q.to_state())
    assert [j.describe() for j in back.jobs.values()] == [j.describe() for j in q.jobs.values()]
    assert back.add("matmul", {}, 0, 3.0).id == 4


@pytest.mark.parametrize(
    "raw",
    [
        None,
        [],
        {"jobs": "x", "next_id": 1},
        {"jobs": [{"id": "1"}], "next_id": 2},
        {"jobs": [{"state": "bogus"}], "next_id": 2},
    ],
)
def test_a_damaged_queue_is_refused(raw: object) -> None:
    with pytest.raises(ValueError):
        JobQueue.from_state(raw)


def test_duty_is_the_least_of_its_limits_and_zero_in_safe() -> None:
    assert duty_allowed(0.6, 100.0, 100.0, 1.0, safe=False) == 0.6
    assert duty_allowed(1.0, 25.0, 100.0, 1.0, safe=False) == 0.25
    assert duty_allowed(1.0, 100.0, 100.0, 0.1, safe=False) == 0.1
    assert duty_allowed(1.0, 100.0, 100.0, 1.0, safe=True) == 0.0
    assert rest_after(0.2, 0.25) == pytest.approx(0.6)
    assert rest_after(0.2, 1.0) == 0.0 and math.isinf(rest_after(0.2, 0.0))


@given(st.lists(st.floats(0.001, 0.5), min_size=5, max_size=40), st.floats(0.05, 1.0))
def test_resting_by_the_rule_gives_the_duty(steps: list[float], duty: float) -> None:
    meter, t = DutyMeter(window_s=1e9), 0.0
    for w in steps:
        meter.add(t, t + w)
        t += w + rest_after(w, duty)
    assert meter.duty(t) * 1e9 / t == pytest.approx(duty, rel=1e-6)


def test_young_interval() -> None:
    assert young_interval(0.05, 1000.0, 0.1, 60.0) == pytest.approx(math.sqrt(100.0))
    assert young_interval(0.05, 1e9, 0.1, 60.0) == 60.0
    assert young_interval(0.05, 0.1, 0.5, 60.0) == 0.5
    assert young_interval(0.05, math.inf, 0.1, 60.0) == 60.0


def test_upsets_land_in_real_bytes(tmp_path: Path) -> None:
    a, b = np.zeros(4), np.zeros(2, dtype=np.float32)
    assert flip_in_arrays({"a": a, "b": b}, 8 * 32 + 7) == "b[byte 0].7"
    assert b.view(np.uint8)[0] == 0x80 and not a.any()
    assert flip_in_arrays({"a": a, "b": b}, 8 * 40) is None
    f = tmp_path / "x.ckpt"
    f.write_bytes(b"\x00\x00")
    assert flip_in_files([f], 9) == "x.ckpt[byte 1].1"
    assert f.read_bytes() == b"\x00\x02"
    assert flip_in_files([f], 16) is None
