"""The job runner in a running stack: queue, duty, upsets from data, rollback, restarts."""

from __future__ import annotations

import hashlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hil.flatsat_jobs import golden_digest as golden
from hil.stack import BusTap, LocalStack, wait_until
from tests.conftest import FAST

#: Small jobs that still take several steps; upsets only where a test injects them.
JOBS = (
    *FAST,
    "apps.world.upset_rate_per_bit_day=1e-11",
    "apps.jobs.housekeeping_period_s=0.2",
    "apps.radiation.housekeeping_period_s=0.2",
)
MATMUL = {"n": 256, "dtype": "float64", "seed": 7, "panel_rows": 32}


@pytest.fixture
def jobs_stack(run_dir: Path) -> Iterator[LocalStack]:
    with LocalStack(run_dir, overrides=JOBS, log_to=run_dir / "stack.out") as stack:
        yield stack


def submit(stack: LocalStack, kind: str, params: dict[str, Any], **kw: Any) -> int:
    reply = stack.command("jobs", "submit", {"kind": kind, "params": params, **kw})
    assert reply.ok, reply.message
    return int(reply.data["job"])


def record(stack: LocalStack, job: int) -> dict[str, Any]:
    reply = stack.command("jobs", "status", {"job": job})
    assert reply.ok, reply.message
    return dict(reply.data["job"])


def often(stack: LocalStack, **more: float) -> None:
    """Checkpoint every few steps (and slow the job down with a duty cap, if given)."""
    table = {"checkpoint_min_s": 0.005, "checkpoint_max_s": 0.01, **more}
    for name, value in table.items():
        assert stack.command("jobs", "param_load", {"name": name, "value": value}).ok
    assert stack.command("jobs", "param_activate").ok


def wait_done(stack: LocalStack, job: int, timeout: float = 60.0) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        r = record(stack, job)
        assert r["state"] != "failed", r["error"]
        return r if r["state"] == "done" else None

    return wait_until(done, timeout, f"job {job} done")


def wait_step(stack: LocalStack, job: int, at_least: int) -> dict[str, Any]:
    return wait_until(
        lambda: ((r := record(stack, job))["steps_done"] >= at_least and r) or None,
        30,
        f"job {job} at step {at_least}",
    )


@pytest.mark.parametrize(
    ("params", "why"),
    [
        ({"n": "big"}, "expected a number"),
        ({"n": 10**7}, "above the maximum"),
        ({"n": 256, "colour": 3}, "unknown parameter"),
        ({"n": 256, "dtype": "float16"}, "expected one of"),
    ],
)
def test_bad_submissions_are_refused_before_anything_runs(
    jobs_stack: LocalStack, params: dict[str, Any], why: str
) -> None:
    reply = jobs_stack.command("jobs", "submit", {"kind": "matmul", "params": params})
    assert not reply.ok and reply.reason.name == "BAD_ARGUMENTS"
    assert why in reply.message
    unknown = jobs_stack.command("jobs", "submit", {"kind": "sorcery"})
    assert not unknown.ok and "expected one of" in unknown.message
    assert jobs_stack.command("jobs", "list").data["jobs"] == []


def test_a_job_too_big_for_memory_is_refused(jobs_stack: LocalStack) -> None:
    assert jobs_stack.command("jobs", "param_load", {"name": "memory_limit_mb", "value": 4}).ok
    assert jobs_stack.command("jobs", "param_activate").ok
    reply = jobs_stack.command("jobs", "submit", {"kind": "matmul", "params": {"n": 1024}})
    assert not reply.ok and "memory_limit_mb" in reply.message


