"""What `make flatsat` runs: up, status, live telemetry, an injected crash, recovery, clean stop."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_flatsat_shows_status_telemetry_recovery_and_stops_cleanly(run_dir: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "hil.cli", "flatsat", "--run-dir", str(run_dir / "rd"),
         "--duration", "4", "--set", "executive.backoff_initial_s=0.1"],
        capture_output=True, text=True, timeout=90)
    assert out.returncode == 0, out.stdout + out.stderr
    text = out.stdout
    assert "mode NOMINAL" in text and "health" in text and "RUNNING" in text
    assert text.count("mode=NOMINAL") >= 3  # a live line per second
    assert "injecting a crash: SIGKILL health" in text
    assert "APP_EXITED" in text and "APP_RUNNING" in text
    assert "killed by SIGKILL" in text  # the final status shows the recovered app
    assert "Jobs queued: #1 mlp_train" in text
    assert "Jobs (stored results compared with a fault-free run" in text
    assert "DIFFERS" not in text
    assert "Stack stopped cleanly (exit status 0)." in text
