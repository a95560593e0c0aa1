"""Real campaigns: real stacks, real worker processes, a real SIGKILL, a real Dask cluster."""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hil.campaign.reap import processes_under
from hil.testbed import free_udp_port

CLI = [sys.executable, "-m", "hil.cli", "campaign"]


def campaign(*args: str, timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout,
                          check=False)


def journal(out: Path) -> list[dict]:
    path = out / "journal.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def seed_campaign(out: Path, golden_from: Path, **request: object) -> None:
    """A campaign directory that already has its golden run (borrowed from another)."""
    out.mkdir(parents=True)
    doc = {"version": 1, "name": out.name, "seed": 1, "runs": 1, "classes": [], "faults": [],
           "margin": 0.05, "created_unix": time.time(), **request}
    (out / "campaign.json").write_text(json.dumps(doc))
    shutil.copy(golden_from / "golden.json", out / "golden.json")


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A whole campaign: the golden run and 4 runs of two classes on 2 workers."""
    out = tmp_path_factory.mktemp("camp") / "small"
    done = campaign("--runs", "4", "--out", str(out), "--workers", "2", "--seed", "4",
                    "--classes", "process,data", timeout=400)
    assert done.returncode == 0, done.stdout + done.stderr
    yield out, done.stderr


@pytest.mark.timeout(450)
def test_a_small_campaign_flies_every_run_once_and_reports(small: tuple[Path, str]) -> None:
    out, log = small
    records = journal(out)
    assert sorted(r["id"] for r in records) == [0, 1, 2, 3], log
    assert {r["spec"]["fault_class"] for r in records} == {"process", "data"}
    assert len({r["worker"] for r in records}) == 2  # both workers flew runs
    for r in records:
        assert r["verdict"]["class"] in ("masked", "detected_recovered", "due"), r["verdict"]
        assert r["observation"]["injection"]["fault"] == r["spec"]["fault"]
        run_dir = Path(r["observation"]["run_dir"])
        assert run_dir.name.startswith("slc-") and not run_dir.exists()
        assert processes_under(run_dir) == []  # nothing of the run survives it
    progress = json.loads((out / "progress.json").read_text())
    assert progress["done"] == progress["planned"] == 4 and progress["finished"] is True
    assert sum(progress["by_class"].values()) == 4 and progress["running"] == 0
    report = json.loads((out / "report.json").read_text())
    assert report["partial"] is False and report["flown"] == 4
    assert report["sample_size"]["needed_unbounded"] == 385
    assert report["throughput"]["runs_per_min"] > 0
    assert len(report["runs"]) == 4 and report["golden"]["duration_s"] > 0
    markdown = (out / "report.md").read_text()
    assert "PARTIAL" not in markdown and "## Outcomes (Wilson 95 % intervals)" in markdown
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 3 and "<table>" in html
    for name in ("outcomes_by_class.png", "recovery_times.png", "run_durations.png"):
        assert (out / "plots" / name).read_bytes()[:4] == b"\x89PNG"
    assert list((out / "live").iterdir()) == []
    rendered = campaign("report", str(out), timeout=120)
    assert rendered.returncode == 0 and rendered.stdout.strip().endswith("report.html")


@pytest.mark.timeout(450)
def test_a_campaign_killed_halfway_resumes_and_flies_each_run_once(
        small: tuple[Path, str], tmp_path: Path) -> None:
    out = tmp_path / "resume"
    seed_campaign(out, small[0], seed=5, runs=3, faults=["crash"])
    args = ["--runs", "3", "--out", str(out), "--workers", "2", "--seed", "5", "--faults",
            "crash"]
    proc = subprocess.Popen([*CLI, *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    run_dirs: set[str] = set()
    try:
        deadline = time.monotonic() + 240
        while not journal(out) and time.monotonic() < deadline:
            for live in (out / "live").glob("*.json") if (out / "live").is_dir() else []:
                with contextlib.suppress(OSError, ValueError):
                    run_dirs.add(json.loads(live.read_text())["run_dir"])
            time.sleep(0.05)
        assert journal(out), "no run finished"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    first = journal(out)
    assert 1 <= len(first) < 3
    # The workers die with the campaign, stopping their stacks first.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (
            any(processes_under(Path(d)) for d in run_dirs)
            or list((out / "live").glob("*.json"))):
        time.sleep(0.2)
    assert not any(processes_under(Path(d)) for d in run_dirs)
    assert not list((out / "live").glob("*.json"))  # each worker cleaned up after itself
    assert not any(Path(d).exists() for d in run_dirs)
    partial = campaign("report", str(out), timeout=120)
    assert partial.returncode == 0, partial.stderr
    assert f"PARTIAL: {len(first)} of 3 runs" in (out / "report.md").read_text()
    assert json.loads((out / "report.json").read_text())["partial"] is True

    again = campaign(*args, timeout=400)
    assert again.returncode == 0, again.stderr
    records = journal(out)
    assert sorted(r["id"] for r in records) == [0, 1, 2]  # each run exactly once
    assert records[: len(first)] == first  # what was done was not flown again
    sessions = json.loads((out / "sessions.json").read_text())
    assert len(sessions) == 2
    assert json.loads((out / "progress.json").read_text())["finished"] is True
    assert json.loads((out / "report.json").read_text())["partial"] is False


@pytest.mark.timeout(450)
def test_runs_go_through_a_dask_cluster(small: tuple[Path, str], tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    out = tmp_path / "dask"
    seed_campaign(out, small[0], seed=6, runs=2, faults=["crash"])
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        workers = {int(w.pid) for w in cluster.workers.values() if getattr(w, "pid", None)}
        done = campaign("--runs", "2", "--out", str(out), "--seed", "6", "--faults", "crash",
                        "--executor", "dask", "--scheduler", cluster.scheduler_address,
                        timeout=400)
    assert done.returncode == 0, done.stderr
    records = journal(out)
    assert sorted(r["id"] for r in records) == [0, 1]
    pids = {int(r["worker"].rsplit(":", 1)[1]) for r in records}
    assert pids <= workers or not workers, (pids, workers)
    assert all(r["verdict"]["class"] == "due" for r in records)  # a crash is always seen
    sessions = json.loads((out / "sessions.json").read_text())
    assert sessions[0]["executor"] == "dask"


def test_bad_input_is_a_clear_error_with_exit_status_2(tmp_path: Path) -> None:
    cases = [
        (["--runs", "3", "--out", str(tmp_path / "a"), "--faults", "crahs"],
         "unknown fault 'crahs' (did you mean 'crash'?)"),
        (["--runs", "3", "--out", str(tmp_path / "b"), "--classes", "cosmic"],
         "unknown fault class 'cosmic'"),
        (["--out", str(tmp_path / "c"), "--resume"], "nothing to resume"),
        (["--runs", "3"], "--out DIR is required"),
        (["--runs", "3", "--out", str(tmp_path / "d"), "--margin", "5"], "--margin must be"),
        (["report", str(tmp_path)], "holds no campaign"),
    ]
    for args, message in cases:
        done = campaign(*args, timeout=60)
        assert done.returncode == 2, (args, done.stderr)
        assert message in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_another_campaigns_directory_is_refused_without_resume(tmp_path: Path) -> None:
    out = tmp_path / "other"
    out.mkdir()
    (out / "campaign.json").write_text(json.dumps(
        {"version": 1, "name": "other", "seed": 9, "runs": 50, "classes": [], "faults": [],
         "margin": 0.05}))
    done = campaign("--runs", "3", "--out", str(out), "--seed", "1", timeout=60)
    assert done.returncode == 2
    assert "holds a different campaign (seed=9, runs=50)" in done.stderr
    assert "--resume" in done.stderr


def test_an_unreachable_scheduler_is_a_clear_error(tmp_path: Path) -> None:
    port = free_udp_port()  # nothing listens on it over TCP either, in all likelihood
    done = campaign("--runs", "2", "--out", str(tmp_path / "x"), "--executor", "dask",
                    "--scheduler", f"tcp://127.0.0.1:{port}", timeout=90)
    assert done.returncode == 2, done.stderr
    assert f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}" in done.stderr
    assert not (tmp_path / "x" / "campaign.json").exists()
