"""The ground station against a real onboard stack: comms, the executive and every app.

Each test gets a fresh flatsat (``hil.pytest_plugin``): sim profile, mission time 60x, comms on
a free port and always in contact. Deadlines everywhere, no sleeps.
"""

from __future__ import annotations

import datetime
import time
from typing import TYPE_CHECKING

import pytest

from ground.station import (
    CommandFailed,
    GroundStation,
    HazardousCommandError,
    ValidationError,
)

if TYPE_CHECKING:  # importing it would defeat the plugin's assertion rewriting
    from hil.pytest_plugin import Flatsat



def test_ping_answers_from_comms(ground: GroundStation) -> None:
    assert 0 < ground.ping() < 1.0
    assert ground.link.stats().rejected == {}


def test_noop_to_every_app_completes_with_every_stage(ground: GroundStation) -> None:
    for app in ground.dictionary.apps:
        handle = ground.send(app, "noop")
        final = handle.wait(10)
        assert final.ok, f"{app}: {final}"
        assert [s.name for s in handle.stages] == ["accepted", "started", "completed"]
        times = [s.t_mono for s in handle.stages]
        assert handle.sent_mono <= times[0] <= times[1] <= times[2]
        onboard = [s.t_onboard for s in handle.stages]
        assert onboard == sorted(onboard)
        ground.await_event(app, "NOOP", since=handle, timeout=10)


def test_a_refused_command_fails_with_its_reason(ground: GroundStation) -> None:
    ground.command("executive", "set_mode", mode="SAFE", why="ground test")
    with pytest.raises(CommandFailed, match=r"NOT_PERMITTED.*exit_safe") as info:
        ground.command("executive", "set_mode", mode="NOMINAL")
    assert info.value.stage.name == "completed" and info.value.code == 4
    failed = ground.send("executive", "fdir_enable", rule="nosuch", enabled=True).wait(10)
    assert not failed.ok and failed.reason == "BAD_ARGUMENTS" and "nosuch" in failed.message


def test_arguments_are_refused_on_the_ground(ground: GroundStation) -> None:
    sent = ground.link.stats().sent
    for app, command, args in (("executive", "set_mode", {"mode": "WARP"}),
                               ("power", "load_off", {"load": "radio"}),
                               ("comms", "set_link_rate", {"bps": "fast"}),
                               ("health", "noop", {"now": True})):
        with pytest.raises(ValidationError):
            ground.send(app, command, args=args)
    assert ground.link.stats().sent == sent


def test_hazardous_commands_need_an_arm(ground: GroundStation) -> None:
    ground.command("executive", "set_mode", mode="SAFE")
    with pytest.raises(HazardousCommandError):
        ground.send("executive", "exit_safe", mode="NOMINAL")
    unarmed = ground.send("executive", "exit_safe", mode="NOMINAL", arm=False).wait(10)
    assert unarmed.reason == "NOT_ARMED"
    handle = ground.send_and_wait("executive", "exit_safe", mode="NOMINAL", arm=True)
    assert handle.arm_handle is not None and handle.arm_handle.ok
    ground.await_event("executive", "ARMED", since=handle.arm_handle, timeout=10)
    ground.await_telemetry("executive", "mode", value="NOMINAL", timeout=10)


def test_power_reports_its_state_of_charge(ground: GroundStation) -> None:
    soc = ground.await_telemetry("power", "soc", lambda v: 0.0 <= v <= 1.0, timeout=10)
    assert soc.t_onboard > 0 and soc.t_ground > 0
    assert ground.latest("power", "soc") is not None
    loads = ground.await_telemetry("power", "loads", timeout=10)
    assert isinstance(loads.value, dict) and "compute" in loads.value


def test_events_arrive_with_their_arguments(ground: GroundStation, flatsat: Flatsat) -> None:
    mark = ground.mark()
    flatsat.command("power", "load_off", {"load": "compute"})  # over the bus, not the link
    event = ground.await_event("power", "LOAD_FORCED", since=mark, timeout=10)
    assert event.severity_name in ("INFO", "WARNING") and event.args
    ground.assert_event_count(1, "power", "LOAD_FORCED", since=mark)


def test_disabled_events_stay_on_board_until_enabled(ground: GroundStation,
                                                     flatsat: Flatsat) -> None:
    """Service 5: an event disabled by name is not downlinked; enabled again, it is."""
    mark = ground.mark()
    ground.disable_events("power.LOAD_FORCED")
    flatsat.command("power", "load_off", {"load": "compute"})
    ground.enable_events("power.LOAD_FORCED")
    flatsat.command("power", "load_on", {"load": "compute"})
    event = ground.await_event("power", "LOAD_FORCED", since=mark, timeout=10)
    assert (event.args["load"], event.args["state"]) == ("compute", "on")  # the second one
    ground.assert_event_count(1, "power", "LOAD_FORCED", since=mark)


