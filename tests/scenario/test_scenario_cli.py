"""``sunlit-hil scenario`` on files that need no testbed: checking, and the exit status of a
bad file (2, nothing run, one line per problem)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import hil
from hil.cli import main

LIBRARY = Path(hil.__file__).parent / "scenarios"
GOOD = '[scenario]\nname = "ok"\n[[step]]\ncommand = "health.noop"\n'


def test_check_reads_the_whole_library_and_starts_nothing(capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    assert main(["scenario", "--check", str(LIBRARY)]) == 0
    out = capsys.readouterr().out
    assert out.count("\nok ") + out.startswith("ok ") == len(list(LIBRARY.glob("*.toml")))
    assert "testbed up" not in out


def test_a_bad_file_stops_everything_with_status_2(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.toml"
    good.write_text(GOOD)
    bad = tmp_path / "bad.toml"
    bad.write_text(GOOD.replace("health.noop", "health.nop"))
    assert main(["scenario", str(good), str(bad), "--junit", str(tmp_path / "j.xml")]) == 2
    captured = capsys.readouterr()
    assert f"{bad}: step 1 (command health.nop): command: unknown health command 'nop'" in \
        captured.err
    assert "1 of 2 file(s) wrong; nothing was run" in captured.err
    assert "testbed" not in captured.out and not (tmp_path / "j.xml").exists()


def test_no_files_and_missing_files_are_status_2(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenario", str(tmp_path)]) == 2
    assert "no scenario files found" in capsys.readouterr().err
    assert main(["scenario", str(tmp_path / "absent.toml")]) == 2
    assert "absent.toml: cannot read it" in capsys.readouterr().err


def test_the_console_script_checks_a_file(tmp_path: Path) -> None:
    path = tmp_path / "syntax.toml"
    path.write_text('[scenario]\nname = "x"\n[[step]]\ncommand = "health.noop\n')
    done = subprocess.run([sys.executable, "-m", "hil.cli", "scenario", "--check", str(path)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    assert "TOML syntax error" in done.stderr and "line 4" in done.stderr
    assert "Traceback" not in done.stderr
