"""Matrix families for the ABFT tests: well- and ill-conditioned, mixed sign, wide magnitude."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

KINDS = ("normal", "positive", "hilbert", "rank_deficient", "wide_range", "cancel", "integer")


def make_pair(
    kind: str, m: int, k: int, n: int, seed: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """A (m x k) and B (k x n) in float64 from one family, unscaled."""
    rng = np.random.default_rng(seed)
    if kind == "normal":
        return rng.standard_normal((m, k)), rng.standard_normal((k, n))
    if kind == "positive":
        return rng.uniform(1.0, 2.0, (m, k)), rng.uniform(1.0, 2.0, (k, n))
    if kind == "hilbert":  # Hilbert-like: condition number grows exponentially with size
        i = np.arange(max(m, k, n), dtype=np.float64)
        h = 1.0 / (i[:, None] + i[None, :] + 1.0)
        return h[:m, :k].copy(), h[:k, :n].copy()
    if kind == "rank_deficient":
        r = max(1, min(m, k, n) // 3)
        a = rng.standard_normal((m, r)) @ rng.standard_normal((r, k))
        b = rng.standard_normal((k, r)) @ rng.standard_normal((r, n))
        return a, b
    if kind == "wide_range":  # mixed signs, element magnitudes spread over 1e-3 .. 1e3
        a = rng.choice([-1.0, 1.0], (m, k)) * 10.0 ** rng.uniform(-3, 3, (m, k))
        b = rng.choice([-1.0, 1.0], (k, n)) * 10.0 ** rng.uniform(-3, 3, (k, n))
        return a, b
    if kind == "cancel":  # A·B ~ 0 by catastrophic cancellation, |A||B| large
        if k < 2:
            return rng.standard_normal((m, k)), rng.standard_normal((k, n))
        h = k // 2
        x = rng.standard_normal((m, h))
        y = rng.standard_normal((h, n))
        a = np.hstack([x, x * (1.0 + 1e-7 * rng.standard_normal((m, h)))])
        b = np.vstack([y, -y])
        if a.shape[1] < k:
            a = np.hstack([a, rng.standard_normal((m, 1))])
            b = np.vstack([b, rng.standard_normal((1, n))])
        return a, b
    if kind == "integer":
        return (
            rng.integers(-1000, 1000, (m, k)).astype(np.float64),
            rng.integers(-1000, 1000, (k, n)).astype(np.float64),
        )
    raise ValueError(kind)
