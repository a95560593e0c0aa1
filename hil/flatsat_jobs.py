"""The compute jobs of the demo mission: what the ground uplinks, and how it checks the results.

Every kind is deterministic from its parameters, so the ground can compute the result a
fault-free run makes — the *golden* — on its own machine while the flatsat flies. A result
downloaded over the space link is then compared with it byte for byte (by SHA-256): "the
answer survived eclipses, throttling, upsets and a crash" is shown, not assumed.

The goldens run in a separate process at a lower scheduling priority, with the same number of
BLAS threads as the payload (OpenBLAS sums in a thread-count dependent order), so the ground's
checking never takes the CPU the flight needs on a two-core bench.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import multiprocessing
import os
from dataclasses import dataclass, field
from typing import Any

#: The jobs the ground uplinks, in order: kind, parameters, priority (one for all, so the
#: queue runs in uplink order, as the ground plans it), and the compute seconds
#: each takes on an idle two-core bench (the ground's planning figure; it learns the real one
#: as jobs finish — stretched by the duty limit, shedding and rollbacks). The list repeats
#: with new seeds as long as the mission needs more. Each result comes down in a fraction of
#: a pass (at most 512 KiB). The training sets (16384 x 64 float64) fill the world's 8 MiB
#: "jobs" memory region, so while one trains nearly every upset there lands in real data.
CATALOGUE: tuple[tuple[str, dict[str, Any], int, float], ...] = (
    ("mlp_train", {"epochs": 60, "samples": 16384, "features": 64, "hidden": 128,
                   "batch_size": 256}, 5, 3.0),
    ("inference", {"batches": 64, "batch_size": 256, "features": 64, "hidden": 512,
                   "train_epochs": 20}, 5, 0.6),
    ("mlp_train", {"epochs": 40, "samples": 16384, "features": 64, "hidden": 256,
                   "batch_size": 512}, 5, 3.2),
    ("matmul", {"n": 256, "dtype": "float64", "panel_rows": 8}, 5, 0.1),
)
#: Parameters the ground sets on the job runner in the first pass: a checkpoint at least every
#: second of compute, so a job killed or rolled back loses little even in a short demo.
RUNNER_PARAMS: dict[str, Any] = {"checkpoint_max_s": 1.0}
#: Lower scheduling priority of the golden runs (nice increment).
GOLDEN_NICE = 10


def demo_job(index: int) -> tuple[str, dict[str, Any], int, float]:
    """The ``index``-th job of the mission (0-based): kind, parameters with a seed, priority,
    planned compute seconds."""
    kind, params, priority, cost = CATALOGUE[index % len(CATALOGUE)]
    return kind, {**params, "seed": index + 1}, priority, cost


def golden_digest(kind: str, params: dict[str, Any], threads: int = 0) -> str:
    """The SHA-256 of a fault-free run of the job, computed in this process.

    ``threads`` is the payload's ``blas_threads`` (0: all cores), which the result depends on.
    """
    from threadpoolctl import threadpool_limits

    from flight.jobs.kind import Outcome
    from flight.jobs.kinds import KINDS

    cls = KINDS[kind]
    with threadpool_limits(limits=threads or None, user_api="blas"):
        job = cls(cls.bind(params))
        for i in range(job.total_steps):
            if job.step(i).outcome is Outcome.ROLLBACK:
                raise RuntimeError(f"the golden {kind} run saw an upset on the ground")
        return hashlib.sha256(job.result()).hexdigest()


def _lower_priority() -> None:
    os.nice(GOLDEN_NICE)


class Goldens:
    """Golden digests computed in a background process as jobs are uplinked."""

    def __init__(self, threads: int = 1) -> None:
        self.threads = threads
        self._pool = concurrent.futures.ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn"),
            initializer=_lower_priority)
        self._futures: dict[int, concurrent.futures.Future[str]] = {}

    def add(self, key: int, kind: str, params: dict[str, Any]) -> None:
        self._futures[key] = self._pool.submit(golden_digest, kind, params, self.threads)

    def get(self, key: int, timeout: float = 0.0) -> str | None:
        """The digest if it is ready within ``timeout`` seconds; None otherwise."""
        future = self._futures.get(key)
        if future is None:
            return None
        try:
            return future.result(timeout=timeout)
        except concurrent.futures.TimeoutError:
            return None

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


@dataclass
class GroundJob:
    """One uplinked job as the ground knows it."""

    index: int
    kind: str
    params: dict[str, Any]
    priority: int
    cost_s: float = 1.0  #: planned compute seconds on an idle bench
    job: int = 0  #: the spacecraft's job id
    uplinked_t: float = 0.0  #: mission time of the uplink
    state: str = "uplinked"
    progress: float = 0.0
    steps: str = "-"
    result: str = ""  #: result id on board
    sha256: str = ""  #: the spacecraft's digest of its result
    downloaded: int | None = None  #: bytes downloaded, once the result is down
    digest: str = ""  #: SHA-256 of the downloaded bytes
    golden: str = ""
    counts: dict[str, int] = field(default_factory=dict)  #: corrected, masked, rollbacks

    @property
    def verified(self) -> bool | None:
        """True: the downloaded result is bit-identical to the golden; None: not known yet."""
        if self.downloaded is None or not self.golden:
            return None
        return self.digest == self.golden == self.sha256

    def take(self, record: dict[str, Any]) -> None:
        """Update from a job record the spacecraft sent (full or short form)."""
        self.state = str(record.get("state", self.state))
        if isinstance(record.get("progress"), (int, float)):
            self.progress = float(record["progress"])
        if "steps_done" in record and "total_steps" in record:
            self.steps = f"{record['steps_done']}/{record['total_steps']}"
        for key in ("result", "sha256"):
            if record.get(key):
                setattr(self, key, str(record[key]))
        for key in ("corrected", "masked", "rollbacks"):
            if isinstance(record.get(key), int):
                self.counts[key] = record[key]

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "job": self.job, "kind": self.kind, "params": self.params,
                "priority": self.priority, "uplinked_t": self.uplinked_t, "state": self.state,
                "progress": self.progress, "steps": self.steps, "result": self.result,
                "sha256": self.sha256, "downloaded": self.downloaded, "digest": self.digest,
                "golden": self.golden, "verified": self.verified, "counts": self.counts}


class JobBook:
    """The ground's record of every job it uplinked, in uplink order."""

    def __init__(self) -> None:
        self.jobs: list[GroundJob] = []

    def next_job(self) -> GroundJob:
        kind, params, priority, cost = demo_job(len(self.jobs))
        return GroundJob(len(self.jobs), kind, params, priority, cost)

    def add(self, job: GroundJob) -> None:
        self.jobs.append(job)

    def by_id(self, job_id: object) -> GroundJob | None:
        """The job with the spacecraft's id ``job_id`` (anything else: None)."""
        if not isinstance(job_id, int):
            return None
        return next((j for j in self.jobs if j.job == job_id), None)

    def to_download(self) -> list[GroundJob]:
        return [j for j in self.jobs if j.state == "done" and j.downloaded is None]

    def take_list(self, records: list[dict[str, Any]]) -> None:
        for record in records:
            job = self.by_id(record.get("id")) if isinstance(record, dict) else None
            if job is not None:
                job.take(record)
