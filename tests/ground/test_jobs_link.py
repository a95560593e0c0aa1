"""Jobs over the space link (PUS service 128): submit, ask after, list, download, verify."""

from __future__ import annotations

import hashlib

import pytest

from ground.jobs import JobError, cancel_job, job_status, list_jobs, submit_job, wait_job
from ground.results import download_result
from ground.station import GroundStation
from tests.jobs.test_jobs_app import golden

PARAMS = {"n": 128, "seed": 5, "panel_rows": 32}


def test_a_job_uplinked_runs_and_its_result_comes_down_whole(ground: GroundStation) -> None:
    job = submit_job(ground, "matmul", PARAMS, priority=7)
    record = wait_job(ground, job, timeout=60)
    assert record["state"] == "done" and record["priority"] == 7
    data = download_result(ground, record["result"], timeout=60)
    assert hashlib.sha256(data).hexdigest() == record["sha256"] == golden("matmul", PARAMS)
    assert [j["id"] for j in list_jobs(ground)] == [job]


@pytest.mark.parametrize(("kind", "params", "why"), [
    ("sorcery", {}, "BAD_APP_DATA"),
    ("matmul", {"n": 3}, "BAD_ARGUMENTS"),
    ("mlp_train", {"samples": 1_000_000, "features": 1024}, "memory_limit_mb"),
])
def test_a_bad_submission_is_refused_with_its_reason(
        ground: GroundStation, kind: str, params: dict, why: str) -> None:
    with pytest.raises(JobError, match=why):
        submit_job(ground, kind, params)
    assert list_jobs(ground) == []


def test_status_of_an_unknown_job_and_a_cancel(ground: GroundStation) -> None:
    with pytest.raises(JobError, match="no job 99"):
        job_status(ground, 99)
    job = submit_job(ground, "matmul", {"n": 2048, "panel_rows": 8}, priority=1)
    cancelled = cancel_job(ground, job)
    assert cancelled["state"] == "cancelled"
    assert job_status(ground, job)["state"] == "cancelled"