def test_parameters_report_and_set(ground: GroundStation) -> None:
    assert ground.params("power")["active"]["compute_shed_soc"] == 0.7
    ground.set_params("power", compute_shed_soc=0.65, compute_restore_soc=0.75)
    active = ground.params("power", "compute_shed_soc", "compute_restore_soc")["active"]
    assert active == {"compute_shed_soc": 0.65, "compute_restore_soc": 0.75}
    with pytest.raises(CommandFailed):  # restore below shed: the app refuses the table
        ground.set_params("power", compute_restore_soc=0.5)
    assert ground.params("power", "compute_restore_soc")["active"] == {
        "compute_restore_soc": 0.75}


def test_a_time_tagged_noop_fires(ground: GroundStation) -> None:
    scheduled = ground.schedule(datetime.timedelta(seconds=30), "health", "noop")
    assert [r["request_id"] for r in ground.schedule_summary()] == [scheduled.request_id]
    assert scheduled.command.wait(10).ok
    released = ground.await_event("comms", "TIMETAG_RELEASED", since=scheduled.insertion,
                                  timeout=10)
    assert released.args["request_id"] == scheduled.request_id
    assert ground.schedule_summary() == []
    with pytest.raises(CommandFailed, match="RELEASE_TIME_PASSED"):
        ground.schedule(ground.mission_time() - 60, "health", "noop")


def test_a_deleted_time_tagged_command_never_fires(ground: GroundStation) -> None:
    keep = ground.schedule(datetime.timedelta(seconds=60), "health", "noop")
    drop = ground.schedule(datetime.timedelta(seconds=30), "health", "noop")
    assert {r["request_id"] for r in ground.schedule_summary()} == {keep.request_id,
                                                                     drop.request_id}
    assert ground.unschedule(drop).ok
    assert [r["request_id"] for r in ground.schedule_summary()] == [keep.request_id]
    assert keep.command.wait(15).ok  # released after the deleted one's time
    assert drop.command.stages == []


def test_a_configured_ground_address_gets_telemetry_before_any_uplink(
        flatsat: Flatsat) -> None:
    """apps.comms.ground: a station listening there hears housekeeping without sending."""
    from ground.link import GroundLink, Received

    with GroundLink(flatsat.address, key=bytes(32), local=flatsat.ground_address) as link:
        deadline = time.monotonic() + 10
        heard: Received | None = None
        while heard is None or heard.packet is None or heard.packet.service != 3:
            heard = link.receive(max(0.0, deadline - time.monotonic()))
            assert heard is not None, "no housekeeping at the configured ground address"
        assert link.stats().sent == 0


def test_housekeeping_rate_and_one_shot_reports(ground: GroundStation) -> None:
    mark = ground.mark()
    ground.request_hk("world")
    ground.await_telemetry("world", since=mark, timeout=10)
    ground.set_hk_interval("world", 3600)
    mark = ground.mark()
    ground.await_telemetry_count(3, "thermal", since=mark, timeout=10)
    ground.assert_telemetry_count(lambda n: n <= 1, "world", since=mark)


def test_the_archive_holds_the_session(ground: GroundStation) -> None:
    ground.command("health", "noop")
    ground.await_telemetry("power", "soc", timeout=10)
    archive = ground.archive
    archive.flush()
    assert [c.status for c in archive.commands(name="noop")] == ["completed"]
    assert archive.latest("power", "soc") is not None
    assert archive.counts().packets["down"]["ok"] > 5


def test_a_lab_link_without_authentication() -> None:
    from hil.pytest_plugin import FLATSAT_OVERRIDES, start_flatsat

    with start_flatsat((*FLATSAT_OVERRIDES, "apps.comms.auth=none")) as sat, \
            sat.connect(plain=True) as station:
        assert station.command("health", "noop").ok
        assert station.await_telemetry("comms", "auth", timeout=10).value == "none"


def test_a_command_result_comes_back_on_its_handle(ground: GroundStation) -> None:
    handle = ground.send("power", "status")
    assert handle.result(timeout=10).ok
    assert handle.data is not None and "compute" in handle.data["loads"]
    assert ground.send("health", "noop").result(timeout=10).ok


def test_a_long_result_downlink_reports_its_progress(ground: GroundStation,
                                                     flatsat: Flatsat) -> None:
    """TM[1,5] every 64 chunks, the chunks sent so far as the step id, between start and
    completion; a ground that does not ask for progress reports gets none."""
    import msgpack

    from flight.link import Ack
    from flight.results import ResultStore

    ResultStore(flatsat.run_dir / "results").put("job-77", bytes(range(256)) * 40)  # 160 chunks
    request = msgpack.packb({"result": "job-77", "chunk_size": 64})
    handle = ground.send_tc(0x10, 128, 5, request, app="comms", name="downlink_result")
    assert handle.result(timeout=20).ok
    assert [(s.name, s.step) for s in handle.stages] == [
        ("accepted", None), ("started", None), ("progress", 64), ("progress", 128),
        ("completed", None)]
    quiet = ground.send_tc(0x10, 128, 5, request, app="comms", name="downlink_result",
                           ack=Ack.ACCEPTANCE | Ack.COMPLETION)
    assert quiet.result(timeout=20).ok
    assert [s.name for s in quiet.stages] == ["accepted", "completed"]
