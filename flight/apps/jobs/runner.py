"""The job runner's worker side: what runs off the main loop, a step (or a short burst) at a time.

Everything slow — building a job's inputs, restoring a checkpoint, computing a step, scrubbing,
writing a checkpoint or a result — happens here, on the app's worker thread, so the main loop
keeps heartbeating and answering commands. The main loop and the worker never touch a
:class:`Running` at the same time: the main loop only looks at it while no work is in flight.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from threadpoolctl import threadpool_limits

from flight.checkpoint.store import CheckpointStore, GenerationInfo, Rejection
from flight.jobs.kind import JobKind, Outcome, StepReport
from flight.jobs.kinds import KINDS
from flight.jobs.queue import Job
from flight.jobs.state import StateError, pack_state, unpack_state
from flight.results import ResultStore


@dataclass
class Restored:
    """Where a (re)built job started from."""

    step: int
    generation: int | None  # None: no usable checkpoint, started from the beginning
    rejected: tuple[Rejection, ...] = ()


@dataclass
class Running:
    """The job being computed: its record, its checkpoint store and its live instance."""

    job: Job
    store: CheckpointStore
    kind: JobKind | None = None
    next_step: int = 0
    compute_since_checkpoint: float = 0.0
    restore_needed: bool = True  # (re)build from the last good checkpoint before the next step
    rollback_why: str = ""
    #: Set by the main loop when something happened that it must act on before the worker goes
    #: on (a command, a new duty limit, an upset, a mode change): a burst ends at the next step
    #: boundary, and the step just computed is neither checkpointed nor stored.
    hand_back: threading.Event = field(default_factory=threading.Event)

    def checkpoint_files(self) -> list[Path]:
        return sorted(self.store.directory.glob(f"{self.store.name}.*.ckpt"))


@dataclass
class WorkDone:
    """What one piece of work did, for the main loop to report and account."""

    report: StepReport = field(default_factory=StepReport)
    steps: int = 0  # steps computed (a burst may hold several; the report holds all findings)
    compute_s: float = 0.0  # the kind's steps alone
    started: float = 0.0  # monotonic start and end of all the work (restore, scrub, checkpoint
    ended: float = 0.0  # included): what the payload's duty is made of
    restored: Restored | None = None
    checkpoint: GenerationInfo | None = None
    checkpoint_s: float = 0.0
    checkpoint_error: str = ""
    storage_error: str = ""  #: the finished result could not be stored (it is kept for a retry)
    result: tuple[str, str, int] | None = None  # (result id, sha256, bytes)
    damaged: list[Path] = field(default_factory=list)  # checkpoint files that failed a scrub
    error: str = ""


def restore(run: Running, blas_threads: int = 0) -> Restored:
    """A fresh instance (clean inputs, rebuilt from the parameters) at the last good checkpoint.

    The BLAS thread pool is sized here (``blas_threads``, 0: no limit). Only this worker thread
    computes, so a process-wide setting is the job's own. The count is part of what a
    deterministic result depends on (a few shapes sum in another order on more threads), so a
    ground that recomputes a result to compare must use the same count.
    """
    threadpool_limits(limits=blas_threads or None, user_api="blas")
    kind = KINDS[run.job.kind](run.job.params)
    loaded = run.store.load()
    rejected = run.store.last_rejections
    step, generation = 0, None
    if loaded is not None:
        try:
            state, meta = unpack_state(loaded.payload)
            kind.restore(state)
            step, generation = int(meta["step"]), loaded.info.generation
        except (StateError, KeyError, TypeError, ValueError) as exc:
            kind = KINDS[run.job.kind](run.job.params)
            rejected += (Rejection(loaded.info.path, loaded.info.generation, f"state: {exc}"),)
    run.kind, run.next_step = kind, step
    run.compute_since_checkpoint = 0.0
    run.restore_needed = False
    return Restored(step, generation, rejected)


def step(run: Running, interval_s: float, results: ResultStore,
         blas_threads: int = 0, burst_s: float = 0.0) -> WorkDone:
    """Compute the next step; checkpoint when the interval is up; store the result at the end.

    With ``burst_s`` > 0 (the app asks only at full duty, when no rest is due between steps),
    further steps follow at once until that much time has passed: a step of a few tens of
    milliseconds otherwise pays a round trip through the main loop each (two thread wake-ups
    and the GIL changing hands twice). A burst ends early at anything the main loop must see
    before the next step: a finding, a checkpoint, the end of the job, or the loop asking for
    the worker back (``run.hand_back``).
    """
    done = WorkDone(started=time.monotonic())
    try:
        if run.restore_needed or run.kind is None:
            done.restored = restore(run, blas_threads)
        assert run.kind is not None
        if run.next_step >= run.kind.total_steps:  # computed; storing it failed last time
            _store_result(run, done, results)
            done.ended = time.monotonic()
            return done
        while _one_step(run, done, interval_s, results) \
                and time.monotonic() - done.started < burst_s:
            pass
    except Exception as exc:  # a kind's bug must fail the job, not the app
        done.error = f"{type(exc).__name__}: {exc}"
    done.ended = time.monotonic()
    return done


def _one_step(run: Running, done: WorkDone, interval_s: float, results: ResultStore) -> bool:
    """One step into ``done``; True when the next may follow in the same burst.

    After a step with findings, or when the main loop asked for the worker back, nothing more
    happens in this call: the loop accounts first (its policy may roll back even a corrected
    step, and a checkpoint taken now would preserve what it throws away; a cancelled job must
    not store a result). The checkpoint or the result then comes with the next call.
    """
    assert run.kind is not None
    t0 = time.perf_counter()
    report = run.kind.step(run.next_step)
    compute_s = time.perf_counter() - t0
    done.compute_s += compute_s
    done.steps += 1
    done.report.findings.extend(report.findings)
    done.report.metrics = report.metrics
    if report.outcome is Outcome.ROLLBACK:
        return False
    run.next_step += 1
    run.compute_since_checkpoint += compute_s
    if report.findings or run.hand_back.is_set():
        return False
    if run.next_step >= run.kind.total_steps:
        _store_result(run, done, results)
        return False
    if run.compute_since_checkpoint >= interval_s:
        _verified_checkpoint(run, done)
        return False
    return True


def checkpoint_now(run: Running) -> WorkDone:
    """Checkpoint outside the interval (pause, SAFE, preemption, a damaged newest file)."""
    done = WorkDone(started=time.monotonic())
    if run.kind is not None and not run.restore_needed:
        try:
            _verified_checkpoint(run, done)
        except Exception as exc:
            done.error = f"{type(exc).__name__}: {exc}"
    return done


def scrub(run: Running) -> WorkDone:
    """The kind's own digests, then every checkpoint file on disk; a damaged file is replaced."""
    done = WorkDone(started=time.monotonic())
    if run.kind is None or run.restore_needed:
        return done
    try:
        done.report = run.kind.scrub()
        intact = {g.path for g in run.store.list_generations()}
        done.damaged = [p for p in run.checkpoint_files() if p not in intact]
        for path in done.damaged:
            path.unlink(missing_ok=True)
        if done.damaged and done.report.outcome is not Outcome.ROLLBACK:
            _verified_checkpoint(run, done)
    except Exception as exc:
        done.error = f"{type(exc).__name__}: {exc}"
    return done


