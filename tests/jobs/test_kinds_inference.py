"""The inference kind: a built-in or stored model, bit-exact outputs through upsets and faults."""

from __future__ import annotations

import functools
import hashlib
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from flight.app.model import InvalidValue
from flight.jobs import abft
from flight.jobs.abft import flip_bit
from flight.jobs.kind import Outcome
from flight.jobs.kinds.inference import Inference
from flight.jobs.kinds.mlp_train import MlpTrain

SMALL = {"seed": 4, "batches": 6, "batch_size": 32, "features": 8, "hidden": 16,
         "train_epochs": 3}  # fmt: skip
RunJob = Callable[..., Any]


@functools.cache
def golden(items: tuple[tuple[str, Any], ...]) -> bytes:
    job = Inference(Inference.bind(dict(items)))
    for i in range(job.total_steps):
        assert job.step(i).outcome is Outcome.CLEAN
    return job.result()


def gold(params: dict[str, Any] = SMALL) -> bytes:
    return golden(tuple(sorted(params.items())))


def test_the_built_in_model_classifies_well_and_outputs_are_probabilities() -> None:
    job = Inference(Inference.bind({"seed": 2}))
    for i in range(job.total_steps):
        report = job.step(i)
        assert report.outcome is Outcome.CLEAN and report.metrics["worst_ratio"] <= 1.0
    assert job.summary()["accuracy"] > 0.7
    probs = np.load(io.BytesIO(job.result()))
    assert probs.shape == (16 * 256, 4)
    assert np.allclose(probs.sum(axis=1), 1.0) and np.all(probs >= 0)


def stored_model(tmp_path: Path, seed: int = 4) -> Path:
    """An mlp_train result where the result store would put it (with its .sha256)."""
    trainer = MlpTrain(MlpTrain.bind({"seed": seed, "features": 8, "hidden": 16, "epochs": 3}))
    for i in range(trainer.total_steps):
        trainer.step(i)
    data = trainer.result()
    path = tmp_path / "job-7"
    path.write_bytes(data)
    path.with_name("job-7.sha256").write_text(hashlib.sha256(data).hexdigest())
    return path


def test_a_stored_mlp_train_result_is_the_same_model_as_the_built_in_one(tmp_path: Path) -> None:
    path = stored_model(tmp_path)
    assert gold({**SMALL, "model": str(path)}) == gold()


def test_a_damaged_or_mismatched_stored_model_is_refused(tmp_path: Path) -> None:
    path = stored_model(tmp_path)
    with pytest.raises(InvalidValue, match="features, hidden, classes"):
        Inference.bind({**SMALL, "model": str(path), "hidden": 32})
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(InvalidValue, match="damaged"):
        Inference.bind({**SMALL, "model": str(path)})
    path.with_name("job-7.sha256").unlink()
    (tmp_path / "junk").write_bytes(b"not a model")
    with pytest.raises(InvalidValue, match="not an mlp_train result"):
        Inference.bind({**SMALL, "model": str(tmp_path / "junk")})
    with pytest.raises(InvalidValue, match="model"):
        Inference.bind({**SMALL, "model": str(tmp_path / "missing")})


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ({"batches": 0}, "below the minimum"),
        ({"batch_size": 2.5}, "expected an integer"),
        ({"batches": 100_000, "batch_size": 65536}, "at most"),
        ({"model": 3}, "expected text"),
    ],
)
def test_bad_parameters_are_refused_with_a_reason(raw: dict[str, Any], why: str) -> None:
    with pytest.raises(InvalidValue, match=why):
        Inference.bind(raw)


def test_memory_grows_with_the_outputs() -> None:
    def need(**raw: Any) -> int:
        return Inference.memory_bytes(Inference.bind(raw))

    assert need(batches=1000) - need(batches=10) >= 3 * 990 * 256 * 4 * 8


@pytest.mark.parametrize(
    ("region", "element"),
    [("w1", 40), ("b1", 3), ("w2", 9), ("b2", 1), ("golden.w2", 30), ("out", 50)],
)
@pytest.mark.parametrize("at", [2, 5])
@pytest.mark.parametrize("bit", [0, 33, 52, 62, 63])
def test_an_upset_anywhere_is_found_and_the_result_is_bit_exact(
    run_job: RunJob, region: str, element: int, at: int, bit: int
) -> None:
    run = run_job(Inference, SMALL, {at: [(region, element, bit)]})
    assert run.result == gold()
    assert run.found and all(f.check == "digest" for f in run.found), run.findings
    assert run.rollbacks == 0


def test_two_sign_flips_in_one_output_row_are_still_found(run_job: RunJob) -> None:
    """Two top-bit flips cancel in a row's sum; the batch's column sums see them."""
    run = run_job(Inference, SMALL, {3: [("out", 8, 63), ("out", 9, 63)]})
    assert run.result == gold() and run.found


@pytest.mark.parametrize("stop", [0, 3, 6])
def test_resuming_on_a_fresh_instance_gives_the_same_result(stop: int) -> None:
    job = Inference(Inference.bind(SMALL))
    for i in range(stop):
        job.step(i)
    fresh = Inference(Inference.bind(SMALL))
    fresh.restore(job.state())
    for i in range(stop, fresh.total_steps):
        fresh.step(i)
    assert fresh.result() == gold()
    with pytest.raises(ValueError, match="another model"):
        Inference(Inference.bind({**SMALL, "train_epochs": 4})).restore(job.state())


def test_a_fault_in_a_layer_product_is_corrected_bitwise(
    run_job: RunJob, monkeypatch: pytest.MonkeyPatch
) -> None:
    golden_bytes = gold()  # before the fault is armed: built-in training uses gemm too
    real, calls = abft.gemm, {"n": 0}

    def gemm(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        c = real(a, b, out)
        calls["n"] += 1
        if calls["n"] == 4:  # the second batch's H·W2, after the model is trained
            flip_bit(c, 17, 60)
        return c

    job = Inference(Inference.bind(SMALL))
    monkeypatch.setattr(abft, "gemm", gemm)
    reports = [job.step(i) for i in range(job.total_steps)]
    assert job.result() == golden_bytes
    found = [f for r in reports for f in r.findings]
    assert [(f.check, f.outcome, f.where) for f in found] == [("abft", Outcome.CORRECTED, "H@W2")]
