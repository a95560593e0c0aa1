"""The health app, through the bus of a real stack."""

from __future__ import annotations

import psutil

from flight.apps.health.app import HealthApp
from flight.bus import Reason
from hil.stack import LocalStack


def test_sample_returns_board_and_process_values(stack: LocalStack) -> None:
    stack.tap("tlm.health").wait_telemetry("health", lambda t: t["processes_monitored"] >= 2)
    values = stack.command("health", "sample").data
    assert values["mem_percent"] == values["mem_percent"]  # a number, not NaN
    assert set(values["process_uss_mib"]) >= {"executive", "health"}
    assert all(v > 0 for v in values["process_uss_mib"].values())


def test_list_sensors_matches_what_psutil_sees(stack: LocalStack) -> None:
    reply = stack.command("health", "list_sensors")
    if HealthApp._temperatures():
        assert reply.ok and reply.data
    else:
        assert reply.reason is Reason.UNAVAILABLE


def test_include_self_parameter_changes_the_process_table(stack: LocalStack) -> None:
    tap = stack.tap("tlm.health")
    tap.wait_telemetry("health", lambda t: "health" in t["process_uss_mib"])
    assert stack.command("health", "param_load", {"name": "include_self", "value": False}).ok
    assert stack.command("health", "param_activate").ok
    tap.wait_telemetry("health", lambda t: "health" not in t["process_uss_mib"]
                       and "executive" in t["process_uss_mib"])


def test_disk_path_parameter_is_range_checked_as_text(stack: LocalStack) -> None:
    bad = stack.command("health", "param_load", {"name": "disk_path", "value": 42})
    assert bad.reason is Reason.BAD_ARGUMENTS
    assert stack.command("health", "param_report").data["staged"] == {}


def test_offline_sensor_values_are_dropped(monkeypatch) -> None:
    class Reading:
        def __init__(self, label: str, current: float):
            self.label, self.current = label, current

    monkeypatch.setattr(psutil, "sensors_temperatures", lambda: {
        "tegra": [Reading("cpu", 41.5), Reading("gpu", -256.0)], "acpi": [Reading("", 30.0)]})
    assert HealthApp._temperatures() == {"tegra.cpu": 41.5, "acpi.0": 30.0}