def _store_result(run: Running, done: WorkDone, results: ResultStore) -> None:
    """Scrub once more, then store the result with its digest (no checkpoint needed after)."""
    assert run.kind is not None
    found = run.kind.scrub()
    done.report.findings.extend(found.findings)
    if found.outcome is Outcome.ROLLBACK:
        return
    data = run.kind.result(scrubbed=True)  # verified by the scrub just above
    result_id = f"job-{run.job.id}"
    try:
        done.result = (result_id, results.put(result_id, data), len(data))
    except OSError as exc:  # a full or failing disk: the result stays in memory for a retry
        done.storage_error = f"{type(exc).__name__}: {exc}"


def _verified_checkpoint(run: Running, done: WorkDone) -> None:
    """Scrub first: a checkpoint must never preserve an upset the checks could have seen."""
    assert run.kind is not None
    found = run.kind.scrub()
    done.report.findings.extend(found.findings)
    if found.outcome is Outcome.ROLLBACK:
        return
    t0 = time.perf_counter()
    try:
        payload = pack_state(run.kind.state(scrubbed=True),  # the scrub above verified it
                             {"step": run.next_step, "job": run.job.id})
        done.checkpoint = run.store.save(payload)
    except (OSError, ValueError, TypeError) as exc:
        done.checkpoint_error = str(exc)
        return
    done.checkpoint_s = time.perf_counter() - t0
    run.compute_since_checkpoint = 0.0
