"""Orphans of a dead worker are reaped: every process under its run dir, even a stopped one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil

from hil.campaign.reap import RUN_DIR_PREFIX, processes_under, reap_orphans
from hil.stack import LocalStack
from tests.conftest import FAST


def test_a_dead_workers_stack_is_killed_and_its_run_dir_removed(tmp_path: Path) -> None:
    campaign = tmp_path / "camp"
    (campaign / "live").mkdir(parents=True)
    run_dir = Path(tempfile.mkdtemp(prefix=RUN_DIR_PREFIX, dir="/tmp"))
    stack = LocalStack(run_dir, overrides=FAST, log_to=run_dir / "stack.out")
    try:
        stack.start()
        pids = {stack.process.pid, stack.wait_running("health")["pid"]}  # type: ignore[union-attr]
        os.kill(stack.wait_running("comms")["pid"], signal.SIGSTOP)  # a hung app, too
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
        (campaign / "live" / "7.json").write_text(json.dumps({
            "run": 7, "run_dir": str(run_dir), "worker_pid": int(dead.stdout),
            "worker_started": 0.0, "host": os.uname().nodename}))
        assert len(processes_under(run_dir)) >= 3

        found = reap_orphans(campaign)

        assert [f["run"] for f in found] == [7] and pids <= set(found[0]["killed"])
        assert processes_under(run_dir) == []
        assert not run_dir.exists() and list((campaign / "live").iterdir()) == []
        for pid in pids:
            assert not psutil.pid_exists(pid) or \
                psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    finally:
        stack.stop()


def test_a_live_worker_is_left_alone(tmp_path: Path) -> None:
    live = tmp_path / "live"
    live.mkdir()
    me = psutil.Process()
    (live / "3.json").write_text(json.dumps({
        "run": 3, "run_dir": "/tmp/slc-not-there", "worker_pid": me.ppid(),
        "worker_started": psutil.Process(me.ppid()).create_time(),
        "host": os.uname().nodename}))
    assert reap_orphans(tmp_path) == []
    assert (live / "3.json").exists()
