"""``matmul``: C = A·B of two seeded random matrices, a row panel of C per step, ABFT-checked.

Each step forms one panel C[r0:r1, :] = A[r0:r1, :]·B with :class:`~flight.jobs.abft.ProductCheck`,
whose sums of A and B are taken once, right after the inputs are generated (while they are in
cache).  A single bad element in the panel is repaired by forming the panel again (bitwise the
fault-free value); anything more is a rollback.  A finished panel gets row digests, and the
check keeps its row sums.

Data at rest is verified by :meth:`Matmul.scrub`, :meth:`Matmul.state` and :meth:`Matmul.result`
(the runner scrubs before every checkpoint and before the result): A and B against the digests
and sums taken when they were generated, the finished rows of C against theirs.  Everything here
can be rebuilt without a rollback: a damaged input is generated again from the seed and every
panel formed since it was last verified is formed again; a damaged row of C gets its panel
formed again.  An upset in an input that is large enough to matter is usually caught sooner, by
the next panel's residuals.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from flight.app.model import Param, ValueType
from flight.jobs.abft import ProductCheck, RightSums, Status, row_digest
from flight.jobs.kind import Finding, JobKind, Outcome, State, StepReport, npy_bytes
from flight.jobs.kinds._common import abft_finding, span

#: Work per step when ``panel_rows`` is 0: about 2^34 flops, ~170 ms at 100 GFLOP/s.  Fewer,
#: larger panels are cheaper: every product call packs all of B again (2 panels instead of 1
#: cost +1.8 % at n = 2048, 4 cost +3.9 %, measured).
STEP_FLOPS = 2**34


def panel_rows(params: dict[str, Any]) -> int:
    """Rows of C per step for these parameters (``panel_rows``, or the automatic choice)."""
    n, rows = int(params["n"]), int(params["panel_rows"])
    if rows == 0:
        rows = STEP_FLOPS // (2 * n * n)
        rows -= rows % 32 if rows >= 64 else 0  # whole blocks of the BLAS kernels
    return max(1, min(rows, n))


class Matmul(JobKind):
    name = "matmul"
    doc = "C = A·B of two seeded random n x n matrices, one ABFT-checked row panel per step."
    params = (
        Param("n", ValueType.INT, 1024, "Order of A, B and C.", min=16, max=4096),
        Param("dtype", ValueType.ENUM, "float64", "Element type.", choices=("float32", "float64")),
        Param("seed", ValueType.INT, 0, "Seed of the input generator.", min=0, max=2**63 - 1),
        Param(
            "panel_rows",
            ValueType.INT,
            0,
            "Rows of C per step; 0 chooses about 2^34 flops per step.",
            min=0,
            max=4096,
        ),
        Param(
            "distribution",
            ValueType.ENUM,
            "normal",
            "Inputs: normal (zero mean) or uniform on [0, 1) (same sign).",
            choices=("normal", "uniform"),
        ),
        Param(
            "scale",
            ValueType.FLOAT,
            1.0,
            "Every input element is multiplied by this.",
            min=1e-30,
            max=1e30,
        ),
    )

    @classmethod
    def validate(cls, params: dict[str, Any]) -> str | None:
        n = params["n"]
        if params["panel_rows"] > n:
            return f"panel_rows {params['panel_rows']} is more than n = {n}"
        fi = np.finfo(params["dtype"])
        scale = params["scale"]
        if scale * scale * n * 64 > float(fi.max) / 1024:
            return f"scale {scale:g} overflows {params['dtype']} products at n = {n}"
        if scale * scale < float(fi.tiny) * 2.0**32:
            return f"scale {scale:g} underflows {params['dtype']} products"
        return None

    @classmethod
    def memory_bytes(cls, params: dict[str, Any]) -> int:
        n, rows = params["n"], panel_rows(params)
        item = np.dtype(params["dtype"]).itemsize
        square = n * n * item
        live = 3 * square  # A, B, C
        # The largest transient: a checkpoint (the copy state() returns, and its packed bytes),
        # or an input generated again after an upset plus a panel formed again.
        transient = max(2 * square, square + rows * n * item)
        return live + transient + 16 * n * 8 + (4 << 20)

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(params)
        self.n = int(params["n"])
        self.dtype = np.dtype(params["dtype"])
        self.rows = panel_rows(params)
        n = self.n
        # The inputs, their digests and the check's sums, each taken just after the input is
        # generated, while it is still (partly) in cache.
        self.b = self._generate(2)
        self._b_digest = row_digest(self.b)
        right = RightSums(self.b)
        self.a = self._generate(1)
        self._a_digest = row_digest(self.a)
        self._check = ProductCheck(self.a, self.b, right=right)
        self._check.prepare()
        self.c = np.empty((n, n), dtype=self.dtype)  # rows count once formed
        self._c_digest = np.zeros_like(self._b_digest)
        self._done = 0  # rows of C formed and checked
        self._b_trusted = 0  # rows of C from here on were formed since B was last verified
        self._pending: list[Finding] = []  # found by state()/restore()/result(): next report

    # --- inputs ------------------------------------------------------------------------------

    def _generate(self, which: int) -> npt.NDArray[np.floating]:
        """Input ``which`` (1: A, 2: B): the same bits every time for the same parameters."""
        rng = np.random.default_rng([int(self.p["seed"]), which])
        shape = (self.n, self.n)
        if self.p["distribution"] == "uniform":
            x = rng.random(shape, dtype=self.dtype)
        else:
            x = rng.standard_normal(shape, dtype=self.dtype)
        if self.p["scale"] != 1.0:
            x *= self.dtype.type(self.p["scale"])
        return x

    def _damaged_rows(self, which: int) -> npt.NDArray[np.intp]:
        """Rows of input ``which`` (1: A, 2: B) that changed since they were generated.

        Exact per-row digests, and the float row sums the check took of the clean input
        (B·e, A·(B·e)) formed again by the same calls: they see two flips that cancel in a
        digest (two sign flips in one row) unless those change the row by opposite amounts.
        """
        x, digest = (self.a, self._a_digest) if which == 1 else (self.b, self._b_digest)
        right, udt = self._check.right, digest.dtype
        now: npt.NDArray[np.floating]
        then: npt.NDArray[np.floating]
        with np.errstate(all="ignore"):  # a damaged input may overflow: that is the point
            if which == 1:
                now, then = self.a @ right.u, self._check.left_sums
            else:
                now, then = self.b @ np.ones(self.n, dtype=self.dtype), right.u
            changed = (row_digest(x) != digest) | (now.view(udt) != then.view(udt))
        return np.flatnonzero(changed)

    def _restore_input(self, which: int) -> tuple[int, npt.NDArray[np.intp]]:
        """Generate input ``which`` again if it fails its checks: (elements, damaged rows)."""
        rows = self._damaged_rows(which)
        if rows.size == 0:
            return 0, rows
        x = self.a if which == 1 else self.b
        fresh = self._generate(which)
        udt = self._c_digest.dtype
        count = int(np.count_nonzero(fresh[rows].view(udt) != x[rows].view(udt)))
        x[...] = fresh  # in place: the check and regions() hold this array
        return max(count, 1), rows

    # --- steps -------------------------------------------------------------------------------

    @property
    def total_steps(self) -> int:
        return -(-self.n // self.rows)

    def _span(self, index: int) -> tuple[int, int]:
        return index * self.rows, min(self.n, (index + 1) * self.rows)

    def _seal(self, r0: int, r1: int) -> None:
        """Rows r0:r1 of C passed the check: take their digests (the check kept their sums)."""
        self._c_digest[r0:r1] = row_digest(self.c[r0:r1])

    def _form(self, r0: int, r1: int) -> tuple[int, Finding | None]:
        """Form and check panel rows r0:r1 of C; (elements changed, the ABFT finding)."""
        before = self.c[r0:r1].copy() if r0 < self._done else None
        c_p, verdict = self._check.run(r0, r1, out=self.c[r0:r1])
        finding = abft_finding(f"C[rows {r0}:{r1}]", verdict)
        if verdict.status is Status.UNCORRECTABLE:
            return 0, finding
        self._seal(r0, r1)
        if before is None:
            return 0, finding
        udt = self._c_digest.dtype
        return int(np.count_nonzero(before.view(udt) != c_p.view(udt))), finding

    def _form_again(self, rows: npt.NDArray[np.intp], why: str) -> list[Finding]:
        """Form again every finished panel holding one of ``rows`` (inputs already verified).

        Reports the elements that came out different (none, when an input was damaged only
        after the panels that used it were formed) and any ABFT finding of the new panels.
        """
        panels = sorted({int(r) // self.rows for r in rows if r < self._done})
        changed, findings = 0, []
        for index in panels:
            r0, r1 = self._span(index)
            count, finding = self._form(r0, r1)
            changed += count
            if finding is not None:
                findings.append(finding)
        if changed:
            r0, r1 = self._span(panels[0])[0], self._span(panels[-1])[1]
            findings.append(
                Finding(
                    "digest",
                    f"C[rows {r0}:{r1}]",
                    Outcome.CORRECTED,
                    f"{why}: {changed} element(s) differed, {len(panels)} panel(s) formed again",
                    changed,
                )
            )
        return findings

    def _verify_inputs(self) -> list[Finding]:
        """A and B against their digests; a damaged one is generated again, its panels redone."""
        findings: list[Finding] = []
        count, rows = self._restore_input(2)
        if count:
            findings.append(
                Finding(
                    "digest",
                    "B",
                    Outcome.CORRECTED,
                    f"{count} element(s) in {span(rows)} generated again",
                    count,
                )
            )
            suspect = np.arange(self._b_trusted, self._done)
            findings += self._form_again(suspect, "B was damaged")
        self._b_trusted = self._done
        count, rows = self._restore_input(1)
        if count:
            findings.append(
                Finding(
                    "digest",
                    "A",
                    Outcome.CORRECTED,
                    f"{count} element(s) in {span(rows)} generated again",
                    count,
                )
            )
            findings += self._form_again(rows, "A was damaged")
        return findings

    def _verify_result(self) -> list[Finding]:
        """Finished rows of C against their digests and their sums; damaged panels formed again."""
        done, udt = self._done, self._c_digest.dtype
        changed = row_digest(self.c[:done]) != self._c_digest[:done]
        for index in range(-(-done // self.rows)):
            r0, r1 = self._span(index)
            sums = self._check.row_sums(self.c[r0:r1], r0, r1)
            changed[r0:r1] |= sums.view(udt) != self._check.sums[r0:r1].view(udt)
        rows = np.flatnonzero(changed)
        return self._form_again(rows, f"C {span(rows)} changed at rest") if rows.size else []

    def _verify_at_rest(self) -> list[Finding]:
        return self._verify_inputs() + self._verify_result()

    def step(self, index: int) -> StepReport:
        r0, r1 = self._span(index)
        if r0 != self._done or r0 >= self.n:
            raise ValueError(f"step {index} out of order: {self._done} of {self.n} rows done")
        findings, self._pending = self._pending, []
        _, verdict = self._check.run(r0, r1, out=self.c[r0:r1])
        if verdict.status is Status.UNCORRECTABLE:
            # Several elements, or a panel that still disagrees when formed again: an upset in
            # an input explains both.  Restore the inputs; form the panel again if there was one.
            repaired = self._verify_inputs()
            findings += repaired
            if repaired:
                _, verdict = self._check.run(r0, r1, out=self.c[r0:r1])
        finding = abft_finding(f"C[rows {r0}:{r1}]", verdict)
        if finding is not None:
            findings.append(finding)
        metrics = {"rows_done": float(r0), "worst_ratio": verdict.worst_ratio}
        if verdict.status is Status.UNCORRECTABLE:
            return StepReport(findings, metrics)
        self._seal(r0, r1)
        self._done = r1
        metrics["rows_done"] = float(r1)
        return StepReport(findings, metrics)

    # --- the runner's other calls ------------------------------------------------------------

    def scrub(self) -> StepReport:
        findings, self._pending = self._pending, []
        return StepReport(findings + self._verify_at_rest())

    def state(self, *, scrubbed: bool = False) -> State:
        found = [] if scrubbed else self._verify_at_rest()
        self._pending += found
        if any(f.outcome is Outcome.ROLLBACK for f in found):
            raise ValueError("matmul: a panel formed again failed its check; not checkpointed")
        done = self._done
        return {
            "rows_done": done,
            "c": self.c[:done].copy(),
            "c_digest": self._c_digest[:done].copy(),
            "c_sums": self._check.sums[:done].copy(),
        }

    def restore(self, state: State) -> None:
        done = state["rows_done"]
        if (
            not isinstance(done, int)
            or not 0 <= done <= self.n
            or (done % self.rows and done != self.n)
        ):
            raise ValueError(f"matmul: bad rows_done {done!r} for n = {self.n}")
        expected = {
            "c": ((done, self.n), self.dtype),
            "c_digest": ((done,), self._c_digest.dtype),
            "c_sums": ((done,), self.dtype),
        }
        for name, (shape, dtype) in expected.items():
            value = state[name]
            if not (
                isinstance(value, np.ndarray) and value.shape == shape and value.dtype == dtype
            ):
                raise ValueError(f"matmul: state {name} does not match the parameters")
        self._done = 0  # inputs first, with nothing formed that they could have spoiled
        self._pending += self._verify_inputs()
        self.c[:done] = state["c"]
        self._c_digest[:done] = state["c_digest"]
        self._c_digest[done:] = 0
        self._check.sums[:done] = state["c_sums"]
        self._check.sums[done:] = 0
        self._done = self._b_trusted = done
        self._pending += self._verify_result()

    def regions(self) -> dict[str, npt.NDArray[Any]]:
        # What the job still relies on: rows of A not yet used, B, the finished rows of C.
        return {"a": self.a[self._done :], "b": self.b, "c": self.c[: self._done]}

    def result(self, *, scrubbed: bool = False) -> bytes:
        if self._done < self.n:
            raise RuntimeError(f"matmul: {self._done} of {self.n} rows done")
        found = [] if scrubbed else self._verify_at_rest()
        self._pending += found
        if any(f.outcome is Outcome.ROLLBACK for f in found):
            raise RuntimeError("matmul: the result failed its checks at the end")
        return npy_bytes(self.c)

    def summary(self) -> dict[str, float]:
        return {"rows_done": float(self._done), "progress": self._done / self.n}
