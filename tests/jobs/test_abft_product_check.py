"""The pipeline checker (ProductCheck): clean panels stay clean, one bad element is repaired
bitwise, several or a damaged operand are uncorrectable, roundoff-sized flips are masked."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from abft_inputs import KINDS, make_pair
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flight.jobs import abft
from flight.jobs.abft import (
    ProductCheck,
    RightSums,
    Signature,
    Status,
    flip_bit,
    residuals,
    row_digest,
)

UPPER_BITS = {np.float64: range(40, 64), np.float32: range(16, 32)}
NBITS = {np.float64: 64, np.float32: 32}
EXPONENTS = {np.float64: (-30, 30), np.float32: (-15, 15)}


def panels(m: int, rows: int) -> Iterator[tuple[int, int]]:
    for r0 in range(0, m, rows):
        yield r0, min(m, r0 + rows)


def formed(a: np.ndarray, b: np.ndarray, rows: int) -> tuple[ProductCheck, np.ndarray]:
    """C formed panel by panel through the checker, every panel clean."""
    check = ProductCheck(a, b)
    c = np.empty((a.shape[0], b.shape[1]), dtype=a.dtype)
    for r0, r1 in panels(a.shape[0], rows):
        _, verdict = check.run(r0, r1, out=c[r0:r1])
        assert verdict.status is Status.CLEAN, verdict
    return check, c


# --- no false positives ---------------------------------------------------------------------


@st.composite
def clean_cases(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int]:
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    kind_a, kind_b = draw(st.sampled_from(KINDS)), draw(st.sampled_from(KINDS))
    m, k, n = (draw(st.integers(1, 24)) for _ in range(3))
    seed = draw(st.integers(0, 2**32 - 1))
    lo, hi = EXPONENTS[dtype]
    ea, eb = draw(st.integers(lo, hi)), draw(st.integers(lo, hi))
    if kind_a == kind_b:  # the structured pairs (cancel, Hilbert, rank-deficient) together
        a, b = make_pair(kind_a, m, k, n, seed)
    else:
        a, _ = make_pair(kind_a, m, k, n, seed)
        _, b = make_pair(kind_b, m, k, n, seed + 1)
    rows = draw(st.sampled_from([1, 3, 8, 24]))
    return (a * 10.0**ea).astype(dtype), (b * 10.0**eb).astype(dtype), rows


@settings(max_examples=1200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=clean_cases())
def test_clean_panels_are_never_flagged(case: tuple[np.ndarray, np.ndarray, int]) -> None:
    a, b, rows = case
    check, c = formed(a, b, rows)
    assert np.all(np.isfinite(c))
    whole = check.check(c)
    assert whole.status is Status.CLEAN and whole.worst_ratio <= 1.0
    assert check.check(c, signature=Signature.of(c)).status is Status.CLEAN


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_clean_blas_sized_products_in_panels(dtype: type) -> None:
    """Inner dimensions long enough for BLAS blocking, every family, several panel heights."""
    rng = np.random.default_rng(42)
    for n, rows in ((64, 64), (200, 48), (333, 128), (512, 100)):
        for kind in ("normal", "hilbert", "cancel", "wide_range", "rank_deficient", "positive"):
            a64, b64 = make_pair(kind, n, n, n, int(rng.integers(1 << 30)))
            check, c = formed(a64.astype(dtype), b64.astype(dtype), rows)
            assert check.check(c).worst_ratio <= 1.0


@pytest.mark.parametrize(
    ("dtype", "scale_a", "scale_b"),
    [
        (np.float64, 1e-170, 1e100),  # squares of A underflow
        (np.float64, 1e160, 1e-100),  # squares of A overflow
        (np.float64, 1e-100, 1e-170),  # squares of B underflow
        (np.float64, 1e-150, 1e160),  # squares of B overflow
        (np.float32, 1e-25, 1e15),
        (np.float32, 1e22, 1e-15),
        (np.float32, 1e-15, 1e-25),
        (np.float32, 1e-18, 1e22),
    ],
)
def test_magnitudes_beyond_the_squares_range_fall_back_to_the_exact_bound(
    dtype: type, scale_a: float, scale_b: float
) -> None:
    """Sums of squares that would under- or overflow use |A||B|e: still no false positives."""
    a, b = make_pair("wide_range", 30, 40, 20, seed=9)
    a, b = (a * scale_a).astype(dtype), (b * scale_b).astype(dtype)
    assert np.all(np.isfinite(a)) and np.all(np.isfinite(b))
    _, c = formed(a, b, 7)
    assert np.all(np.isfinite(c))
    exact = residuals(a, b, c).row_tol
    assert np.all(ProductCheck(a, b).row_tolerance() >= exact * (1 - 1e-6))
    flip_bit(c, 5 * 20 + 3, NBITS[dtype] - 2)  # a large exponent flip is still caught
    # Checked with the bounds the panel was formed with (rows 0..7), as the kinds do: a BLAS
    # may round one 30-row product differently from four stacked 7-row ones in the last bit.
    verdict = ProductCheck(a, b).check(c[0:7], 0, 7)
    assert verdict.status is Status.CORRECTED and verdict.located == frozenset({(5, 3)})


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", ["normal", "wide_range", "hilbert", "positive", "cancel"])
def test_the_row_bound_is_never_below_the_exact_one(dtype: type, kind: str) -> None:
    a64, b64 = make_pair(kind, 40, 50, 30, seed=4)
    a, b = a64.astype(dtype), b64.astype(dtype)
    exact = residuals(a, b, a @ b).row_tol
    assert np.all(ProductCheck(a, b).row_tolerance() >= exact * (1 - 1e-6))


def cancel_references(a: np.ndarray, b: np.ndarray, rows: slice = slice(None)) -> None:
    """Make A_i·(B·e) cancel to roundoff for these rows of A (B·e projected out, in place)."""
    u = b @ np.ones(b.shape[1])
    a[rows] -= np.outer(a[rows] @ u / (u @ u), u)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", ["normal", "wide_range", "hilbert", "positive", "cancel"])
def test_the_cancellation_free_bound_is_never_above_the_exact_one(dtype: type, kind: str) -> None:
    """Rows whose A_i·(B·e) cancels are passed with |A_i|·|B·e| ≤ (|A||B|e)_i: a lower bound,
    so a row it passes would pass the exact bound too (it only saves work)."""
    a64, b64 = make_pair(kind, 40, 50, 30, seed=4)
    a, b = a64.astype(dtype), b64.astype(dtype)
    exact = residuals(a, b, a @ b).row_tol
    check = ProductCheck(a, b)
    with np.errstate(all="ignore"):
        lower = np.array([check._lower_row(i) for i in range(40)])
    assert np.all(lower <= exact)


def test_cancelling_rows_of_a_clean_product_need_no_second_pass_over_b(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows of A orthogonal to B·e have references near zero and fail the first stage; the
    cancellation-free bound passes them, and ‖B‖_F (a pass over a large B) is never taken."""
    monkeypatch.setattr(abft, "_EAGER_NORM_BYTES", 0)  # B as large as matmul's
    rng = np.random.default_rng(22)
    a, b = rng.standard_normal((64, 256)), rng.standard_normal((256, 128))
    cancel_references(a, b, slice(0, 8))  # A_i·(B·e) cancels to roundoff, rows 0..7
    check = ProductCheck(a, b)
    c, verdict = check.run()
    assert verdict.status is Status.CLEAN and verdict.worst_ratio <= 1.0
    past = np.abs(check.sums[:8] - check.left_sums[:8]) > check._tol1[:8]
    assert past.any()  # some residual is not exactly zero: past the first stage
    assert check.right._w_norm is None
    # the same verdict when they are too many to look at one by one (stage 2, array at a time)
    monkeypatch.setattr(abft, "_FEW_ROWS", 0)
    again = ProductCheck(a, b)
    again.prepare()
    rows, worst, _ = again._row_flags(c, 0, 64)
    assert rows == () and worst <= 1.0
    assert again.right._w_norm is not None
    flip_bit(c, 7 * 128 + 5, 62)  # a flagged row does go on to the last stage
    assert check.check(c).status is Status.CORRECTED
    assert check.right._w_norm is not None


