"""The control channel (JSON over UDP) and the command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hil.linksim import ControlClient, ControlError
from hil.linksim.cli import _build, _parser, main
from tests.linksim.linksim_helpers import collect, seq_of, seq_payload, silence, udp

ROOT = Path(__file__).resolve().parents[2]


def _raw(address, payload: bytes) -> dict:
    sock = udp()
    try:
        sock.sendto(payload, address)
        (reply,) = collect(sock, 1)
        return json.loads(reply)
    finally:
        sock.close()


def test_runtime_change_through_the_control_port(make_rig) -> None:
    rig = make_rig(control="127.0.0.1:0")
    with ControlClient(rig.sim.control_address) as ctl:
        assert ctl.ping()["pong"] is True
        new = ctl.set("uplink", loss=1.0)
        assert new["uplink"]["loss"] == 1.0 and new["downlink"]["loss"] == 0.0
        for i in range(20):
            rig.up(seq_payload(i))
        assert silence(rig.flight, 0.1) == []
        assert ctl.stats()["uplink"]["dropped_loss"] == 20
        ctl.set("uplink", replace=True, delay_ms=5)
        assert rig.sim.impairments()["uplink"].loss == 0.0
        assert [seq_of(d) for d in rig.pump([seq_payload(i) for i in range(10)])] == list(
            range(10))
        assert ctl.outage(True, "uplink") == {"uplink": True, "downlink": False}
        rig.up(b"x")
        assert silence(rig.flight, 0.05) == []
        ctl.outage(False)
        got = ctl.get()
        assert got["seed"] == rig.sim.seed
        assert got["impairments"]["uplink"]["delay_ms"] == 5.0
        assert got["addresses"]["ground_peer"] is not None
        assert ctl.stats() == rig.sim.stats()
        ctl.reset_stats()
        assert ctl.stats()["uplink"]["received"] == 0


def test_control_errors_change_nothing(make_rig) -> None:
    rig = make_rig(control="127.0.0.1:0", uplink={"loss": 0.25})
    before = rig.sim.impairments()
    ctl = ControlClient(rig.sim.control_address)
    with pytest.raises(ControlError, match="probability"):
        ctl.request("set", direction="both", loss=0.5, duplicate=2.0)
    with pytest.raises(ControlError, match="unknown impairment"):
        ctl.request("set", lost=0.5)
    with pytest.raises(ControlError, match="direction"):
        ctl.request("set", direction="sideways", loss=0.5)
    with pytest.raises(ControlError, match="unknown cmd"):
        ctl.request("explode")
    with pytest.raises(ControlError, match="on"):
        ctl.request("outage", on="yes")
    with pytest.raises(ValueError):
        ctl.set(direction="uplink", cmd="ping")       # caught before it is sent
    assert rig.sim.impairments() == before
    ctl.close()


def test_raw_json_requests_and_garbage(make_rig) -> None:
    rig = make_rig(control="127.0.0.1:0")
    addr = rig.sim.control_address
    reply = _raw(addr, b'{"cmd": "set", "direction": "down", "delay_ms": 7, "id": [1, "a"]}')
    assert reply["ok"] is True and reply["id"] == [1, "a"]
    assert reply["impairments"]["downlink"]["delay_ms"] == 7.0
    for junk in (b"", b"\xff\xfe", b"[1, 2]", b"null", b"{" * 5000, b"x" * 9000,
                 b'{"cmd": "set", "outages": [[1]]}', b'{"cmd": "set", "self": 1}'):
        reply = _raw(addr, junk)
        assert reply["ok"] is False and reply["error"]
    assert _raw(addr, b'{"cmd": "ping"}')["ok"] is True


def test_client_times_out_without_a_proxy() -> None:
    nobody = udp()
    ctl = ControlClient(nobody.getsockname(), timeout=0.05, retries=1)
    with pytest.raises(ControlError, match="no reply"):
        ctl.ping()
    ctl.close()
    nobody.close()


def test_cli_builds_per_direction_impairments() -> None:
    args = _parser().parse_args([
        "--ground", "127.0.0.1:0", "--loss", "0.05", "--delay-ms", "50", "--jitter-ms", "10",
        "--reorder", "0.02", "--duplicate", "0.01", "--corrupt", "0.001", "--outage", "1:2",
        "--outage", "5:6", "--uplink", "loss=0.2", "--downlink", "bandwidth=9600",
        "--jitter-reorders", "--seed", "3"])
    up, down = _build(args)
    assert (up.loss, down.loss) == (0.2, 0.05)
    assert (up.bandwidth, down.bandwidth) == (0.0, 9600.0)
    assert up.outages == down.outages == ((1.0, 2.0), (5.0, 6.0))
    assert up.delay_ms == 50 and up.jitter_ms == 10 and up.preserve_order is False
    assert (up.reorder, up.duplicate, up.corrupt) == (0.02, 0.01, 0.001)


@pytest.mark.parametrize("argv", [
    ["--ground", "127.0.0.1:0", "--loss", "2"],
    ["--ground", "127.0.0.1:0", "--uplink", "loss"],
    ["--ground", "127.0.0.1:0", "--outage", "9:1"],
    ["--flight", "127.0.0.1:1"],
])
def test_cli_rejects_bad_arguments(argv, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2


def test_cli_runs_in_process_for_a_duration(capsys) -> None:
    flight = udp()
    try:
        code = main(["--ground", "127.0.0.1:0", "--flight",
                     "{}:{}".format(*flight.getsockname()), "--duration", "0.05", "--json"])
    finally:
        flight.close()
    assert code == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["event"] for x in lines] == ["started", "stats"]
    assert lines[1]["stats"]["uplink"]["received"] == 0


def test_cli_process_forwards_prints_stats_and_stops_on_sigterm(capsys) -> None:
    flight, ground = udp(), udp()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hil.linksim", "--ground", "127.0.0.1:0",
         "--flight", "{}:{}".format(*flight.getsockname()), "--control", "127.0.0.1:0",
         "--delay-ms", "5", "--seed", "9", "--stats-every", "0.2", "--json"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert proc.stdout is not None
        started = json.loads(proc.stdout.readline())
        assert started["event"] == "started" and started["seed"] == 9
        host, _, port = started["addresses"]["ground"].rpartition(":")
        ground.sendto(b"through the CLI", (host, int(port)))
        assert collect(flight, 1, 5.0) == [b"through the CLI"]
        periodic = json.loads(proc.stdout.readline())
        assert periodic["event"] == "stats"

        control = started["addresses"]["control"]
        assert main(["ctl", control, "set", "--direction", "uplink", "loss=1"]) == 0
        assert json.loads(capsys.readouterr().out)["impairments"]["uplink"]["loss"] == 1.0
        assert main(["ctl", control, "outage", "on"]) == 0
        assert json.loads(capsys.readouterr().out)["outage"]["downlink"] is True
        assert main(["ctl", control, "stats"]) == 0
        assert json.loads(capsys.readouterr().out)["stats"]["uplink"]["forwarded"] == 1

        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
        assert proc.returncode == 0
        final = json.loads(out.strip().splitlines()[-1])
        assert final["event"] == "stats"
        assert final["stats"]["uplink"]["forwarded"] == 1
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        flight.close()
        ground.close()


def test_cli_ctl_errors(capsys) -> None:
    nobody = udp()
    addr = "{}:{}".format(*nobody.getsockname())
    try:
        assert main(["ctl", addr, "ping", "--timeout", "0.05"]) == 1
        assert "no reply" in capsys.readouterr().err
        with pytest.raises(SystemExit):
            main(["ctl", addr, "outage", "maybe"])
        with pytest.raises(SystemExit):
            main(["ctl", addr, "set", "lost=1"])
    finally:
        nobody.close()


def test_control_survives_numbers_that_overflow(make_rig) -> None:
    rig = make_rig(control="127.0.0.1:0")
    reply = _raw(rig.sim.control_address,
                 b'{"cmd": "set", "delay_ms": 1' + b"0" * 400 + b"}")
    assert reply["ok"] is False
    assert _raw(rig.sim.control_address, b'{"cmd": "ping"}')["ok"] is True
