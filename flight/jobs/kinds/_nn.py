"""A small multilayer perceptron in numpy whose every matrix product is ABFT-checked.

Shared by ``mlp_train`` and ``inference``: the seeded data set (Gaussian blobs), the initial
weights, the forward pass and one epoch of minibatch SGD.  Two layers, tanh then softmax:

    H = tanh(X·W1 + b1)        P = softmax(H·W2 + b2)        loss = mean(-log P[y])

Every product (two forward, three backward) goes through :class:`ProductCheck`; a single bad
element is repaired bitwise, anything worse raises :class:`Untrusted` and the step rolls back.
Everything is float64 and deterministic: the same weights, data and order give the same bits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from flight.jobs.abft import ProductCheck, RightSums, Status
from flight.jobs.kind import Finding, Outcome
from flight.jobs.kinds._common import abft_finding, digest

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: Distance scale of the blob centres (unit-variance noise around each).
SEPARATION = 0.5
#: Names of the model's arrays, in a fixed order.
WEIGHTS = ("w1", "b1", "w2", "b2")

# Streams of the seeded generators: the same seed never feeds two uses.
_CENTRES, _SAMPLES, _INIT, _ORDER, _BATCH = 10, 11, 12, 13, 14


class Untrusted(Exception):
    """A product could not be verified: the step's findings, ending in a rollback."""

    def __init__(self, findings: list[Finding]) -> None:
        super().__init__(findings[-1].detail if findings else "unverified product")
        self.findings = findings


@dataclass
class Checks:
    """What the checked products of one step found."""

    findings: list[Finding] = field(default_factory=list)
    products: int = 0
    worst_ratio: float = 0.0


def centres(seed: int, features: int, classes: int) -> F64:
    rng = np.random.default_rng([seed, _CENTRES])
    return rng.standard_normal((classes, features)) * SEPARATION


def blobs(seed: int, samples: int, features: int, classes: int) -> tuple[F64, I64]:
    """The training set: ``samples`` points around ``classes`` seeded centres."""
    rng = np.random.default_rng([seed, _SAMPLES])
    y = rng.integers(0, classes, samples, dtype=np.int64)
    x = centres(seed, features, classes)[y] + rng.standard_normal((samples, features))
    return x, y


def batch(seed: int, index: int, size: int, features: int, classes: int) -> tuple[F64, I64]:
    """Batch ``index`` of new points from the same blobs (for inference)."""
    rng = np.random.default_rng([seed, _BATCH, index])
    y = rng.integers(0, classes, size, dtype=np.int64)
    x = centres(seed, features, classes)[y] + rng.standard_normal((size, features))
    return x, y


def init_weights(seed: int, features: int, hidden: int, classes: int) -> dict[str, F64]:
    rng = np.random.default_rng([seed, _INIT])
    return {
        "w1": rng.standard_normal((features, hidden)) / np.sqrt(features),
        "b1": np.zeros(hidden),
        "w2": rng.standard_normal((hidden, classes)) / np.sqrt(hidden),
        "b2": np.zeros(classes),
    }


def epoch_order(seed: int, epoch: int, samples: int) -> I64:
    return np.random.default_rng([seed, _ORDER, epoch]).permutation(samples)


def product(a: F64, b: F64, where: str, checks: Checks, right: RightSums | None = None) -> F64:
    """a·b, ABFT-checked; raises :class:`Untrusted` when it cannot be trusted."""
    c, verdict = ProductCheck(a, b, right=right).run()
    checks.products += 1
    checks.worst_ratio = max(checks.worst_ratio, verdict.worst_ratio)
    finding = abft_finding(where, verdict)
    if finding is not None:
        checks.findings.append(finding)
    if verdict.status is Status.UNCORRECTABLE:
        raise Untrusted(checks.findings)
    return np.asarray(c, dtype=np.float64)  # already float64: no copy


def softmax(z: F64) -> F64:
    z = z - z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def forward(
    w: dict[str, F64], x: F64, checks: Checks, rights: dict[str, RightSums] | None = None
) -> tuple[F64, F64]:
    """(H, P) for inputs ``x``; ``rights`` are cached sums of W1 and W2 (weights held fixed)."""
    rights = rights or {}
    h = product(x, w["w1"], "X@W1", checks, rights.get("w1"))
    h += w["b1"]
    np.tanh(h, out=h)
    z = product(h, w["w2"], "H@W2", checks, rights.get("w2"))
    z += w["b2"]
    return h, softmax(z)


def train_epoch(
    w: dict[str, F64],
    x: F64,
    y: I64,
    order: I64,
    batch_size: int,
    learning_rate: float,
    checks: Checks,
) -> tuple[float, float]:
    """One epoch of minibatch SGD in place on ``w``: (mean loss, accuracy) over the epoch."""
    loss_sum, correct = 0.0, 0
    for start in range(0, order.size, batch_size):
        idx = order[start : start + batch_size]
        xb, yb = x[idx], y[idx]
        rows = np.arange(idx.size)
        h, p = forward(w, xb, checks)
        loss_sum += float(-np.log(np.maximum(p[rows, yb], 1e-300)).sum())
        correct += int(np.count_nonzero(p.argmax(axis=1) == yb))
        d2 = p
        d2[rows, yb] -= 1.0
        d2 /= idx.size
        g_w2 = product(h.T, d2, "H.T@dZ2", checks)
        dz1 = product(d2, w["w2"].T, "dZ2@W2.T", checks)
        dz1 *= 1.0 - h * h
        g_w1 = product(xb.T, dz1, "X.T@dZ1", checks)
        w["w2"] -= learning_rate * g_w2
        w["b2"] -= learning_rate * d2.sum(axis=0)
        w["w1"] -= learning_rate * g_w1
        w["b1"] -= learning_rate * dz1.sum(axis=0)
    return loss_sum / order.size, correct / order.size


def compare(live: dict[str, F64], copy: dict[str, F64]) -> dict[str, int]:
    """Elements whose bits differ between two sets of the same arrays, by name (non-zero only)."""
    out = {}
    for name, array in live.items():
        n = int(np.count_nonzero(array.view(np.uint64) != copy[name].view(np.uint64)))
        if n:
            out[name] = n
    return out


def repair(
    live: dict[str, F64], spare: dict[str, F64], expected: str, label: str, spare_label: str
) -> list[Finding]:
    """Two copies of some arrays and the digest they had: make both right again, if one is.

    The live copy failing → restored from the spare (``corrected``); the spare failing →
    refreshed from the live one; both failing → a rollback.
    """
    live_ok, spare_ok = digest(live) == expected, digest(spare) == expected
    if live_ok and spare_ok:
        return []
    if not live_ok and not spare_ok:
        return [Finding("digest", label, Outcome.ROLLBACK, "both copies fail the digest")]
    if live_ok:
        changed = compare(spare, live)
        for name, array in live.items():
            spare[name][...] = array
        where = f"{spare_label}.{','.join(changed)}"
        return [
            Finding(
                "digest",
                where,
                Outcome.CORRECTED,
                "refreshed from the live copy",
                sum(changed.values()),
            )
        ]
    changed = compare(live, spare)
    for name, array in spare.items():
        live[name][...] = array
    where = f"{label}.{','.join(changed)}"
    return [
        Finding(
            "digest",
            where,
            Outcome.CORRECTED,
            f"restored from the {spare_label}",
            sum(changed.values()),
        )
    ]