def test_an_upset_of_the_cached_b_sums_does_not_hide_a_fault_in_a_cancelling_row(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The cancellation-free bound reads u = B·e after the product: a flip that made u[0]
    7e19 would let it pass the damaged row 3 (stage 1 cancels there).  It is used only while
    u holds the bits it was taken with; otherwise stage 2 decides, and the fault is repaired."""
    monkeypatch.setattr(abft, "_EAGER_NORM_BYTES", 0)  # B as large as matmul's
    rng = np.random.default_rng(22)
    a, b = rng.standard_normal((64, 256)), rng.standard_normal((256, 128))
    cancel_references(a, b, slice(0, 8))
    check = ProductCheck(a, b)
    c, _ = check.run()
    gold = c.copy()
    assert check.right.u_unchanged()
    flip_bit(check.right.u, 0, 58)
    assert not check.right.u_unchanged()
    flip_bit(c, 3 * 128 + 5, 62)
    verdict = check.check(c)
    assert verdict.status is Status.CORRECTED and verdict.located == frozenset({(3, 5)})
    assert c.tobytes() == gold.tobytes()


def test_a_small_b_has_its_norm_with_its_sums_and_a_large_one_when_a_row_needs_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(8)
    b = rng.standard_normal((64, 32))
    eager = RightSums(b)
    assert eager.has_norm  # 16 KiB: a few microseconds while it is in cache
    monkeypatch.setattr(abft, "_EAGER_NORM_BYTES", b.nbytes - 1)
    right = RightSums(b)
    assert not right.has_norm
    assert right.w_norm == eager.w_norm and right.has_norm


def test_a_bound_taken_after_b_was_upset_does_not_hide_the_damage(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The norm of a large B is taken when a row first needs it, after the product: from an
    upset B it would widen the tolerance of the very rows the upset damaged (here rows whose
    A_i3 is too small for their residual to stand out against a norm of 2e90).  B is proved
    unchanged first."""
    monkeypatch.setattr(abft, "_EAGER_NORM_BYTES", 0)  # B as large as matmul's
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((32, 64)), rng.standard_normal((64, 48))
    a[:, 3] *= 1e-12
    b[3, 5] = 2.0**44
    check = ProductCheck(a, b)
    check.prepare()
    flip_bit(b, 3 * 48 + 5, 60)  # an exponent bit: B[3, 5] becomes 2e90
    verdict = check.run()[1]
    assert verdict.status is Status.UNCORRECTABLE
    assert check.right._w_norm is None  # not taken from the upset B
    with np.errstate(all="ignore"):
        assert math.isnan(check._strict_row(0))  # one row alone: no bound either
    flip_bit(b, 3 * 48 + 5, 60)  # restored (as matmul restores an input, in place)
    assert np.all(np.isfinite(check.row_tolerance()))  # the NaN bounds were not remembered
    assert check.right._w_norm is not None
    assert check.run()[1].status is Status.CLEAN


@pytest.mark.parametrize("late", [1, abft._FEW_ROWS, abft._FEW_ROWS + 1, abft._FEW_ROWS + 2])
def test_the_worst_late_row_first_changes_no_verdict(
        monkeypatch: pytest.MonkeyPatch, late: int) -> None:
    """The check decides its worst late row alone before looking for the others; whatever it
    finds there, the verdict is the one the others' way gives.  Here every row's reference
    cancels, and a large B is upset at rest after its sums were taken (C is right): one row
    alone, or a few, pass the cancellation-free bound from the intact u; more than a few go
    array at a time to stage 2, which has no bound from a changed B and flags them all."""
    monkeypatch.setattr(abft, "_EAGER_NORM_BYTES", 0)  # B as large as matmul's
    rng = np.random.default_rng(7)
    b = rng.standard_normal((96, 40))
    a = rng.standard_normal((late, 96))
    cancel_references(a, b)  # every A_i·(B·e) cancels
    check = ProductCheck(a, b)
    check.prepare()
    c = check.product()
    flip_bit(b, 5 * 40 + 3, 45)
    with np.errstate(all="ignore"):
        rows, worst, _ = check._row_flags(c, 0, late)
    if late <= abft._FEW_ROWS:
        assert rows == () and worst <= 1.0
    else:
        assert rows == tuple(range(late)) and math.isnan(worst)


# --- single flips in the result -------------------------------------------------------------


@pytest.mark.parametrize(
    ("dtype", "kind"),
    [
        (np.float64, "positive"),
        (np.float64, "integer"),
        (np.float64, "normal"),
        (np.float32, "positive"),
    ],
)
def test_every_upper_bit_flip_of_every_element_is_corrected_bitwise(dtype: type, kind: str) -> None:
    """Exponent, sign and upper mantissa: always found, and the repair is the exact bits.

    float32 only on short same-sign products: its bits 16..22 are within roundoff of a dot
    product once the row sum of |A||B| is ~70x |C_ij| or more (long same-sign products, or
    elements near zero in zero-mean data); see docs/jobs-kinds.md.
    """
    a64, b64 = make_pair(kind, 12, 13, 9, seed=3)
    a, b = a64.astype(dtype), b64.astype(dtype)
    check, gold = formed(a, b, 5)
    tested = 0
    for flat in range(gold.size):
        i, j = divmod(flat, gold.shape[1])
        r0 = (i // 5) * 5
        r1 = min(12, r0 + 5)
        for bit in UPPER_BITS[dtype]:
            c = gold.copy()
            flip_bit(c, flat, bit)
            if c[i, j] == gold[i, j]:
                continue  # the sign of zero (the integer family has exact zeros)
            tested += 1
            verdict = check.check(c[r0:r1], r0, r1)
            assert verdict.status is Status.CORRECTED, (flat, bit, verdict)
            assert verdict.located == frozenset({(i, j)})
            assert c.tobytes() == gold.tobytes(), (flat, bit)
    assert tested > gold.size * (len(UPPER_BITS[dtype]) - 2)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    dtype=st.sampled_from([np.float64, np.float32]),
    kind=st.sampled_from(["normal", "wide_range", "positive", "cancel", "hilbert"]),
    n=st.sampled_from([16, 64, 160]),
    seed=st.integers(0, 2**32 - 1),
    data=st.data(),
)
def test_any_single_flip_is_corrected_or_masked_within_tolerance(
    dtype: type, kind: str, n: int, seed: int, data: st.DataObject
) -> None:
    """Any bit of any element: corrected to the exact bits, or tolerated and within tolerance."""
    a64, b64 = make_pair(kind, n, n, n, seed)
    a, b = a64.astype(dtype), b64.astype(dtype)
    rows = n // 2
    check, gold = formed(a, b, rows)
    tol = check.row_tolerance()
    flat = data.draw(st.integers(0, gold.size - 1), label="flat")
    bit = data.draw(st.integers(0, NBITS[dtype] - 1), label="bit")
    i, j = divmod(flat, n)
    r0 = (i // rows) * rows
    c = gold.copy()
    flip_bit(c, flat, bit)
    with np.errstate(invalid="ignore", over="ignore"):
        delta = abs(float(c[i, j]) - float(gold[i, j]))
    panel = c[r0 : r0 + rows]
    verdict = check.check(panel, r0, r0 + rows, signature=Signature.of(gold[r0 : r0 + rows]))
    if verdict.status is Status.CORRECTED:
        assert verdict.located == frozenset({(i, j)}) and c.tobytes() == gold.tobytes()
    else:
        assert verdict.status is Status.MASKED, verdict
        assert verdict.located == frozenset({(i, j)})
        assert delta <= 1.5 * float(tol[i])  # |δ + roundoff| ≤ tol, roundoff ≤ tol / 2
    if not delta <= 2.0 * float(tol[i]):
        assert verdict.status is Status.CORRECTED  # clearly above tolerance: must be caught


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    dtype=st.sampled_from([np.float64, np.float32]),
    kind=st.sampled_from(["normal", "wide_range", "positive", "cancel", "hilbert"]),
    seed=st.integers(0, 2**32 - 1),
    flips=st.lists(st.tuples(st.integers(0, 64 * 64 - 1), st.integers(0, 63)), max_size=40),
)
def test_rows_past_stage_one_get_the_same_verdicts_one_by_one_as_array_at_a_time(
    dtype: type, kind: str, seed: int, flips: list[tuple[int, int]]
) -> None:
    """A clean product has a row or two past stage 1, checked one by one; a damaged panel many,
    checked array at a time: every way flags the same rows (B is small here, so the rows one
    by one meet the same stage-2 bound as the arrays)."""
    a64, b64 = make_pair(kind, 64, 64, 64, seed)
    a, b = a64.astype(dtype), b64.astype(dtype)
    c = a @ b
    for flat, bit in flips:
        flip_bit(c, flat, bit % NBITS[dtype])
    verdicts = []
    # every late row one by one; every late row in arrays; one by one up to 3 late rows
    for few in (10**9, 0, 3):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(abft, "_FEW_ROWS", few)
            check = ProductCheck(a, b)
            check.prepare()
            verdicts.append(check._row_flags(c, 0, 64))
    rows_1, worst_1, sums_1 = verdicts[0]
    for rows, worst, sums in verdicts[1:]:
        assert rows == rows_1 and sums.tobytes() == sums_1.tobytes()
        assert worst == pytest.approx(worst_1, rel=1e-5, nan_ok=True)


def test_zero_mean_products_catch_upper_bits_of_all_but_tiny_elements() -> None:
    """float64 normal data, n = 256: every flip of bits 40..63 is caught unless the element is
    near zero (then the flip is as small as roundoff).  float32 at this size catches much less:
    its tolerance is ~1/3 of a typical element (docs/jobs-kinds.md), which the hypothesis test
    above covers as "corrected, or masked within tolerance"."""
    a, b = make_pair("normal", 256, 256, 256, seed=12)
    check, gold = formed(a, b, 64)
    rng = np.random.default_rng(1)
    typical = float(np.median(np.abs(gold)))
    for flat in rng.choice(gold.size, 60, replace=False):
        i, j = divmod(int(flat), 256)
        r0 = (i // 64) * 64
        for bit in range(40, 64):
            c = gold.copy()
            flip_bit(c, int(flat), bit)
            verdict = check.check(c[r0 : r0 + 64], r0, r0 + 64)
            if abs(float(gold[i, j])) > 1e-3 * typical:
                assert verdict.status is Status.CORRECTED, (flat, bit, verdict)
            if verdict.status is Status.CORRECTED:
                assert c.tobytes() == gold.tobytes()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_lowest_mantissa_flips_are_masked_and_within_tolerance(dtype: type) -> None:
    a64, b64 = make_pair("positive", 20, 30, 16, seed=5)
    a, b = a64.astype(dtype), b64.astype(dtype)
    check, gold = formed(a, b, 20)
    signature = Signature.of(gold)
    tol = check.row_tolerance()
    for flat in range(0, gold.size, 7):
        i, j = divmod(flat, 16)
        for bit in range(3):
            c = gold.copy()
            flip_bit(c, flat, bit)
            verdict = check.check(c, signature=signature)
            assert verdict.status is Status.MASKED, (flat, bit, verdict)
            assert verdict.masked == 1 and verdict.located == frozenset({(i, j)})
            assert abs(float(c[i, j]) - float(gold[i, j])) <= float(tol[i])
            assert check.check(c).status is Status.CLEAN  # no signature: roundoff to the checks


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_nan_and_inf_in_the_result_are_corrected(dtype: type) -> None:
    a64, b64 = make_pair("normal", 10, 12, 8, seed=1)
    a, b = a64.astype(dtype), b64.astype(dtype)
    check, gold = formed(a, b, 10)
    for bad in (np.nan, np.inf, -np.inf):
        c = gold.copy()
        c[4, 6] = bad
        verdict = check.check(c)
        assert verdict.status is Status.CORRECTED and verdict.located == frozenset({(4, 6)})
        assert c.tobytes() == gold.tobytes()


# --- several bad elements, damaged operands -------------------------------------------------


@pytest.mark.parametrize(
    "where", [((1, 2), (5, 7)), ((2, 1), (2, 4)), ((1, 3), (6, 3))], ids=["apart", "row", "col"]
)
def test_two_bad_elements_are_uncorrectable_and_left_alone(
    where: tuple[tuple[int, int], ...],
) -> None:
    a, b = make_pair("positive", 8, 9, 10, seed=7)
    check, gold = formed(a, b, 8)
    c = gold.copy()
    for i, j in where:
        flip_bit(c, i * 10 + j, 61)
    damaged = c.copy()
    verdict = check.check(c)
    assert verdict.status is Status.UNCORRECTABLE and not verdict.usable
    assert set(verdict.flagged_rows) == {i for i, _ in where}
    assert set(verdict.flagged_cols) == {j for _, j in where}
    assert np.array_equal(c, damaged, equal_nan=True)


@pytest.mark.parametrize("operand", ["a", "b"])
def test_a_damaged_operand_is_uncorrectable(operand: str) -> None:
    """Sums taken of clean inputs disagree with a panel formed from a damaged one, however
    often it is formed again: the caller must restore the input (or roll back)."""
    a, b = make_pair("normal", 64, 48, 40, seed=2)
    check = ProductCheck(a, b)
    check.prepare()
    flip_bit(a if operand == "a" else b, 3 * (48 if operand == "a" else 40) + 5, 60)
    _, verdict = check.run(0, 32)
    assert verdict.status is Status.UNCORRECTABLE
    if operand == "a":  # one row of A: its row of C, however often formed
        assert verdict.flagged_rows == (3,)
    else:  # one element of B: every row that uses it
        assert len(verdict.flagged_rows) > 1


# --- faults while the product is formed -----------------------------------------------------


@pytest.fixture
def faulty_gemm(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """abft.gemm that flips bit 60 of the listed elements of its first result only."""
    hits: list[tuple[int, int]] = []
    real = abft.gemm
    calls = {"n": 0}

    def gemm(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        c = real(a, b, out)
        calls["n"] += 1
        if calls["n"] == 1:
            for i, j in hits:
                flip_bit(c, i * c.shape[1] + j, 60)
        return c

    monkeypatch.setattr(abft, "gemm", gemm)
    return hits


def test_a_fault_in_the_product_is_repaired_to_the_fault_free_bits(
    faulty_gemm: list[tuple[int, int]],
) -> None:
    a, b = make_pair("normal", 48, 64, 32, seed=8)
    gold = np.matmul(a[16:48], b)  # the fault-free panel (abft.gemm is the faulty one here)
    faulty_gemm.append((5, 9))
    out = np.empty((32, 32))
    c, verdict = ProductCheck(a, b).run(16, 48, out=out)
    assert c is out
    assert verdict.status is Status.CORRECTED and verdict.located == frozenset({(21, 9)})
    assert out.tobytes() == gold.tobytes()


def test_two_faults_in_the_product_are_uncorrectable(faulty_gemm: list[tuple[int, int]]) -> None:
    a, b = make_pair("normal", 48, 64, 32, seed=8)
    faulty_gemm.extend([(5, 9), (7, 9)])
    _, verdict = ProductCheck(a, b).run(16, 48)
    assert verdict.status is Status.UNCORRECTABLE
    assert verdict.flagged_rows == (21, 23) and verdict.flagged_cols == (9,)


# --- determinism of the repair --------------------------------------------------------------

_DIGEST_SCRIPT = """
import hashlib, numpy as np
from flight.jobs.abft import gemm
rng = np.random.default_rng(5)
out = []
for n, rows in ((512, 512), (512, 96), (200, 64)):
    a, b = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    c = np.empty((n, n))
    for r0 in range(0, n, rows):
        gemm(a[r0:r0 + rows], b, c[r0:r0 + rows])
    out.append(hashlib.sha256(c.tobytes()).hexdigest())
print(" ".join(out))
"""


def misaligned(x: np.ndarray, offset: int) -> np.ndarray:
    """A copy of ``x`` starting ``offset`` elements into a larger buffer (another alignment)."""
    buf = np.empty(x.size + 8, dtype=x.dtype)
    out = buf[offset : offset + x.size].reshape(x.shape)
    out[...] = x
    return out


def test_forming_a_panel_again_gives_the_same_bits() -> None:
    """Into C, into a fresh array, from copies at other addresses, in another process."""
    rng = np.random.default_rng(5)
    for n, rows in ((512, 512), (512, 96), (200, 64), (97, 13)):
        a, b = rng.standard_normal((n, n)), rng.standard_normal((n, n))
        c = np.empty((n, n))
        for r0, r1 in panels(n, rows):
            abft.gemm(a[r0:r1], b, c[r0:r1])
        a2, b2 = misaligned(a, 3), misaligned(b, 5)
        for r0, r1 in panels(n, rows):
            assert abft.gemm(a[r0:r1], b).tobytes() == c[r0:r1].tobytes()
            assert abft.gemm(a2[r0:r1], b2).tobytes() == c[r0:r1].tobytes()
            out = misaligned(np.zeros((r1 - r0, n)), 1)
            assert abft.gemm(a[r0:r1], b, out).tobytes() == c[r0:r1].tobytes()
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    runs = {
        subprocess.run(
            [sys.executable, "-c", _DIGEST_SCRIPT],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for _ in range(2)
    }
    assert len(runs) == 1


# --- digests and small pieces ---------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.uint8])
def test_row_digest_sees_every_single_flip_in_its_row_only(dtype: Any) -> None:
    x = (np.arange(4 * 6) * 7 + 1).astype(dtype).reshape(4, 6)
    before = row_digest(x)
    raw = x.reshape(-1).view(np.uint8)
    for byte in range(raw.size):
        for bit in range(8):
            raw[byte] ^= np.uint8(1 << bit)
            after = row_digest(x)
            row = byte // (6 * x.itemsize)
            assert after[row] != before[row] and np.array_equal(
                np.delete(after, row), np.delete(before, row)
            )
            raw[byte] ^= np.uint8(1 << bit)
    assert row_digest(x[0]).shape == (1,)


def test_cached_right_sums_serve_many_left_operands() -> None:
    rng = np.random.default_rng(3)
    w = rng.standard_normal((30, 20))
    right = RightSums(w)
    for _ in range(5):
        x = rng.standard_normal((17, 30))
        assert ProductCheck(x, w, right=right).run()[1].status is Status.CLEAN
    with pytest.raises(ValueError):
        ProductCheck(rng.standard_normal((5, 20)), w.T, right=right)


def test_operand_and_panel_checks() -> None:
    a, b = np.ones((4, 3)), np.ones((3, 5))
    check = ProductCheck(a, b)
    with pytest.raises(ValueError):
        check.run(2, 9)
    with pytest.raises(ValueError):
        check.check(np.ones((2, 5)), 0, 3)
    with pytest.raises(ValueError):
        ProductCheck(a, np.ones((4, 5)))
    with pytest.raises(TypeError):
        ProductCheck(a.astype(np.float16), b.astype(np.float16))
    empty = ProductCheck(np.ones((3, 0)), np.ones((0, 2)))
    assert empty.run()[1].status is Status.CLEAN


@settings(max_examples=60, deadline=None)
@given(spans=st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40)), min_size=1,
                      max_size=8))
def test_prepared_rows_are_those_of_every_span_asked_for(spans: list[tuple[int, int]]) -> None:
    """prepare() keeps a count of the rows still to do beside the per-row flags (its fast
    path); whatever spans are asked for, in any order and overlapping, both must agree and the
    prepared rows hold A_i·(B·e) and pass their own clean panel."""
    a, b = make_pair("normal", 40, 24, 16, seed=5)
    check = ProductCheck(a, b)
    union: set[int] = set()
    for x, y in spans:
        r0, r1 = min(x, y), max(x, y)
        check.prepare(r0, r1)
        union |= set(range(r0, r1))
        assert check._unready == 40 - len(union)
        assert set(np.flatnonzero(check._ready).tolist()) == union
    rows = sorted(union)
    np.testing.assert_allclose(check.left_sums[rows], (a @ (b @ np.ones(16)))[rows],
                               rtol=1e-12, atol=1e-12)
    for r0, r1 in spans:
        lo, hi = min(r0, r1), max(r0, r1)
        _c, verdict = check.run(lo, hi)
        assert verdict.status is Status.CLEAN
