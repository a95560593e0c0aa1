"""ABFT for C = A·B: clean products stay clean, single upsets are located and repaired."""

from __future__ import annotations

import numpy as np
import pytest
from abft_inputs import make_pair
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flight.jobs.abft import (
    K_FACTOR,
    Signature,
    Status,
    flip_bit,
    matmul_checked,
    residuals,
    verify,
)

# Bits that must always be caught: exponent, sign and upper mantissa.
UPPER_BITS = {np.float64: range(40, 64), np.float32: range(16, 32)}
NBITS = {np.float64: 64, np.float32: 32}


def element_bound(a: np.ndarray, b: np.ndarray, i: int, j: int) -> float:
    fi = np.finfo(a.dtype)
    kk = a.shape[1]
    mag = float(np.abs(a[i, :]).astype(np.float64) @ np.abs(b[:, j]).astype(np.float64))
    return K_FACTOR * kk * float(fi.eps) * mag + K_FACTOR * kk * float(fi.tiny)


def golden(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, Signature]:
    result = matmul_checked(a, b)
    assert result.verdict.status is Status.CLEAN
    return result.c, result.signature


# --- flip_bit -------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_flip_bit_twice_restores_and_touches_one_element(dtype: type) -> None:
    x = np.arange(12, dtype=dtype).reshape(3, 4) + 0.5
    orig = x.copy()
    for bit in range(NBITS[dtype]):
        flip_bit(x, 5, bit)
        udt = np.uint64 if dtype is np.float64 else np.uint32
        changed = np.flatnonzero((x.view(udt) != orig.view(udt)).ravel())
        assert changed.tolist() == [5]
        flip_bit(x, 5, bit)
        assert x.tobytes() == orig.tobytes()


def test_flip_bit_sign_and_exponent() -> None:
    x = np.array([1.0, 1.5], dtype=np.float64)
    flip_bit(x, 0, 63)
    assert x[0] == -1.0
    flip_bit(x, 0, 62)  # exponent 0x3FF -> 0x7FF with zero mantissa: -inf
    assert np.isneginf(x[0])
    flip_bit(x, 1, 62)  # non-zero mantissa: NaN
    assert np.isnan(x[1])


def test_flip_bit_on_non_contiguous_view_writes_through() -> None:
    base = np.ones((4, 4), dtype=np.float32)
    view = base[:, 1]
    flip_bit(view, 2, 31)
    assert base[2, 1] == -1.0 and base.sum() == 14.0


def test_flip_bit_rejects_bad_arguments() -> None:
    x = np.ones(3)
    with pytest.raises(ValueError):
        flip_bit(x, 0, 64)
    with pytest.raises(IndexError):
        flip_bit(x, 3, 0)
    with pytest.raises(TypeError):
        flip_bit(np.ones(3, dtype=np.float16), 0, 0)


