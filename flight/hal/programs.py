"""Running board tools (``vcgencmd``, ``tegrastats``, ``nvpmodel``) and parsing what they print.

A board tool is an outside program that may be absent, fail, hang on a wedged firmware mailbox,
print something from another firmware version, or (``tegrastats``) never exit at all. The HAL
runs them from the flight process, so every way they can go wrong must come back as ``None``
(*unsupported*), within a short deadline, and never as an exception.

The parsers are pure functions of text so they can be tested against any input.
"""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO

DEFAULT_TIMEOUT_S = 2.0
#: More output than any board tool prints; a runaway program is cut off here.
MAX_OUTPUT = 256 * 1024
#: How long a terminated program gets before SIGKILL.
_KILL_GRACE_S = 0.5


class Programs:
    """Board tools by name, run with a deadline; every failure is ``None``.

    ``paths`` maps a tool name to the program to run (tests point these at stand-ins); other
    names are looked up on ``PATH`` once.
    """

    def __init__(self, paths: Mapping[str, str] | None = None,
                 timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self._paths = dict(paths or {})
        self._resolved: dict[str, str | None] = {}
        self.timeout_s = timeout_s

    def resolve(self, name: str) -> str | None:
        """The program to run for ``name``, or None when it is not installed."""
        if name not in self._resolved:
            self._resolved[name] = self._paths.get(name) or shutil.which(name)
        return self._resolved[name]

    def available(self, name: str) -> bool:
        return self.resolve(name) is not None

    def run(self, name: str, *args: str) -> str | None:
        """Standard output of a tool that exits, or None (missing, non-zero exit, timeout)."""
        program = self.resolve(name)
        if program is None:
            return None
        return run_program([program, *args], self.timeout_s)

    def first_line(self, name: str, *args: str) -> str | None:
        """The first complete line of a streaming tool, which is then stopped; None on failure."""
        program = self.resolve(name)
        if program is None:
            return None
        return first_line([program, *args], self.timeout_s)


def run_program(argv: list[str], timeout_s: float = DEFAULT_TIMEOUT_S) -> str | None:
    """Run ``argv`` to completion within ``timeout_s``; its stdout, or None on any failure."""
    proc = _start(argv)
    if proc is None or proc.stdout is None:
        return None
    deadline = time.monotonic() + timeout_s
    try:
        data, finished = _read(proc.stdout, deadline, stop_at_newline=False)
        if not finished:
            return None
        rc = proc.wait(timeout=max(0.0, deadline - time.monotonic()))
    except (OSError, subprocess.SubprocessError):
        return None
    finally:
        _stop(proc)
    return _decode(data) if rc == 0 else None


def first_line(argv: list[str], timeout_s: float = DEFAULT_TIMEOUT_S) -> str | None:
    """Start a streaming program, take its first complete line within ``timeout_s``, stop it.

    A line ends at a newline, or at end of output when the program exits successfully; a
    program that exits with an error, or is still mid-line at the deadline, gives None.
    """
    proc = _start(argv)
    if proc is None or proc.stdout is None:
        return None
    deadline = time.monotonic() + timeout_s
    try:
        data, finished = _read(proc.stdout, deadline, stop_at_newline=True)
        if not finished or (b"\n" not in data and _exited_badly(proc, deadline)):
            return None
    except (OSError, subprocess.SubprocessError):
        return None
    finally:
        _stop(proc)
    line = _decode(data).split("\n", 1)[0].strip()
    return line or None


def _start(argv: list[str]) -> subprocess.Popen[bytes] | None:
    """Start in its own session so a stop reaches anything it spawned."""
    try:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, start_new_session=True)
    except (OSError, ValueError, subprocess.SubprocessError):
        return None


def _read(stream: IO[bytes], deadline: float, *, stop_at_newline: bool) -> tuple[bytes, bool]:
    """Read until end of output (or a newline); ``finished`` is False on deadline or overflow."""
    buf = bytearray()
    fd = stream.fileno()
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while len(buf) < MAX_OUTPUT:
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                return bytes(buf), False
            chunk = os.read(fd, 65536)
            if not chunk:
                return bytes(buf), True
            buf += chunk
            if stop_at_newline and b"\n" in chunk:
                return bytes(buf), True
    return bytes(buf), False


def _exited_badly(proc: subprocess.Popen[bytes], deadline: float) -> bool:
    """At end of output: did the program fail (or fail to exit by the deadline)?"""
    try:
        return proc.wait(timeout=max(0.0, deadline - time.monotonic())) != 0
    except subprocess.TimeoutExpired:
        return True


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate the program's session if it still runs, then reap it and close its pipe."""
    if proc.poll() is None:
        _signal_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=_KILL_GRACE_S)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            # An unkillable program (D state) is left behind rather than block the flight loop.
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=_KILL_GRACE_S)
    if proc.stdout is not None:
        proc.stdout.close()


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


# --- parsers -----------------------------------------------------------------------------------

_NUM = r"[-+]?\d{1,12}(?:\.\d{1,12})?"

#: ``vcgencmd get_throttled`` bits (Raspberry Pi firmware documentation).
THROTTLE_BITS: dict[str, int] = {
    "under_voltage": 0,
    "freq_capped": 1,
    "throttled": 2,
    "soft_temp_limit": 3,
    "under_voltage_occurred": 16,
    "freq_capped_occurred": 17,
    "throttled_occurred": 18,
    "soft_temp_limit_occurred": 19,
}

