"""sunlit-ground over the space link, against the stand-in spacecraft: exit codes and output."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from flight.config.loader import load_config
from flight.dictionary import build_dictionary
from flight.link import Verification
from ground.cli import main, parse_value
from tests.ground.test_station_fakesat import Failure, FakeSpacecraft, write_key


@pytest.fixture(scope="module")
def dictionary() -> dict[str, Any]:
    return build_dictionary(load_config())


@pytest.fixture
def sat(dictionary: dict[str, Any]) -> Iterator[FakeSpacecraft]:
    spacecraft = FakeSpacecraft(dictionary)
    yield spacecraft
    spacecraft.close()


@pytest.fixture
def link_args(sat: FakeSpacecraft, tmp_path: Path, dictionary: dict[str, Any]) -> list[str]:
    """Common options aimed at the fake: its address, the test key, a private state dir."""
    saved = tmp_path / "dictionary.json"
    saved.write_text(json.dumps(dictionary))
    return ["--address", f"{sat.address[0]}:{sat.address[1]}",
            "--key", str(write_key(tmp_path / "link.key")), "--dictionary", str(saved),
            "--state-dir", str(tmp_path / "state")]


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def run_while(argv: list[str], feed: Callable[[], None],
              timeout: float = 10.0) -> int:
    """Run the CLI in a thread and call ``feed`` until it returns (telemetry for it to see)."""
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(main(argv)))
    thread.start()
    deadline = time.monotonic() + timeout
    while thread.is_alive() and time.monotonic() < deadline:
        feed()
        thread.join(0.05)
    thread.join(1.0)
    assert result, "the CLI did not finish"
    return result[0]


def test_values_parse_as_toml_or_json_scalars_else_text() -> None:
    assert [parse_value(t) for t in ("3", "1.5", "true", '"a b"', "NOMINAL", "2027-01-01",
                                     "[1, 2]")] == [3, 1.5, True, "a b", "NOMINAL",
                                                    "2027-01-01", "[1, 2]"]


def test_tables_parse_for_map_arguments() -> None:
    """``jobs.submit kind=matmul 'params={n = 512}'`` (TOML) or ``'params={"n": 512}'`` (JSON)."""
    assert parse_value("{n = 512, dtype = 'float32'}") == {"n": 512, "dtype": "float32"}
    assert parse_value('{"n": 512}') == {"n": 512}


def test_send_wait_json_reports_every_stage_and_exits_0(
        link_args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["send", "health.noop", "--wait", "--json", *link_args], capsys)
    doc = json.loads(out)
    assert code == 0 and doc["status"] == "completed" and doc["ok"] is True
    assert [s["stage"] for s in doc["stages"]] == ["accepted", "started", "completed"]


def test_send_failing_prints_the_reason_and_exits_1(
        sat: FakeSpacecraft, link_args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    sat.behaviours["executive.set_mode"] = Failure(Verification.COMPLETION_FAILURE, 4,
                                                   "leaving SAFE needs exit_safe")
    code, out, _ = run(["send", "executive.set_mode", "mode=NOMINAL", "why=test", "--wait",
                        *link_args], capsys)
    assert code == 1
    assert "FAILED NOT_PERMITTED (4)" in out and "leaving SAFE needs exit_safe" in out


@pytest.mark.parametrize(("argv", "message"), [
    (["send", "health.launch"], "unknown health command"),
    (["send", "executive.set_mode", "mode=WARP"], "expected one of"),
    (["send", "executive.stop_app", "app=thermal"], "--arm"),
    (["send", "health"], "not APP.COMMAND"),
    (["send", "health.noop", "force"], "not NAME=VALUE"),
])
def test_send_refuses_before_sending_and_exits_2(
        sat: FakeSpacecraft, link_args: list[str], capsys: pytest.CaptureFixture[str],
        argv: list[str], message: str) -> None:
    code, _, err = run([*argv, *link_args], capsys)
    assert code == 2 and message in err
    assert sat.tcs == []


def test_send_arm_sends_both_steps(sat: FakeSpacecraft, link_args: list[str],
                                   capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["send", "executive.stop_app", "app=thermal", "--arm", "--wait",
                        "--json", *link_args], capsys)
    assert code == 0 and json.loads(out)["ok"] is True
    assert [tc.service for tc in sat.tcs] == [8, 8]


def test_send_without_wait_and_a_timeout(sat: FakeSpacecraft, link_args: list[str],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["send", "health.noop", *link_args], capsys)
    assert code == 0 and "request 0x" in out
    sat.behaviours["health.noop"] = "silent"
    code, out, _ = run(["send", "health.noop", "--wait", "--timeout", "0.3", "--json",
                        *link_args], capsys)
    assert code == 3 and json.loads(out)["status"] == "sent"


def test_ping_counts_and_times_out(link_args: list[str], tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["ping", "--count", "2", "--json", *link_args], capsys)
    assert code == 0 and len(json.loads(out)["rtt_s"]) == 2
    silent = [*link_args, "--address", f"127.0.0.1:{free_udp_port()}"]
    code, out, _ = run(["ping", "--timeout", "0.2", *silent], capsys)
    assert code == 3 and "no answer" in out


def test_tlm_prints_values_as_they_arrive(sat: FakeSpacecraft, link_args: list[str],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    code = run_while(["tlm", "power.soc", "--count", "2", "--json", *link_args],
                     lambda: sat.hk("power", {"soc": 0.75}))
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0 and [d["value"] for d in lines] == [0.75, 0.75]
    assert lines[0]["channel"] == "soc"
    code, _, err = run(["tlm", "power.charge", *link_args], capsys)
    assert code == 2 and "unknown power telemetry channel" in err


def test_tlm_times_out_with_exit_3(link_args: list[str],
                                   capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["tlm", "power", "--timeout", "0.3", *link_args], capsys)
    assert code == 3 and "0 of 1 received" in err


def test_events_filters_by_app_and_severity(sat: FakeSpacecraft, link_args: list[str],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    def feed() -> None:
        sat.event("power", "SENSOR_OK", 1, "fine")
        sat.event("power", "LOAD_SHED", 2, "compute shed", {"load": "compute"})

    code = run_while(["events", "--app", "power", "--severity", "WARNING", *link_args], feed)
    out = capsys.readouterr().out
    assert code == 0 and "WARNING  power.LOAD_SHED: compute shed" in out
    assert "SENSOR_OK" not in out


def test_watch_streams_telemetry_and_events_as_json_lines(
        sat: FakeSpacecraft, link_args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    def feed() -> None:
        sat.hk("thermal", {"mode": "NOMINAL"})
        sat.event("thermal", "HEATER", 1, "heater on")

    code = run_while(["watch", "--duration", "0.5", "--json", *link_args], feed)
    kinds = {json.loads(line)["kind"] for line in capsys.readouterr().out.splitlines()}
    assert code == 0 and kinds == {"tlm", "event"}


def test_archive_query_export_and_replay(sat: FakeSpacecraft, link_args: list[str],
                                         tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    archive = str(tmp_path / "pass.sqlite")
    code = run_while(["tlm", "power.soc", "--archive", archive, *link_args],
                     lambda: sat.hk("power", {"soc": 0.66}))
    assert code == 0
    run(["send", "health.noop", "--wait", "--archive", archive, *link_args], capsys)
    code, out, _ = run(["archive", "query", "values", "--app", "power", "--json",
                        "--archive", archive], capsys)
    assert code == 0 and json.loads(out.splitlines()[0])["value"] == 0.66
    code, out, _ = run(["archive", "query", "commands", "--archive", archive], capsys)
    assert "health.noop" in out and "completed" in out
    csv_file = tmp_path / "values.csv"
    code, _, err = run(["archive", "export", str(csv_file), "--app", "power",
                        "--archive", archive], capsys)
    assert code == 0 and "power,soc,0.66" in csv_file.read_text() and "rows written" in err
    code, out, _ = run(["archive", "replay", "--json", "--archive", archive,
                        "--dictionary", link_args[5]], capsys)
    services = {json.loads(line)["service"] for line in out.splitlines()}
    assert code == 0 and {1, 3, 17} <= services
    code, _, err = run(["archive", "query", "counts"], capsys)
    assert code == 2 and "--archive" in err
