"""Board tools run with a deadline, and their parsers: every failure is None, never a raise."""

from __future__ import annotations

import time
from pathlib import Path

import psutil
import pytest
from hypothesis import given
from hypothesis import strategies as st

from flight.hal.programs import (
    THROTTLE_BITS,
    Programs,
    first_line,
    parse_get_throttled,
    parse_measure_temp,
    parse_nvpmodel_query,
    parse_pmic_read_adc,
    parse_tegrastats,
    pmic_rail_watts,
    run_program,
)
from tests.hal.boards import BIN, prefer_test_python, standins

SHORT = 0.4  # seconds: the deadline used against hanging stand-ins


@pytest.fixture(autouse=True)
def _fast_standins(monkeypatch: pytest.MonkeyPatch) -> None:
    prefer_test_python(monkeypatch)



#: Children the test process had when the test began (a multiprocessing resource tracker or a
#: forkserver an earlier test started lives as long as the test process): not ours to count.
_BEFORE: set[int] = set()


@pytest.fixture(autouse=True)
def _children_before() -> None:
    _BEFORE.clear()
    _BEFORE.update(p.pid for p in psutil.Process().children(recursive=True))


def _no_children_left() -> bool:
    return not [p for p in psutil.Process().children(recursive=True) if p.pid not in _BEFORE]


# --- running ---------------------------------------------------------------------------------


def test_run_returns_stdout() -> None:
    assert standins().run("vcgencmd", "measure_temp") == "temp=48.3'C\n"


def test_missing_program_is_none(tmp_path: Path) -> None:
    assert Programs({"vcgencmd": str(tmp_path / "nope")}).run("vcgencmd", "get_throttled") is None
    assert Programs().run("sunlit-no-such-tool-anywhere") is None
    assert not Programs().available("sunlit-no-such-tool-anywhere")
    assert Programs().first_line("sunlit-no-such-tool-anywhere") is None


def test_not_executable_is_none(tmp_path: Path) -> None:
    script = tmp_path / "vcgencmd"
    script.write_text("#!/bin/sh\necho temp=1.0\\'C\n")  # mode 0644: cannot be run
    assert Programs({"vcgencmd": str(script)}).run("vcgencmd") is None


def test_nonzero_exit_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUNLIT_STANDIN_VCGENCMD", "fail")
    assert standins().run("vcgencmd", "get_throttled") is None
    assert run_program(["false"]) is None


def test_hanging_program_times_out_fast_and_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUNLIT_STANDIN_VCGENCMD", "hang")
    start = time.monotonic()
    assert standins(timeout_s=SHORT).run("vcgencmd", "get_throttled") is None
    assert time.monotonic() - start < SHORT + 1.5
    assert _no_children_left()


def test_runaway_output_is_cut_off() -> None:
    start = time.monotonic()
    assert run_program(["yes"], timeout_s=5.0) is None  # never ends: over MAX_OUTPUT
    assert time.monotonic() - start < 5.0
    assert _no_children_left()


def test_first_line_of_a_streaming_program_then_stops_it() -> None:
    start = time.monotonic()
    line = standins().first_line("tegrastats", "--interval", "50")
    assert line is not None and line.startswith("08-14-2023") and line.endswith("1265mW")
    assert time.monotonic() - start < 2.0
    assert _no_children_left()
    assert first_line(["yes", "abc"]) == "abc"


