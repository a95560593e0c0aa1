"""The thermal governor in a running, orbiting stack (600x), and the world it flies in."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from hil.stack import LocalStack, wait_until
from tests.conftest import ORBITING

SAFE_DUTY = 0.3


@pytest.fixture
def orbiting(run_dir: Path) -> Iterator[LocalStack]:
    with LocalStack(run_dir, overrides=ORBITING, log_to=run_dir / "stack.out") as stack:
        yield stack


@pytest.mark.parametrize(("kind", "magnitude", "fault"), [
    ("nan", 0.0, "invalid"), ("value", 400.0, "out_of_range"), ("offline", 0.0, "disappeared"),
    ("stuck", 0.0, "stuck")])
def test_a_lying_chip_sensor_is_named_and_the_duty_falls_back(
        orbiting: LocalStack, kind: str, magnitude: float, fault: str) -> None:
    tap = orbiting.tap("evt.thermal", "tlm.thermal")
    tap.wait_telemetry("thermal", lambda t: "chip_temp_c" in t and t["sensor_faults"] == 0)
    assert orbiting.command("world", "sensor_fault", {"sensor": "chip_temp_c", "kind": kind,
                                                      "magnitude": magnitude}).ok
    event = tap.wait_event("thermal", "SENSOR_FAULT", timeout=15,
                           where=lambda a: a["sensor"] == "chip_temp_c")
    assert event.data["args"]["fault"] == fault
    assert str(SAFE_DUTY) in event.data["text"]
    tap.wait_telemetry("thermal", lambda t: t["duty_limit"] == SAFE_DUTY
                       and t["sensor_faults"] == 1)
    assert orbiting.command("world", "sensor_fault",
                            {"sensor": "chip_temp_c", "kind": "clear"}).ok
    tap.wait_event("thermal", "SENSOR_OK", where=lambda a: a["sensor"] == "chip_temp_c")
    tap.wait_telemetry("thermal", lambda t: t["sensor_faults"] == 0 and "chip_temp_c" in t)


def test_survival_limit_requests_safe(orbiting: LocalStack) -> None:
    tap = orbiting.tap("evt.thermal")
    assert orbiting.command("world", "sensor_fault", {"sensor": "chip_temp_c", "kind": "value",
                                                      "magnitude": 99.0}).ok
    event = tap.wait_event("thermal", "SURVIVAL")
    assert event.data["args"]["sensor"] == "chip_temp_c"
    wait_until(lambda: orbiting.mode() == "SAFE", 10, "SAFE")


def test_dvfs_is_skipped_cleanly_where_the_board_has_none(orbiting: LocalStack) -> None:
    status = wait_until(lambda: (orbiting.command("thermal", "status").data or {})
                        if orbiting.command("thermal", "status").data["dvfs"] != "not tried"
                        else None, 10, "a DVFS attempt")
    assert status["dvfs"] == "unsupported"
    assert status["hal"]["backend"] == "sim"


def test_a_restarted_world_continues_where_it_was(orbiting: LocalStack) -> None:
    tap = orbiting.tap("tlm.world")
    before = tap.wait_telemetry("world", lambda t: t["uptime_s"] > 1.0).data
    pid = orbiting.process_row("world")["pid"]
    os.kill(pid, signal.SIGKILL)
    orbiting.wait_running("world", not_pid=pid)
    after = tap.wait_telemetry("world", lambda t: t["mission_t"] > before["mission_t"]
                               and t["uptime_s"] < before["uptime_s"]).data  # a new process ...
    # ... that resumed the same world: the battery did not jump back to its initial charge.
    assert abs(after["battery_soc"] - before["battery_soc"]) < 0.1
    assert after["energy_wh"]["solar_used_wh"] >= before["energy_wh"]["solar_used_wh"] - 50


def test_on_a_real_linux_board_the_world_fills_in_what_the_board_lacks(run_dir: Path) -> None:
    """hal.backend=auto detects this machine as 'linux' and co-simulates with the world."""
    with LocalStack(run_dir, overrides=(*ORBITING, "hal.backend=auto"),
                    log_to=run_dir / "stack.out") as stack:
        tap = stack.tap("tlm.thermal", "tlm.power")
        tap.wait_telemetry("thermal", lambda t: "chip_temp_c" in t and "battery_temp_c" in t)
        tap.wait_telemetry("power", lambda t: "soc" in t)
        status = stack.command("thermal", "status").data
        assert status["hal"]["backend"] in ("linux", "rpi", "jetson")
        assert status["hal"]["cosim"] is True


def test_the_world_emits_radiation_upsets(run_dir: Path) -> None:
    overrides = (*ORBITING, "apps.world.upset_rate_per_bit_day=1e-6")
    with LocalStack(run_dir, overrides=overrides, log_to=run_dir / "stack.out") as stack:
        tap = stack.tap("env.upset")
        upset = tap.wait(lambda e: e.topic == "env.upset", 20, "an upset").data
        assert upset["region"] in ("jobs", "checkpoints", "tables")
        assert isinstance(upset["bit"], int) and upset["bit"] >= 0
        assert isinstance(upset["in_saa"], bool)