# --- every upper-bit flip is corrected ------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", ["positive", "integer"])
def test_every_upper_bit_flip_of_every_element_is_corrected(dtype: type, kind: str) -> None:
    a64, b64 = make_pair(kind, 9, 13, 7, seed=3)
    a, b = a64.astype(dtype), b64.astype(dtype)
    gold, sig = golden(a, b)
    bitwise_without_signature = 0
    total = 0
    for flat in range(gold.size):
        i, j = divmod(flat, gold.shape[1])
        for bit in UPPER_BITS[dtype]:
            c = gold.copy()
            flip_bit(c, flat, bit)
            if c.tobytes() == gold.tobytes():
                continue  # e.g. sign of +0.0 (integer family can produce exact zeros)
            if c[i, j] == gold[i, j] or (c[i, j] == 0.0 and gold[i, j] == 0.0):
                continue
            total += 1
            # With the signature: corrected and bit-for-bit the golden product.
            c_sig = c.copy()
            v = verify(a, b, c_sig, signature=sig)
            assert v.status is Status.CORRECTED, (flat, bit, v)
            assert v.located == frozenset({(i, j)})
            assert c_sig.tobytes() == gold.tobytes(), (flat, bit)
            # Without it (a product held elsewhere): corrected by recomputation, which BLAS may
            # sum in another order than the gemm did, so equal within the element's roundoff.
            v = verify(a, b, c)
            assert v.status is Status.CORRECTED, (flat, bit, v)
            assert v.located == frozenset({(i, j)})
            assert abs(float(c[i, j]) - float(gold[i, j])) <= element_bound(a, b, i, j)
            mask = np.ones(gold.shape, dtype=bool)
            mask[i, j] = False
            assert np.array_equal(c[mask], gold[mask])
            bitwise_without_signature += int(c.tobytes() == gold.tobytes())
    assert total > gold.size * (len(UPPER_BITS[dtype]) - 2)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_flip_to_inf_and_nan_is_caught_and_corrected(dtype: type) -> None:
    a = np.eye(4, dtype=dtype)
    b = np.array([[1.0, 1.5, 2.0, 3.0]] * 4, dtype=dtype) * np.arange(1, 5, dtype=dtype)[:, None]
    b[0, 0], b[0, 1] = 1.0, 1.5
    gold, sig = golden(a, b)
    top = NBITS[dtype] - 2  # highest exponent bit: 0x3FF / 0x7F exponents become all ones
    for flat, check in ((0, np.isposinf), (1, np.isnan)):
        for signature in (None, sig):
            c = gold.copy()
            flip_bit(c, flat, top)
            assert check(c.flat[flat])
            v = verify(a, b, c, signature=signature)
            assert v.status is Status.CORRECTED
            assert v.located == frozenset({divmod(flat, 4)})
            assert c.tobytes() == gold.tobytes()


def test_nan_or_inf_written_into_the_result_is_flagged() -> None:
    a64, b64 = make_pair("normal", 6, 5, 4, seed=1)
    gold, _ = golden(a64, b64)
    for bad in (np.nan, np.inf, -np.inf):
        c = gold.copy()
        c[2, 3] = bad
        v = verify(a64, b64, c)
        assert v.status is Status.CORRECTED and v.located == frozenset({(2, 3)})
        assert abs(c[2, 3] - gold[2, 3]) <= element_bound(a64, b64, 2, 3)


# --- low bits: masked -----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_lowest_mantissa_flips_are_masked_and_within_tolerance(dtype: type) -> None:
    a64, b64 = make_pair("positive", 10, 11, 12, seed=5)
    a, b = a64.astype(dtype), b64.astype(dtype)
    gold, sig = golden(a, b)
    res = residuals(a, b, gold)
    for flat in range(0, gold.size, 7):
        i, j = divmod(flat, gold.shape[1])
        for bit in range(3):
            c = gold.copy()
            flip_bit(c, flat, bit)
            v = verify(a, b, c, signature=sig)
            assert v.status is Status.MASKED, (flat, bit, v)
            assert v.masked == 1 and v.located == frozenset({(i, j)})
            tol = min(float(res.row_tol[i]), float(res.col_tol[j]))
            assert abs(float(c[i, j]) - float(gold[i, j])) <= tol
            # Without a signature nothing can tell the flip from roundoff: reported clean.
            assert verify(a, b, c.copy()).status is Status.CLEAN


# --- several upsets: uncorrectable ----------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("use_signature", [False, True])
def test_two_elements_in_different_rows_and_columns_are_uncorrectable(
    dtype: type, use_signature: bool
) -> None:
    a64, b64 = make_pair("normal", 8, 9, 10, seed=7)
    a, b = a64.astype(dtype), b64.astype(dtype)
    gold, sig = golden(a, b)
    exp_bit = NBITS[dtype] - 3
    c = gold.copy()
    flip_bit(c, 1 * 10 + 2, exp_bit)
    flip_bit(c, 5 * 10 + 7, exp_bit)
    v = verify(a, b, c, signature=sig if use_signature else None)
    assert v.status is Status.UNCORRECTABLE
    assert not v.usable
    assert set(v.flagged_rows) == {1, 5} and set(v.flagged_cols) == {2, 7}


