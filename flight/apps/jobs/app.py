"""The job runner app: a persisted queue of AI compute jobs, run step by step under the duty the
thermal and power apps allow, checked by ABFT and digests, checkpointed at an adaptive interval,
rolled back when an upset cannot be corrected, and finished with a stored, digested result.
"""

from __future__ import annotations

import concurrent.futures
import math
import time
from typing import Any

from flight.app.base import App, CommandFailed
from flight.app.model import InvalidValue
from flight.apps.jobs import runner
from flight.apps.jobs.model import JOBS_MODEL, JOBS_SETTINGS
from flight.apps.jobs.runner import Running, WorkDone
from flight.apps.radiation.policy import Policy
from flight.bus import Envelope, Reason
from flight.checkpoint.store import CheckpointStore
from flight.hal import ENV_ACTUATE
from flight.jobs.evidence import (
    CHECKPOINT_CORRUPT,
    ESTIMATE_TOPIC,
    EVIDENCE_TOPIC,
    evidence_of,
)
from flight.jobs.kind import Finding, Outcome
from flight.jobs.kinds import KINDS
from flight.jobs.pacing import DutyMeter, duty_allowed, rest_after, young_interval
from flight.jobs.queue import Job, JobQueue, JobState, PauseReason
from flight.jobs.upsets import flip_in_arrays, flip_in_files
from flight.results import ResultStore

SAFE = "SAFE"
UPSET_TOPIC = "env.upset"
#: Storage rate assumed for a checkpoint before one has been measured (an SD card's).
ASSUMED_CHECKPOINT_BPS = 200e6
#: Level-triggered actuation: the world forgets a duty it has not heard again for a while.
DUTY_REPUBLISH_S = 1.0
#: Wall seconds before a result the disk refused is offered to it again.
STORAGE_RETRY_S = 2.0
#: At full duty the worker runs steps back to back for up to this long before the main loop
#: accounts for them (each round trip through the loop costs a short step about 1 %). A
#: command, a lower duty limit, a mode change or an upset ends a burst at the step in flight
#: (Running.hand_back), so this bounds only how long the loop's accounting lags.
BURST_S = 0.2


