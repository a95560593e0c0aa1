"""``inference``: classify seeded batches with a trained MLP, one batch per step.

The model is either trained here, deterministically, by an ``mlp_train`` run on the same seed
(``train_epochs`` epochs, a fraction of a second at the defaults), or read from a stored
``mlp_train`` result (``model``: its path; a ``<path>.sha256`` next to it, as the result store
writes, is checked).  Batches are new points from the blobs of the same seed, generated per step.

The weights are held twice with a digest; before each batch both copies are checked and a
damaged one is restored from the other (both damaged: rollback).  Both layers' products are
ABFT-checked with the sums of W1 and W2 cached once.  Each batch's class probabilities get a row
digest; a damaged row found at rest (scrub, state, result) has its batch computed again.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from flight.app.model import InvalidValue, Param, ValueType
from flight.jobs.abft import RightSums, grid_digest, row_digest
from flight.jobs.kind import Finding, JobKind, Outcome, State, StepReport, npy_bytes
from flight.jobs.kinds import _nn
from flight.jobs.kinds._common import digest, span
from flight.jobs.kinds.mlp_train import MlpTrain


def load_model(path: str) -> dict[str, npt.NDArray[np.float64]]:
    """The weights in a stored ``mlp_train`` result, or :class:`ValueError` saying why not."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"model {path!r}: {exc.strerror or exc}") from None
    sidecar = Path(f"{path}.sha256")
    if sidecar.exists() and hashlib.sha256(data).hexdigest() != sidecar.read_text().strip():
        raise ValueError(f"model {path!r} is damaged: its digest does not match")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            w = {name: np.array(npz[name]) for name in _nn.WEIGHTS}
    except (OSError, KeyError, ValueError, EOFError) as exc:
        raise ValueError(f"model {path!r} is not an mlp_train result ({exc})") from None
    f, h = w["w1"].shape if w["w1"].ndim == 2 else (0, 0)
    shapes = {"w1": (f, h), "b1": (h,), "w2": (h, w["w2"].shape[-1]), "b2": (w["b2"].size,)}
    c = shapes["b2"][0]
    if (
        f < 1
        or h < 1
        or c < 2
        or any(w[k].shape != s for k, s in shapes.items())
        or any(a.dtype != np.float64 for a in w.values())
        or shapes["w2"] != (h, c)
    ):
        raise ValueError(f"model {path!r}: weights of unexpected shapes or types")
    return w


