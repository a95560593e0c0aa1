"""No false positives: >= 1,000 clean products over shapes, dtypes, scales and conditioning."""

from __future__ import annotations

import numpy as np
from abft_inputs import KINDS, make_pair
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flight.jobs.abft import Status, matmul_checked, verify

# float64: each operand scaled by 1e-30 .. 1e30.  float32 cannot hold 1e30 · 1e30, so there the
# *product* spans ~1e-30 .. 1e30 (each operand 1e-15 .. 1e15, wide_range elements up to 1e3).
EXPONENTS = {np.float64: (-30, 30), np.float32: (-15, 15)}


@st.composite
def clean_cases(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int | None]:
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    kind_a = draw(st.sampled_from(KINDS))
    kind_b = draw(st.sampled_from(KINDS))
    m, k, n = (draw(st.integers(1, 24)) for _ in range(3))
    seed = draw(st.integers(0, 2**32 - 1))
    lo, hi = EXPONENTS[dtype]
    ea, eb = draw(st.integers(lo, hi)), draw(st.integers(lo, hi))
    a, _ = make_pair(kind_a, m, k, n, seed)
    _, b = make_pair(kind_b, m, k, n, seed + 1)
    if kind_a == kind_b:  # keep the structured pairs (cancel, Hilbert, rank-deficient) together
        a, b = make_pair(kind_a, m, k, n, seed)
    tile = draw(st.sampled_from([None, None, None, 1, 5, 16]))
    return (a * 10.0**ea).astype(dtype), (b * 10.0**eb).astype(dtype), tile


@settings(max_examples=1200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=clean_cases())
def test_clean_products_are_never_flagged(
    case: tuple[np.ndarray, np.ndarray, int | None],
) -> None:
    a, b, tile = case
    assert np.all(np.isfinite(a)) and np.all(np.isfinite(b))
    result = matmul_checked(a, b, tile=tile)
    assert np.all(np.isfinite(result.c))
    assert result.verdict.status is Status.CLEAN, result.verdict
    assert result.verdict.worst_ratio <= 1.0
    c = result.c.copy()
    assert verify(a, b, c).status is Status.CLEAN
    assert verify(a, b, c, signature=result.signature).status is Status.CLEAN
    assert c.tobytes() == result.c.tobytes()


def test_many_clean_square_products_with_blas_sized_inner_dimension() -> None:
    """Larger inner dimensions exercise the BLAS blocking the tiny hypothesis shapes miss."""
    rng = np.random.default_rng(42)
    for dtype in (np.float64, np.float32):
        for n in (64, 200, 333):
            for kind in ("normal", "hilbert", "cancel", "wide_range", "rank_deficient"):
                a64, b64 = make_pair(kind, n, n, n, int(rng.integers(1 << 30)))
                a, b = a64.astype(dtype), b64.astype(dtype)
                result = matmul_checked(a, b)
                assert result.verdict.status is Status.CLEAN, (dtype, n, kind, result.verdict)
                tiled = matmul_checked(a, b, tile=128)
                assert tiled.verdict.status is Status.CLEAN, (dtype, n, kind, tiled.verdict)
