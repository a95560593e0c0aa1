"""Scenarios played for real: testbeds with real processes, a real link proxy, real faults.

Four library scenarios chosen to exercise every kind of step between them (a crash and its
events, a lasting link outage awaited over the bus and cleared, hazardous commands and expected
failures, telecommand faults with saved values), and one scenario whose expectation cannot
hold: exit status 1, the failure in the JUnit report, the lasting fault still cleared (with a
``no_event`` over the bus on the way).
"""

from __future__ import annotations

import shutil
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

import hil
from hil.cli import main

LIBRARY = Path(hil.__file__).parent / "scenarios"
REPRESENTATIVE = ("executive-crash-restart", "executive-safe-mode", "link-outage",
                  "comms-rogue-telecommands")

CANNOT_HOLD = """
[scenario]
name = "an expectation that cannot hold"
description = "The spacecraft is NOMINAL; the scenario insists on SAFE."

[[step]]
inject = "link_delay"
target = "downlink"
params = { delay_ms = 50.0 }
id = "slow"

[[step]]
command = "health.noop"

[[step]]
no_event = "executive.APP_EXITED"
via = "bus"
since = "start"
for_s = 0.5

[[step]]
name = "SAFE, which nothing asked for"
await_telemetry = "executive.mode"
value = "SAFE"
within_s = 2

[[step]]
command = "health.noop"
"""


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A short directory for run directories (ipc:// paths must stay under 107 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="sl-sc-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.timeout(240)
def test_library_scenarios_pass_end_to_end(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    files = [str(LIBRARY / f"{name}.toml") for name in REPRESENTATIVE]
    report = tmp_path / "junit.xml"
    status = main(["scenario", *files, "--junit", str(report)])
    out = capsys.readouterr().out
    assert status == 0, out
    assert out.count("PASSED ") == len(REPRESENTATIVE)
    assert f"{len(REPRESENTATIVE)} of {len(REPRESENTATIVE)} scenarios passed" in out
    assert "teardown: cleared" not in out  # link-outage clears its own outage
    root = ET.parse(report).getroot()
    assert len(root.findall("testsuite")) == len(REPRESENTATIVE)
    assert root.get("failures") == "0" and root.get("errors") == "0"
    assert root.get("skipped") == "0"


def test_a_scenario_that_cannot_hold_fails_with_status_1(tmp_path: Path, short_dir: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    path = tmp_path / "cannot-hold.toml"
    path.write_text(CANNOT_HOLD)
    report = tmp_path / "junit.xml"
    status = main(["scenario", str(path), "--junit", str(report), "--run-dir", str(short_dir)])
    out = capsys.readouterr().out
    assert status == 1, out
    assert "3/5 PASS" in out and "4/5 FAIL" in out and "teardown: cleared slow" in out
    suite = ET.parse(report).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("5", "1", "1")
    failed = [c for c in suite.findall("testcase") if c.find("failure") is not None]
    assert [c.get("name") for c in failed] == ["04 SAFE, which nothing asked for"]
    failure = failed[0].find("failure")
    assert failure is not None
    message = failure.get("message") or ""
    assert "executive.mode == 'SAFE' not seen within 2 s (via link)" in message, message
    assert "last value seen: 'NOMINAL'" in message, message
    # --run-dir keeps the testbed's run directory: its logs and the ground's archive
    run_dir = short_dir / "cannot-hold"
    assert (run_dir / "logs" / "executive.log").is_file()
    assert (run_dir / "ground" / "archive.sqlite").is_file()
