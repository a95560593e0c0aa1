"""What the job runner offers: the queue's commands, its telemetry, events and parameters."""

from __future__ import annotations

from flight.app.model import (
    AppModel,
    Arg,
    Channel,
    Command,
    Event,
    Limits,
    Param,
    Severity,
    ValueType,
)
from flight.jobs.kinds import KINDS

FLOAT, INT, BOOL, STR = ValueType.FLOAT, ValueType.INT, ValueType.BOOL, ValueType.STR
ENUM, MAP = ValueType.ENUM, ValueType.MAP

_JOB = Arg("job", INT, "Job id (from submit or list).", min=1)
_PRIORITY = Arg("priority", INT, "Higher runs first; equal priorities run in submission order.",
                default=5, min=0, max=9)

JOBS_MODEL = AppModel(
    commands=(
        Command("submit", "Queue a job; its parameters are checked against its kind first.", (
            Arg("kind", ENUM, "Registered job kind.", choices=tuple(sorted(KINDS))),
            Arg("params", MAP, "The kind's parameters (see docs/jobs-kinds.md).",
                default=None),
            _PRIORITY,
        )),
        Command("cancel", "Stop a job for good; its checkpoints are deleted.", (_JOB,)),
        Command("pause", "Hold a job after its current step (checkpointed).", (_JOB,)),
        Command("resume", "Let an operator-paused job run again.", (_JOB,)),
        Command("set_priority", "Change a job's priority (a higher one preempts at a step "
                "boundary).", (_JOB, Arg("priority", INT, "0..9.", min=0, max=9))),
        Command("rollback", "Restore a job's last good checkpoint and recompute from there.",
                (_JOB,)),
        Command("list", "Every job in the queue with its state and progress."),
        Command("status", "One job's record, the runner's duty and checkpoint policy.",
                (_JOB,)),
        Command("result_info", "A finished job's result id, size and SHA-256 for downlink.",
                (_JOB,)),
        Command("kinds", "The registered kinds and their parameters."),
        Command("scrub", "Check the running job's data and checkpoints against their digests "
                "now (the radiation monitor calls it on its schedule)."),
    ),
    telemetry=(
        Channel("queued", INT, "Jobs waiting or paused."),
        Channel("running_job", INT, "Job being computed (0: none)."),
        Channel("progress", FLOAT, "Its progress.", "fraction"),
        Channel("duty", FLOAT, "Compute duty really run (last 5 s).", "fraction"),
        Channel("duty_allowed", FLOAT, "min(thermal limit, power budget, ground cap); 0 in SAFE.",
                "fraction"),
        Channel("steps", INT, "Steps computed since start."),
        Channel("step_ms", FLOAT, "Compute time of the last step.", "ms"),
        Channel("detections", INT, "Upsets found in job data (ABFT, digests, checkpoints).",
                limits=Limits(yellow_high=0)),
        Channel("corrected", INT, "Corrected in place by recomputation."),
        Channel("masked", INT, "Changed bits within roundoff (result unaffected)."),
        Channel("rollbacks", INT, "Rollbacks to a checkpoint."),
        Channel("checkpoints", INT, "Checkpoints written."),
        Channel("checkpoint_fallbacks", INT, "Loads that had to skip a damaged generation.",
                limits=Limits(yellow_high=0)),
        Channel("checkpoint_ms", FLOAT, "Measured cost of a checkpoint (moving average).", "ms"),
        Channel("checkpoint_interval_s", FLOAT, "Young/Daly interval in use (compute time).",
                "s"),
        Channel("mtbf_s", FLOAT, "Mean time between upsets the interval is computed from "
                "(mission time; the radiation monitor's estimate).", "s"),
        Channel("done", INT, "Jobs finished with a stored, verified result."),
        Channel("failed", INT, "Jobs that failed."),
        Channel("storage_holds", INT, "Results the disk refused (held and retried, not lost).",
                limits=Limits(yellow_high=0)),
        Channel("sim_flips", INT, "Simulation truth: upsets the world landed in job data or "
                "checkpoints (never used for detection)."),
    ),
    events=(
        Event("JOB_SUBMITTED", Severity.INFO, "Job {job} ({kind}) queued at priority "
              "{priority}"),
        Event("JOB_STARTED", Severity.INFO, "Job {job} ({kind}) {how} at step {step}/{total}"),
        Event("JOB_PAUSED", Severity.INFO, "Job {job} paused at step {step}/{total}: {why}"),
        Event("JOB_RESUMED", Severity.INFO, "Job {job} resumed: {why}"),
        Event("JOB_DONE", Severity.INFO, "Job {job} ({kind}) done: result {result}, "
              "{size} bytes, sha256 {sha256:.16}…"),
        Event("JOB_FAILED", Severity.ERROR, "Job {job} ({kind}) failed: {why}"),
        Event("RESULT_NOT_STORED", Severity.WARNING, "Job {job}: result computed but not "
              "stored ({why}); held, retried in {retry_s} s"),
        Event("JOB_CANCELLED", Severity.INFO, "Job {job} cancelled at step {step}/{total}"),
        Event("UPSET_DETECTED", Severity.WARNING, "Job {job}: {check} found an upset in "
              "{where} ({detail}) -> {outcome}"),
        Event("UPSET_MASKED", Severity.INFO, "Job {job}: bits changed in {where} within "
              "roundoff ({detail})"),
        Event("ROLLED_BACK", Severity.WARNING, "Job {job} rolled back to step {step} "
              "(generation {generation}): {why}"),
        Event("CHECKPOINT_DAMAGED", Severity.WARNING, "Job {job}: checkpoint {path} damaged "
              "on disk ({reason}); a fresh one is written"),
        Event("CHECKPOINT_FAILED", Severity.ERROR, "Job {job}: checkpoint not written: {why}"),
        Event("QUEUE_RECOVERED", Severity.WARNING, "Job queue restored from an older "
              "generation: {why}"),
        Event("QUEUE_LOST", Severity.ERROR, "No readable job queue on disk ({why}): empty"),
    ),
    parameters=(
        Param("duty_cap", FLOAT, 1.0, "Ground cap on the compute duty.", min=0.0, max=1.0),
        Param("checkpoint_min_s", FLOAT, 0.5, "Shortest checkpoint interval (compute seconds).",
              min=0.001, max=3600),
        Param("checkpoint_max_s", FLOAT, 30.0, "Longest checkpoint interval (compute seconds).",
              min=0.001, max=86400),
        Param("prior_mtbf_s", FLOAT, 86400.0, "Mean time between upsets (mission seconds) "
              "assumed until the radiation monitor publishes its estimate.", min=1.0),
        Param("memory_limit_mb", INT, 1024, "Largest job accepted (its peak memory).",
              min=1, max=1 << 20),
        Param("max_active", INT, 32, "Most jobs queued, running or paused at once.",
              min=1, max=256),
    ),
)

JOBS_SETTINGS = (
    Param("blas_threads", INT, 0, "BLAS threads a job uses (0: all cores). A ground that "
          "recomputes a result to compare it must use the same count.", min=0, max=256),
    Param("simulated_upsets", BOOL, True, "Apply the world's upset events to job data and "
          "checkpoints (simulation and co-simulation; no effect without a world)."),
)