def test_a_matmul_job_runs_to_a_stored_verified_result(jobs_stack: LocalStack) -> None:
    tap = jobs_stack.tap("evt.jobs")
    job = submit(jobs_stack, "matmul", MATMUL)
    done = wait_done(jobs_stack, job)
    assert done["sha256"] == golden("matmul", MATMUL)
    data = (jobs_stack.run_dir.results_dir / done["result"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == done["sha256"]
    tap.wait_event("jobs", "JOB_DONE", where=lambda a: a["job"] == job)
    info = jobs_stack.command("jobs", "result_info", {"job": job}).data
    assert info == {"result": done["result"], "bytes": len(data), "sha256": done["sha256"]}


@pytest.mark.parametrize("kind", ["matmul", "mlp_train"])
def test_an_upset_in_live_job_data_is_found_and_the_result_is_still_right(
    jobs_stack: LocalStack, kind: str
) -> None:
    params = MATMUL if kind == "matmul" else {"seed": 3}
    jobs_stack.command("jobs", "param_load", {"name": "duty_cap", "value": 0.3})
    jobs_stack.command("jobs", "param_activate")
    job = submit(jobs_stack, kind, params)
    wait_step(jobs_stack, job, 1)
    for _ in range(3):  # random bits of the region: some land in the job's arrays
        assert jobs_stack.command("world", "inject_upset", {"region": "jobs"}).ok
    jobs_stack.command("jobs", "param_load", {"name": "duty_cap", "value": 1.0})
    jobs_stack.command("jobs", "param_activate")
    done = wait_done(jobs_stack, job)
    assert done["sha256"] == golden(kind, params)
    flips = jobs_stack.command("jobs", "status", {"job": job}).data["runner"]["sim_flips"]
    found = done["corrected"] + done["masked"] + done["rollbacks"]
    assert flips == 0 or found >= 1, (flips, done)


def test_sigkill_mid_job_resumes_from_the_checkpoint_with_the_same_result(
    jobs_stack: LocalStack,
) -> None:
    params = {**MATMUL, "n": 1024, "panel_rows": 16}
    first = submit(jobs_stack, "matmul", MATMUL)
    wait_done(jobs_stack, first)
    often(jobs_stack, duty_cap=0.3)
    job = submit(jobs_stack, "matmul", params)
    wait_until(lambda: record(jobs_stack, job)["checkpoints"] >= 2, 30, "two checkpoints")
    pid = jobs_stack.process_row("jobs")["pid"]
    tap = jobs_stack.tap("evt.jobs")
    os.kill(pid, signal.SIGKILL)
    jobs_stack.wait_running("jobs", not_pid=pid)
    resumed = tap.wait_event("jobs", "JOB_STARTED", where=lambda a: a["job"] == job)
    assert resumed.data["args"]["how"] == "resumed"  # from its last checkpoint, not from zero
    assert resumed.data["args"]["step"] > 0
    done = wait_done(jobs_stack, job)
    assert done["sha256"] == golden("matmul", params)
    assert record(jobs_stack, first)["state"] == "done"  # the queue and results survived
    assert (jobs_stack.run_dir.results_dir / f"job-{first}").exists()


def test_a_damaged_newest_checkpoint_falls_back_to_an_older_generation(
    jobs_stack: LocalStack,
) -> None:
    params = {**MATMUL, "n": 1024, "panel_rows": 16}
    often(jobs_stack, duty_cap=0.3)
    job = submit(jobs_stack, "matmul", params)
    wait_until(lambda: record(jobs_stack, job)["checkpoints"] >= 2, 30, "two checkpoints")
    assert jobs_stack.command("jobs", "pause", {"job": job}).ok
    wait_until(lambda: record(jobs_stack, job)["state"] == "paused", 10, "paused")
    state_dir = jobs_stack.run_dir.state_dir / "jobs"
    newest = wait_until(
        lambda: sorted(state_dir.glob(f"job-{job}.*.ckpt"))[-1:] or None, 10, "checkpoint files"
    )[0]
    raw = bytearray(newest.read_bytes())
    raw[len(raw) // 2] ^= 0x10
    newest.write_bytes(bytes(raw))
    pid = jobs_stack.process_row("jobs")["pid"]
    os.kill(pid, signal.SIGKILL)  # the restart must load from disk
    jobs_stack.wait_running("jobs", not_pid=pid)
    tap = jobs_stack.tap("evt.jobs")
    jobs_stack.command("jobs", "param_load", {"name": "duty_cap", "value": 1.0})
    jobs_stack.command("jobs", "param_activate")
    assert jobs_stack.command("jobs", "resume", {"job": job}).ok
    event = tap.wait_event("jobs", "CHECKPOINT_FALLBACK", timeout=20)
    assert event.data["args"]["path"] == newest.name
    done = wait_done(jobs_stack, job)
    assert done["sha256"] == golden("matmul", params)


def test_a_rollback_restores_the_last_checkpoint_and_recomputes_to_the_same_result(
    jobs_stack: LocalStack,
) -> None:
    """The running job goes rolled-back, comes back at its last checkpoint (ROLLED_BACK says
    which step), runs on, and still ends on the golden result; a job not running cannot be
    rolled back."""
    params = {**MATMUL, "n": 1024, "panel_rows": 16}
    often(jobs_stack, duty_cap=0.3)
    job = submit(jobs_stack, "matmul", params)
    wait_until(lambda: record(jobs_stack, job)["checkpoints"] >= 2, 30, "two checkpoints")
    tap = jobs_stack.tap("evt.jobs")
    reply = jobs_stack.command("jobs", "rollback", {"job": job})
    assert reply.ok, reply.message
    assert reply.data["state"] == "rolled-back" and reply.data["rollbacks"] == 1
    event = tap.wait_event("jobs", "ROLLED_BACK", where=lambda a: a["job"] == job)
    assert event.data["args"]["why"] == "commanded"
    # the last checkpoint: written before the command, or by a step in flight when it came
    assert 0 < event.data["args"]["step"] < reply.data["total_steps"]
    assert event.data["args"]["generation"] != "none"
    jobs_stack.command("jobs", "param_load", {"name": "duty_cap", "value": 1.0})
    jobs_stack.command("jobs", "param_activate")
    done = wait_done(jobs_stack, job)
    assert done["sha256"] == golden("matmul", params)
    assert done["rollbacks"] == 1
    refused = jobs_stack.command("jobs", "rollback", {"job": job})
    assert not refused.ok and refused.reason.name == "NOT_PERMITTED"


def test_a_job_whose_model_is_damaged_before_it_starts_fails_with_the_reason(
    jobs_stack: LocalStack,
) -> None:
    """An inference job's model is checked when the job is submitted and again when it starts.
    Damaged on disk in between (one bit of the stored mlp_train result), it fails the job with
    the reason before anything is computed, and the runner goes on with the next job."""
    trained = wait_done(jobs_stack, submit(jobs_stack, "mlp_train", {"seed": 3}))
    model = jobs_stack.run_dir.results_dir / trained["result"]
    often(jobs_stack, duty_cap=0.02)  # the job ahead holds the CPUs while the model is damaged
    ahead = submit(jobs_stack, "matmul", {**MATMUL, "n": 1024}, priority=5)
    wait_step(jobs_stack, ahead, 1)
    job = submit(jobs_stack, "inference", {"model": str(model), "batches": 2})
    raw = bytearray(model.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    model.write_bytes(bytes(raw))
    tap = jobs_stack.tap("evt.jobs")
    assert jobs_stack.command("jobs", "cancel", {"job": ahead}).ok
    failed = tap.wait_event("jobs", "JOB_FAILED", where=lambda a: a["job"] == job)
    assert "damaged" in failed.data["args"]["why"]
    r = record(jobs_stack, job)
    assert r["state"] == "failed" and "damaged" in r["error"]
    assert r["steps_done"] == 0 and not r["result"]
    jobs_stack.command("jobs", "param_load", {"name": "duty_cap", "value": 1.0})
    jobs_stack.command("jobs", "param_activate")
    after = submit(jobs_stack, "matmul", MATMUL)
    assert wait_done(jobs_stack, after)["sha256"] == golden("matmul", MATMUL)


def test_duty_follows_the_cap_and_safe_pauses_and_checkpoints(jobs_stack: LocalStack) -> None:
    tap: BusTap = jobs_stack.tap("tlm.jobs", "evt.jobs")
    jobs_stack.command("jobs", "param_load", {"name": "duty_cap", "value": 0.4})
    jobs_stack.command("jobs", "param_activate")
    job = submit(jobs_stack, "matmul", {**MATMUL, "n": 3072, "panel_rows": 16})
    tap.wait_telemetry(
        "jobs", lambda t: t["running_job"] == job and 0.25 < t["duty"] < 0.55, timeout=30
    )
    assert jobs_stack.command("executive", "set_mode", {"mode": "SAFE", "why": "test"}).ok
    tap.wait_event("jobs", "JOB_PAUSED", where=lambda a: a["why"] == "safe")
    tap.wait_telemetry("jobs", lambda t: t["duty"] == 0.0 and t["duty_allowed"] == 0.0, timeout=30)
    paused = record(jobs_stack, job)
    assert paused["state"] == "paused" and paused["checkpoints"] >= 1
    assert jobs_stack.hazardous("executive", "exit_safe", {"mode": "NOMINAL"}).ok
    tap.wait_event("jobs", "JOB_RESUMED")
    wait_until(
        lambda: record(jobs_stack, job)["steps_done"] > paused["steps_done"],
        30,
        "progress after SAFE",
    )


def test_no_power_budget_pauses_the_job_and_its_return_resumes_it(
    jobs_stack: LocalStack,
) -> None:
    often(jobs_stack, duty_cap=0.3)
    job = submit(jobs_stack, "matmul", {**MATMUL, "n": 3072, "panel_rows": 16})
    wait_step(jobs_stack, job, 1)
    tap = jobs_stack.tap("evt.jobs")
    assert jobs_stack.command("power", "load_off", {"load": "compute"}).ok  # budget: zero
    tap.wait_event("jobs", "JOB_PAUSED", where=lambda a: a["job"] == job and a["why"] == "power")
    paused = wait_until(lambda: (r := record(jobs_stack, job))["state"] == "paused" and r, 10,
                        "paused")
    assert paused["paused"] == ["power"]
    assert jobs_stack.command("power", "load_auto", {"load": "compute"}).ok
    tap.wait_event("jobs", "JOB_RESUMED", where=lambda a: a["job"] == job)
    wait_until(lambda: record(jobs_stack, job)["steps_done"] > paused["steps_done"], 30,
               "progress with the budget back")


def _cpu_share(stack: LocalStack, tap: BusTap, messages: int) -> float:
    """CPU seconds the jobs process used per wall second, over ``messages`` housekeeping
    periods in which one job computed throughout (a job finishing inside the window spends
    part of it writing its result, which is I/O, not the duty being measured)."""
    import time

    import psutil

    process = psutil.Process(stack.process_row("jobs")["pid"])
    for _ in range(5):
        before, t0 = sum(process.cpu_times()[:2]), time.monotonic()
        running = set()
        for _ in range(messages):
            tap.seen.clear()
            running.add(tap.wait_telemetry("jobs", lambda t: True, timeout=5)
                        .data["running_job"])
        share = (sum(process.cpu_times()[:2]) - before) / (time.monotonic() - t0)
        if len(running) == 1 and 0 not in running:
            return share
    raise AssertionError(f"no window of {messages} periods with one job computing throughout")


def test_the_cpu_share_the_board_measures_follows_the_duty_cap(run_dir: Path) -> None:
    """Not just the runner's own duty meter: the kernel's CPU accounting of the jobs process."""
    overrides = (*JOBS, "apps.jobs.blas_threads=1")
    with LocalStack(run_dir, overrides=overrides, log_to=run_dir / "stack.out") as stack:
        tap = stack.tap("tlm.jobs")
        shares = {}
        for _ in range(3):  # more jobs keep the payload busy when the first one finishes
            submit(stack, "matmul", {**MATMUL, "n": 4096, "panel_rows": 16})
        for cap in (0.3, 0.8):
            assert stack.command("jobs", "param_load", {"name": "duty_cap", "value": cap}).ok
            assert stack.command("jobs", "param_activate").ok
            tap.wait_telemetry("jobs", lambda t, c=cap: t["running_job"] != 0
                               and abs(t["duty"] - c) < 0.15, timeout=60)
            shares[cap] = _cpu_share(stack, tap, messages=15)
        assert shares[0.3] <= 0.3 + 0.12, shares
        assert shares[0.8] <= 0.8 + 0.12, shares
        assert shares[0.8] > shares[0.3] + 0.15, shares


def test_a_result_the_disk_refuses_is_held_and_stored_later_without_recomputing(
        jobs_stack: LocalStack) -> None:
    """A full disk refuses the result and every checkpoint: the job is held with its
    computed result in memory, and stored from there once the disk has room."""
    tap = jobs_stack.tap("evt.jobs")
    params = {**MATMUL, "n": 1024, "panel_rows": 256}
    # At 1 % duty the job rests ~100x each step's time, so it is still running, with its
    # checkpoint store open, while the disk "fills up" (at full duty the whole job would be
    # one burst of steps).
    jobs_stack.command("jobs", "param_load", {"name": "duty_cap", "value": 0.01})
    jobs_stack.command("jobs", "param_activate")
    job = submit(jobs_stack, "matmul", params)
    wait_step(jobs_stack, job, 1)
    state = jobs_stack.run_dir.state_dir / "jobs"
    results = jobs_stack.run_dir.results_dir
    aside = state.with_name("jobs-aside")
    state.rename(aside)  # nothing the jobs app saves can land now: files stand in for
    state.write_bytes(b"")  # its state and results directories
    results.mkdir(parents=True, exist_ok=True)
    os.rmdir(results)
    results.write_bytes(b"")
    try:
        tap.wait_event("jobs", "RESULT_NOT_STORED", timeout=60, where=lambda a: a["job"] == job)
        held = jobs_stack.command("jobs", "status", {"job": job}).data
        assert held["job"]["paused"] == ["storage"]
        # The retry a couple of seconds later meets the same full disk.
        wait_until(lambda: jobs_stack.command("jobs", "status", {"job": job})
                   .data["runner"]["storage_holds"] >= 2, 30, "a second storage hold")
    finally:  # the disk has room again
        state.unlink()
        aside.rename(state)
        results.unlink()
    done = wait_done(jobs_stack, job)
    assert done["sha256"] == golden("matmul", params)
    after = jobs_stack.command("jobs", "status", {"job": job}).data["runner"]
    assert after["steps"] == held["runner"]["steps"]  # stored from memory, nothing recomputed


def test_a_higher_priority_job_preempts_the_running_one_which_resumes_from_its_checkpoint(
        jobs_stack: LocalStack) -> None:
    """A submission of higher priority, and then set_priority on a queued job, each take the
    CPUs from the running job (checkpointed first); it resumes where it was, result intact."""
    tap = jobs_stack.tap("evt.jobs")
    jobs_stack.command("jobs", "param_load", {"name": "duty_cap", "value": 0.02})
    jobs_stack.command("jobs", "param_activate")  # slow, so the long job is still running
    long_params = {**MATMUL, "n": 1024, "panel_rows": 32}
    long = submit(jobs_stack, "matmul", long_params, priority=0)
    wait_step(jobs_stack, long, 1)
    urgent = submit(jobs_stack, "matmul", MATMUL, priority=5)
    assert wait_done(jobs_stack, urgent)["sha256"] == golden("matmul", MATMUL)

    def resumed(envelope: Any) -> bool:
        data = envelope.data if isinstance(envelope.data, dict) else {}
        args = data.get("args") or {}
        return data.get("name") == "JOB_STARTED" and args.get("job") == long \
            and args.get("how") == "resumed"

    first = tap.wait(resumed, 30, "the long job resumed")
    assert first.data["args"]["step"] > 0  # from its checkpoint, not from the start
    later_params = {**MATMUL, "seed": 8}
    later = submit(jobs_stack, "matmul", later_params, priority=0)  # queued behind it
    assert jobs_stack.command("jobs", "set_priority", {"job": later, "priority": 9}).ok
    assert wait_done(jobs_stack, later)["sha256"] == golden("matmul", later_params)
    assert record(jobs_stack, long)["state"] != "done"
    assert wait_done(jobs_stack, long, timeout=120)["sha256"] == golden("matmul", long_params)
    again = tap.wait(lambda e: resumed(e) and e is not first, 10, "the long job resumed again")
    assert again.data["args"]["step"] >= first.data["args"]["step"]
