"""The matmul kind: parameters, memory, and bit-exact results through upsets and rollbacks."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from flight.app.model import InvalidValue
from flight.jobs import abft
from flight.jobs.abft import flip_bit
from flight.jobs.kind import Outcome
from flight.jobs.kinds import KINDS
from flight.jobs.kinds.matmul import Matmul, panel_rows

SMALL = {"n": 96, "seed": 7, "panel_rows": 16}  # six steps
RunJob = Callable[..., Any]


@functools.cache
def golden(items: tuple[tuple[str, Any], ...]) -> bytes:
    """The fault-free result: steps and result() only, nothing else."""
    job = Matmul(Matmul.bind(dict(items)))
    for i in range(job.total_steps):
        report = job.step(i)
        assert report.outcome is Outcome.CLEAN, report.findings
    return job.result()


def gold(params: dict[str, Any]) -> bytes:
    return golden(tuple(sorted(params.items())))


# --- parameters and memory ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ({"n": "big"}, "expected a number"),
        ({"n": 12.5}, "expected an integer"),
        ({"n": 8}, "below the minimum"),
        ({"n": 10**7}, "above the maximum"),
        ({"dtype": "float16"}, "expected one of"),
        ({"seed": -1}, "below the minimum"),
        ({"n": 64, "panel_rows": 65}, "more than n"),
        ({"dtype": "float32", "scale": 1e18}, "overflows float32"),
        ({"dtype": "float32", "scale": 1e-20}, "underflows float32"),
        ({"colour": 3}, "unknown parameter"),
    ],
)
def test_bad_parameters_are_refused_with_a_reason(raw: dict[str, Any], why: str) -> None:
    with pytest.raises(InvalidValue, match=why):
        Matmul.bind(raw)


def test_defaults_and_automatic_panels() -> None:
    params = Matmul.bind({})
    assert params["n"] == 1024 and params["dtype"] == "float64" and params["panel_rows"] == 0
    assert [panel_rows({"n": n, "panel_rows": 0}) for n in (256, 1024, 2048, 3072, 4096)] == [
        256, 1024, 2048, 896, 512
    ]  # fmt: skip
    assert Matmul(Matmul.bind({"n": 100, "panel_rows": 30})).total_steps == 4


def test_memory_grows_with_the_square_of_n_and_the_element_size() -> None:
    def need(**raw: Any) -> int:
        return Matmul.memory_bytes(Matmul.bind(raw))

    small, large = need(n=1024), need(n=2048)
    assert 5 * 1024 * 1024 * 8 <= small < 6 * 1024 * 1024 * 8
    assert 3.5 < large / small < 4.1
    assert need(n=2048, dtype="float32") < 0.6 * large
    assert need(n=4096) > 600e6


# --- the fault-free result ------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_result_is_the_product_formed_panel_by_panel(dtype: str) -> None:
    params = {**SMALL, "dtype": dtype}
    job = Matmul(Matmul.bind(params))
    a, b = job.a.copy(), job.b.copy()
    c = np.load(__import__("io").BytesIO(gold(params)))
    expected = np.empty_like(c)
    for r0 in range(0, 96, 16):
        abft.gemm(a[r0 : r0 + 16], b, expected[r0 : r0 + 16])
    assert c.dtype == np.dtype(dtype) and c.tobytes() == expected.tobytes()
    assert Matmul(Matmul.bind(params)).a.tobytes() == a.tobytes()  # inputs from the seed


def test_step_order_and_unfinished_results_are_refused() -> None:
    job = Matmul(Matmul.bind(SMALL))
    with pytest.raises(ValueError, match="out of order"):
        job.step(1)
    job.step(0)
    with pytest.raises(RuntimeError):
        job.result()


# --- upsets in live data --------------------------------------------------------------------

BITS = (0, 17, 35, 47, 52, 58, 62, 63)


@pytest.mark.parametrize("region", ["a", "b", "c"])
@pytest.mark.parametrize("at", [1, 3, 5])
@pytest.mark.parametrize("bit", BITS)
def test_an_upset_anywhere_is_found_and_the_result_is_bit_exact(
    run_job: RunJob, region: str, at: int, bit: int
) -> None:
    """Every bit of A (rows not yet used), B and C (finished rows), at several steps."""
    size = {"a": (96 - 16 * at) * 96, "b": 96 * 96, "c": 16 * at * 96}[region]
    element = (size * 2) // 3 + 5
    run = run_job(Matmul, SMALL, {at: [(region, element, bit)]})
    assert run.result == gold(SMALL)
    assert run.found, "an upset in live data must be found from the data"
    assert all(f.check in ("abft", "digest") for f in run.found)


@pytest.mark.parametrize("bit", [3, 25, 30, 31])
@pytest.mark.parametrize("region", ["a", "b", "c"])
def test_float32_upsets_are_found_and_the_result_is_bit_exact(
    run_job: RunJob, region: str, bit: int
) -> None:
    params = {**SMALL, "dtype": "float32", "distribution": "uniform"}
    element = {"a": 3000, "b": 4000, "c": 700}[region]
    run = run_job(Matmul, params, {2: [(region, element, bit)]})
    assert run.result == gold(params) and run.found


def test_many_upsets_between_checkpoints_are_all_repaired(run_job: RunJob) -> None:
    upsets = {
        1: [("c", 10, 62), ("c", 11, 3), ("b", 500, 0), ("a", 4000, 60)],
        3: [("c", 2000, 63), ("c", 2001, 63), ("b", 9000, 51)],
        5: [("a", 50, 1), ("c", 7000, 20)],
    }
    run = run_job(Matmul, SMALL, upsets, checkpoint_every=3)
    assert run.result == gold(SMALL)
    assert len(run.found) >= 5


def test_an_upset_between_the_last_scrub_and_the_checkpoint_is_not_preserved(
    run_job: RunJob,
) -> None:
    """state() checks before it copies: a checkpoint never holds a damaged row."""
    job = Matmul(Matmul.bind(SMALL))
    for i in range(3):
        job.step(i)
    flip_bit(job.regions()["c"], 100, 40)
    flip_bit(job.regions()["b"], 100, 2)
    state = job.state()
    fresh = Matmul(Matmul.bind(SMALL))
    fresh.restore(state)
    assert fresh.scrub().outcome is Outcome.CLEAN
    for i in range(3, fresh.total_steps):
        fresh.step(i)
    assert fresh.result() == gold(SMALL)
    assert job.scrub().outcome is Outcome.CORRECTED  # what state() found, reported next


@pytest.mark.parametrize("stop", [0, 2, 5, 6])
def test_resuming_on_a_fresh_instance_gives_the_same_result(stop: int) -> None:
    job = Matmul(Matmul.bind(SMALL))
    for i in range(stop):
        job.step(i)
    state = job.state()
    fresh = Matmul(Matmul.bind(SMALL))
    fresh.restore(state)
    for i in range(stop, fresh.total_steps):
        fresh.step(i)
    assert fresh.result() == gold(SMALL)


def test_restore_refuses_a_state_of_other_parameters() -> None:
    job = Matmul(Matmul.bind(SMALL))
    job.step(0)
    state = job.state()
    with pytest.raises(ValueError):
        Matmul(Matmul.bind({**SMALL, "n": 112})).restore(state)
    with pytest.raises(ValueError):
        job.restore({**state, "rows_done": 5})


# --- faults while a panel is formed ---------------------------------------------------------


def faulty(monkeypatch: pytest.MonkeyPatch, call: int, elements: list[int]) -> None:
    """Make gemm call number ``call`` (from now) return a panel with ``elements`` hit."""
    real, calls = abft.gemm, {"n": 0}

    def gemm(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        c = real(a, b, out)
        calls["n"] += 1
        if calls["n"] == call:
            for e in elements:
                flip_bit(c, e, 61)
        return c

    monkeypatch.setattr(abft, "gemm", gemm)


def test_one_bad_element_in_a_panel_is_corrected_in_place(
    run_job: RunJob, monkeypatch: pytest.MonkeyPatch
) -> None:
    faulty(monkeypatch, 3, [200])
    run = run_job(Matmul, SMALL)
    assert run.result == gold(SMALL) and run.rollbacks == 0
    (finding,) = run.found
    assert finding.check == "abft" and finding.outcome is Outcome.CORRECTED
    assert finding.where == "C[rows 32:48]" and finding.count == 1


def test_two_bad_elements_in_a_panel_roll_back(
    run_job: RunJob, monkeypatch: pytest.MonkeyPatch
) -> None:
    faulty(monkeypatch, 4, [200, 900])
    run = run_job(Matmul, SMALL)
    assert run.result == gold(SMALL) and run.rollbacks == 1
    assert [f.outcome for f in run.found] == [Outcome.ROLLBACK]


def test_the_result_digest_is_stable() -> None:
    """Same parameters, same bytes: what the runner's golden comparisons rely on."""
    first = hashlib.sha256(gold(SMALL)).hexdigest()
    job = KINDS["matmul"](Matmul.bind(SMALL))
    for i in range(job.total_steps):
        job.step(i)
    assert hashlib.sha256(job.result()).hexdigest() == first
