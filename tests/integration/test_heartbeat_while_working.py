"""Heartbeats go on while an app works off its main loop, and stop when the loop is stuck."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from hil.stack import LocalStack
from tests.conftest import FAST

ROOT = Path(__file__).parents[2]


@pytest.fixture
def worker_stack(run_dir: Path) -> Iterator[LocalStack]:
    config = run_dir / "worker.toml"
    config.write_text(textwrap.dedent("""
        [apps.worker]
        class = "tests.support.apps:Worker"
        housekeeping_period_s = 0.3
    """))
    # These tests are about hang detection: the real threshold, not FAST's tolerant one.
    stack = LocalStack(run_dir, config=str(config), overrides=(*FAST, "executive.hang_misses=3"),
                       env={"PYTHONPATH": str(ROOT)}, log_to=run_dir / "stack.out")
    stack.start()
    yield stack
    stack.stop()


def test_offloaded_work_longer_than_hang_limit_keeps_heartbeating(
        worker_stack: LocalStack) -> None:
    tap = worker_stack.tap("evt.")
    pid = worker_stack.wait_running("worker")["pid"]
    # 1.5 s of work is longer than three heartbeat periods (3 x 0.2 s).
    assert worker_stack.command("worker", "work", {"seconds": 1.5}).ok
    tap.wait_event("worker", "WORK_DONE", timeout=5)
    row = worker_stack.process_row("worker")
    assert row["restarts"] == 0 and row["pid"] == pid
    assert worker_stack.command("worker", "noop").ok


def test_blocked_main_loop_is_a_hang(worker_stack: LocalStack) -> None:
    tap = worker_stack.tap("evt.executive")
    pid = worker_stack.wait_running("worker")["pid"]
    worker_stack.command("worker", "block", {"seconds": 30}, timeout=0.3)
    tap.wait_event("executive", "APP_HUNG", timeout=3, where=lambda a: a["app"] == "worker")
    worker_stack.wait_running("worker", not_pid=pid)


def test_work_overrunning_its_timeout_withholds_heartbeats(worker_stack: LocalStack) -> None:
    tap = worker_stack.tap("evt.executive")
    pid = worker_stack.wait_running("worker")["pid"]
    assert worker_stack.command("worker", "work", {"seconds": 30}).ok  # work_timeout_s = 3
    hung = tap.wait_event("executive", "APP_HUNG", timeout=6,
                          where=lambda a: a["app"] == "worker")
    assert hung is not None
    worker_stack.wait_running("worker", not_pid=pid)
