"""``sunlit-hil inject`` against a flatsat another process runs: list, inject, clear, refuse."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hil.cli import main
from hil.faults import all_faults
from hil.linksim import LinkSim
from hil.linksim.proxy import format_address
from hil.testbed import Flatsat, start_flatsat


@pytest.fixture(scope="module")
def sat() -> Iterator[Flatsat]:
    with start_flatsat(timeout=60.0) as flatsat:
        yield flatsat


def _inject(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hil.cli", "inject", *argv],
                          capture_output=True, text=True, timeout=60, check=False)


def _one_line_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(["inject", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and err.startswith("sunlit-hil")
    return err


def test_list_names_every_fault(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inject", "--list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {f["name"] for f in listed} == set(all_faults())
    assert all(f["class"] and f["doc"] and f["targets"] for f in listed)
    assert main(["inject", "--list"]) == 0
    text = capsys.readouterr().out
    assert "memflip  [memory]" in text and "link_outage  [link, lasting]" in text


def test_crash_from_another_process(sat: Flatsat) -> None:
    old = sat.stack.wait_running("health")["pid"]
    done = _inject("crash", "--target", "health", "--run-dir", str(sat.run_dir), "--json",
                   "--seed", "7")
    assert done.returncode == 0, done.stderr
    injection = json.loads(done.stdout)
    assert injection["fault"] == "crash" and injection["evidence"]["pid"] == old
    assert injection["evidence"]["seed"] == 7
    assert sat.stack.wait_running("health", timeout=20, not_pid=old)["pid"] != old


def test_no_flatsat_is_exit_2_in_one_line(tmp_path: Path) -> None:
    done = _inject("crash", "--run-dir", str(tmp_path))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().count("\n") == 0 and "no flatsat at" in done.stderr


def test_bad_inputs_are_exit_2_in_one_line(sat: Flatsat, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = str(sat.run_dir)
    assert "did you mean 'crash'" in _one_line_error(capsys, "crsh", "--run-dir", run_dir)
    assert "did you mean 'flips'" in _one_line_error(capsys, "memflip", "--param", "flip=2",
                                                     "--run-dir", run_dir)
    assert "must be int" in _one_line_error(capsys, "memflip", "--param", "flips=two",
                                            "--run-dir", run_dir)
    assert "KEY=VALUE" in _one_line_error(capsys, "memflip", "--param", "flips",
                                          "--run-dir", run_dir)
    assert "cannot hit 'nosuch'" in _one_line_error(capsys, "crash", "--target", "nosuch",
                                                    "--run-dir", run_dir)
    assert "not lasting" in _one_line_error(capsys, "crash", "--clear-after", "1",
                                            "--run-dir", run_dir)
    assert "no link proxy" in _one_line_error(capsys, "link_loss", "--run-dir", run_dir)
    assert "--run-dir" in _one_line_error(capsys, "crash")
    assert "not JSON" in _one_line_error(capsys, "--clear", str(_write(tmp_path, "x{")),
                                         "--run-dir", run_dir)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "injection.json"
    path.write_text(text, encoding="utf-8")
    return path


def test_link_outage_through_a_control_port_then_cleared(
        sat: Flatsat, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with LinkSim(("127.0.0.1", 0), sat.address, control=("127.0.0.1", 0)) as link:
        control = format_address(link.control_address)
        argv = ["--run-dir", str(sat.run_dir), "--linksim-control", control, "--json"]
        assert main(["inject", "link_outage", "--target", "downlink", *argv]) == 0
        saved = _write(tmp_path, capsys.readouterr().out)
        assert link.outages() == {"uplink": False, "downlink": True}
        assert main(["inject", "--clear", str(saved), *argv]) == 0
        assert json.loads(capsys.readouterr().out)["evidence"]["stats_at_clear"]
        assert link.outages() == {"uplink": False, "downlink": False}
        assert main(["inject", "link_delay", "--target", "uplink", "--param", "delay_ms=40",
                     "--clear-after", "0.2", *argv]) == 0
        assert json.loads(capsys.readouterr().out)["evidence"]["cleared_after_s"] == 0.2
        assert link.impairments()["uplink"].delay_ms == 0.0


def test_malformed_telecommands_straight_to_comms(sat: Flatsat,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inject", "tc_malformed", "--param", "how=truncated", "--param", "count=3",
                 "--run-dir", str(sat.run_dir), "--json"]) == 0
    evidence = json.loads(capsys.readouterr().out)["evidence"]
    assert evidence["route"] == f"direct {sat.address[0]}:{sat.address[1]}"
    assert evidence["rejected_delta"] == {"truncated": 3}
