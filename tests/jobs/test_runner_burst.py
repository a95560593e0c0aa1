"""The worker's bursts: at full duty it runs steps back to back for a while, and stops at once
at anything the main loop must see before the next step."""

from __future__ import annotations

from pathlib import Path

import pytest

from flight.apps.jobs import runner
from flight.checkpoint import CheckpointStore
from flight.jobs.abft import flip_bit
from flight.jobs.kinds import KINDS
from flight.jobs.queue import Job
from flight.results import ResultStore

PARAMS = {"n": 128, "dtype": "float64", "seed": 5, "panel_rows": 16}  # 8 steps


@pytest.fixture(name="run")
def fixture_run(tmp_path: Path) -> runner.Running:
    job = Job(1, "matmul", KINDS["matmul"].bind(PARAMS), 0)
    return runner.Running(job, CheckpointStore(tmp_path / "ckpt", "job-1"))


def results(tmp_path: Path) -> ResultStore:
    return ResultStore(tmp_path / "results")


def test_without_a_burst_one_step_is_computed(run: runner.Running, tmp_path: Path) -> None:
    done = runner.step(run, 1e9, results(tmp_path))
    assert (done.steps, run.next_step, done.result) == (1, 1, None)


def test_a_long_enough_burst_runs_the_job_to_its_stored_result(run: runner.Running,
                                                               tmp_path: Path) -> None:
    done = runner.step(run, 1e9, results(tmp_path), burst_s=60.0)
    assert done.steps == run.next_step == 8
    assert done.result is not None and done.report.findings == []
    fresh = KINDS["matmul"](KINDS["matmul"].bind(PARAMS))
    for i in range(fresh.total_steps):
        fresh.step(i)
    assert results(tmp_path).get("job-1").data == fresh.result()


def test_a_burst_stops_at_a_checkpoint(run: runner.Running, tmp_path: Path) -> None:
    done = runner.step(run, 0.0, results(tmp_path), burst_s=60.0)
    assert done.steps == 1 and done.checkpoint is not None


def test_a_burst_stops_at_the_first_finding(run: runner.Running, tmp_path: Path) -> None:
    runner.step(run, 1e9, results(tmp_path))  # built, one step done
    assert run.kind is not None
    flip_bit(run.kind.regions()["a"], 3, 62)  # row 16 of A: the next panel
    done = runner.step(run, 1e9, results(tmp_path), burst_s=60.0)
    assert done.steps == 1 and done.report.findings


def test_a_step_with_findings_is_not_checkpointed_before_the_loop_has_seen_them(
        run: runner.Running, tmp_path: Path) -> None:
    """The policy may roll back even a corrected step: a checkpoint taken before it decides
    would preserve what the rollback throws away."""
    runner.step(run, 1e9, results(tmp_path))
    assert run.kind is not None
    flip_bit(run.kind.regions()["a"], 3, 62)
    done = runner.step(run, 0.0, results(tmp_path), burst_s=60.0)
    assert done.report.findings and done.checkpoint is None
    later = runner.step(run, 0.0, results(tmp_path))  # nothing rolled back: the next call does
    assert later.checkpoint is not None


def test_asked_for_the_worker_back_a_burst_ends_and_stores_nothing(run: runner.Running,
                                                                   tmp_path: Path) -> None:
    for _ in range(7):
        runner.step(run, 1e9, results(tmp_path))
    run.hand_back.set()  # e.g. the job was cancelled while its last step computed
    done = runner.step(run, 0.0, results(tmp_path), burst_s=60.0)
    assert (done.steps, done.result, done.checkpoint) == (1, None, None)
    assert not (tmp_path / "results").exists() or not list((tmp_path / "results").iterdir())
    run.hand_back.clear()
    stored = runner.step(run, 1e9, results(tmp_path))
    assert stored.steps == 0 and stored.result is not None


def test_a_kind_that_raises_fails_its_job_and_not_the_worker(
        run: runner.Running, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug in a kind comes back as the job's error (the app marks the job failed); the
    worker returns normally, and nothing is stored."""
    runner.step(run, 1e9, results(tmp_path))
    assert run.kind is not None

    def broken(step: int) -> None:
        raise ZeroDivisionError("a kind's bug")

    monkeypatch.setattr(run.kind, "step", broken)
    done = runner.step(run, 1e9, results(tmp_path), burst_s=60.0)
    assert done.error == "ZeroDivisionError: a kind's bug"
    assert done.result is None and done.checkpoint is None