@pytest.mark.parametrize("mode", ["hang", "partial", "fail"])
def test_first_line_failures(monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    monkeypatch.setenv("SUNLIT_STANDIN_TEGRASTATS", mode)
    start = time.monotonic()
    assert standins(timeout_s=SHORT).first_line("tegrastats", "--interval", "50") is None
    assert time.monotonic() - start < SHORT + 1.5
    assert _no_children_left()


def test_first_line_accepts_a_last_line_without_newline() -> None:
    assert first_line(["printf", "one line"]) == "one line"
    assert first_line(["printf", ""]) is None
    assert first_line(["sh", "-c", "printf half; exit 3"]) is None


def test_standins_are_executable() -> None:
    for name in ("vcgencmd", "tegrastats", "nvpmodel"):
        assert (BIN / name).stat().st_mode & 0o111, name


# --- parsers ---------------------------------------------------------------------------------


def test_get_throttled_bits() -> None:
    flags = parse_get_throttled("throttled=0x50005\n")
    assert flags == {
        "under_voltage": True, "freq_capped": False, "throttled": True,
        "soft_temp_limit": False, "under_voltage_occurred": True,
        "freq_capped_occurred": False, "throttled_occurred": True,
        "soft_temp_limit_occurred": False,
    }
    assert parse_get_throttled("throttled=0x0") == dict.fromkeys(THROTTLE_BITS, False)
    assert parse_get_throttled('error=2 error_msg="Command not registered"') is None
    assert parse_get_throttled("throttled=0xZZ") is None


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_get_throttled_round_trip(value: int) -> None:
    flags = parse_get_throttled(f"throttled={value:#x}")
    assert flags is not None
    assert all(flags[name] == bool(value >> bit & 1) for name, bit in THROTTLE_BITS.items())


def test_measure_temp() -> None:
    assert parse_measure_temp("temp=48.3'C\n") == 48.3
    assert parse_measure_temp("temp=-5'C") == -5.0
    assert parse_measure_temp("temp=hot'C") is None


def test_pmic_read_adc_pairs_rails_into_watts() -> None:
    text = (BIN / "vcgencmd").read_text().split('PMIC_PI5 = """\\\n')[1].split('"""')[0]
    readings = parse_pmic_read_adc(text)
    assert readings is not None
    assert readings["VDD_CORE_A"] == pytest.approx(0.92871990)
    assert readings["VDD_CORE_V"] == pytest.approx(0.72097620)
    watts = pmic_rail_watts(readings)
    assert watts["VDD_CORE"] == pytest.approx(0.92871990 * 0.72097620)
    assert "EXT5V" not in watts and "BATT" not in watts  # voltage only: not a rail
    assert len(watts) == 12
    assert parse_pmic_read_adc("VDD_CORE_A volt(1)=1.0V") is None  # unit contradicts name
    assert parse_pmic_read_adc('error=2 error_msg="Command not registered"') is None


ORIN = (
    "RAM 2448/7620MB (lfb 1197x4MB) SWAP 0/3810MB (cached 0MB) "
    "CPU [2%@729,1%@729,off,off] EMC_FREQ 0%@2133 GR3D_FREQ 12%@[305] VIC_FREQ 729 APE 174 "
    "CPU@45.5C GPU@-256C tj@45.5C VDD_IN 4291mW/4291mW VDD_CPU_GPU_CV 487mW/480mW"
)
XAVIER = (
    "RAM 2357/31927MB (lfb 6771x4MB) SWAP 0/15963MB (cached 0MB) CPU [1%@1190,0%@1190] "
    "EMC_FREQ 0%@1600 GR3D_FREQ 0%@318 APE 150 MTS fg 0% bg 0% AO@35C GPU@35C Tdiode@38.25C "
    "GPU 0/0 CPU 155/155 SOC 1399/1399 SYS5V 2037/2037"
)


def test_tegrastats_jetpack5_line() -> None:
    s = parse_tegrastats(ORIN)
    assert s is not None
    assert (s.ram_used_mb, s.ram_total_mb) == (2448, 7620)
    assert s.cpu == [(2.0, 729.0), (1.0, 729.0), None, None]
    assert s.gpu_percent == 12.0
    assert s.temperatures == {"CPU": 45.5, "GPU": None, "tj": 45.5}
    assert s.rails_w == {"VDD_IN": 4.291, "VDD_CPU_GPU_CV": 0.487}


def test_tegrastats_jetpack4_line() -> None:
    s = parse_tegrastats(XAVIER)
    assert s is not None
    assert s.ram_total_mb == 31927
    assert s.temperatures == {"AO": 35.0, "GPU": 35.0, "Tdiode": 38.25}
    assert s.rails_w == {"GPU": 0.0, "CPU": 0.155, "SOC": 1.399, "SYS5V": 2.037}


def test_tegrastats_garbage() -> None:
    assert parse_tegrastats("") is None
    assert parse_tegrastats("\x01garbage 12/34 @@ C%") is None


def test_nvpmodel_query() -> None:
    mode = parse_nvpmodel_query("NV Fan Mode:quiet\nNV Power Mode: MAXN\n0\n")
    assert mode is not None and (mode.name, mode.id) == ("MAXN", 0)
    mode = parse_nvpmodel_query("NV Power Mode: MODE_15W_6CORE\n2")
    assert mode is not None and (mode.name, mode.id) == ("MODE_15W_6CORE", 2)
    assert parse_nvpmodel_query("NV Power Mode:\nnot-a-number\n") is None
    assert parse_nvpmodel_query("NV Power Mode: 15W\n") is None


# Realistic fragments mixed with arbitrary text: the parsers must never raise.
FRAGMENTS = st.sampled_from([
    "throttled=", "0x", "temp=", "'C", "current(", "volt(", ")=", "A", "V", "_A", "_V", "\n",
    "RAM ", "MB", "CPU [", "]", "%@", ",", "off", "GR3D_FREQ ", "@", "C", "mW", "/", " ",
    "NV Power Mode:", "-256", "9" * 30, ".", "-", "\x00", "é",
])
TEXT = st.one_of(st.text(), st.lists(st.one_of(FRAGMENTS, st.text(max_size=5))).map("".join))


def _parse_all(text: str) -> None:
    parse_get_throttled(text)
    parse_measure_temp(text)
    readings = parse_pmic_read_adc(text)
    if readings is not None:
        pmic_rail_watts(readings)
    parse_tegrastats(text)
    parse_nvpmodel_query(text)


@given(TEXT)
def test_parsers_never_raise(text: str) -> None:
    _parse_all(text)


@pytest.mark.parametrize("text", [
    "\n" * 200_000, " " * 200_000, "\n " * 100_000, "A\n" * 100_000, "1/" * 100_000,
    "NV Power Mode: x\n" * 10_000, "CPU [" + "1%@2," * 40_000, "x@1" * 60_000,
], ids=["newlines", "spaces", "indents", "short-lines", "slashes", "nvpmodel", "cores", "temps"])
def test_parsers_stay_linear_on_a_full_output_buffer(text: str) -> None:
    """A tool's output is capped at MAX_OUTPUT; parsing that much must not take quadratic time
    (a ``^\\s*`` pattern once took minutes on a page of blank lines)."""
    start = time.monotonic()
    _parse_all(text)
    assert time.monotonic() - start < 2.0
