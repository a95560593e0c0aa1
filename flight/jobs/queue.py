"""The job queue: every job the ground submitted, its state and progress, persisted.

The queue is small (at most ``MAX_JOBS`` records of a few hundred bytes) and changes only on
state transitions and checkpoints, so it is saved whole through the checkpoint store each time:
a restart of the jobs app, or of the whole board, finds exactly what the ground had been told.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any

#: Jobs kept (finished ones are dropped oldest first beyond this).
MAX_JOBS = 256


class JobState(str, enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    ROLLED_BACK = "rolled-back"  # running again from its last good checkpoint
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobState.DONE, JobState.FAILED, JobState.CANCELLED)


class PauseReason(str, enum.Enum):
    OPERATOR = "operator"  # only a resume command ends it
    SAFE = "safe"  # ends when the mode leaves SAFE
    POWER = "power"  # ends when the compute budget comes back
    STORAGE = "storage"  # the result could not be written (full disk): retried after a while


@dataclass
class Job:
    """One job's record, as listed to the ground."""

    id: int
    kind: str
    params: dict[str, Any]
    priority: int
    state: JobState = JobState.QUEUED
    steps_done: int = 0
    total_steps: int = 0
    paused: list[str] = field(default_factory=list)  # PauseReason values in force
    submitted_t: float = 0.0  # mission time
    finished_t: float | None = None
    result: str = ""  # result id in the result store
    sha256: str = ""
    result_bytes: int = 0
    error: str = ""
    rollbacks: int = 0
    corrected: int = 0
    masked: int = 0
    checkpoints: int = 0
    summary: dict[str, float] = field(default_factory=dict)

    @property
    def runnable(self) -> bool:
        return not self.state.finished and not self.paused

    def describe(self) -> dict[str, Any]:
        out = asdict(self)
        out["state"] = self.state.value
        out["progress"] = self.steps_done / self.total_steps if self.total_steps else 0.0
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Job:
        """A record read back from disk; ValueError when it is not one."""
        try:
            raw = dict(raw)
            raw.pop("progress", None)
            raw["state"] = JobState(raw["state"])
            job = cls(**raw)
        except (TypeError, ValueError, KeyError) as exc:
            raise ValueError(f"bad job record: {exc}") from None
        if not isinstance(job.id, int) or not isinstance(job.params, dict):
            raise ValueError("bad job record: id or params")
        return job


class JobQueue:
    """Jobs by id; :meth:`next_runnable` picks by priority, then submission order."""

    def __init__(self) -> None:
        self.jobs: dict[int, Job] = {}
        self.next_id = 1

    def add(self, kind: str, params: dict[str, Any], priority: int, t: float) -> Job:
        job = Job(self.next_id, kind, params, priority, submitted_t=t)
        self.next_id += 1
        self.jobs[job.id] = job
        self._trim()
        return job

    def get(self, job_id: int) -> Job | None:
        return self.jobs.get(job_id)

    def active(self) -> list[Job]:
        return [j for j in self.jobs.values() if not j.state.finished]

    def next_runnable(self) -> Job | None:
        ready = [j for j in self.jobs.values() if j.runnable]
        return min(ready, key=lambda j: (-j.priority, j.id), default=None)

    def _trim(self) -> None:
        finished = sorted((j for j in self.jobs.values() if j.state.finished),
                          key=lambda j: j.id)
        while len(self.jobs) > MAX_JOBS and finished:
            del self.jobs[finished.pop(0).id]

    def to_state(self) -> dict[str, Any]:
        return {"next_id": self.next_id, "jobs": [j.describe() for j in self.jobs.values()]}

    @classmethod
    def from_state(cls, raw: Any) -> JobQueue:
        if not isinstance(raw, dict) or not isinstance(raw.get("jobs"), list) \
                or not isinstance(raw.get("next_id"), int):
            raise ValueError("not a job queue")
        queue = cls()
        for item in raw["jobs"]:
            if not isinstance(item, dict):
                raise ValueError("bad job record")
            job = Job.from_dict(item)
            queue.jobs[job.id] = job
        queue.next_id = max([raw["next_id"], *[j.id + 1 for j in queue.jobs.values()]])
        return queue