class JobsApp(App):
    """Runs the ground's compute jobs and never returns a wrong answer silently."""

    app_id = 6
    model = JOBS_MODEL
    settings = JOBS_SETTINGS

    def on_start(self) -> None:
        self.results = ResultStore(self.ctx.run_dir.results_dir)
        self.queue_store = self.mirrored_store("queue")
        self.queue = self._load_queue()
        # The first response to a finding follows the radiation monitor's policy table.
        self.policy = Policy.from_config(
            self.ctx.config.get("apps", {}).get("radiation", {}).get("policy"))
        self.current: Running | None = None
        self.thermal_limit = 1.0
        self.budget_w: float | None = None
        self.compute_max_w: float | None = None
        self.mtbf_s = float(self.params["prior_mtbf_s"])
        self.meter = DutyMeter()
        self.last_end = 0.0  # monotonic end of the last step, and its compute time: the rest
        self.last_compute_s = 0.0  # before the next follows from the duty allowed *now*
        self.step_started: float | None = None
        self.pending_upsets: list[dict[str, Any]] = []
        self.scrub_requested = False
        self.checkpoint_cost_s = 0.0
        self.interval_s = float(self.params["checkpoint_min_s"])
        self.stats = dict.fromkeys(("steps", "detections", "corrected", "masked", "rollbacks",
                                    "checkpoints", "checkpoint_fallbacks", "sim_flips",
                                    "storage_holds"), 0)
        self._storage_retry_at = 0.0
        self.last_step_ms = 0.0
        self._duty_published = 0.0
        self.subscribe(f"{ENV_ACTUATE}thermal", self._thermal)
        self.subscribe(f"{ENV_ACTUATE}power", self._power)
        self.subscribe(ESTIMATE_TOPIC, self._estimate)
        if self.ctx.settings["simulated_upsets"]:
            self.subscribe(UPSET_TOPIC, self._upset)

    def check_parameters(self, table: dict[str, Any]) -> str | None:
        if table["checkpoint_min_s"] > table["checkpoint_max_s"]:
            return "checkpoint_min_s must not be above checkpoint_max_s"
        return None

    # ------------------------------------------------------------------ inputs
    def _thermal(self, env: Envelope) -> None:
        if isinstance(env.data, dict):
            allowed = self.duty_allowed()
            self.thermal_limit = _fraction(env.data.get("duty_limit"), self.thermal_limit)
            self._hand_back_if(self.duty_allowed() < allowed)

    def _power(self, env: Envelope) -> None:
        if isinstance(env.data, dict):
            allowed = self.duty_allowed()
            budget, top = env.data.get("compute_budget_w"), env.data.get("compute_max_w")
            if isinstance(budget, (int, float)) and math.isfinite(budget):
                self.budget_w = max(0.0, float(budget))
            if isinstance(top, (int, float)) and math.isfinite(top) and top > 0:
                self.compute_max_w = float(top)
            self._hand_back_if(self.duty_allowed() < allowed)

    def _hand_back_if(self, needed: bool = True) -> None:
        """Ask the worker to end its burst at the next step boundary (see Running.hand_back)."""
        if needed and self.current is not None:
            self.current.hand_back.set()

    def on_mode_change(self, old: str | None, new: str) -> None:
        self._hand_back_if()

    def on_parameters_changed(self, changes: dict[str, Any]) -> None:
        self._hand_back_if()  # a duty cap, or the checkpoint interval's bounds

    def _estimate(self, env: Envelope) -> None:
        mtbf = env.data.get("mtbf_s") if isinstance(env.data, dict) else None
        if isinstance(mtbf, (int, float)) and mtbf > 0:
            self.mtbf_s = float(mtbf)

    def _upset(self, env: Envelope) -> None:
        data = env.data
        if isinstance(data, dict) and data.get("region") in ("jobs", "checkpoints") \
                and isinstance(data.get("bit"), int) and data["bit"] >= 0:
            self.pending_upsets.append(data)
            if not self.busy:
                self._apply_upsets()
            else:
                self._hand_back_if()  # the upset lands at the next step boundary, not later

    def _apply_upsets(self) -> None:
        """Simulation: land the world's upsets in real bytes; detection must find them."""
        for upset in self.pending_upsets:
            if upset["region"] == "jobs":
                hit = None if self.current is None or self.current.kind is None \
                    else flip_in_arrays(self.current.kind.regions(), upset["bit"])
            else:
                hit = flip_in_files(self._checkpoint_files(), upset["bit"])
            if hit is not None:
                self.stats["sim_flips"] += 1
                self.log.debug("simulated upset landed in %s", hit)
        self.pending_upsets.clear()

    def _checkpoint_files(self) -> list[Any]:
        return sorted(self.queue_store.directory.glob("*.ckpt"))

    # ------------------------------------------------------------------ scheduling
    def duty_allowed(self) -> float:
        budget = math.inf if self.budget_w is None else self.budget_w
        top = self.compute_max_w or 1.0
        return duty_allowed(self.thermal_limit, budget, top, self.params["duty_cap"],
                            self.mode == SAFE)

    def next_start(self) -> float:
        return self.last_end + rest_after(self.last_compute_s, self.duty_allowed())

    def next_deadline(self) -> float | None:
        if self.busy or self.current is None or not self.current.job.runnable:
            return None
        start = self.next_start()
        return start if math.isfinite(start) else None

    def on_tick(self) -> None:
        now = time.monotonic()
        if now - self._duty_published >= DUTY_REPUBLISH_S:
            self._publish_duty(now)
        if self.busy:
            return
        self._apply_upsets()
        self._hold_or_release()
        self._choose()
        if self.current is None:
            return
        if self.scrub_requested:
            self.scrub_requested = False
            self._offload(runner.scrub, self.current)
        elif self.current.job.runnable and now >= self.next_start():
            self.interval_s = young_interval(
                self._checkpoint_cost(self.current.job), self.mtbf_s / self.clock.speed,
                self.params["checkpoint_min_s"], self.params["checkpoint_max_s"])
            self.step_started = now
            burst_s = BURST_S if self.duty_allowed() >= 1.0 else 0.0
            self.current.hand_back.clear()
            self._offload(runner.step, self.current, self.interval_s, self.results,
                          self.ctx.settings["blas_threads"], burst_s)
        if self.busy:  # republish at once: the world heats the chip from this duty
            self._publish_duty(now)

    def _checkpoint_cost(self, job: Job) -> float:
        """δ for Young's interval: measured once a checkpoint was written, until then estimated
        from the job's size at a conservative storage rate (so a large first job is not
        checkpointed every half second just because nothing was measured yet)."""
        if self.checkpoint_cost_s > 0:
            return self.checkpoint_cost_s
        return KINDS[job.kind].memory_bytes(job.params) / ASSUMED_CHECKPOINT_BPS

    def _publish_duty(self, now: float) -> None:
        self._duty_published = now
        self.publish(f"{ENV_ACTUATE}jobs", {"duty": self.meter.duty(now, self.step_started)})

    def _hold_or_release(self) -> None:
        """Pause every unfinished job in SAFE or with no power budget; release when it ends."""
        auto = {PauseReason.SAFE.value: self.mode == SAFE,
                PauseReason.POWER.value: self.mode != SAFE and self.duty_allowed() <= 0}
        for job in self.queue.active():
            for reason, hold in auto.items():
                if hold and reason not in job.paused:
                    self._pause(job, reason)
                elif not hold and reason in job.paused:
                    self._release(job, reason)
            if PauseReason.STORAGE.value in job.paused \
                    and time.monotonic() >= self._storage_retry_at:
                self._release(job, PauseReason.STORAGE.value)

    def _choose(self) -> None:
        """Keep computing the best runnable job; switch (checkpointed) when another outranks it."""
        best = self.queue.next_runnable()
        current = self.current
        if current is not None and current.job.paused == [PauseReason.STORAGE.value]:
            return  # its finished result waits in memory for the disk: keep it, store it later
        if current is not None and (best is None or best.id != current.job.id):
            self.current = None
            if not current.job.state.finished and current.compute_since_checkpoint > 0:
                self._offload(runner.checkpoint_now, current)
            return
        if current is None and best is not None:
            self.current = Running(best, self._job_store(best))
            how = "resumed" if best.steps_done else "started"
            self.emit("JOB_STARTED", job=best.id, kind=best.kind, how=how,
                      step=best.steps_done, total=best.total_steps)
            best.state = JobState.RUNNING
            self.last_end, self.last_compute_s = 0.0, 0.0

    def _job_store(self, job: Job) -> CheckpointStore:
        return self.checkpoint_store(f"job-{job.id}",
                                     max_bytes=self.params["memory_limit_mb"] << 20)

    def _offload(self, fn: Any, run: Running, *args: Any) -> None:
        """Run ``fn(run, ...)`` on the worker; ``_work_done`` accounts for it on the loop."""
        self.offload(fn, run, *args, on_done=lambda future: self._work_done(run, future))

    # ------------------------------------------------------------------ results of work
    def _work_done(self, run: Running, future: concurrent.futures.Future[WorkDone]) -> None:
        done = future.result()
        if done.steps:
            busy = max(done.compute_s, done.ended - done.started)
            self.meter.add(done.started, done.started + busy)
            self.stats["steps"] += done.steps
            self.last_step_ms = done.compute_s * 1e3 / done.steps
            self.last_end, self.last_compute_s = time.monotonic(), busy
        self.step_started = None
        job = run.job
        if done.restored is not None:
            self._report_restore(run, done.restored)
        for path in done.damaged:
            self.emit("CHECKPOINT_DAMAGED", job=job.id, path=path.name,
                      reason="failed verification")
            self._evidence(CHECKPOINT_CORRUPT, "rewritten", job, path.name)
        if job.state.finished:  # cancelled while the step computed: drop what it did
            return
        if done.checkpoint is not None:
            self.stats["checkpoints"] += 1
            job.checkpoints += 1
            self.checkpoint_cost_s = done.checkpoint_s if not self.checkpoint_cost_s \
                else 0.7 * self.checkpoint_cost_s + 0.3 * done.checkpoint_s
        if done.checkpoint_error:
            self.emit("CHECKPOINT_FAILED", job=job.id, why=done.checkpoint_error)
        if done.error:
            self._finish(job, JobState.FAILED, why=done.error)
            return
        if done.storage_error:
            self._hold_for_storage(run, done.storage_error)
        rollback = self._account(job, done.report.findings)
        if rollback:
            self._rollback(run, rollback)
        elif done.steps:
            job.steps_done = run.next_step
            job.total_steps = run.kind.total_steps if run.kind else job.total_steps
            job.summary = run.kind.summary() if run.kind else {}
            if job.state is JobState.ROLLED_BACK:
                job.state = JobState.RUNNING
            if done.checkpoint is not None:
                self._save_queue()
        if done.result is not None and not rollback:
            job.result, job.sha256, job.result_bytes = done.result
            self._finish(job, JobState.DONE)
        self._apply_upsets()

    def _hold_for_storage(self, run: Running, why: str) -> None:
        """The result is computed but the disk refused it: hold the job, try again later.

        A full disk is a condition that passes (the ground deletes results, FDIR frees space);
        failing a job that computed correctly would lose the work.
        """
        self.stats["storage_holds"] += 1
        self.emit("RESULT_NOT_STORED", job=run.job.id, why=why,
                  retry_s=round(STORAGE_RETRY_S, 1))
        if PauseReason.STORAGE.value not in run.job.paused:
            self._pause(run.job, PauseReason.STORAGE.value)
        self._storage_retry_at = time.monotonic() + STORAGE_RETRY_S

    def _account(self, job: Job, findings: list[Finding]) -> str:
        """Count and report each finding; the policy's first response may ask for a rollback."""
        why = ""
        for f in findings:
            where = f"{f.where}"
            if f.outcome is Outcome.MASKED:
                self.stats["masked"] += 1
                job.masked += 1
                self.emit("UPSET_MASKED", job=job.id, where=where, detail=f.detail)
            else:
                self.stats["detections"] += 1
                if f.outcome is Outcome.CORRECTED:
                    self.stats["corrected"] += 1
                    job.corrected += 1
                self.emit("UPSET_DETECTED", job=job.id, check=f.check, where=where,
                          detail=f.detail, outcome=f.outcome.value)
            evidence = evidence_of(f)
            self._evidence(evidence, f.outcome.value, job, where)
            if f.outcome is Outcome.ROLLBACK or (
                    f.outcome is Outcome.CORRECTED and self._policy_rolls_back(evidence)):
                why = why or f"{f.check} in {where}"
        return why

    def _policy_rolls_back(self, evidence: str) -> bool:
        return self.policy.first_response(evidence) == "rollback"

    def _evidence(self, evidence: str, outcome: str, job: Job, where: str) -> None:
        self.publish(EVIDENCE_TOPIC, {"evidence": evidence, "outcome": outcome, "job": job.id,
                                      "kind": job.kind, "where": where, "t": self.clock.now()})

    def _report_restore(self, run: Running, restored: runner.Restored) -> None:
        job = run.job
        generation = "none" if restored.generation is None else restored.generation
        for rej in restored.rejected:
            self.stats["checkpoint_fallbacks"] += 1
            self.emit("CHECKPOINT_FALLBACK", store=f"jobs/job-{job.id}", job=job.id,
                      generation=rej.generation, path=rej.path.name, reason=rej.reason,
                      used=generation)
            self._evidence(CHECKPOINT_CORRUPT, "fallback", job, rej.path.name)
        if run.rollback_why:
            self.emit("ROLLED_BACK", job=job.id, step=restored.step, generation=generation,
                      why=run.rollback_why)
            run.rollback_why = ""
        job.steps_done = restored.step
        if run.kind is not None:
            job.total_steps = run.kind.total_steps

    def _rollback(self, run: Running, why: str) -> None:
        """Rebuild from the last good checkpoint before the next step (on the worker)."""
        run.hand_back.set()
        self.stats["rollbacks"] += 1
        run.job.rollbacks += 1
        run.job.state = JobState.ROLLED_BACK
        run.restore_needed, run.rollback_why = True, why
        self._evidence("rollback", "rolled_back", run.job, why)
        self._save_queue()

    def _finish(self, job: Job, state: JobState, why: str = "") -> None:
        job.state, job.finished_t, job.error = state, self.clock.now(), why
        if state is JobState.DONE:
            job.steps_done = job.total_steps
            self.emit("JOB_DONE", job=job.id, kind=job.kind, result=job.result,
                      size=job.result_bytes, sha256=job.sha256)
        elif state is JobState.FAILED:
            self.emit("JOB_FAILED", job=job.id, kind=job.kind, why=why)
        if self.current is not None and self.current.job is job:
            self.current = None
        for path in self.queue_store.directory.glob(f"job-{job.id}.*.ckpt"):
            path.unlink(missing_ok=True)  # the result (or the cancellation) supersedes them
        self._save_queue()

    # ------------------------------------------------------------------ pause and resume
    def _pause(self, job: Job, reason: str) -> None:
        self._hand_back_if()
        job.paused.append(reason)
        if job.state is not JobState.QUEUED:
            job.state = JobState.PAUSED
        self.emit("JOB_PAUSED", job=job.id, step=job.steps_done, total=job.total_steps,
                  why=reason)
        self._save_queue()  # the running job is checkpointed when the runner lets go of it

    def _release(self, job: Job, reason: str) -> None:
        job.paused.remove(reason)
        if not job.paused:
            job.state = JobState.RUNNING if job.steps_done else JobState.QUEUED
            self.emit("JOB_RESUMED", job=job.id, why=f"{reason} hold ended")
        self._save_queue()

    # ------------------------------------------------------------------ persistence
    def _load_queue(self) -> JobQueue:
        loaded = self.queue_store.load_object()
        rejected = self.queue_store.last_rejections
        if loaded is None:
            if rejected:
                self.emit("QUEUE_LOST", why="; ".join(r.reason for r in rejected))
            return JobQueue()
        try:
            queue = JobQueue.from_state(loaded[0])
        except ValueError as exc:
            self.emit("QUEUE_LOST", why=str(exc))
            return JobQueue()
        if rejected:
            self.emit("QUEUE_RECOVERED", why="; ".join(r.reason for r in rejected))
        for job in queue.active():  # a job computing when the app stopped resumes from its
            if job.state in (JobState.RUNNING, JobState.ROLLED_BACK):  # last checkpoint
                job.state = JobState.RUNNING
        return queue

    def _save_queue(self) -> None:
        try:
            self.queue_store.save_object(self.queue.to_state())
        except (OSError, ValueError) as exc:
            self.log.error("job queue not saved: %s", exc)

    # ------------------------------------------------------------------ commands
    def _job(self, job_id: int) -> Job:
        job = self.queue.get(job_id)
        if job is None:
            raise CommandFailed(Reason.BAD_ARGUMENTS, f"no job {job_id}")
        return job

    def do_submit(self, kind: str, params: dict[str, Any], priority: int) -> dict[str, Any]:
        cls = KINDS[kind]
        try:
            bound = cls.bind(params)
        except InvalidValue as exc:
            raise CommandFailed(Reason.BAD_ARGUMENTS, str(exc)) from None
        need, limit = cls.memory_bytes(bound), self.params["memory_limit_mb"] << 20
        if need > limit:
            raise CommandFailed(Reason.BAD_ARGUMENTS, f"{kind} would need {need >> 20} MiB, "
                                f"more than memory_limit_mb = {limit >> 20}")
        if len(self.queue.active()) >= self.params["max_active"]:
            raise CommandFailed(Reason.BUSY, f"{self.params['max_active']} jobs already active")
        job = self.queue.add(kind, bound, priority, self.clock.now())
        self._hand_back_if()  # it may outrank the running job
        self._save_queue()
        self.emit("JOB_SUBMITTED", job=job.id, kind=kind, priority=priority)
        return {"job": job.id, "params": bound}

    def do_cancel(self, job: int) -> dict[str, Any]:
        record = self._job(job)
        if record.state.finished:
            raise CommandFailed(Reason.NOT_PERMITTED, f"job {job} is already {record.state.value}")
        self._hand_back_if()
        self.emit("JOB_CANCELLED", job=job, step=record.steps_done, total=record.total_steps)
        self._finish(record, JobState.CANCELLED)  # a step in flight is dropped when it ends
        return record.describe()

    def do_pause(self, job: int) -> dict[str, Any]:
        record = self._job(job)
        if record.state.finished or PauseReason.OPERATOR.value in record.paused:
            raise CommandFailed(Reason.NOT_PERMITTED, f"job {job} is {record.state.value}")
        self._pause(record, PauseReason.OPERATOR.value)
        return record.describe()

    def do_resume(self, job: int) -> dict[str, Any]:
        record = self._job(job)
        if PauseReason.OPERATOR.value not in record.paused:
            raise CommandFailed(Reason.NOT_PERMITTED, f"job {job} is not paused by an operator")
        self._release(record, PauseReason.OPERATOR.value)
        return record.describe()

    def do_set_priority(self, job: int, priority: int) -> dict[str, Any]:
        record = self._job(job)
        record.priority = priority
        self._hand_back_if()
        self._save_queue()
        return record.describe()

    def do_rollback(self, job: int) -> dict[str, Any]:
        record = self._job(job)
        if self.current is None or self.current.job is not record:
            raise CommandFailed(Reason.NOT_PERMITTED, f"job {job} is not the running job")
        self._rollback(self.current, "commanded")
        return record.describe()

    def do_list(self) -> dict[str, Any]:
        return {"jobs": [j.describe() for j in self.queue.jobs.values()]}

    def do_status(self, job: int) -> dict[str, Any]:
        return {"job": self._job(job).describe(), "runner": self._runner_status()}

    def do_result_info(self, job: int) -> dict[str, Any]:
        record = self._job(job)
        if record.state is not JobState.DONE:
            raise CommandFailed(Reason.NOT_PERMITTED, f"job {job} is {record.state.value}")
        return {"result": record.result, "bytes": record.result_bytes, "sha256": record.sha256}

    def do_kinds(self) -> dict[str, Any]:
        return {name: {"doc": cls.doc, "params": [p.describe() for p in cls.params]}
                for name, cls in sorted(KINDS.items())}

    def do_scrub(self) -> dict[str, Any]:
        """Check the running job's data and checkpoint files between its steps."""
        self.scrub_requested = self.current is not None
        self._hand_back_if()
        return {"scrub_scheduled": self.scrub_requested,
                "job": self.current.job.id if self.current else 0}

    # ------------------------------------------------------------------ telemetry
    def _runner_status(self) -> dict[str, Any]:
        return {"duty": self.meter.duty(time.monotonic(), self.step_started),
                "duty_allowed": self.duty_allowed(), "thermal_limit": self.thermal_limit,
                "budget_w": self.budget_w, "interval_s": self.interval_s,
                "checkpoint_s": self.checkpoint_cost_s, "mtbf_s": self.mtbf_s,
                **self.stats}

    def housekeeping(self) -> dict[str, Any]:
        run = self.current
        jobs = self.queue.jobs.values()
        return {
            "queued": sum(1 for j in jobs if j.state in (JobState.QUEUED, JobState.PAUSED)),
            "running_job": run.job.id if run else 0,
            "progress": run.job.steps_done / run.job.total_steps
            if run and run.job.total_steps else 0.0,
            "duty": round(self.meter.duty(time.monotonic(), self.step_started), 4),
            "duty_allowed": round(self.duty_allowed(), 4),
            "step_ms": round(self.last_step_ms, 3),
            "checkpoint_ms": round(self.checkpoint_cost_s * 1e3, 3),
            "checkpoint_interval_s": round(self.interval_s, 3),
            "mtbf_s": self.mtbf_s,
            "done": sum(1 for j in jobs if j.state is JobState.DONE),
            "failed": sum(1 for j in jobs if j.state is JobState.FAILED),
            **self.stats,
        }


def _fraction(value: Any, default: float) -> float:
    if isinstance(value, (int, float)) and math.isfinite(value):
        return max(0.0, min(1.0, float(value)))
    return default
