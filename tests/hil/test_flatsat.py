"""What `make flatsat` runs, shortened: the demo mission end to end through the real CLI.

One orbit and a bit at 400x: the ground uplinks jobs at the first pass, an eclipse, the job
runner is killed and comes back, telemetry stored out of contact comes down at the next pass,
and the summary and the report directory are there at the end.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import matplotlib.image

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_the_demo_mission_flies_and_reports(run_dir: Path) -> None:
    rd, report = run_dir / "rd", run_dir / "report"
    out = subprocess.run(
        [sys.executable, "-m", "hil.cli", "flatsat", "--run-dir", str(rd), "--report",
         str(report), "--speed", "400", "--orbits", "1"],
        capture_output=True, text=True, timeout=150)
    text = out.stdout
    assert out.returncode == 0, text + out.stderr
    assert "[" in text and "| orbit 1 |" in text and "%" in text  # plain status lines
    assert re.search(r"ground: pass \d+ over \w+: uplinked \d+ jobs? \(#1 ", text), text
    assert "eclipse: in the Earth's shadow" in text
    assert "injecting a crash: SIGKILL jobs" in text and "jobs is back, restarted" in text
    assert "killed by SIGKILL" in text  # the final process table
    later_aos = [int(n) for n in re.findall(
        r"AOS \w+: contact; (\d+) telemetry packets stored on board", text)][1:]
    assert later_aos and all(n > 0 for n in later_aos), text  # stored, then downlinked
    assert "\x1b[" not in text  # no colour codes when stdout is not a terminal
    for row in ("Mission summary", "Energy", "Battery", "Temperatures", "Upsets", "Restarts",
                "Telemetry", "APID"):
        assert row in text, row
    assert "DIFFERS" not in text

    summary = json.loads((report / "summary.json").read_text(encoding="utf-8"))
    assert summary["jobs"] and summary["jobs"][0]["job"] == 1
    assert summary["restarts"].get("jobs", 0) >= 1
    assert summary["kills"][0]["recovered_s"] is not None
    telemetry = summary["telemetry"]
    assert telemetry["stored_then_downlinked"] > 0 and telemetry["ratio"] > 0.95
    assert summary["energy"]["eclipse_min"] > 0
    for name in ("overview.png", "soc.png", "temperatures.png", "duty.png", "upsets.png",
                 "contacts.png", "jobs.png"):
        assert (report / name).read_bytes().startswith(PNG_MAGIC), name
        assert matplotlib.image.imread(report / name).shape[1] >= 1000
    html = (report / "report.html").read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and '<img src="soc.png"' in html
    assert "![" in (report / "report.md").read_text(encoding="utf-8")


def test_bad_options_are_refused_with_the_reason(run_dir: Path) -> None:
    (run_dir / "used").mkdir()
    (run_dir / "used" / "config.json").write_text("{}")
    for args, words in ((["--speed", "0"], "--speed"), (["--orbits", "-1"], "--orbits"),
                        (["--run-dir", str(run_dir / "used")], "not an empty directory")):
        out = subprocess.run([sys.executable, "-m", "hil.cli", "flatsat", *args],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 2, out.stdout + out.stderr
        assert words in out.stdout and "Traceback" not in out.stdout + out.stderr
