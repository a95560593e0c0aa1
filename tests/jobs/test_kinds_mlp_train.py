"""The mlp_train kind: it learns, and upsets or faults never change its final bits."""

from __future__ import annotations

import functools
import io
import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from flight.app.model import InvalidValue
from flight.jobs import abft
from flight.jobs.abft import flip_bit
from flight.jobs.kind import Outcome
from flight.jobs.kinds.mlp_train import MlpTrain

SMALL = {"seed": 5, "epochs": 6, "samples": 256, "features": 8, "hidden": 16, "batch_size": 32}
RunJob = Callable[..., Any]


@functools.cache
def golden(items: tuple[tuple[str, Any], ...]) -> bytes:
    job = MlpTrain(MlpTrain.bind(dict(items)))
    for i in range(job.total_steps):
        assert job.step(i).outcome is Outcome.CLEAN
    return job.result()


def gold(params: dict[str, Any] = SMALL) -> bytes:
    return golden(tuple(sorted(params.items())))


def test_the_loss_falls_and_the_result_holds_the_weights() -> None:
    job = MlpTrain(MlpTrain.bind({"seed": 3}))
    losses = []
    for i in range(job.total_steps):
        report = job.step(i)
        assert report.outcome is Outcome.CLEAN and report.metrics["worst_ratio"] <= 1.0
        losses.append(report.metrics["loss"])
    assert losses[-1] < 0.6 * losses[0]
    assert sum(b < a for a, b in itertools.pairwise(losses)) >= len(losses) - 3
    summary = job.summary()
    assert summary["epoch"] == 20 and summary["loss"] == losses[-1]
    assert summary["accuracy"] > 0.75
    with np.load(io.BytesIO(job.result())) as npz:
        assert set(npz.files) == {"w1", "b1", "w2", "b2", "loss", "accuracy", "epochs"}
        assert npz["w1"].shape == (16, 64) and float(npz["loss"]) == losses[-1]
        assert npz["w2"].tobytes() == job.w["w2"].tobytes()


def test_the_same_seed_gives_the_same_bytes_and_another_seed_does_not() -> None:
    assert gold() == golden(tuple(sorted(SMALL.items())))
    job = MlpTrain(MlpTrain.bind(SMALL))
    for i in range(job.total_steps):
        job.step(i)
    assert job.result() == gold()
    assert gold({**SMALL, "seed": 6}) != gold()


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ({"epochs": 0}, "below the minimum"),
        ({"hidden": "wide"}, "expected a number"),
        ({"learning_rate": float("nan")}, "finite"),
        ({"samples": 32, "batch_size": 64}, "more than samples"),
        ({"samples": 16, "batch_size": 16, "classes": 20}, "at least as many samples"),
        ({"features": 1024, "hidden": 4096, "classes": 256}, "at most"),
        ({"optimizer": "adam"}, "unknown parameter"),
    ],
)
def test_bad_parameters_are_refused_with_a_reason(raw: dict[str, Any], why: str) -> None:
    with pytest.raises(InvalidValue, match=why):
        MlpTrain.bind(raw)


def test_memory_grows_with_the_data_and_the_model() -> None:
    def need(**raw: Any) -> int:
        return MlpTrain.memory_bytes(MlpTrain.bind(raw))

    base = need()
    assert need(samples=200_000) > base + 200_000 * 17 * 8
    assert need(hidden=2048) > base + 5 * 2048 * (16 + 4) * 8
    assert need(batch_size=1024) > base


# --- upsets ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "element"),
    [("x", 700), ("y", 100), ("w1", 37), ("b1", 5), ("w2", 20), ("b2", 2), ("spare.w1", 64)],
)
@pytest.mark.parametrize("at", [1, 4])
@pytest.mark.parametrize("bit", [0, 30, 52, 62, 63])
def test_an_upset_anywhere_is_found_and_the_result_is_bit_exact(
    run_job: RunJob, region: str, element: int, at: int, bit: int
) -> None:
    run = run_job(MlpTrain, SMALL, {at: [(region, element, bit)]})
    assert run.result == gold()
    assert run.found and all(f.check == "digest" for f in run.found), run.findings
    assert run.rollbacks == 0  # one copy of the weights is always intact


def test_both_copies_of_the_weights_damaged_rolls_back(run_job: RunJob) -> None:
    upsets = {3: [("w1", 10, 40), ("spare.w1", 11, 2)]}
    run = run_job(MlpTrain, SMALL, upsets, checkpoint_every=2)
    assert run.result == gold() and run.rollbacks == 1
    assert [f.outcome for f in run.found] == [Outcome.ROLLBACK]


def test_a_checkpoint_of_damaged_weights_is_refused_on_restore() -> None:
    job = MlpTrain(MlpTrain.bind(SMALL))
    job.step(0)
    state = job.state()
    flip_bit(state["w2"], 3, 20)
    with pytest.raises(ValueError, match="digest"):
        MlpTrain(MlpTrain.bind(SMALL)).restore(state)


@pytest.mark.parametrize("stop", [0, 1, 3, 6])
def test_resuming_on_a_fresh_instance_gives_the_same_result(stop: int) -> None:
    job = MlpTrain(MlpTrain.bind(SMALL))
    for i in range(stop):
        job.step(i)
    fresh = MlpTrain(MlpTrain.bind(SMALL))
    fresh.restore(job.state())
    assert fresh.summary() == job.summary() or stop == 0
    for i in range(stop, fresh.total_steps):
        fresh.step(i)
    assert fresh.result() == gold()


# --- faults in the products -----------------------------------------------------------------


def faulty(monkeypatch: pytest.MonkeyPatch, call: int, elements: list[int]) -> None:
    real, calls = abft.gemm, {"n": 0}

    def gemm(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        c = real(a, b, out)
        calls["n"] += 1
        if calls["n"] == call:
            for e in elements:
                flip_bit(c, e % c.size, 58)
        return c

    monkeypatch.setattr(abft, "gemm", gemm)


@pytest.mark.parametrize("call", [1, 2, 3, 4, 5, 123])  # forward, backward, a later batch
def test_one_bad_element_in_a_product_is_corrected_bitwise(
    run_job: RunJob, monkeypatch: pytest.MonkeyPatch, call: int
) -> None:
    faulty(monkeypatch, call, [7])
    run = run_job(MlpTrain, SMALL)
    assert run.result == gold() and run.rollbacks == 0
    (finding,) = run.found
    assert finding.check == "abft" and finding.outcome is Outcome.CORRECTED


def test_two_bad_elements_in_a_product_roll_back(
    run_job: RunJob, monkeypatch: pytest.MonkeyPatch
) -> None:
    faulty(monkeypatch, 40, [3, 77])
    run = run_job(MlpTrain, SMALL)
    assert run.result == gold() and run.rollbacks == 1
    assert [f.outcome for f in run.found] == [Outcome.ROLLBACK]
