"""Shared helpers for the board-backend tests: recorded trees, stand-in tools, a fake clock.

The trees under ``trees/`` are sysfs/procfs layouts of real boards (paths, file formats and
typical values as those kernels present them), kept as small checked-in files so a reviewer
can read exactly what a backend was tested against. The programs under ``bin/`` stand in for
``vcgencmd``, ``tegrastats`` and ``nvpmodel``; environment variables choose their behaviour.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
from pathlib import Path

import pytest

from flight.hal.base import SENSORS, Reading, SensorStatus
from flight.hal.programs import Programs

HERE = Path(__file__).resolve().parent
TREES = HERE / "trees"
BIN = HERE / "bin"
TOOLS = ("vcgencmd", "tegrastats", "nvpmodel")
BOARDS = ("pi4", "pi5", "jetson_orin", "jetson_xavier_jp4", "x86_laptop", "bare")


def tree(name: str) -> Path:
    return TREES / name


def copy_tree(name: str, dest: Path) -> Path:
    """A writable copy of a recorded tree (for DVFS writes and for breaking files)."""
    return Path(shutil.copytree(TREES / name, dest / name))


def standin_paths(**overrides: str) -> dict[str, str]:
    """Tool name → stand-in program; ``overrides`` replace some (e.g. a missing path)."""
    paths = {name: str(BIN / name) for name in TOOLS}
    paths.update(overrides)
    return paths


def standins(timeout_s: float = 2.0, **overrides: str) -> Programs:
    return Programs(standin_paths(**overrides), timeout_s=timeout_s)


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def prefer_test_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """Put this interpreter's directory first on PATH for the stand-ins' ``env python3``.

    The stand-ins then start in ~25 ms instead of going through a version-manager shim
    (pyenv's costs ~100 ms a run), which keeps the suite fast without changing what is run.
    """
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def assert_complete_and_honest(readings: dict[str, Reading]) -> None:
    """Every vocabulary name present; an OK reading is finite; a non-OK one carries no value."""
    assert set(readings) == set(SENSORS)
    for name, r in readings.items():
        if r.status is SensorStatus.OK:
            assert r.value is not None and math.isfinite(r.value), name
        else:
            assert r.value is None, name
