"""The JUnit report: what CI reads, parsed back with ElementTree."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from hil.scenario import junit
from hil.scenario.model import parse_scenario
from hil.scenario.runner import FAILED, PASSED, SKIPPED, ScenarioResult, StepResult


def _result(tmp_path: Path, name: str = "demo") -> ScenarioResult:
    raw = {"scenario": {"name": name, "description": "what it shows"},
           "step": [{"command": "health.noop"}, {"await_telemetry": "jobs.done", "value": 1},
                    {"wait_s": 1}]}
    scenario = parse_scenario(raw, tmp_path / f"{name}.toml")
    result = ScenarioResult(scenario, setup_s=2.5, duration_s=3.25, run_dir=tmp_path / "run")
    result.steps = [
        StepResult(1, "command health.noop", "command", PASSED, 0.02, "health.noop completed",
                   output="saved x = 1"),
        StepResult(2, "await jobs.done == 1", "await_telemetry", FAILED, 3.0,
                   "jobs.done == 1 not seen within 3 s (via link); last value seen: 0, "
                   "0.2 s ago\x07"),
        StepResult(3, "wait 1 s", "wait_s", SKIPPED, 0.0, "skipped: step 2 failed"),
    ]
    return result


def test_one_suite_per_scenario_one_case_per_step(tmp_path: Path) -> None:
    passing = _result(tmp_path, "second")
    passing.steps = [StepResult(1, "command health.noop", "command", PASSED, 0.1, "ok")]
    out = junit.write([_result(tmp_path), passing], tmp_path / "reports" / "junit.xml")
    root = ET.parse(out).getroot()
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("skipped"), root.get("errors")) \
        == ("4", "1", "1", "0")
    first, second = root.findall("testsuite")
    assert (first.get("name"), first.get("tests"), first.get("failures"),
            first.get("skipped"), first.get("time")) == ("demo", "3", "1", "1", "5.750")
    props = {p.get("name"): p.get("value") for p in first.iter("property")}
    assert props["description"] == "what it shows" and props["seed"] == "0"
    cases = first.findall("testcase")
    assert [c.get("name") for c in cases] == \
        ["01 command health.noop", "02 await jobs.done == 1", "03 wait 1 s"]
    assert {c.get("classname") for c in cases} == {"scenario.demo"}
    assert cases[0].find("failure") is None and cases[0].findtext("system-out") == "saved x = 1"
    failure = cases[1].find("failure")
    assert failure is not None
    message = failure.get("message") or ""
    assert "jobs.done == 1 not seen within 3 s" in message and "last value seen: 0" in message
    assert "\x07" not in message  # XML cannot carry control characters: replaced
    assert cases[2].find("skipped") is not None
    assert second.get("failures") == "0" and second.find("testcase/failure") is None


def test_a_testbed_that_did_not_come_up_and_a_failed_clear_are_errors(tmp_path: Path) -> None:
    broken = _result(tmp_path)
    broken.setup_error = "the testbed did not come up: StackError: timed out"
    broken.steps = [StepResult(s.index, s.name, s.action, SKIPPED, message="skipped")
                    for s in broken.steps]
    broken.teardown_errors = ["clearing slow (link_delay): FaultError: proxy gone"]
    root = ET.parse(junit.write([broken], tmp_path / "j.xml")).getroot()
    suite = root.find("testsuite")
    assert suite is not None and suite.get("errors") == "2" and suite.get("tests") == "5"
    names = [c.get("name") for c in suite.findall("testcase")]
    assert names[0] == "00 bring up the testbed" and names[-1] == "99 tear down"
    errors = suite.findall("testcase/error")
    assert "did not come up" in (errors[0].get("message") or "")
    assert "proxy gone" in (errors[1].text or "")


def test_the_report_replaces_the_old_one_whole_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "junit.xml"
    target.write_text("old")
    junit.write([_result(tmp_path)], target)
    assert ET.parse(target).getroot().tag == "testsuites"
    assert sorted(os.listdir(tmp_path)) == ["junit.xml"]


def test_a_failed_rename_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "junit.xml"
    target.mkdir()  # a directory in the way: the rename fails for real
    (target / "keep").write_text("x")
    with pytest.raises(OSError):
        junit.write([_result(tmp_path)], target)
    assert sorted(os.listdir(tmp_path)) == ["junit.xml"]
    assert (target / "keep").read_text() == "x"