def test_two_elements_in_one_row_are_uncorrectable() -> None:
    a, b = make_pair("positive", 6, 6, 6, seed=2)
    gold, sig = golden(a, b)
    c = gold.copy()
    flip_bit(c, 2 * 6 + 1, 61)
    flip_bit(c, 2 * 6 + 4, 61)
    for signature in (None, sig):
        assert verify(a, b, c.copy(), signature=signature).status is Status.UNCORRECTABLE


# --- random flips anywhere: never silent, never wrong ----------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    dtype=st.sampled_from([np.float64, np.float32]),
    kind=st.sampled_from(["normal", "wide_range", "hilbert", "positive", "cancel"]),
    m=st.integers(1, 12),
    k=st.integers(1, 12),
    n=st.integers(1, 12),
    seed=st.integers(0, 2**32 - 1),
    data=st.data(),
)
def test_any_single_flip_is_corrected_or_masked_within_tolerance(
    dtype: type, kind: str, m: int, k: int, n: int, seed: int, data: st.DataObject
) -> None:
    a64, b64 = make_pair(kind, m, k, n, seed)
    a, b = a64.astype(dtype), b64.astype(dtype)
    gold, sig = golden(a, b)
    res = residuals(a, b, gold)
    flat = data.draw(st.integers(0, gold.size - 1), label="flat")
    bit = data.draw(st.integers(0, NBITS[dtype] - 1), label="bit")
    i, j = divmod(flat, gold.shape[1])
    c = gold.copy()
    flip_bit(c, flat, bit)
    with np.errstate(invalid="ignore", over="ignore"):
        delta = abs(float(c[i, j]) - float(gold[i, j]))
    v = verify(a, b, c, signature=sig)
    if v.status is Status.CORRECTED:
        assert v.located == frozenset({(i, j)})
        assert c.tobytes() == gold.tobytes()
    else:
        assert v.status is Status.MASKED, v
        assert v.located == frozenset({(i, j)})
        # Not flagged: |δ + roundoff| ≤ tol and roundoff ≤ tol / 2 (k is twice the bound).
        assert delta <= 1.5 * min(float(res.row_tol[i]), float(res.col_tol[j]))
    if not delta <= 2.0 * max(float(res.row_tol[i]), float(res.col_tol[j])):
        assert v.status is Status.CORRECTED  # clearly above tolerance: must have been caught


# --- tiling ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_tiled_product_matches_and_is_checked_per_tile(dtype: type) -> None:
    a64, b64 = make_pair("normal", 70, 40, 53, seed=11)
    a, b = a64.astype(dtype), b64.astype(dtype)
    whole = matmul_checked(a, b)
    tiled = matmul_checked(a, b, tile=16)
    assert tiled.verdict.status is Status.CLEAN and tiled.tiles == 5 * 4
    assert len(tiled.tile_verdicts) == 20
    assert np.allclose(
        tiled.c, whole.c, rtol=0, atol=float(np.max(residuals(a, b, whole.c).row_tol))
    )
    assert verify(a, b, tiled.c, signature=tiled.signature).status is Status.CLEAN
    assert tiled.check_s > 0 and tiled.product_s > 0


def test_operand_checks() -> None:
    with pytest.raises(ValueError):
        matmul_checked(np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(TypeError):
        matmul_checked(np.ones((2, 2)), np.ones((2, 2), dtype=np.float32))
    with pytest.raises(TypeError):
        matmul_checked(np.ones((2, 2), dtype=np.float16), np.ones((2, 2), dtype=np.float16))
    with pytest.raises(ValueError):
        verify(np.ones((2, 2)), np.ones((2, 2)), np.ones((3, 2)))
    with pytest.raises(ValueError):
        matmul_checked(np.ones((2, 2)), np.ones((2, 2)), tile=0)
