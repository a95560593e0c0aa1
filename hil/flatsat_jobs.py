"""The jobs a flatsat flies in ``sunlit-hil flatsat``: queued at the start, computed through
eclipses, throttling and upsets, and checked at the end against a fault-free run done here.

The check is the point: the harness recomputes each job from its parameters (every kind is
deterministic) and compares digests, so "the result is right" is shown, not assumed.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from typing import Any

from threadpoolctl import threadpool_limits

from flight.jobs.kind import Outcome
from flight.jobs.kinds import KINDS

#: What the demo queues: training runs, products and a batch of inference; a few seconds of
#: compute each on a 2-core machine, stretched over the demo by throttling, shedding, eclipses
#: and the rollbacks upsets cause.
DEMO_JOBS: tuple[tuple[str, dict[str, Any], int], ...] = (
    ("mlp_train", {"seed": 1, "epochs": 60, "samples": 4096, "features": 64, "hidden": 256}, 6),
    ("matmul", {"n": 2048, "dtype": "float64", "seed": 2, "panel_rows": 32}, 5),
    ("inference", {"seed": 3, "batches": 64, "batch_size": 4096, "features": 64,
                   "hidden": 256}, 4),
    ("mlp_train", {"seed": 4, "epochs": 60, "samples": 4096, "features": 64, "hidden": 256}, 3),
    ("matmul", {"n": 1536, "dtype": "float32", "seed": 5, "panel_rows": 32}, 2),
)


@dataclass
class Verified:
    """One job's outcome as the ground saw it."""

    job: int
    kind: str
    state: str
    steps: str
    corrected: int
    masked: int
    rollbacks: int
    matches_golden: bool | None  # None: not finished, nothing to compare


def golden_digest(kind: str, params: dict[str, Any]) -> str:
    """The SHA-256 of a fault-free run of the job, computed in this process."""
    cls = KINDS[kind]
    with threadpool_limits(limits=None, user_api="blas"):  # as the flight side (blas_threads 0)
        job = cls(cls.bind(params))
        for i in range(job.total_steps):
            if job.step(i).outcome is Outcome.ROLLBACK:
                raise RuntimeError(f"the golden {kind} run saw an upset on the ground")
        return hashlib.sha256(job.result()).hexdigest()


class Goldens:
    """The fault-free digests, computed on a background thread while the flatsat flies."""

    def __init__(self) -> None:
        self.digests: dict[int, str] = {}
        self.thread = threading.Thread(target=self._run, name="goldens", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for index, (kind, params, _) in enumerate(DEMO_JOBS):
            self.digests[index] = golden_digest(kind, params)

    def get(self, index: int) -> str:
        self.thread.join()
        return self.digests[index]


def submit(stack: Any) -> list[int]:
    """Load the demo jobs into the queue (over the onboard bus: the harness's own door; an
    operator uplinks them with PUS 128 in a contact window, see ground/jobs.py)."""
    ids = []
    for kind, params, priority in DEMO_JOBS:
        reply = stack.command("jobs", "submit", {"kind": kind, "params": params,
                                                 "priority": priority})
        if not reply.ok:
            raise RuntimeError(f"{kind} refused: {reply.message}")
        ids.append(int(reply.data["job"]))
    return ids


def verify(stack: Any, ids: list[int], goldens: Goldens) -> list[Verified]:
    """Every job's record; each finished one's stored result checked against a golden run."""
    out = []
    for index, (job, (kind, _, _)) in enumerate(zip(ids, DEMO_JOBS, strict=True)):
        reply = stack.command("jobs", "status", {"job": job})
        if not reply.ok:
            out.append(Verified(job, kind, "unknown", "-", 0, 0, 0, None))
            continue
        r = reply.data["job"]
        matches = None
        if r["state"] == "done":
            stored = (stack.run_dir.results_dir / r["result"]).read_bytes()
            digest = hashlib.sha256(stored).hexdigest()
            matches = digest == r["sha256"] == goldens.get(index)
        out.append(Verified(job, kind, r["state"], f"{r['steps_done']}/{r['total_steps']}",
                            r["corrected"], r["masked"], r["rollbacks"], matches))
    return out
