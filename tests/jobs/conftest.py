"""A job runner in miniature for the kinds' tests: steps, scrubs, checkpoints, rollbacks, upsets.

It follows ``flight/apps/jobs/runner.py``: a scrub before every checkpoint and before the
result, a rollback builds a fresh instance and restores the last checkpoint (or starts again),
and upsets land in the arrays ``regions()`` returns, between steps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from flight.jobs.kind import Finding, JobKind, Outcome, State

#: (region, element, bit within the element) — bit 0 is the lowest bit of the element.
Upset = tuple[str, int, int]


def flip_element(array: np.ndarray, element: int, bit: int) -> None:
    """Flip one bit of one element of a live region, through its bytes (any dtype)."""
    assert array.flags.c_contiguous and array.flags.writeable
    raw = array.reshape(-1).view(np.uint8)
    raw[element * array.itemsize + bit // 8] ^= np.uint8(1 << (bit % 8))


def copy_state(state: State) -> State:
    """What a checkpoint gives back: copies of arrays, scalars of the codec's types only."""
    out: State = {}
    for name, value in state.items():
        assert isinstance(value, (np.ndarray, bool, int, float, str, bytes)), (name, value)
        out[name] = value.copy() if isinstance(value, np.ndarray) else value
    return out


@dataclass
class Run:
    result: bytes
    findings: list[Finding] = field(default_factory=list)
    rollbacks: int = 0
    metrics: list[dict[str, float]] = field(default_factory=list)

    @property
    def found(self) -> list[Finding]:
        return [f for f in self.findings if f.outcome is not Outcome.CLEAN]


def run_job(
    cls: type[JobKind],
    params: Mapping[str, Any],
    upsets: Mapping[int, Sequence[Upset]] | None = None,
    *,
    checkpoint_every: int = 2,
    fresh_on_rollback: bool = True,
    before_step: Callable[[JobKind, int], None] | None = None,
) -> Run:
    """Run a job to its result; ``upsets[i]`` land just before step ``i`` (once each)."""
    bound = cls.bind(dict(params))
    todo = {i: list(u) for i, u in (upsets or {}).items()}
    job = cls(bound)
    run = Run(b"")
    saved: State | None = None
    saved_step = 0
    i = 0

    def roll_back() -> None:
        nonlocal job, i
        run.rollbacks += 1
        assert run.rollbacks <= 5, run.findings
        if fresh_on_rollback or saved is None:
            job = cls(bound)
        if saved is not None:
            job.restore(copy_state(saved))
        i = saved_step

    while i < job.total_steps:
        for region, element, bit in todo.pop(i, []):
            flip_element(job.regions()[region], element, bit)
        if before_step is not None:
            before_step(job, i)
        report = job.step(i)
        run.findings += report.findings
        run.metrics.append(report.metrics)
        if report.outcome is Outcome.ROLLBACK:
            roll_back()
            continue
        i += 1
        if i < job.total_steps and i % checkpoint_every == 0:
            scrub = job.scrub()
            run.findings += scrub.findings
            if scrub.outcome is Outcome.ROLLBACK:
                roll_back()
                continue
            saved, saved_step = copy_state(job.state(scrubbed=True)), i
    scrub = job.scrub()
    run.findings += scrub.findings
    assert scrub.outcome is not Outcome.ROLLBACK, scrub.findings
    run.result = job.result(scrubbed=True)
    return run


@pytest.fixture(name="run_job")
def run_job_fixture() -> Callable[..., Run]:
    return run_job


@pytest.fixture(name="flip_element")
def flip_element_fixture() -> Callable[[np.ndarray, int, int], None]:
    return flip_element
