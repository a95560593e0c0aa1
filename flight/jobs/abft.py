"""Algorithm-based fault tolerance for matrix products (Huang & Abraham, 1984).

A compute job that multiplies matrices under radiation can be hit twice: while the product is
being formed (a flipped register or cache line) and afterwards, while the result sits in memory
waiting for the job runner (an SRAM/HBM upset).  Re-running every product would double the cost;
ABFT checks it in O(n²) against the O(n³) product, using the checksum identities

    row residual     r = C·e - A·(B·e)          (one value per row of C)
    column residual  c = eᵀC - (eᵀA)·B          (one value per column of C)

A single corrupted element C[i, j] = C*[i, j] + δ shows as r_i = c_j = δ and nowhere else, so the
flagged row and column locate it, and the element is repaired by *recomputing*
C[i, j] = A[i, :]·B[:, j] (subtracting δ does not work when an exponent bit flipped: δ may be
inf, NaN, or so large that C - δ loses every significant bit).

Floating point never gives exactly zero residuals, so a residual is flagged when (FIELD_NOTES,
"Radiation")

    NOT( |r_i| ≤ k·n·ε·(|A|·(|B|·e))_i )       and likewise  (eᵀ|A|)·|B|  for columns.

The NOT form matters: a NaN residual compares False with everything and so is flagged.

Choice of k (``K_FACTOR = 4``): with unit roundoff u = ε/2 and the usual bound
|fl(x·y) - x·y| ≤ gamma_n·|x|·|y|, gamma_n = n·u/(1 - n·u), every term of the row residual is
bounded by the same positive quantity (|A|·|B|·e)_i:

    C itself (inner length K)            gamma_K
    C·e       (N terms, |C| ≤ |A||B|)     gamma_N
    B·e       then A·(B·e)                gamma_N + gamma_K

so |r_i| ≤ (2gamma_K + 2gamma_N)(|A||B|e)_i ≤ 4·n·u·(…) = 2·n·ε·(…) with n = max(K, N)
(columns: n = max(m, K)).  k = 2 is therefore the worst-case bound; k = 4 doubles it to absorb
the 1/(1 - n·u) factor, the rounding of the tolerance itself and BLAS kernels that sum in
another order.  It is
a *rigorous* bound, not a statistical one, which is why there are no false positives on
ill-conditioned or large-magnitude inputs: the bound scales with |A||B|, not with |A·B|.  It is
still tight enough for the detection the flight software needs: a flip of bit b in an element
of a p-bit mantissa changes it by at least 2^(b - p - 1)·|C_ij| (float64 bits >= 40: >= 2^-13;
float32 bits >= 16: >= 2^-8, relative), and it is caught once that exceeds ~1.5·k·n·ε·(row sum
of |A||B|).  For same-sign data (row sum ~ N·|C_ij|) that holds for float64 up to n ~ 10^5 but
for float32 bit 16 only up to n ~ 70 (measured: n = 128 misses bit 16, n = 1024 misses bits
16..22): such flips are within float32 roundoff of a long dot product, reported ``masked`` with
a signature, and do not change the result beyond its own roundoff.  Tiling narrows N.  An
absolute floor k·n·tiny covers products that underflow into subnormals.  A larger k would hide
more upper-mantissa flips; a smaller one would flag honest roundoff.  Products computed in
reduced precision (TF32, bf16) need that
format's ε — pass ``eps``.

Flips in the lowest mantissa bits fall under the tolerance and cannot be seen by the residuals
(they are also harmless: the result is still within roundoff of the exact product).  To *count*
them as ``masked`` the checker needs to know the stored bits changed: ``matmul_checked`` returns a
:class:`Signature` (XOR of the bit patterns of every row and column of C, also O(n²)); pass it to
:func:`verify` and an upset that the residuals tolerate is reported as masked with its location.
The same signature lets a repair be bit-exact: when it locates the single changed element, the
flipped bits are known exactly, and the original value is restored if it agrees with the
recomputed element within that element's roundoff bound (otherwise the recomputed value is kept).
Without a signature the recomputed element is within gamma_K·(|A||B|)_ij of the original product,
but it may differ in the last bits because BLAS sums the dot product in another order.

:class:`ProductCheck` is the checker the job pipeline uses (docs/jobs-kinds.md): built once per
pair of operands, it checks row panels of C as they are made with a few matrix-vector products
against sums of A and B it caches, computes column residuals only when a row is flagged, and
repairs a single bad element by forming the panel again with the same :func:`gemm` call, so the
repaired C is bitwise the fault-free one.  :func:`row_digest` is the exact at-rest check for data
that must not change at all (inputs, weights, finished rows of C), with :func:`grid_digest`.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np
import numpy.typing as npt

#: Tolerance multiplier k; 2 is the worst-case roundoff bound, 4 leaves a factor-two margin.
K_FACTOR = 4.0

_UINT_FOR: dict[np.dtype[Any], np.dtype[Any]] = {
    np.dtype(np.float32): np.dtype(np.uint32),
    np.dtype(np.float64): np.dtype(np.uint64),
}

FloatArray = npt.NDArray[np.floating]


@dataclass(frozen=True)
class _Facts:
    """What the checks need to know of a float type, looked up once (``np.finfo`` is slow)."""

    eps: float
    tiny: float
    sumsq_lo: float  #: sums of squares inside [lo, hi] lose nothing to underflow ...
    sumsq_hi: float  #: ... and cannot overflow later


@functools.cache
def _facts(dtype: np.dtype[Any]) -> _Facts:
    fi = np.finfo(dtype)
    return _Facts(float(fi.eps), float(fi.tiny), float(fi.tiny) * 2.0 ** (fi.nmant + 20),
                  float(fi.max) * 2.0**-64)


class Status(str, Enum):
    """Outcome of a check, in the fault-injection vocabulary (NVBitFI, CAROL-FI)."""

    CLEAN = "clean"  # residuals within tolerance, no stored bit known to have changed
    CORRECTED = "corrected"  # one element located, recomputed, re-verified clean
    MASKED = "masked"  # stored bits changed (signature) but the residuals tolerate it
    UNCORRECTABLE = "uncorrectable"  # cannot be explained as one element: caller rolls back


@dataclass(frozen=True)
class Signature:
    """XOR of the raw bit patterns of each row and each column of C, taken when C was made.

    Floating-point checksums cannot see an upset below roundoff; an XOR of the bits sees every
    single flip exactly and locates it (row i and column j differ by the same mask).
    """

    row_xor: npt.NDArray[np.unsignedinteger]
    col_xor: npt.NDArray[np.unsignedinteger]

    @classmethod
    def of(cls, c: FloatArray) -> Signature:
        bits = c.view(_uint_dtype(c.dtype))
        return cls(
            row_xor=np.bitwise_xor.reduce(bits, axis=1),
            col_xor=np.bitwise_xor.reduce(bits, axis=0),
        )


def _flagged(res: FloatArray, tol: FloatArray) -> tuple[int, ...]:
    """Indices where NOT(|res| <= tol): NaN fails the comparison and is flagged.

    An infinite residual is flagged too, even when the tolerance itself overflowed to inf
    (|A||B|e beyond the format's range): roundoff never produces an infinite residual.
    """
    bad = ~(np.abs(res) <= tol) | np.isinf(res)
    return tuple(int(i) for i in np.flatnonzero(bad))


@dataclass(frozen=True)
class Residuals:
    """Row and column residuals with their tolerances; ``flagged_*`` use the NOT(≤) test."""

    row: FloatArray
    col: FloatArray
    row_tol: FloatArray
    col_tol: FloatArray

    @property
    def flagged_rows(self) -> tuple[int, ...]:
        return _flagged(self.row, self.row_tol)

    @property
    def flagged_cols(self) -> tuple[int, ...]:
        return _flagged(self.col, self.col_tol)

    @property
    def worst_ratio(self) -> float:
        """max |residual| / tolerance (NaN-propagating): telemetry for how close to a flag."""
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            ratios = np.concatenate(
                [np.abs(self.row) / self.row_tol, np.abs(self.col) / self.col_tol]
            ).astype(np.float64)
        if ratios.size == 0:
            return 0.0
        return float(np.nan) if np.isnan(ratios).any() else float(ratios.max())


@dataclass(frozen=True)
class Verdict:
    """What :func:`verify` found and did.  ``located`` is the set of (i, j) it could pin down."""

    status: Status
    located: frozenset[tuple[int, int]] = frozenset()
    flagged_rows: tuple[int, ...] = ()
    flagged_cols: tuple[int, ...] = ()
    masked: int = 0  # upsets seen by the signature but tolerated by the residuals
    worst_ratio: float = 0.0

    @property
    def usable(self) -> bool:
        """True when C can be used as is (clean, corrected or masked)."""
        return self.status is not Status.UNCORRECTABLE


@dataclass(frozen=True)
class AbftResult:
    """A checked product: C, the verdict, its bit signature and the cost of the check."""

    c: FloatArray
    verdict: Verdict
    signature: Signature
    product_s: float
    check_s: float
    tiles: int = 1
    tile_verdicts: tuple[Verdict, ...] = field(default=(), repr=False)

    @property
    def overhead(self) -> float:
        """Check time over product time (the O(n²)/O(n³) ratio, measured)."""
        return self.check_s / self.product_s if self.product_s > 0 else float("inf")


def _uint_dtype(dtype: np.dtype[Any]) -> np.dtype[Any]:
    uint = _UINT_FOR.get(dtype)  # a dtype object, the usual case: no np.dtype() call
    if uint is not None:
        return uint
    try:
        return _UINT_FOR[np.dtype(dtype)]
    except (KeyError, TypeError):
        raise TypeError(f"ABFT supports float32 and float64, not {dtype}") from None


def flip_bit(array: npt.NDArray[np.floating], flat_index: int, bit: int) -> None:
    """Flip bit ``bit`` (0 = lowest mantissa bit) of element ``flat_index`` in place.

    Goes through an unsigned-integer view of the same memory, so any bit can be flipped —
    exponent bits included — without the float ever being rounded.  Used by tests and to apply
    upsets drawn by the radiation model to real job data.
    """
    udt = _uint_dtype(array.dtype)
    nbits = udt.itemsize * 8
    if not 0 <= bit < nbits:
        raise ValueError(f"bit {bit} outside 0..{nbits - 1} for {array.dtype}")
    if not 0 <= flat_index < array.size:
        raise IndexError(f"flat index {flat_index} outside array of size {array.size}")
    bits = array.view(udt)  # same itemsize: works on non-contiguous arrays too
    idx = np.unravel_index(flat_index, array.shape)
    bits[idx] ^= udt.type(1 << bit)


def _check_operands(a: FloatArray, b: FloatArray, c: FloatArray | None = None) -> None:
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"cannot multiply {a.shape} by {b.shape}")
    if a.dtype != b.dtype:
        raise TypeError(f"A is {a.dtype} but B is {b.dtype}")
    _uint_dtype(a.dtype)
    if c is not None:
        if c.shape != (a.shape[0], b.shape[1]):
            raise ValueError(f"C is {c.shape}, expected {(a.shape[0], b.shape[1])}")
        if c.dtype != a.dtype:
            raise TypeError(f"C is {c.dtype} but A, B are {a.dtype}")


#: Rows past stage 1 up to which a check looks at them one by one (a clean product of random
#: data has one or two); more - a damaged panel, or data whose references cancel by structure
#: (a gradient whose rows sum to zero) - go through array operations.
_FEW_ROWS = 16

#: Bytes per row block: large enough to amortise the Python loop, small enough for L2 cache.
_BLOCK_BYTES = 1 << 20


def _row_blocks(x: FloatArray) -> range:
    rows = max(1, _BLOCK_BYTES // (x.dtype.itemsize * max(x.shape[1], 1)))
    return range(0, x.shape[0], rows)


def residuals(
    a: FloatArray, b: FloatArray, c: FloatArray, *, k: float = K_FACTOR, eps: float | None = None
) -> Residuals:
    """Row/column residuals of C against A·B and their roundoff tolerances (all O(n²)).

    The check is memory-bound, so it is fused into row-block passes that reuse each block
    while it is in cache: B twice (B·e, |B|·e; then (eᵀA)·B, (eᵀ|A|)·|B|), A once and C once.
    |A| and |B| are never materialised: whole-matrix ``np.abs`` allocates n² temporaries
    whose fresh pages alone cost ~18 % of a float64 n=1024 product (measured).
    """
    # An upset may put inf/NaN in C: that is what the check is for, not a numerical warning.
    with np.errstate(over="ignore", invalid="ignore"):
        return _residuals(a, b, c, k=k, eps=eps)


def _residuals(
    a: FloatArray, b: FloatArray, c: FloatArray, *, k: float, eps: float | None
) -> Residuals:
    m, kk = a.shape
    n_cols = b.shape[1]
    dt = a.dtype
    fi = np.finfo(dt)
    e_eps = float(fi.eps) if eps is None else eps
    ones_n = np.ones(n_cols, dtype=dt)
    ones_r = np.ones(max(m, kk, 1), dtype=dt)
    scratch = np.empty(max(_BLOCK_BYTES // dt.itemsize, n_cols, kk), dtype=dt)

    def absolute(blk: FloatArray) -> FloatArray:
        buf = scratch[: blk.size].reshape(blk.shape)
        np.abs(blk, out=buf)
        return buf

    b_e = np.empty(kk, dtype=dt)
    abs_b_e = np.empty(kk, dtype=dt)
    b_blocks = _row_blocks(b)
    for r0 in b_blocks:
        blk = b[r0 : r0 + b_blocks.step]
        b_e[r0 : r0 + blk.shape[0]] = blk @ ones_n
        abs_b_e[r0 : r0 + blk.shape[0]] = absolute(blk) @ ones_n

    a_b_e = np.empty(m, dtype=dt)
    row_mag = np.empty(m, dtype=dt)
    e_a = np.zeros(kk, dtype=dt)
    e_abs_a = np.zeros(kk, dtype=dt)
    a_blocks = _row_blocks(a)
    for r0 in a_blocks:
        blk = a[r0 : r0 + a_blocks.step]
        nr = blk.shape[0]
        a_b_e[r0 : r0 + nr] = blk @ b_e
        e_a += ones_r[:nr] @ blk
        abs_blk = absolute(blk)
        row_mag[r0 : r0 + nr] = abs_blk @ abs_b_e
        e_abs_a += ones_r[:nr] @ abs_blk

    e_a_b = np.zeros(n_cols, dtype=dt)
    col_mag = np.zeros(n_cols, dtype=dt)
    for r0 in b_blocks:
        blk = b[r0 : r0 + b_blocks.step]
        nr = blk.shape[0]
        e_a_b += e_a[r0 : r0 + nr] @ blk
        col_mag += e_abs_a[r0 : r0 + nr] @ absolute(blk)

    c_e = np.empty(m, dtype=dt)
    e_c = np.zeros(n_cols, dtype=dt)
    c_blocks = _row_blocks(c)
    for r0 in c_blocks:
        blk = c[r0 : r0 + c_blocks.step]
        nr = blk.shape[0]
        c_e[r0 : r0 + nr] = blk @ ones_n
        e_c += ones_r[:nr] @ blk

    n_row = max(kk, n_cols, 1)
    n_col = max(m, kk, 1)
    row_tol = (k * n_row * e_eps) * row_mag + k * n_row * float(fi.tiny)
    col_tol = (k * n_col * e_eps) * col_mag + k * n_col * float(fi.tiny)
    return Residuals(row=c_e - a_b_e, col=e_c - e_a_b, row_tol=row_tol, col_tol=col_tol)


def _element_bound(a: FloatArray, b: FloatArray, i: int, j: int, k: float) -> float:
    """Roundoff bound for one recomputed element: k·K·ε·(|A[i,:]|·|B[:,j]|) + floor."""
    fi = np.finfo(a.dtype)
    kk = max(a.shape[1], 1)
    mag = float(np.abs(a[i, :]).astype(np.float64) @ np.abs(b[:, j]).astype(np.float64))
    return k * kk * float(fi.eps) * mag + k * kk * float(fi.tiny)


def _signature_diff(
    c: FloatArray, signature: Signature | None
) -> tuple[npt.NDArray[np.unsignedinteger], npt.NDArray[np.unsignedinteger]] | None:
    if signature is None:
        return None
    now = Signature.of(c)
    if now.row_xor.shape != signature.row_xor.shape or now.col_xor.shape != signature.col_xor.shape:
        raise ValueError("signature was taken from a matrix of another shape")
    return now.row_xor ^ signature.row_xor, now.col_xor ^ signature.col_xor


def _repair_element(
    a: FloatArray,
    b: FloatArray,
    c: FloatArray,
    i: int,
    j: int,
    mask: np.unsignedinteger | None,
    k: float,
) -> None:
    """Recompute C[i, j]; restore the exact original bits when the signature gives them."""
    recomputed = a.dtype.type(np.dot(a[i, :], b[:, j]))
    if mask is not None:
        udt = _uint_dtype(c.dtype)
        restored_bits = np.asarray(c[i, j]).view(udt) ^ mask
        restored = restored_bits.view(c.dtype)[()]
        if np.isfinite(restored) and abs(float(restored) - float(recomputed)) <= _element_bound(
            a, b, i, j, k
        ):
            c[i, j] = restored
            return
    c[i, j] = recomputed


def verify(
    a: FloatArray,
    b: FloatArray,
    c: FloatArray,
    *,
    signature: Signature | None = None,
    k: float = K_FACTOR,
    eps: float | None = None,
) -> Verdict:
    """Check a product C ≈ A·B computed anywhere, correcting a single bad element in place.

    - nothing flagged → ``clean`` (or ``masked`` when ``signature`` shows stored bits changed);
    - one flagged row and one flagged column → recompute that element, re-verify → ``corrected``;
    - one flagged row (or column) alone, e.g. δ between the row and column tolerances → the
      signature, if given, names the column; otherwise the whole row is recomputed (O(n·K));
    - anything else, or a re-verification that still fails → ``uncorrectable`` (roll back).
    """
    _check_operands(a, b, c)
    res = residuals(a, b, c, k=k, eps=eps)
    rows, cols = res.flagged_rows, res.flagged_cols
    diff = _signature_diff(c, signature)
    sig_rows: tuple[int, ...] = ()
    sig_cols: tuple[int, ...] = ()
    if diff is not None:
        sig_rows = tuple(int(i) for i in np.flatnonzero(diff[0]))
        sig_cols = tuple(int(j) for j in np.flatnonzero(diff[1]))

    if not rows and not cols:
        if sig_rows or sig_cols:
            located: frozenset[tuple[int, int]] = frozenset()
            if len(sig_rows) == 1 and len(sig_cols) == 1:
                located = frozenset({(sig_rows[0], sig_cols[0])})
            return Verdict(
                Status.MASKED,
                located=located,
                masked=max(len(sig_rows), len(sig_cols)),
                worst_ratio=res.worst_ratio,
            )
        return Verdict(Status.CLEAN, worst_ratio=res.worst_ratio)

    def fail() -> Verdict:
        return Verdict(
            Status.UNCORRECTABLE,
            flagged_rows=rows,
            flagged_cols=cols,
            worst_ratio=res.worst_ratio,
        )

    target: tuple[int, int] | None = None
    if len(sig_rows) == 1 and len(sig_cols) == 1:
        si, sj = sig_rows[0], sig_cols[0]
        if set(rows) <= {si} and set(cols) <= {sj}:
            target = (si, sj)
        else:
            return fail()  # residuals point elsewhere than the one changed element: not one upset
    elif len(rows) == 1 and len(cols) == 1 and diff is None:
        target = (rows[0], cols[0])
    elif len(rows) == 1 and len(cols) == 1 and not sig_rows and not sig_cols:
        target = (rows[0], cols[0])  # upset during the product, before the signature was taken

    if target is not None:
        i, j = target
        mask = None
        if diff is not None and sig_rows and diff[0][i] == diff[1][j]:
            mask = diff[0][i]
        _repair_element(a, b, c, i, j, mask, k)
        located = frozenset({target})
    elif not sig_rows and not sig_cols and len(rows) + len(cols) == 1:
        # One line flagged, its crossing line within tolerance: recompute the whole line.
        if rows:
            i = rows[0]
            old = c[i, :].copy()
            c[i, :] = a[i, :] @ b
            j = int(np.nanargmax(np.where(np.isnan(old), np.inf, np.abs(old - c[i, :]))))
        else:
            j = cols[0]
            old = c[:, j].copy()
            c[:, j] = a @ b[:, j]
            i = int(np.nanargmax(np.where(np.isnan(old), np.inf, np.abs(old - c[:, j]))))
        located = frozenset({(i, j)})
    else:
        return fail()

    after = residuals(a, b, c, k=k, eps=eps)
    if after.flagged_rows or after.flagged_cols:
        return Verdict(
            Status.UNCORRECTABLE,
            located=located,
            flagged_rows=after.flagged_rows,
            flagged_cols=after.flagged_cols,
            worst_ratio=after.worst_ratio,
        )
    return Verdict(
        Status.CORRECTED,
        located=located,
        flagged_rows=rows,
        flagged_cols=cols,
        worst_ratio=res.worst_ratio,
    )


_SEVERITY = {Status.CLEAN: 0, Status.MASKED: 1, Status.CORRECTED: 2, Status.UNCORRECTABLE: 3}


def _merge(parts: Iterable[tuple[Verdict, int, int]]) -> Verdict:
    """Combine per-tile verdicts (tile offsets applied) into one for the whole product."""
    status = Status.CLEAN
    located: set[tuple[int, int]] = set()
    rows: set[int] = set()
    cols: set[int] = set()
    masked = 0
    worst = 0.0
    for v, r0, c0 in parts:
        if _SEVERITY[v.status] > _SEVERITY[status]:
            status = v.status
        located |= {(i + r0, j + c0) for i, j in v.located}
        rows |= {i + r0 for i in v.flagged_rows}
        cols |= {j + c0 for j in v.flagged_cols}
        masked += v.masked
        worst = (
            float("nan")
            if np.isnan(v.worst_ratio) or np.isnan(worst)
            else max(worst, v.worst_ratio)
        )
    return Verdict(
        status,
        located=frozenset(located),
        flagged_rows=tuple(sorted(rows)),
        flagged_cols=tuple(sorted(cols)),
        masked=masked,
        worst_ratio=worst,
    )


def matmul_checked(
    a: FloatArray, b: FloatArray, *, tile: int | None = None, k: float = K_FACTOR
) -> AbftResult:
    """C = A·B checked by ABFT; a single upset during the product is corrected in place.

    With ``tile`` the product is formed tile by tile (``tile`` x ``tile`` blocks of C, each the
    full-depth product A[I, :]·B[:, J]) and every tile gets its own checks, so one upset costs a
    tile, not the job, and tiles bound the working set on small boards.  The returned
    :class:`Signature` is taken after checking, for later :func:`verify` calls on the stored C.
    """
    _check_operands(a, b)
    if tile is not None and tile < 1:
        raise ValueError("tile must be a positive number of rows/columns")
    m, n = a.shape[0], b.shape[1]
    if tile is None or (tile >= m and tile >= n):
        t0 = time.perf_counter()
        c = a @ b
        t1 = time.perf_counter()
        verdict = verify(a, b, c, k=k)
        signature = Signature.of(c)
        t2 = time.perf_counter()
        return AbftResult(c, verdict, signature, t1 - t0, t2 - t1)
    c = np.empty((m, n), dtype=a.dtype)
    product_s = check_s = 0.0
    parts: list[tuple[Verdict, int, int]] = []
    for r0 in range(0, m, tile):
        for c0 in range(0, n, tile):
            a_blk, b_blk = a[r0 : r0 + tile, :], b[:, c0 : c0 + tile]
            t0 = time.perf_counter()
            c_blk = a_blk @ b_blk
            t1 = time.perf_counter()
            v = verify(a_blk, b_blk, c_blk, k=k)
            c[r0 : r0 + tile, c0 : c0 + tile] = c_blk
            check_s += time.perf_counter() - t1
            product_s += t1 - t0
            parts.append((v, r0, c0))
    t0 = time.perf_counter()
    signature = Signature.of(c)
    check_s += time.perf_counter() - t0
    verdict = _merge(parts)
    return AbftResult(
        c, verdict, signature, product_s, check_s, len(parts), tuple(v for v, _, _ in parts)
    )


# --- The pipeline checker -------------------------------------------------------------------

_UINT_OF_SIZE: dict[int, type[np.unsignedinteger]] = {
    1: np.uint8,
    2: np.uint16,
    4: np.uint32,
    8: np.uint64,
}


def row_digest(x: npt.NDArray[Any]) -> npt.NDArray[np.unsignedinteger]:
    """Per-row wrapping sum of the raw bit patterns of a 2-D array (a 1-D array is one row).

    The exact at-rest check for data that must not change at all: a flipped bit b changes its
    row's sum by ±2^b, so no single flip goes unseen, whatever the bit (the residuals cannot see
    flips below roundoff).  Two flips in one row cancel when they hit the same bit in opposite
    directions, or both hit the top bit (2·2^63 wraps to 0): pair it with :func:`grid_digest`'s
    column sums, and only four flips on the corners of a rectangle can hide.  One read pass and
    no temporaries: about as fast as a matrix-vector product (0.1 ms for 8 MB in cache).
    """
    rows = x.reshape(1, -1) if x.ndim == 1 else x
    if rows.ndim != 2:
        raise ValueError(f"row_digest wants a 1-D or 2-D array, not {x.ndim}-D")
    try:
        udt = _UINT_OF_SIZE[rows.dtype.itemsize]
    except KeyError:
        raise TypeError(f"row_digest cannot digest {x.dtype}") from None
    return rows.view(udt).sum(axis=1, dtype=udt)


def grid_digest(
    x: npt.NDArray[Any],
) -> tuple[npt.NDArray[np.unsignedinteger], npt.NDArray[np.unsignedinteger]]:
    """Row and column wrapping sums of the bit patterns of a 2-D array (see :func:`row_digest`).

    Flips that cancel in a row's sum show in their columns' sums, and the other way round.
    """
    return row_digest(x), row_digest(x.T)


def gemm(a: FloatArray, b: FloatArray, out: FloatArray | None = None) -> FloatArray:
    """The product every checked panel is formed with, and formed again with to repair it.

    One call in one place: OpenBLAS forms the same shapes with the same thread count in the same
    order, so a panel formed again is bitwise the panel a fault-free run forms (tests/jobs check
    this).  Tests replace this function to inject a fault into a product while it is made.
    """
    return np.matmul(a, b, out=out)


def _sumsq_rows(x: FloatArray) -> FloatArray:
    """Σ_j x[i, j]² per row: one read pass, no temporary (``np.vecdot`` from numpy 2)."""
    vecdot = getattr(np, "vecdot", None)
    if vecdot is not None:
        return vecdot(x, x)
    return np.einsum("ij,ij->i", x, x)


def _safe_sumsq(dtype: np.dtype[Any]) -> tuple[float, float]:
    """Sums of squares inside this range lose nothing to underflow and cannot overflow later."""
    facts = _facts(np.dtype(dtype))
    return facts.sumsq_lo, facts.sumsq_hi


def _abs_matvec(x: FloatArray, v: FloatArray) -> FloatArray:
    """|x|·v, a row block at a time (no |x|-sized temporary)."""
    out = np.empty(x.shape[0], dtype=np.result_type(x, v))
    blocks = _row_blocks(x)
    for r0 in blocks:
        blk = x[r0 : r0 + blocks.step]
        out[r0 : r0 + blk.shape[0]] = np.abs(blk) @ v
    return out


def _vec_absmat(v: FloatArray, x: FloatArray) -> FloatArray:
    """v·|x|, a row block at a time (no |x|-sized temporary)."""
    out = np.zeros(x.shape[1], dtype=np.result_type(x, v))
    blocks = _row_blocks(x)
    for r0 in blocks:
        blk = x[r0 : r0 + blocks.step]
        out += v[r0 : r0 + blk.shape[0]] @ np.abs(blk)
    return out


def _norm2(v: FloatArray) -> float:
    """‖v‖₂ of a non-negative vector in float64, scaled so it neither over- nor underflows."""
    if v.size == 0:
        return 0.0
    top = float(np.max(v))
    if not math.isfinite(top):
        return math.inf
    if top == 0.0:
        return 0.0
    scaled = v.astype(np.float64) / top
    return top * math.sqrt(float(scaled @ scaled))


def _sum_bound(total: float, terms: int, eps: float) -> float:
    """An upper bound of a sum of ``terms`` non-negative values computed as ``total``.

    Computed left to right or pairwise, a sum of non-negative terms is at least
    (1 - gamma_terms)·exact, gamma_terms = terms·u/(1 - terms·u) with u = eps/2.  Returns inf when
    that gives no useful bound (terms·u ≥ 1/2).
    """
    half = terms * eps / 2
    return total / (1.0 - 2.0 * half) if half < 0.25 else math.inf


#: B up to this size gets its norm with u (a few microseconds while B is in cache); a larger
#: one only when a row needs it (a pass over B that clean products do not need).
_EAGER_NORM_BYTES = 1 << 20


class RightSums:
    """What the row check needs from the right-hand operand B (K x n), computed once per B.

    ``u = B·e`` is the reference the row sums of C are compared with, and the only pass over B
    every product pays.  The rest is for rows the reference alone cannot pass (see
    :class:`ProductCheck`):

    - |u|, for the lower bound |A_i|·|u| ≤ (|A||B|e)_i (as |u| ≤ |B|·e) that does not
      cancel; taken from u at each use, and only while u holds the bits it was taken with
      (:meth:`u_unchanged`): an upset u, or a kept |u|, would widen that bound unseen;
    - :attr:`w_norm` (with u for a small B, else on first use), an upper bound of ‖w‖₂ with
      w = |B|·e: sqrt(n)·‖B‖_F (Cauchy-Schwarz on every row; ‖B‖_F² is one dot product of B
      with itself, no |B| pass), so for any row of A, (|A||B|e)_i = |A_i|·w ≤ ‖A_i‖₂·w_norm.
      When ‖B‖_F² would under- or overflow it is the norm of the exact w instead, and
      :attr:`w` serves rows of A whose own sums of squares are out of range.

    For a B of up to ``_EAGER_NORM_BYTES`` the norm is taken with u, while B is in cache (a
    dot product of a few microseconds).  For a larger one it is a pass over B that clean
    products almost never need, so it is taken on first use, once B is shown to still sum to u
    bit for bit (:meth:`_intact`; it does not see two upsets that cancel in one row's sum).
    A weight matrix used for many products keeps one of these.
    """

    def __init__(self, b: FloatArray) -> None:
        if b.ndim != 2:
            raise ValueError(f"B must be 2-D, not {b.shape}")
        _uint_dtype(b.dtype)
        self.b = b
        self.inner, self.cols = b.shape
        self._w: FloatArray | None = None
        self._w_norm: float | None = None
        #: e, the vector every row sum against B's width is taken with (shared: same bits).
        self.ones = np.empty(self.cols, dtype=b.dtype)  # two C calls, not np.ones' Python
        self.ones.fill(1)
        with np.errstate(all="ignore"):  # an inf or NaN in B shows in u: the check sees it
            self.u: FloatArray = b @ self.ones
        self._u_bits = self.u.tobytes()  # what u was: the lower bound trusts u (8 KiB at 1024)
        if b.nbytes <= _EAGER_NORM_BYTES:
            self._w_norm = self._norm()

    @property
    def has_norm(self) -> bool:
        """Whether :attr:`w_norm` is at hand (taking it costs no pass over B)."""
        return self._w_norm is not None

    @property
    def w_norm(self) -> float:
        """An upper bound of ‖|B|·e‖₂ (for a large B taken on first use; NaN, and taken on a
        later use, if B no longer sums to u then)."""
        if self._w_norm is None:
            if not self._intact():
                return math.nan
            self._w_norm = self._norm()
        return self._w_norm

    def _norm(self) -> float:
        facts = _facts(self.b.dtype)
        with np.errstate(all="ignore"):
            fro2 = _sum_bound(float(np.vdot(self.b, self.b)), self.b.size, facts.eps)
        if facts.sumsq_lo <= fro2 <= facts.sumsq_hi:
            return math.sqrt(self.cols * fro2)
        return _norm2(self.w)

    @property
    def w(self) -> FloatArray:
        """The exact |B|·e (one |B| pass, on first use: only for out-of-range magnitudes); NaN
        (and taken on a later use) if B no longer sums to u then."""
        if self._w is None:
            if not self._intact():
                return np.full(self.inner, np.nan, dtype=self.b.dtype)
            with np.errstate(all="ignore"):
                self._w = _abs_matvec(self.b, self.ones)
        return self._w

    def u_unchanged(self) -> bool:
        """Whether u still holds the bits it was taken with.  The cancellation-free bound reads
        u after the product, and an upset u would widen it unseen."""
        return self.u.tobytes() == self._u_bits

    def _intact(self) -> bool:
        """Whether B still sums to u, bit for bit (the same call on the same shape).

        A bound taken from B after the products were formed might otherwise be taken from an
        upset B: a flipped exponent would widen the tolerance of the very rows it damaged.  A
        NaN bound flags the rows that need it, and the caller restores B or rolls back; the
        bound is taken once B sums to u again.
        """
        with np.errstate(all="ignore"):
            return bool((self.b @ self.ones).tobytes() == self._u_bits)


class ProductCheck:
    """ABFT for C = A·B made a row panel at a time, with the operands' sums cached.

    Built once per pair of operands (A m x K, B K x n).  For a panel C_p = C[r0:r1, :] the row
    residual is

        r = C_p·e - A_p·(B·e)        flagged where NOT(|r_i| ≤ k·max(K, n)·ε·M_i + floor)

    with M_i ≥ (|A||B|e)_i.  B·e is cached (:class:`RightSums`) and A_i·(B·e) computed once per
    row (:meth:`prepare`, memoised), so a check costs one pass over the panel.  The bound is
    applied in stages, each rigorous:

    1. M_i = |A_i·(B·e)|, which is ≤ (|A||B|e)_i: a residual within *this* tolerance is within
       the real one, so the row passes with nothing more computed.  Most rows do (the actual
       roundoff is orders of magnitude below the worst case); those that do not are rows whose
       sum A_i·(B·e) happens to cancel (a few per thousand on zero-mean data).  While B's
       norm is not at hand (a large B, see :class:`RightSums`), the worst of them, and each of
       them when they are few, is tried against M_i = |A_i|·|B·e|, still ≤ (|A||B|e)_i (as
       |B·e| ≤ |B|·e) but free of cancellation: one dot product of the row with |u|, and no
       pass over B.  (The worst alone first, because a clean product usually has just one:
       when it passes and no other row remains, the verdict is out; otherwise the rows are
       decided as if that step had not been taken.)
    2. Otherwise: M_i = ‖A_i‖₂·sqrt(n)·‖B‖_F ≥ (|A||B|e)_i (Cauchy-Schwarz), one
       dot product of the row with itself (memoised) and ‖B‖_F once.  This replaces the |A| and
       |B| passes a literal |A|·(|B|·e) needs; it is never below the exact bound, so it never
       flags honest roundoff; it is looser: about 1.6x on zero-mean data (under one bit of
       sensitivity), 1.0x on same-sign data, more when the rows of B differ widely in size
       (up to sqrt(K) in the extreme).  Rows whose sums of squares would under- or overflow use
       the exact |A_i|·(|B|·e).

    A row is flagged only when it fails stage 2: the verdicts are those of the stage-2 bound.

    Only when a row is flagged (rare) does the check compute the panel's column residuals
    eᵀC_p - (eᵀA_p)·B (against the exact (eᵀ|A_p|)·|B| bound) to tell one bad element from
    several.  One element is repaired by forming the panel again with the same :func:`gemm`
    call and taking the one element that differs — bitwise the fault-free value, re-verified.
    Several flagged rows or columns, a panel formed again that still fails (the operands or the
    cached sums no longer agree: an input upset), or more than one element that differs, are
    ``uncorrectable``: the caller rolls back (or, for an input upset, restores the input).
    """

    def __init__(
        self,
        a: FloatArray,
        b: FloatArray,
        *,
        right: RightSums | None = None,
        k: float = K_FACTOR,
        eps: float | None = None,
    ) -> None:
        _check_operands(a, b)
        self.a, self.b = a, b
        self.m, self.inner = a.shape
        self.n = b.shape[1]
        if right is None:
            right = RightSums(b)
        elif (right.inner, right.cols) != b.shape:
            raise ValueError("cached sums were taken from a B of another shape")
        self.right = right
        self.k = k
        facts = _facts(a.dtype)
        self.eps = facts.eps if eps is None else eps
        width = max(self.inner, self.n, 1)
        self._scale = k * width * self.eps
        self._floor = k * width * facts.tiny
        self._sumsq_correction = _sum_bound(1.0, self.inner, facts.eps)
        # |A_i|·|u| as computed may exceed the exact one by (1 + gamma_K)(1 + gamma_n) (u is
        # rounded, then the dot product): scaled down by twice that, it stays a lower bound.
        shrink = 1.0 - (self.inner + self.n + 4) * facts.eps
        self._lower_shrink = shrink if shrink > 0.5 else 0.0
        # Per-row state in two allocations (each costs more than it seems on a cold cache).
        per_row = np.zeros((4, self.m), dtype=a.dtype)
        self._ref = per_row[0]  # A_i·(B·e), once prepared
        self._tol1 = per_row[1]  # stage 1: from |A_i·(B·e)|
        self._tol = per_row[2]  # stage 2: from ‖A_i‖₂·w_norm
        #: C_i·e of every row as it was when it last passed the check (see :meth:`row_sums`).
        self.sums = per_row[3]
        flags = np.zeros((2, self.m), dtype=bool)
        self._ready, self._strict = flags[0], flags[1]
        #: Rows not yet prepared, kept in Python: a reduction over ``_ready`` is tens of µs on
        #: the cold cache a product leaves, and every check asks.
        self._unready = self.m
        self._facts = facts
        self._ones = right.ones

    def _span(self, r0: int, r1: int | None) -> tuple[int, int]:
        r1 = self.m if r1 is None else r1
        if not 0 <= r0 <= r1 <= self.m:
            raise ValueError(f"rows {r0}:{r1} outside 0:{self.m}")
        return r0, r1

    def prepare(self, r0: int = 0, r1: int | None = None) -> None:
        """Compute (once) A_i·(B·e) and the stage-1 tolerances for rows r0:r1 of A."""
        r0, r1 = self._span(r0, r1)
        if self._unready == 0 or (self._unready < self.m and self._ready[r0:r1].all()):
            return
        with np.errstate(all="ignore"):
            ref = np.matmul(self.a[r0:r1], self.right.u, out=self._ref[r0:r1])
            tol = np.abs(ref, out=self._tol1[r0:r1])
            np.multiply(tol, self._scale, out=tol)
            np.add(tol, self._floor, out=tol)
        fresh = r1 - r0
        if self._unready < self.m:
            fresh -= int(np.count_nonzero(self._ready[r0:r1]))
        self._unready -= fresh
        self._ready[r0:r1] = True

    def _strict_tolerance(self, rows: npt.NDArray[np.intp]) -> FloatArray:
        """Stage-2 tolerances of these rows of A (computed once each, unless NaN)."""
        todo = rows[~self._strict[rows]]
        if todo.size:
            a_rows = self.a[todo]
            lo, hi = _safe_sumsq(self.a.dtype)
            with np.errstate(all="ignore"):
                t = _sumsq_rows(a_rows) * self._sumsq_correction
                w_norm = self.right.w_norm
                mag = np.sqrt(t) * w_norm
                unsafe = ~((t >= lo) & (t <= hi) & np.isfinite(mag))
                if unsafe.any() and not math.isnan(w_norm):  # NaN: B changed since u
                    mag[unsafe] = _abs_matvec(a_rows[unsafe], self.right.w)
                tol = self._scale * mag + self._floor
            self._tol[todo] = tol
            self._strict[todo] = ~np.isnan(tol)  # NaN (B upset since u, NaN in A): not kept
        return self._tol[rows]

    def _lower_row(self, i: int) -> np.floating:
        """The stage-1 tolerance of row ``i`` of A from |A_i|·|u|, a lower bound of
        (|A||B|e)_i that does not cancel (the floor alone when it is not finite, or when u
        changed since it was taken).  Called under the caller's ``np.errstate(all="ignore")``.
        """
        if not self.right.u_unchanged():
            return self._tol1.dtype.type(self._floor)
        mag = np.dot(np.abs(self.a[i]), np.abs(self.right.u)) * self._lower_shrink
        if not math.isfinite(mag):
            return self._tol1.dtype.type(self._floor)
        return self._scale * mag + self._floor

    def _strict_row(self, i: int) -> np.floating:
        """The stage-2 tolerance of row ``i`` of A alone: :meth:`_strict_tolerance`'s bound
        with scalar arithmetic (a clean product has a few rows here; a dozen array
        operations on one element cost more than the whole pass over C on a cold cache).
        Called under the caller's ``np.errstate(all="ignore")``."""
        if not self._strict[i]:
            row = self.a[i]
            facts = self._facts
            t = float(np.dot(row, row)) * self._sumsq_correction
            w_norm = self.right.w_norm
            mag = math.nan if math.isnan(t) else math.sqrt(t) * w_norm
            # (a NaN norm: B changed since u; no bound from it, nor a second pass to learn that)
            if not math.isnan(w_norm) and not (facts.sumsq_lo <= t <= facts.sumsq_hi
                                               and math.isfinite(mag)):
                mag = float(_abs_matvec(row.reshape(1, -1), self.right.w)[0])
            self._tol[i] = self._scale * mag + self._floor
            self._strict[i] = not math.isnan(mag)  # NaN (B upset since u, NaN in A): not kept
        return self._tol[i]

    def row_tolerance(self, r0: int = 0, r1: int | None = None) -> FloatArray:
        """The (stage-2) row residual tolerances of rows r0:r1, for telemetry and tests."""
        r0, r1 = self._span(r0, r1)
        self.prepare(r0, r1)
        return self._strict_tolerance(np.arange(r0, r1)).copy()

    def product(
        self, r0: int = 0, r1: int | None = None, out: FloatArray | None = None
    ) -> FloatArray:
        """C[r0:r1, :] = A[r0:r1, :]·B, formed by :func:`gemm` (into ``out`` when given)."""
        r0, r1 = self._span(r0, r1)
        with np.errstate(all="ignore"):  # damaged operands may overflow: the check says so
            return gemm(self.a[r0:r1], self.b, out)

    def run(
        self, r0: int = 0, r1: int | None = None, out: FloatArray | None = None
    ) -> tuple[FloatArray, Verdict]:
        """Form the panel and check it: ``(C_p, verdict)``; a single bad element is repaired."""
        r0, r1 = self._span(r0, r1)
        self.prepare(r0, r1)
        c = self.product(r0, r1, out)
        return c, self.check(c, r0, r1)

    @property
    def left_sums(self) -> FloatArray:
        """A_i·(B·e) for every prepared row (what :meth:`prepare` computed, read-only)."""
        view = self._ref.view()
        view.flags.writeable = False
        return view

    def row_sums(self, c: FloatArray, r0: int = 0, r1: int | None = None) -> FloatArray:
        """C_p·e exactly as the check computes it for the panel r0:r1.

        The same call on the same shape gives the same bits, so comparing it with
        :attr:`sums` bitwise tells whether a checked panel changed since (an at-rest check that
        complements :func:`row_digest`: it sees flips that cancel in the integer sum, such as
        two sign flips in one row, unless they change the row's values by exactly opposite
        amounts).
        """
        r0, r1 = self._span(r0, r1)
        with np.errstate(all="ignore"):
            return c @ self._ones

    def _row_flags(
        self, c: FloatArray, r0: int, r1: int
    ) -> tuple[tuple[int, ...], float, FloatArray]:
        """Flagged rows (panel-relative), the worst |residual| / tolerance, and C_p·e.

        The worst ratio is taken against the tolerance that decided each row (stage 1 when it
        passed there): at most 1 for a clean panel, above 1 (or NaN: no bound from a changed B)
        exactly when a row is flagged.

        One pass over C and four vector operations decide every row whose ratio to its stage-1
        tolerance is below 1 (a rounded quotient below 1 means an exact one below 1; NaN and
        infinities never are); only the rest, a few rows of a clean random product, go
        through the exact comparisons and the later stages.  The worst of them is decided
        first, alone: on a clean random product it is usually the only one, and the search
        for all of them (three more vector operations, and a maximum over the ratios after)
        costs more than the row itself on the cold cache a product leaves.
        """
        with np.errstate(all="ignore"):
            sums = c @ self._ones
            ratio = np.subtract(sums, self._ref[r0:r1])
            np.abs(ratio, out=ratio)
            np.divide(ratio, self._tol1[r0:r1], out=ratio)
            if ratio.size == 0:
                return (), 0.0, sums
            # argmax: the worst row in one C call (NaN first), without ndarray.max's wrapper
            top = int(ratio.argmax())
            worst = float(ratio[top])
            if worst < 1.0:
                return (), worst, sums
            # The worst row alone first (see above), where rows are looked at one by one at
            # all.  If it is flagged, or others remain, its ratio is put back and all of them
            # are decided below, exactly as without this step (many late rows go array at a
            # time, without the cancellation-free stage).
            if _FEW_ROWS:
                stage1 = ratio[top]
                bad, ratio[top] = self._late_row(sums, top, r0)
                if not bad:
                    worst = float(ratio[int(ratio.argmax())])
                    if worst < 1.0:
                        return (), worst, sums
                ratio[top] = stage1
            late = np.flatnonzero(~(ratio < 1.0))
            if late.size > _FEW_ROWS:
                return self._late_rows(sums, ratio, late, r0)
            flagged = []
            for i in late.tolist():
                bad, ratio[i] = self._late_row(sums, i, r0)
                if bad:
                    flagged.append(i)
            worst = float(np.maximum.reduce(ratio))
        return tuple(flagged), worst, sums

    def _late_row(self, sums: FloatArray, i: int, r0: int) -> tuple[bool, np.floating]:
        """(flagged, |residual| / the tolerance that decided) of one row past stage 1.

        While B's norm is not at hand (taking it would be a pass over B), the row is first
        tried against |A_i|·|u|; otherwise, or when that fails, stage 2 decides.  Numpy scalars
        of the panel's type, as :meth:`_late_rows`' arrays (whose sums of squares may round
        differently in the last bit).  Called under the caller's ``np.errstate(all="ignore")``.
        """
        row = r0 + i
        res = sums[i] - self._ref[row]
        size = abs(res)
        infinite = math.isinf(res)
        if not infinite:
            tol = self._tol1[row]
            if size <= tol:
                return False, size / tol
            if not self.right.has_norm:
                lower = self._lower_row(row)
                if size <= lower:
                    return False, size / lower
        tol = self._strict_row(row)
        return (not size <= tol or infinite), size / tol

    def _late_rows(
        self, sums: FloatArray, ratio: FloatArray, late: npt.NDArray[np.intp], r0: int
    ) -> tuple[tuple[int, ...], float, FloatArray]:
        """:meth:`_row_flags` for many rows past stage 1 (a damaged panel): array at a time."""
        with np.errstate(all="ignore"):
            res = sums[late] - self._ref[r0 + late]
            size = np.abs(res)
            tol = self._tol1[r0 + late]
            strict = ~(size <= tol) | np.isinf(res)
            if strict.any():
                tol[strict] = self._strict_tolerance(late[strict] + r0)
            bad = ~(size <= tol) | np.isinf(res)
            ratio[late] = size / tol
            worst = float(np.max(ratio))
        return tuple(int(i) for i in late[bad]), worst, sums

    def _col_flags(self, c: FloatArray, r0: int, r1: int) -> tuple[int, ...]:
        a_p = self.a[r0:r1]
        width = max(r1 - r0, self.inner, 1)
        fi = np.finfo(self.a.dtype)
        ones = np.ones(r1 - r0, dtype=self.a.dtype)
        with np.errstate(all="ignore"):
            ref = (ones @ a_p) @ self.b
            mag = _vec_absmat(_vec_absmat(ones, a_p), self.b)
            tol = (self.k * width * self.eps) * mag + self.k * width * float(fi.tiny)
            return _flagged(ones @ c - ref, tol)

    def check(
        self,
        c: FloatArray,
        r0: int = 0,
        r1: int | None = None,
        *,
        signature: Signature | None = None,
    ) -> Verdict:
        """Check C_p ≈ A[r0:r1, :]·B; repair one bad element in place (bitwise).

        Rows and columns in the verdict are C's (absolute).  With ``signature`` (taken of C_p
        when it was made) an upset the residuals tolerate is reported ``masked``.
        """
        r1 = self.m if r1 is None else r1
        if not 0 <= r0 <= r1 <= self.m:  # (as _span, inline: one call fewer on a cold cache)
            self._span(r0, r1)
        if c.shape != (r1 - r0, self.n) or c.dtype != self.a.dtype:
            raise ValueError(f"C panel is {c.shape} {c.dtype}, expected {(r1 - r0, self.n)}")
        if self._unready:
            self.prepare(r0, r1)
        rows, worst, sums = self._row_flags(c, r0, r1)
        if not rows:
            self.sums[r0:r1] = sums
            diff = _signature_diff(c, signature)
            if diff is not None and (diff[0].any() or diff[1].any()):
                sig_rows, sig_cols = np.flatnonzero(diff[0]), np.flatnonzero(diff[1])
                located: frozenset[tuple[int, int]] = frozenset()
                if sig_rows.size == 1 and sig_cols.size == 1:
                    located = frozenset({(r0 + int(sig_rows[0]), int(sig_cols[0]))})
                masked = max(sig_rows.size, sig_cols.size)
                return Verdict(Status.MASKED, located=located, masked=masked, worst_ratio=worst)
            return Verdict(Status.CLEAN, worst_ratio=worst)
        cols = self._col_flags(c, r0, r1)
        flagged = tuple(r0 + i for i in rows)

        def fail(located: frozenset[tuple[int, int]] = frozenset()) -> Verdict:
            return Verdict(
                Status.UNCORRECTABLE,
                located=located,
                flagged_rows=flagged,
                flagged_cols=cols,
                worst_ratio=worst,
            )

        if len(rows) > 1 or len(cols) > 1:
            return fail()
        fresh = self.product(r0, r1)
        if self._row_flags(fresh, r0, r1)[0]:
            return fail()  # formed again and still wrong: the operands or the sums changed
        udt = _uint_dtype(c.dtype)
        changed = np.flatnonzero(fresh.view(udt) != c.view(udt))
        if changed.size != 1:
            return fail(frozenset((r0 + int(f) // self.n, int(f) % self.n) for f in changed[:8]))
        i, j = divmod(int(changed[0]), self.n)
        c[i, j] = fresh[i, j]
        self.sums[r0:r1] = self.row_sums(c, r0, r1)
        return Verdict(
            Status.CORRECTED,
            located=frozenset({(r0 + i, j)}),
            flagged_rows=flagged,
            flagged_cols=cols,
            worst_ratio=worst,
        )
