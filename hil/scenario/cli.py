"""``sunlit-hil scenario FILE.toml [FILE ...]``: play scenario files against fresh testbeds.

Every file is read and checked against the dictionary of its configuration and the fault
registry before any testbed starts, so a typo in the last file costs a second, not the runs
before it. Exit status: 0 when every step of every scenario passed, 1 when one failed (or its
testbed did not come up), 2 when a file is wrong (nothing was run) — the CI contract.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hil.scenario.model import Scenario, ScenarioError

EXIT_PASSED, EXIT_FAILED, EXIT_BAD_FILE, EXIT_INTERRUPTED = 0, 1, 2, 130


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE",
                        help="scenario files (.toml); a directory means every .toml in it")
    parser.add_argument("--junit", metavar="OUT.xml", type=Path,
                        help="write a JUnit XML report (one testsuite per scenario)")
    parser.add_argument("--keep", action="store_true",
                        help="keep each testbed's run directory (logs, archive, checkpoints)")
    parser.add_argument("--run-dir", metavar="DIR", type=Path,
                        help="run each scenario's testbed under DIR/<file name> (kept); keep "
                             "DIR short: bus socket paths must fit in 107 bytes")
    parser.add_argument("--check", action="store_true",
                        help="only read and check the files against the dictionary and the "
                             "fault registry; start nothing")


def expand(paths: list[str]) -> list[Path]:
    """The files named, with each directory replaced by the ``.toml`` files in it, sorted."""
    out: list[Path] = []
    for text in paths:
        path = Path(text)
        out.extend(sorted(path.glob("*.toml")) if path.is_dir() else [path])
    return out


def load_all(paths: list[Path]) -> tuple[list[Scenario], list[str]]:
    """Every scenario that checks out, and one message per file that does not."""
    from hil.scenario.validate import load

    scenarios: list[Scenario] = []
    errors: list[str] = []
    for path in paths:
        try:
            scenarios.append(load(path)[0])
        except ScenarioError as exc:
            errors.append(str(exc))
    return scenarios, errors


def _run_dirs(scenarios: list[Scenario], root: Path | None) -> list[Path | None]:
    if root is None:
        return [None] * len(scenarios)
    out: list[Path | None] = []
    used: set[str] = set()
    for number, scenario in enumerate(scenarios, start=1):
        name = scenario.path.stem
        if name in used:
            name = f"{name}-{number}"
        used.add(name)
        out.append(root / name)
    return out


def run(args: argparse.Namespace) -> int:
    from hil.scenario import junit
    from hil.scenario.runner import run_scenario

    paths = expand(args.files)
    if not paths:
        print("sunlit-hil scenario: no scenario files found in "
              f"{' '.join(args.files)}", file=sys.stderr)
        return EXIT_BAD_FILE
    scenarios, errors = load_all(paths)
    for error in errors:
        print(f"sunlit-hil scenario: {error}", file=sys.stderr)
    if errors:
        print(f"sunlit-hil scenario: {len(errors)} of {len(paths)} file(s) wrong; nothing "
              "was run", file=sys.stderr)
        return EXIT_BAD_FILE
    if args.check:
        for scenario in scenarios:
            print(f"ok {scenario.label}: {scenario.name!r}, {len(scenario.steps)} steps")
        return EXIT_PASSED
    results = []
    reported = True
    try:
        for scenario, run_dir in zip(scenarios, _run_dirs(scenarios, args.run_dir), strict=True):
            results.append(run_scenario(scenario, keep=args.keep, run_dir=run_dir))
    except KeyboardInterrupt:
        print("sunlit-hil scenario: interrupted (lasting faults cleared, testbed stopped)",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        if args.junit is not None and results:
            try:
                junit.write(results, args.junit)
                print(f"JUnit report: {args.junit}")
            except OSError as exc:
                reported = False
                print(f"sunlit-hil scenario: cannot write {args.junit}: {exc}",
                      file=sys.stderr)
    passed = sum(r.passed for r in results)
    if len(results) > 1:
        print(f"{passed} of {len(results)} scenarios passed")
    return EXIT_PASSED if passed == len(results) and reported else EXIT_FAILED