class Inference(JobKind):
    name = "inference"
    doc = "Classify seeded batches with a two-layer MLP (trained here or an mlp_train result)."
    params = (
        Param(
            "seed",
            ValueType.INT,
            0,
            "Seed of the blobs (and of the built-in model).",
            min=0,
            max=2**63 - 1,
        ),
        Param(
            "batches", ValueType.INT, 16, "Batches to classify (one per step).", min=1, max=100_000
        ),
        Param("batch_size", ValueType.INT, 256, "Points per batch.", min=1, max=65536),
        Param("features", ValueType.INT, 16, "Input dimensions.", min=2, max=1024),
        Param("hidden", ValueType.INT, 64, "Hidden units of the built-in model.", min=2, max=4096),
        Param("classes", ValueType.INT, 4, "Output classes.", min=2, max=256),
        Param(
            "train_epochs",
            ValueType.INT,
            10,
            "Epochs the built-in model is trained.",
            min=1,
            max=1000,
        ),
        Param(
            "model",
            ValueType.STR,
            "",
            "Path of a stored mlp_train result to use instead of the built-in model; "
            "its features, hidden and classes must match these parameters.",
            max_len=1024,
        ),
    )

    @classmethod
    def validate(cls, params: dict[str, Any]) -> str | None:
        if params["batches"] * params["batch_size"] * params["classes"] > 64_000_000:
            return "batches x batch_size x classes: at most 64,000,000 outputs"
        if params["model"]:
            try:
                w = load_model(params["model"])
            except ValueError as exc:
                return str(exc)
            want = (params["features"], params["hidden"], params["classes"])
            got = (*w["w1"].shape, w["b2"].size)
            if got != want:
                return f"model has features, hidden, classes {got}, parameters say {want}"
        if not params["model"]:
            try:
                cls._train_params(params)
            except InvalidValue as exc:
                return f"built-in model: {exc}"
        return None

    @staticmethod
    def _train_params(params: dict[str, Any]) -> dict[str, Any]:
        raw = {k: params[k] for k in ("seed", "features", "hidden", "classes")}
        return MlpTrain.bind({**raw, "epochs": params["train_epochs"]})

    @classmethod
    def memory_bytes(cls, params: dict[str, Any]) -> int:
        f, h, c, b = (params[k] for k in ("features", "hidden", "classes", "batch_size"))
        outputs = params["batches"] * b * c * 8
        weights = (f * h + h + h * c + c) * 8
        batch = b * (f + 2 * h + 3 * c) * 8
        # Outputs live, the checkpoint's copy and packed bytes, the result's bytes (at most
        # two of those at once); weights twice; a batch; the built-in model's training.
        training = 0 if params["model"] else MlpTrain.memory_bytes(cls._train_params(params))
        return 3 * outputs + 2 * weights + batch + training + (2 << 20)

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(params)
        self.seed = int(params["seed"])
        self.size = int(params["batch_size"])
        self.w = load_model(params["model"]) if params["model"] else self._train()
        self._digest = digest(self.w)
        self._golden = {k: v.copy() for k, v in self.w.items()}
        self._rights = {k: RightSums(self.w[k]) for k in ("w1", "w2")}
        self.out = np.zeros((params["batches"] * self.size, params["classes"]))
        # Finished outputs: a digest per row, and per batch a digest of each column.
        self._out_rows = row_digest(self.out)
        self._out_cols = np.zeros((params["batches"], params["classes"]), self._out_rows.dtype)
        self._done = 0  # batches classified
        self._correct = 0
        self._pending: list[Finding] = []

    def _train(self) -> dict[str, npt.NDArray[np.float64]]:
        trainer = MlpTrain(self._train_params(self.p))
        for i in range(trainer.total_steps):
            if trainer.step(i).outcome is Outcome.ROLLBACK:
                raise RuntimeError("inference: training the built-in model failed its checks")
        return {k: v.copy() for k, v in trainer.w.items()}

    @property
    def total_steps(self) -> int:
        return int(self.p["batches"])

    def _classify(self, index: int, checks: _nn.Checks) -> int:
        """Batch ``index`` into its rows of ``out`` (with their digests); correct answers."""
        x, y = _nn.batch(self.seed, index, self.size, self.p["features"], self.p["classes"])
        _, probs = _nn.forward(self.w, x, checks, self._rights)
        rows = slice(index * self.size, (index + 1) * self.size)
        self.out[rows] = probs
        self._out_rows[rows], self._out_cols[index] = grid_digest(self.out[rows])
        return int(np.count_nonzero(probs.argmax(axis=1) == y))

    def _verify_weights(self) -> list[Finding]:
        return _nn.repair(self.w, self._golden, self._digest, "weights", "golden")

    def _verify_outputs(self) -> list[Finding]:
        """Finished rows against their digests; a damaged batch is classified again."""
        done = self._done * self.size
        rows = np.flatnonzero(row_digest(self.out[:done]) != self._out_rows[:done])
        for index in range(self._done):
            batch = slice(index * self.size, (index + 1) * self.size)
            if np.any(row_digest(self.out[batch].T) != self._out_cols[index]):
                rows = np.union1d(rows, np.arange(batch.start, batch.stop))
        if rows.size == 0:
            return []
        found = self._verify_weights()
        if any(f.outcome is Outcome.ROLLBACK for f in found):
            return found
        checks, changed = _nn.Checks(), 0
        try:
            for index in sorted({int(r) // self.size for r in rows}):
                batch = slice(index * self.size, (index + 1) * self.size)
                before = self.out[batch].copy()
                self._classify(index, checks)
                changed += int(
                    np.count_nonzero(before.view(np.uint64) != self.out[batch].view(np.uint64))
                )
        except _nn.Untrusted as exc:
            return found + exc.findings
        return [
            *found,
            *checks.findings,
            Finding(
                "digest",
                f"out[{span(rows)}]",
                Outcome.CORRECTED,
                "batch(es) classified again",
                max(changed, 1),
            ),
        ]

    def step(self, index: int) -> StepReport:
        if index != self._done or index >= self.total_steps:
            raise ValueError(f"step {index} out of order: {self._done} batches done")
        findings, self._pending = self._pending, []
        findings += self._verify_weights()
        if any(f.outcome is Outcome.ROLLBACK for f in findings):
            return StepReport(findings)
        checks = _nn.Checks()
        try:
            correct = self._classify(index, checks)
        except _nn.Untrusted as exc:
            return StepReport(findings + exc.findings)
        self._done, self._correct = index + 1, self._correct + correct
        return StepReport(
            findings + checks.findings,
            {"accuracy": correct / self.size, "worst_ratio": checks.worst_ratio},
        )

    def scrub(self) -> StepReport:
        findings, self._pending = self._pending, []
        return StepReport(findings + self._verify_weights() + self._verify_outputs())

    def state(self, *, scrubbed: bool = False) -> State:
        found = [] if scrubbed else self._verify_weights() + self._verify_outputs()
        self._pending += found
        if any(f.outcome is Outcome.ROLLBACK for f in found):
            raise ValueError("inference: data failed its checks; not checkpointed")
        done = self._done * self.size
        return {
            "batches_done": self._done,
            "correct": self._correct,
            "model": self._digest,
            "out": self.out[:done].copy(),
            "out_rows": self._out_rows[:done].copy(),
            "out_cols": self._out_cols[: self._done].copy(),
        }

    def restore(self, state: State) -> None:
        done, correct = state["batches_done"], state["correct"]
        if not isinstance(done, int) or not 0 <= done <= self.total_steps:
            raise ValueError(f"inference: bad batches_done {done!r}")
        if not isinstance(correct, int) or state["model"] != self._digest:
            raise ValueError("inference: the checkpoint was made with another model")
        rows, udt = done * self.size, self._out_rows.dtype
        expected = {
            "out": ((rows, self.out.shape[1]), np.dtype(np.float64)),
            "out_rows": ((rows,), udt),
            "out_cols": ((done, self.out.shape[1]), udt),
        }
        for name, (shape, dtype) in expected.items():
            value = state[name]
            if not (
                isinstance(value, np.ndarray) and value.shape == shape and value.dtype == dtype
            ):
                raise ValueError(f"inference: state {name} does not match the parameters")
        self.out[:rows] = state["out"]
        self.out[rows:] = 0.0
        self._out_rows[:rows] = state["out_rows"]
        self._out_rows[rows:] = 0
        self._out_cols[:done] = state["out_cols"]
        self._out_cols[done:] = 0
        self._done, self._correct = done, correct
        self._pending += self._verify_weights() + self._verify_outputs()

    def regions(self) -> dict[str, npt.NDArray[Any]]:
        out: dict[str, npt.NDArray[Any]] = dict(self.w)
        out.update({f"golden.{k}": v for k, v in self._golden.items()})
        out["out"] = self.out[: self._done * self.size]
        return out

    def result(self, *, scrubbed: bool = False) -> bytes:
        if self._done < self.total_steps:
            raise RuntimeError(f"inference: {self._done} of {self.total_steps} batches done")
        found = [] if scrubbed else self._verify_weights() + self._verify_outputs()
        self._pending += found
        if any(f.outcome is Outcome.ROLLBACK for f in found):
            raise RuntimeError("inference: the result failed its checks at the end")
        return npy_bytes(self.out)

    def summary(self) -> dict[str, float]:
        seen = self._done * self.size
        return {
            "batches_done": float(self._done),
            "accuracy": self._correct / seen if seen else float("nan"),
        }
