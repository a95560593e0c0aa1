"""Hazardous commands need arm, then execute, from the same sender within the timeout."""

from __future__ import annotations

import types

import pytest

from flight.app import base
from flight.app.clock import MissionClock
from flight.bus import CommandClient, Reason
from hil.stack import LocalStack


def test_arm_then_execute_once_from_the_same_sender(stack: LocalStack) -> None:
    off = {"load": "radio"}
    refused = stack.command("power", "load_off_critical", off)
    assert refused.reason is Reason.NOT_ARMED and "arm" in refused.message
    assert stack.command("power", "arm", {"command": "load_on"}).reason is Reason.BAD_ARGUMENTS
    assert stack.command("power", "arm", {"command": "load_off_critical"}).ok
    other = CommandClient(stack._ctx, stack.run_dir.command_endpoint("power"), "someone-else",
                          MissionClock())
    try:
        assert other.call("load_off_critical", off).reason is Reason.NOT_ARMED
    finally:
        other.close()
    assert stack.command("power", "arm", {"command": "load_off_critical"}).ok
    assert stack.command("power", "load_off_critical", off).ok
    again = stack.command("power", "load_off_critical", off)
    assert again.reason is Reason.NOT_ARMED  # one arm, one execution
    assert stack.command("power", "status").data["forced"] == {"radio": False}


@pytest.mark.parametrize(("now", "taken"), [(129.9, True), (130.1, False)])
def test_an_arm_is_good_for_its_timeout_only(monkeypatch: pytest.MonkeyPatch, now: float,
                                             taken: bool) -> None:
    """Armed at t = 100 with the 30 s timeout: the execute is let through until t = 130, and
    an arm is used up either way."""
    deadline = 100.0 + base.App.arm_timeout_s
    app = types.SimpleNamespace(_armed={"load_off_critical": ("ground", deadline)})
    monkeypatch.setattr(base.time, "monotonic", lambda: now)
    assert base.App._take_arm(app, "load_off_critical", "ground") is taken  # type: ignore[arg-type]
    assert app._armed == {}
