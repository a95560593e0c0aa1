"""``mlp_train``: train a small MLP on seeded Gaussian blobs, one epoch per step.

Two layers (tanh, softmax) and plain minibatch SGD (``_nn``), every product ABFT-checked.  The
weights carry a digest taken at the end of each step and a spare copy taken with it; at the start
of the next step (and in :meth:`MlpTrain.scrub`, :meth:`MlpTrain.state`,
:meth:`MlpTrain.result`) both are checked: a damaged copy is restored from the intact one, both
damaged is a rollback.  The data set is regenerated from the seed when it fails its digest.
The epoch's minibatch order comes from the seed and the epoch number, so a resumed or
rolled-back job ends with the same bits as one that never stopped.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from flight.app.model import Param, ValueType
from flight.jobs.kind import Finding, JobKind, Outcome, State, StepReport
from flight.jobs.kinds import _nn
from flight.jobs.kinds._common import digest, npz_bytes


class MlpTrain(JobKind):
    name = "mlp_train"
    doc = "Train a two-layer MLP with minibatch SGD on seeded Gaussian blobs, one epoch per step."
    params = (
        Param(
            "seed",
            ValueType.INT,
            0,
            "Seed of the data, the initial weights and the order.",
            min=0,
            max=2**63 - 1,
        ),
        Param("epochs", ValueType.INT, 20, "Epochs to train (one per step).", min=1, max=10000),
        Param("samples", ValueType.INT, 2048, "Training points.", min=16, max=1_000_000),
        Param("features", ValueType.INT, 16, "Input dimensions.", min=2, max=1024),
        Param("hidden", ValueType.INT, 64, "Hidden units.", min=2, max=4096),
        Param("classes", ValueType.INT, 4, "Blobs (output classes).", min=2, max=256),
        Param("batch_size", ValueType.INT, 64, "Points per SGD update.", min=1, max=65536),
        Param("learning_rate", ValueType.FLOAT, 0.1, "SGD step size.", min=1e-6, max=10.0),
    )

    @classmethod
    def validate(cls, params: dict[str, Any]) -> str | None:
        if params["batch_size"] > params["samples"]:
            return f"batch_size {params['batch_size']} is more than samples {params['samples']}"
        if params["classes"] > params["samples"]:
            return f"{params['classes']} classes need at least as many samples"
        weights = params["features"] * params["hidden"] + params["hidden"] * params["classes"]
        if weights > 4_000_000:
            return f"{weights} weights: at most 4,000,000"
        return None

    @classmethod
    def memory_bytes(cls, params: dict[str, Any]) -> int:
        n, f, h, c = (params[k] for k in ("samples", "features", "hidden", "classes"))
        b = params["batch_size"]
        data = n * (f + 1) * 8
        weights = (f * h + h + h * c + c) * 8
        # Data set (and once more while it is generated again); weights live, spare, the
        # checkpoint's copy and its packed bytes, the result; one minibatch's activations.
        activations = b * (f + 4 * h + 4 * c) * 8 + (f * h + h * c) * 8
        return 2 * data + 5 * weights + activations + (2 << 20)

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(params)
        self.seed = int(params["seed"])
        self.x, self.y = self._data()
        self._data_digest = digest({"x": self.x, "y": self.y})
        self.w = _nn.init_weights(
            self.seed, params["features"], params["hidden"], params["classes"]
        )
        self._seal()
        self._epoch = 0
        self._loss = float("nan")
        self._accuracy = float("nan")
        self._pending: list[Finding] = []

    def _data(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
        p = self.p
        return _nn.blobs(self.seed, p["samples"], p["features"], p["classes"])

    def _seal(self) -> None:
        """The weights are right as they are: take their digest and a spare copy."""
        self._digest = digest(self.w)
        self._spare = {k: v.copy() for k, v in self.w.items()}

    def _verify(self) -> list[Finding]:
        """Data set and both copies of the weights against their digests; repair what can be."""
        findings: list[Finding] = []
        if digest({"x": self.x, "y": self.y}) != self._data_digest:
            x, y = self._data()
            count = int(
                np.count_nonzero(x.view(np.uint64) != self.x.view(np.uint64))
                + np.count_nonzero(y != self.y)
            )
            self.x[...], self.y[...] = x, y
            findings.append(
                Finding(
                    "digest",
                    "data",
                    Outcome.CORRECTED,
                    "training set generated again from the seed",
                    count,
                )
            )
        findings += _nn.repair(self.w, self._spare, self._digest, "weights", "spare")
        return findings

    @property
    def total_steps(self) -> int:
        return int(self.p["epochs"])

    def step(self, index: int) -> StepReport:
        if index != self._epoch or index >= self.total_steps:
            raise ValueError(f"step {index} out of order: {self._epoch} epochs done")
        findings, self._pending = self._pending, []
        findings += self._verify()
        if any(f.outcome is Outcome.ROLLBACK for f in findings):
            return StepReport(findings)
        checks = _nn.Checks()
        order = _nn.epoch_order(self.seed, index, self.x.shape[0])
        try:
            loss, accuracy = _nn.train_epoch(
                self.w, self.x, self.y, order, self.p["batch_size"], self.p["learning_rate"], checks
            )
        except _nn.Untrusted as exc:
            return StepReport(findings + exc.findings)
        if not np.isfinite(loss):  # every product was verified: the training itself diverged
            raise RuntimeError(f"mlp_train: loss {loss} in epoch {index}; lower learning_rate")
        self._seal()
        self._epoch, self._loss, self._accuracy = index + 1, loss, accuracy
        return StepReport(
            findings + checks.findings,
            {"loss": loss, "accuracy": accuracy, "worst_ratio": checks.worst_ratio},
        )

    def scrub(self) -> StepReport:
        findings, self._pending = self._pending, []
        return StepReport(findings + self._verify())

    def state(self, *, scrubbed: bool = False) -> State:
        found = [] if scrubbed else self._verify()
        self._pending += found
        if any(f.outcome is Outcome.ROLLBACK for f in found):
            raise ValueError("mlp_train: both copies of the weights are damaged; not checkpointed")
        out: State = {k: v.copy() for k, v in self.w.items()}
        out.update(epoch=self._epoch, digest=self._digest, loss=self._loss, accuracy=self._accuracy)
        return out

    def restore(self, state: State) -> None:
        epoch = state["epoch"]
        if not isinstance(epoch, int) or not 0 <= epoch <= self.total_steps:
            raise ValueError(f"mlp_train: bad epoch {epoch!r}")
        w = {}
        for name in _nn.WEIGHTS:
            array = state[name]
            if not (
                isinstance(array, np.ndarray)
                and array.shape == self.w[name].shape
                and array.dtype == np.float64
            ):
                raise ValueError(f"mlp_train: state {name} does not match the parameters")
            w[name] = array
        if digest(w) != state["digest"]:
            raise ValueError("mlp_train: the checkpoint's weights fail their digest")
        for name, array in w.items():
            self.w[name][...] = array
        self._seal()
        self._epoch = epoch
        self._loss, self._accuracy = float(state["loss"]), float(state["accuracy"])
        self._pending += self._verify()

    def regions(self) -> dict[str, npt.NDArray[Any]]:
        out: dict[str, npt.NDArray[Any]] = {"x": self.x, "y": self.y}
        out.update(self.w)
        out.update({f"spare.{k}": v for k, v in self._spare.items()})
        return out

    def result(self, *, scrubbed: bool = False) -> bytes:
        if self._epoch < self.total_steps:
            raise RuntimeError(f"mlp_train: {self._epoch} of {self.total_steps} epochs done")
        found = [] if scrubbed else self._verify()
        self._pending += found
        if any(f.outcome is Outcome.ROLLBACK for f in found):
            raise RuntimeError("mlp_train: both copies of the weights are damaged")
        arrays: dict[str, npt.NDArray[Any]] = dict(self.w)
        arrays.update(
            loss=np.float64(self._loss),
            accuracy=np.float64(self._accuracy),
            epochs=np.int64(self._epoch),
        )
        return npz_bytes(arrays)

    def summary(self) -> dict[str, float]:
        return {"epoch": float(self._epoch), "loss": self._loss, "accuracy": self._accuracy}
