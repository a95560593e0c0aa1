"""The power manager in a running, orbiting stack (600x: an orbit every ten seconds)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flight.bus import Reason
from hil.stack import LocalStack, wait_until
from tests.conftest import ORBITING


def _stack(run_dir: Path, *extra: str) -> LocalStack:
    return LocalStack(run_dir, overrides=(*ORBITING, *extra), log_to=run_dir / "stack.out")


@pytest.fixture
def orbiting(run_dir: Path) -> Iterator[LocalStack]:
    with _stack(run_dir) as stack:
        yield stack


def test_eclipse_sheds_compute_and_sunlight_restores_it(orbiting: LocalStack) -> None:
    tap = orbiting.tap("evt.power", "tlm.power", "tlm.world")
    tap.wait_telemetry("world", lambda t: not t["in_sun"], timeout=30)
    shed = tap.wait_event("power", "LOAD_SHED", timeout=20, where=lambda a: a["load"] == "compute")
    assert "below 0.70" in shed.data["args"]["why"]
    tap.wait_telemetry("power", lambda t: t["loads"]["compute"] == 0 and t["compute_budget_w"] == 0)
    tap.wait_telemetry("world", lambda t: t["in_sun"], timeout=20)
    tap.wait_event("power", "LOAD_RESTORED", timeout=20, where=lambda a: a["load"] == "compute")
    hk = tap.wait_telemetry("power", lambda t: t["loads"]["compute"] == 1
                            and t["restore_count"] == 1).data
    assert hk["soc"] > 0.8 and hk["shed_count"] == 1  # (missed periods: bench/world_speed)


def test_low_battery_asks_for_power_save_and_leaves_it_when_charged(run_dir: Path) -> None:
    # 0.55: boot takes a second of wall time, some 600 mission seconds of charging in sunlight
    with _stack(run_dir, "apps.world.initial_soc=0.55") as stack:
        tap = stack.tap("evt.power", "tlm.power")
        wait_until(lambda: stack.mode() == "POWER_SAVE", 30, "POWER_SAVE")
        tap.wait_event("power", "MODE_REQUEST", timeout=30,
                       where=lambda a: a["mode"] == "NOMINAL")
        wait_until(lambda: stack.mode() == "NOMINAL", 10, "NOMINAL again")
        tap.wait_telemetry("power", lambda t: t["mode_requests"] == 2 and t["soc"] > 0.75)


def test_a_nearly_empty_battery_asks_for_safe(run_dir: Path) -> None:
    with _stack(run_dir, "apps.world.initial_soc=0.45") as stack:
        tap = stack.tap("evt.power", "tlm.power")
        wait_until(lambda: stack.mode() == "SAFE", 30, "SAFE")
        tap.wait_telemetry("power", lambda t: t["loads"]["compute"] == 0
                           and t["compute_budget_w"] == 0 and t["mode"] == "SAFE")


def test_bad_parameters_are_refused_and_change_nothing(orbiting: LocalStack) -> None:
    def load(name: str, value: object) -> Reason:
        return orbiting.command("power", "param_load", {"name": name, "value": value}).reason

    before = orbiting.command("power", "param_report").data["active"]
    assert load("compute_shed_soc", 1.5) is Reason.BAD_ARGUMENTS  # out of range
    assert load("compute_shed_soc", "high") is Reason.BAD_ARGUMENTS  # wrong type
    assert load("no_such_threshold", 0.5) is Reason.BAD_ARGUMENTS
    assert load("compute_restore_soc", 0.65) is Reason.OK  # staged: below the shed threshold
    refused = orbiting.command("power", "param_activate")
    assert refused.reason is Reason.BAD_ARGUMENTS
    assert "restore threshold 0.65 must be above shed 0.7" in refused.message
    assert orbiting.command("power", "param_abort").ok
    assert load("heater_noncritical_shed_soc", 0.72) is Reason.OK  # before compute: wrong
    assert load("heater_noncritical_restore_soc", 0.85) is Reason.OK
    assert "priority" in orbiting.command("power", "param_activate").message
    assert orbiting.command("power", "param_abort").ok
    assert orbiting.command("power", "param_report").data["active"] == before


def test_forcing_loads_and_releasing_them(orbiting: LocalStack) -> None:
    tap = orbiting.tap("evt.power", "tlm.power")
    assert orbiting.command("power", "load_off", {"load": "compute"}).ok
    tap.wait_event("power", "LOAD_FORCED", where=lambda a: a["load"] == "compute")
    tap.wait_telemetry("power", lambda t: t["loads"]["compute"] == 0
                       and t["forced"] == {"compute": 0} and t["compute_budget_w"] == 0)
    assert orbiting.command("power", "load_off", {"load": "obc"}).reason is Reason.BAD_ARGUMENTS
    assert orbiting.command("power", "load_auto", {"load": "compute"}).ok
    tap.wait_telemetry("power", lambda t: t["loads"]["compute"] == 1 and t["forced"] == {})
    assert orbiting.command("power", "load_auto", {"load": "radio"}).reason \
        is Reason.NOT_PERMITTED


def test_an_implausible_state_of_charge_sheds_compute_and_is_named(orbiting: LocalStack) -> None:
    tap = orbiting.tap("evt.power", "tlm.power")
    tap.wait_telemetry("power", lambda t: t["loads"]["compute"] == 1)
    assert orbiting.command("world", "sensor_fault",
                            {"sensor": "battery_soc", "kind": "nan"}).ok
    fault = tap.wait_event("power", "SENSOR_FAULT", where=lambda a: a["sensor"] == "battery_soc")
    assert fault.data["args"]["fault"] == "invalid"
    tap.wait_event("power", "LOAD_SHED", where=lambda a: a["load"] == "compute"
                   and "unknown" in a["why"])
    assert orbiting.command("world", "sensor_fault",
                            {"sensor": "battery_soc", "kind": "clear"}).ok
    tap.wait_event("power", "SENSOR_OK", where=lambda a: a["sensor"] == "battery_soc")
