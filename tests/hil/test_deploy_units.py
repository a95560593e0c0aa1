"""The systemd files in hil/deploy/ name what really exists and agree with each other.

systemd does not run in the test container, so the unit is read as systemd reads it (an INI
file) and its ExecStart is parsed by ``sunlit-flight``'s own argument parser; the example
configuration goes through the real configuration loader. Where ``systemd-analyze`` is
installed, ``verify`` checks the unit too (with ExecStart pointing at this checkout's script).
"""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from flight.cli import _parser as flight_parser
from flight.config.loader import load_config
from hil.board import HAL_CHOICES

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "hil" / "deploy"
UNIT = DEPLOY / "sunlit-flight.service"

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def _unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True,
                                       comment_prefixes=("#", ";"))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(UNIT.read_text(encoding="utf-8"), source=str(UNIT))
    return parser


def _exec_start() -> list[str]:
    return shlex.split(_unit()["Service"]["ExecStart"])


def _seconds(value: str) -> float:
    units = {"ms": 0.001, "s": 1.0, "min": 60.0, "h": 3600.0}
    for suffix, factor in sorted(units.items(), key=lambda kv: -len(kv[0])):
        if value.endswith(suffix):
            return float(value[: -len(suffix)]) * factor
    return float(value)


def test_the_unit_runs_a_real_console_script_with_real_options() -> None:
    argv = _exec_start()
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))[
        "project"]["scripts"]
    assert Path(argv[0]).name in scripts
    assert scripts[Path(argv[0]).name] == "flight.cli:main"
    args = flight_parser().parse_args(argv[1:])  # exits (fails the test) on an unknown option
    assert args.func.__name__ == "cmd_run"
    assert str(args.run_dir).startswith("/var/lib/sunlit/")
    assert args.config == "/etc/sunlit/flight.toml"
    assert not args.quiet  # the executive's log goes to the journal


def test_the_unit_is_supervised_by_systemd() -> None:
    unit = _unit()
    service = unit["Service"]
    assert service["Type"] == "notify" and service["NotifyAccess"] == "main"
    assert service["Restart"] == "on-failure"
    assert _seconds(service["WatchdogSec"]) >= 5
    # The start limits belong to [Unit]; in [Service] systemd ignores them.
    assert int(unit["Unit"]["StartLimitBurst"]) >= 2
    assert _seconds(unit["Unit"]["StartLimitIntervalSec"]) > _seconds(service["RestartSec"])
    assert "StartLimitBurst" not in service
    assert service["KillMode"] == "mixed"


def test_the_unit_runs_as_the_dedicated_user_in_its_state_directory() -> None:
    service = _unit()["Service"]
    sysusers = [line.split() for line in
                (DEPLOY / "sunlit.sysusers.conf").read_text(encoding="utf-8").splitlines()
                if line.strip() and not line.startswith("#")]
    user = next(fields for fields in sysusers if fields[0] == "u")
    assert service["User"] == service["Group"] == user[1] == "sunlit"
    assert service["StateDirectory"] == "sunlit"
    assert user[-1] == "/var/lib/sunlit"
    run_dir = flight_parser().parse_args(_exec_start()[1:]).run_dir
    assert str(run_dir).startswith("/var/lib/sunlit/")
    env = dict(line.split("=", 1) for line in
               (DEPLOY / "sunlit-flight.env").read_text(encoding="utf-8").splitlines()
               if line.strip() and not line.startswith("#"))
    assert env["SUNLIT_RUN_DIR"] == str(run_dir)
    assert f"SUNLIT_RUN_DIR={run_dir}" in service["Environment"].split()
    assert service["EnvironmentFile"] == "-/etc/sunlit/sunlit-flight.env"
    assert service["ProtectSystem"] == "strict" and service["NoNewPrivileges"] == "yes"


def test_the_example_configuration_is_valid_and_starts_in_time() -> None:
    config = load_config(DEPLOY / "flight.toml")
    assert config["mission"]["profile"] == "flatsat"
    assert config["hal"]["backend"] in HAL_CHOICES
    assert config["apps"]["comms"]["address"].endswith(":52001")
    assert config["apps"]["world"]["enabled"]  # the world still runs beside the real board
    # READY comes when boot has settled, at most boot_timeout_s after the start.
    service = _unit()["Service"]
    assert _seconds(service["TimeoutStartSec"]) > config["executive"]["boot_timeout_s"] + 30


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_analyze_verify_finds_nothing_wrong(tmp_path: Path) -> None:
    script = shutil.which("sunlit-flight") or str(Path(sys.executable).parent / "sunlit-flight")
    if not Path(script).exists():
        pytest.skip("sunlit-flight is not installed in this environment")
    unit = tmp_path / "sunlit-flight.service"
    unit.write_text(UNIT.read_text(encoding="utf-8").replace(
        "/opt/sunlit/venv/bin/sunlit-flight", script), encoding="utf-8")
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)],
                          capture_output=True, text=True, timeout=60)
    complaints = [line for line in (done.stdout + done.stderr).splitlines()
                  if unit.name in line]
    assert done.returncode == 0 and not complaints, done.stdout + done.stderr
