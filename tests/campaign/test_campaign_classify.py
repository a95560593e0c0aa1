"""The verdict rules, on crafted observations: every class, and the edges between them."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from hil.campaign.classify import classify

GOLDEN_A, GOLDEN_B = "a" * 64, "b" * 64


def clean() -> dict[str, Any]:
    """A run in which nothing at all happened after the injection."""
    return {
        "injected": True, "t_inject": 10.0, "completed": True, "deadline_s": 15.0,
        "recovery_s": None, "mode_end": "NOMINAL",
        "jobs": [
            {"id": 1, "kind": "matmul", "state": "done", "golden_sha256": GOLDEN_A,
             "reported_sha256": GOLDEN_A, "downloaded_sha256": GOLDEN_A, "download": "ok"},
            {"id": 2, "kind": "mlp_train", "state": "done", "golden_sha256": GOLDEN_B,
             "reported_sha256": GOLDEN_B, "downloaded_sha256": GOLDEN_B, "download": "ok"}],
        "queue_before": {"1": {"kind": "matmul", "state": "running"},
                         "2": {"kind": "mlp_train", "state": "queued"}},
        "queue_after": {"1": {"kind": "matmul", "state": "done"},
                        "2": {"kind": "mlp_train", "state": "done"}},
        "results_before": {}, "results_after": {"job-1": GOLDEN_A, "job-2": GOLDEN_B},
        "archive_before": 120, "archive_after": 120,
        "store": {"dropped_before": 0, "dropped_after": 0, "packets_before": 0},
        "params_diff": {}, "restarts": {}, "events": [],
        "ground_commands_after": {"job_status": 12, "downlink_result": 2},
    }


def event(source: str, name: str, t: float = 11.0, severity: str = "WARNING",
          **args: Any) -> dict[str, Any]:
    return {"t": t, "app": source, "name": name, "severity": severity, "args": args,
            "text": ""}


def judged(obs: dict[str, Any], background: tuple[str, ...] = ()) -> dict[str, Any]:
    return classify(obs, background)


def test_nothing_visible_is_masked() -> None:
    verdict = judged(clean())
    assert verdict["class"] == "masked" and verdict["detections"] == []


def test_the_job_runners_own_masked_upset_and_routine_events_stay_masked() -> None:
    obs = clean()
    obs["events"] = [event("jobs", "UPSET_MASKED", severity="INFO"),
                     event("jobs", "JOB_DONE", severity="INFO"),
                     event("world", "WORLD_FAULT"),  # the injection itself, not detection
                     event("health", "LIMIT", channel="cpu_percent"),  # the bench is busy
                     event("thermal", "LIMIT", channel="control_overruns")]
    assert judged(obs)["class"] == "masked"


def test_detection_with_the_right_result_is_detected_recovered() -> None:
    obs = clean()
    obs["events"] = [event("jobs", "UPSET_DETECTED"), event("radiation", "UPSET",
                                                             severity="INFO")]
    verdict = judged(obs)
    assert verdict["class"] == "detected_recovered"
    assert verdict["detections"] == ["jobs.UPSET_DETECTED", "radiation.UPSET"]


def test_what_the_golden_run_shows_too_is_not_detection() -> None:
    obs = clean()
    obs["events"] = [event("power", "LOAD_SHED"), event("health", "LIMIT", channel="disk")]
    assert judged(obs, ("power.LOAD_SHED", "health.LIMIT:disk"))["class"] == "masked"
    assert judged(obs, ("power.LOAD_SHED",))["class"] == "detected_recovered"


def test_a_wrong_result_sealed_as_good_is_sdc_even_after_a_detection() -> None:
    obs = clean()
    obs["jobs"][0].update(reported_sha256="c" * 64, downloaded_sha256="c" * 64)
    obs["events"] = [event("jobs", "UPSET_DETECTED")]
    verdict = judged(obs)
    assert verdict["class"] == "sdc"
    assert "job 1 (matmul) done with a wrong result" in verdict["reasons"][0]


def test_a_parameter_changed_behind_the_operators_back_is_sdc() -> None:
    obs = clean()
    obs["params_diff"] = {"power": {"shed_soc": [0.7, 0.1]}}
    verdict = judged(obs)
    assert verdict["class"] == "sdc" and "power parameter shed_soc" in verdict["reasons"][0]


@pytest.mark.parametrize(("change", "why"), [
    (lambda o: o["jobs"][1].update(state="failed", error="boom"), "ended failed: boom"),
    (lambda o: o["jobs"][1].update(state="gone"), "ended gone"),
    (lambda o: o["jobs"][0].update(download="refused", download_error="digest"),
     "refused as damaged"),
    (lambda o: o["queue_after"].pop("2"), "queue entry 2 (mlp_train) is gone"),
    (lambda o: (o["results_before"].update({"job-0": "d" * 64})), "stored result job-0 is gone"),
    (lambda o: o.update(archive_after=100), "the ground archive lost 20"),
    (lambda o: o["store"].update(dropped_after=5), "store dropped 5"),
    (lambda o: (o.update(params_diff={"jobs": {"duty_cap": [0.2, 1.0]}}),
                o["events"].append(event("jobs", "CHECKPOINT_FALLBACK"))),
     "jobs parameter duty_cap set before the fault is 1.0 after a checkpoint fallback"),
    (lambda o: (o["store"].update(packets_before=40),
                o["events"].append(event("comms", "STORE_RECOVERED", severity="ERROR"))),
     "holding 40 packet(s) was moved aside"),
])
def test_anything_accepted_before_the_fault_and_gone_is_data_lost(change: Any, why: str) -> None:
    obs = clean()
    change(obs)
    verdict = judged(obs)
    assert verdict["class"] == "data_lost", verdict
    assert any(why in r for r in verdict["reasons"]), verdict["reasons"]


def test_an_empty_store_moved_aside_loses_nothing() -> None:
    obs = clean()
    obs["events"] = [event("comms", "STORE_RECOVERED", severity="ERROR")]
    assert judged(obs)["class"] == "detected_recovered"


def test_a_restart_that_came_back_is_a_recovered_due_with_its_time() -> None:
    obs = clean()
    obs["events"] = [event("executive", "APP_EXITED", t=10.3, app="jobs"),
                     event("executive", "APP_RUNNING", t=11.5, severity="INFO", app="jobs")]
    obs["restarts"] = {"jobs": 1}
    obs["recovery_s"] = 1.5
    verdict = judged(obs)
    assert verdict["class"] == "due" and verdict["recovered"] is True
    assert verdict["recovery_s"] == 1.5
    assert verdict["reasons"] == ["executive.APP_EXITED (jobs) at +0.30 s"]


@pytest.mark.parametrize("evidence", [
    event("jobs", "ROLLED_BACK"), event("power", "CHECKPOINT_FALLBACK"),
    event("jobs", "QUEUE_RECOVERED"), event("executive", "APP_HUNG", severity="ERROR"),
    event("radiation", "POLICY_FIRED", action="restart_jobs"),
])
def test_every_restart_or_rollback_is_a_due(evidence: dict[str, Any]) -> None:
    obs = clean()
    obs["events"] = [evidence]
    assert judged(obs)["class"] == "due"


def test_a_restart_seen_only_in_the_process_table_is_a_due() -> None:
    obs = clean()
    obs["restarts"] = {"comms": 2}
    verdict = judged(obs)
    assert verdict["class"] == "due" and verdict["reasons"] == ["comms restarted 2 time(s)"]


def test_a_timeout_is_an_unrecovered_due() -> None:
    obs = clean()
    obs.update(completed=False, pending=["jobs finished", "stack nominal"], recovery_s=3.0)
    obs["jobs"][1]["state"] = "running"
    verdict = judged(obs)
    assert verdict["class"] == "due" and verdict["recovered"] is False
    assert verdict["recovery_s"] is None
    assert "still waiting for: jobs finished, stack nominal" in verdict["reasons"][0]


def test_safe_counts_as_recovered_only_when_the_radiation_policy_asked() -> None:
    obs = clean()
    obs["mode_end"] = "SAFE"
    obs["events"] = [event("executive", "APP_FLAPPING", severity="CRITICAL", app="jobs")]
    assert judged(obs)["recovered"] is False
    asked = copy.deepcopy(obs)
    asked["events"].append(event("radiation", "POLICY_FIRED", action="safe"))
    assert judged(asked)["recovered"] is True


def test_a_recovery_that_needed_a_ground_command_is_not_recovered() -> None:
    obs = clean()
    obs["events"] = [event("executive", "APP_EXITED", app="jobs")]
    obs["ground_commands_after"] = {"job_status": 3, "exit_safe": 1}
    verdict = judged(obs)
    assert verdict["class"] == "due" and verdict["recovered"] is False
    assert "ground commands were sent: exit_safe" in verdict["reasons"][-1]


def test_worst_class_wins() -> None:
    obs = clean()
    obs["events"] = [event("executive", "APP_EXITED", app="jobs")]
    obs["queue_after"].pop("2")
    assert judged(obs)["class"] == "data_lost"
    obs["jobs"][0]["reported_sha256"] = "e" * 64
    assert judged(obs)["class"] == "sdc"


def test_a_run_the_bench_could_not_fly_has_no_class() -> None:
    verdict = judged({"error": "FaultError: nothing to hit"})
    assert verdict["class"] is None and "nothing to hit" in verdict["reasons"][0]
