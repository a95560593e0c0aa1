"""JUnit XML for CI: one ``<testsuite>`` per scenario, one ``<testcase>`` per step.

The layout is the one Jenkins, GitLab and GitHub test reporters read: a failed step is a
``<failure>`` whose message says what was awaited and what was last seen; a step never reached
is ``<skipped>``; a testbed that did not come up, or a lasting fault that could not be cleared,
is an ``<error>`` in an extra test case. The file is written to a temporary file beside the
target and renamed over it, so CI never reads half a report.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

from hil.scenario.runner import FAILED, SKIPPED, ScenarioResult

#: Characters XML 1.0 cannot carry at all (control characters other than tab, CR, LF).
_BAD_XML = dict.fromkeys([c for c in range(0x20) if c not in (0x09, 0x0A, 0x0D)] +
                         [0xFFFE, 0xFFFF], "?")


def _text(value: object) -> str:
    return str(value).translate(_BAD_XML)


def _element(parent: ET.Element, tag: str, text: str | None = None,
             **attrs: object) -> ET.Element:
    child = ET.SubElement(parent, tag, {k: _text(v) for k, v in attrs.items()})
    if text:
        child.text = _text(text)
    return child


def build(results: Iterable[ScenarioResult], name: str = "sunlit scenarios") -> ET.ElementTree:
    """The XML tree of ``results``."""
    results = list(results)
    root = ET.Element("testsuites", {"name": name})
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0, "time": 0.0}
    for result in results:
        suite = _suite(root, result)
        for key in ("tests", "failures", "errors", "skipped"):
            totals[key] += int(suite.get(key, "0"))
        totals["time"] += float(suite.get("time", "0"))
    for key, value in totals.items():
        root.set(key, f"{value:.3f}" if key == "time" else str(value))
    ET.indent(root)
    return ET.ElementTree(root)


def _suite(root: ET.Element, result: ScenarioResult) -> ET.Element:
    scenario = result.scenario
    counts = result.counts
    errors = int(result.setup_error is not None) + int(bool(result.teardown_errors))
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(result.started_wall))
    suite = _element(root, "testsuite", name=scenario.name, tests=len(result.steps) + errors,
                     failures=counts[FAILED], errors=errors, skipped=counts[SKIPPED],
                     time=f"{result.setup_s + result.duration_s:.3f}", timestamp=stamp,
                     hostname=socket.gethostname(), file=scenario.label)
    props = _element(suite, "properties")
    for key, value in (("file", scenario.label), ("description", scenario.description),
                       ("seed", scenario.seed), ("overrides", " ".join(scenario.overrides)),
                       ("setup_s", f"{result.setup_s:.3f}"),
                       ("run_dir", result.run_dir or "")):
        _element(props, "property", name=key, value=value)
    classname = f"scenario.{scenario.path.stem}"
    if result.setup_error is not None:
        case = _element(suite, "testcase", classname=classname, name="00 bring up the testbed",
                        time=f"{result.setup_s:.3f}")
        _element(case, "error", result.setup_error, message=result.setup_error,
                 type="SetupError")
    for step in result.steps:
        case = _element(suite, "testcase", classname=classname,
                        name=f"{step.index:02d} {step.name}", time=f"{step.duration_s:.3f}",
                        file=scenario.label)
        if step.status == FAILED:
            body = f"step {step.index} ({step.action}): {step.message}"
            if step.output:
                body += f"\n\n{step.output}"
            _element(case, "failure", body, message=step.message, type="StepFailed")
        elif step.status == SKIPPED:
            _element(case, "skipped", message=step.message)
        if step.output and step.status != FAILED:
            _element(case, "system-out", step.output)
    if result.teardown_errors:
        text = "\n".join(result.teardown_errors)
        case = _element(suite, "testcase", classname=classname, name="99 tear down", time="0")
        _element(case, "error", text, message=result.teardown_errors[0], type="TeardownError")
    return suite


def write(results: Iterable[ScenarioResult], path: str | os.PathLike[str]) -> Path:
    """Write the report atomically: a temporary file in the same directory, then a rename."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tree = build(results)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            tree.write(fh, encoding="utf-8", xml_declaration=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