_THROTTLED = re.compile(r"throttled=(0x[0-9a-fA-F]{1,16}|\d{1,20})\b")
_MEASURE_TEMP = re.compile(rf"temp=({_NUM})'C")
# Horizontal whitespace only: ``\s*`` at a line start could run across every following newline
# and make a page of blank lines cost quadratic time.
_PMIC = re.compile(
    rf"^[ \t]*(\S{{1,64}})[ \t]+(?:current|volt)\(\d{{1,4}}\)=({_NUM})([AV])[ \t]*\r?$",
    re.MULTILINE)


def parse_get_throttled(text: str) -> dict[str, bool] | None:
    """``throttled=0x50005`` → each flag of :data:`THROTTLE_BITS`; None if not that format."""
    m = _THROTTLED.search(text)
    if m is None:
        return None
    raw = m.group(1)
    value = int(raw, 16) if raw.lower().startswith("0x") else int(raw, 10)
    return {name: bool(value >> bit & 1) for name, bit in THROTTLE_BITS.items()}


def parse_measure_temp(text: str) -> float | None:
    """``temp=48.3'C`` → 48.3; None if not that format."""
    m = _MEASURE_TEMP.search(text)
    return float(m.group(1)) if m else None


def parse_pmic_read_adc(text: str) -> dict[str, float] | None:
    """Pi 5 ``pmic_read_adc`` lines → ``{"VDD_CORE_A": 0.93, "VDD_CORE_V": 0.72, ...}``.

    Values are amps for ``current(..)=..A`` lines and volts for ``volt(..)=..V`` lines; a name
    whose unit letter disagrees with its suffix is dropped. None when no line matched.
    """
    readings: dict[str, float] = {}
    for name, value, unit in _PMIC.findall(text):
        if name.endswith("_" + unit):
            readings[name] = float(value)
    return readings or None


def pmic_rail_watts(readings: Mapping[str, float]) -> dict[str, float]:
    """Pair ``X_A`` and ``X_V`` readings into ``{"X": watts}``; unpaired ones are left out."""
    watts: dict[str, float] = {}
    for name, amps in readings.items():
        if name.endswith("_A"):
            rail = name[:-2]
            volts = readings.get(rail + "_V")
            if volts is not None:
                watts[rail] = amps * volts
    return watts


@dataclass
class TegraStats:
    """One ``tegrastats`` line. Temperatures None = offline (Jetson's -256 °C)."""

    ram_used_mb: int | None = None
    ram_total_mb: int | None = None
    cpu: list[tuple[float, float | None] | None] = field(default_factory=list)  # (%, MHz), off
    gpu_percent: float | None = None
    temperatures: dict[str, float | None] = field(default_factory=dict)
    rails_w: dict[str, float] = field(default_factory=dict)  # current watts



_TS_RAM = re.compile(r"\bRAM (\d{1,9})/(\d{1,9})MB")
_TS_CPU = re.compile(r"\bCPU \[([^\]]{0,2000})\]")
_TS_CORE = re.compile(r"^(\d{1,3})%(?:@(\d{1,6}))?$")
_TS_GR3D = re.compile(r"\bGR3D_FREQ (\d{1,3})%")
_TS_TEMP = re.compile(rf"\b([A-Za-z][A-Za-z0-9_]{{0,31}})@({_NUM})C\b")
_TS_RAIL = re.compile(r"\b([A-Za-z][A-Za-z0-9_]{0,47}) (\d{1,9})(?:mW)?/(\d{1,9})(?:mW)?(?=\s|$)")
#: Jetson thermal drivers report this when a sensor is powered down.
OFFLINE_C = -256.0


def parse_tegrastats(line: str) -> TegraStats | None:
    """One ``tegrastats`` line → :class:`TegraStats`; None when it is not one.

    Handles JetPack 4 (``GPU 0/0``, plain mW) and JetPack ≥ 5 (``VDD_IN 4291mW/4291mW``).
    Every tegrastats line has its ``RAM`` or ``CPU [...]`` field; without either, a bare
    ``NAME a/b`` is too weak a pattern to believe, so the line is refused as a whole.
    """
    stats = TegraStats()
    if m := _TS_RAM.search(line):
        stats.ram_used_mb, stats.ram_total_mb = int(m.group(1)), int(m.group(2))
    if m := _TS_CPU.search(line):
        stats.cpu = [_tegra_core(c) for c in m.group(1).split(",") if c.strip()]
    if m := _TS_GR3D.search(line):
        stats.gpu_percent = float(m.group(1))
    for name, value in _TS_TEMP.findall(line):
        celsius = float(value)
        stats.temperatures[name] = None if celsius <= OFFLINE_C else celsius
    for name, cur, _avg in _TS_RAIL.findall(line):
        if name not in ("RAM", "SWAP", "IRAM"):
            stats.rails_w[name] = int(cur) / 1000.0
    return None if stats.ram_total_mb is None and not stats.cpu else stats


def _tegra_core(text: str) -> tuple[float, float | None] | None:
    m = _TS_CORE.match(text.strip())
    if m is None:
        return None  # "off" (or unrecognised): the core is not running
    return float(m.group(1)), float(m.group(2)) if m.group(2) else None


@dataclass(frozen=True)
class NvpMode:
    """An ``nvpmodel`` power mode."""

    name: str
    id: int


_NVP = re.compile(r"NV Power Mode:[ \t]*(\S[^\n]{0,63}?)[ \t]*\r?\n\s*(\d{1,4})\s*(?:\n|$)")


def parse_nvpmodel_query(text: str) -> NvpMode | None:
    """``NV Power Mode: MAXN`` then the id on the next line → NvpMode; None otherwise."""
    m = _NVP.search(text)
    return NvpMode(m.group(1), int(m.group(2))) if m else None
