"""The console's model and command line, without a terminal: limits, staleness, the event
filter, verification, the link indicator, completion and validation messages."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from flight.config.loader import load_config
from flight.dictionary import build_dictionary
from flight.link import CdsTime, TelemetryPacket
from ground.archive import Archive
from ground.console.commandline import CommandLine, CommandLineError
from ground.console.model import (
    ConsoleModel,
    EventLog,
    LinkModel,
    StalenessPolicy,
    TelemetryModel,
    VerificationModel,
    format_age,
    format_value,
    limit_state,
)
from ground.console.replay import ReplayLink
from ground.station import Dictionary, Event, Stage, TelemetryReport


@pytest.fixture(scope="module")
def dictionary() -> Dictionary:
    """The built-in profile's dictionary: the one operators fly with."""
    return Dictionary(build_dictionary(load_config()))


@pytest.fixture
def cmdline(dictionary: Dictionary) -> CommandLine:
    return CommandLine(dictionary)


# ------------------------------------------------------------------------------ limits


SOC = {"yellow_low": 0.6, "red_low": 0.5}
BATTERY_TEMP = {"yellow_low": 2, "yellow_high": 45, "red_low": -10, "red_high": 50}


@pytest.mark.parametrize(("limits", "value", "state"), [
    (SOC, 0.9, "nominal"), (SOC, 0.6, "nominal"), (SOC, 0.59, "yellow"), (SOC, 0.5, "yellow"),
    (SOC, 0.49, "red"), (BATTERY_TEMP, 20.0, "nominal"), (BATTERY_TEMP, 1.0, "yellow"),
    (BATTERY_TEMP, 46, "yellow"), (BATTERY_TEMP, 51, "red"), (BATTERY_TEMP, -11, "red"),
    ({"yellow_high": 0}, 0, "nominal"), ({"yellow_high": 0}, 1, "yellow"),  # error counters
    ({"yellow_high": 0, "red_high": 1}, 2, "red"), (SOC, math.nan, "red"),
    (SOC, True, "none"), (SOC, "0.4", "none"), (SOC, None, "none"), (None, 0.1, "none"),
    ({}, 0.1, "none"),
])
def test_limit_state_follows_the_dictionary_bands(limits, value, state) -> None:
    assert limit_state(limits, value) == state


def test_telemetry_values_take_their_units_and_limits_from_the_dictionary(dictionary) -> None:
    model = TelemetryModel(dictionary)
    changed = model.ingest("power", {"soc": 0.55, "battery_voltage_v": 24.0, "in_sun": True,
                                     "loads": {"compute": True, "radio": False}}, t=1.0)
    assert changed == ["power.soc", "power.battery_voltage_v", "power.in_sun",
                       "power.loads.compute", "power.loads.radio"]
    soc = model.get("power", "soc")
    assert soc is not None and (soc.unit, soc.state) == ("fraction", "yellow")
    assert model.get("power", "battery_voltage_v").state == "red"  # type: ignore[union-attr]
    assert model.get("power", "in_sun").state == "none"  # type: ignore[union-attr]
    model.ingest("power", {"soc": 0.8}, t=2.0)
    assert model.get("power", "soc").state == "nominal"  # type: ignore[union-attr]


def test_map_channels_are_judged_entry_by_entry(dictionary) -> None:
    model = TelemetryModel(dictionary)
    model.ingest("health", {"temperatures_c": {"cpu": 70.0, "gpu": 80.0, "board": 90.0}}, 1.0)
    states = {r.channel: r.state for r in model.rows(now=1.0)}
    assert states == {"temperatures_c.cpu": "nominal", "temperatures_c.gpu": "yellow",
                      "temperatures_c.board": "red"}
    model.ingest("comms", {"tc_rejected": {}}, 1.0)
    row = next(r for r in model.rows(1.0) if r.app == "comms")
    assert (row.channel, row.text, row.state) == ("tc_rejected", "{}", "none")


def test_rows_are_in_dictionary_order_whatever_the_arrival_order(dictionary) -> None:
    model = TelemetryModel(dictionary)
    model.ingest("power", {"net_power_w": 1.0, "soc": 0.9}, 1.0)
    model.ingest("executive", {"mode": "NOMINAL"}, 1.0)
    model.ingest("apid_0x050", {"x": 1}, 1.0)  # an app the dictionary does not know: last
    assert [r.key for r in model.rows(1.0)] == ["executive.mode", "power.soc",
                                                "power.net_power_w", "apid_0x050.x"]
    assert [r.key for r in model.rows(1.0, "power")] == ["power.soc", "power.net_power_w"]


def test_stored_telemetry_downlinked_late_does_not_hide_a_newer_value(dictionary) -> None:
    model = TelemetryModel(dictionary)
    model.ingest("power", {"soc": 0.8}, t=10.0)
    model.ingest("power", {"soc": 0.3}, t=5.0)
    assert model.get("power", "soc").value == 0.8  # type: ignore[union-attr]


# ------------------------------------------------------------------------------ staleness


def test_staleness_uses_the_measured_period_then_the_fallback(dictionary) -> None:
    policy = StalenessPolicy(factor=3.0, fallback=10.0, floor=1.0)
    model = TelemetryModel(dictionary, policy)
    model.ingest("thermal", {"chip_temp_c": 50.0}, t=100.0)
    assert model.period("thermal") is None
    assert model.threshold("thermal") == 10.0  # period unknown: the fallback
    assert not model.rows(now=109.9)[0].stale
    assert model.rows(now=110.1)[0].stale
    for i in range(1, 6):  # reports every 2 s
        model.ingest("thermal", {"chip_temp_c": 50.0 + i}, t=100.0 + 2 * i)
    assert model.period("thermal") == pytest.approx(2.0)
    assert model.threshold("thermal") == pytest.approx(6.0)  # 3 x 2 s
    last = 110.0
    row = model.rows(now=last + 5.9)[0]
    assert not row.stale and row.age == pytest.approx(5.9)
    assert model.rows(now=last + 6.1)[0].stale
    assert model.counts(last + 6.1)["stale"] == 1


def test_a_fast_period_never_makes_staleness_hair_trigger(dictionary) -> None:
    model = TelemetryModel(dictionary, StalenessPolicy(factor=3.0, floor=1.0))
    for i in range(5):
        model.ingest("power", {"soc": 0.9}, t=i * 0.1)
    assert model.threshold("power") == 1.0  # 3 x 0.1 s is below the floor
    assert not model.rows(now=0.4 + 0.9)[0].stale
    assert model.rows(now=0.4 + 1.1)[0].stale


def test_a_map_entry_that_stops_being_reported_goes_stale_alone(dictionary) -> None:
    model = TelemetryModel(dictionary, StalenessPolicy(factor=3.0, floor=1.0))
    model.ingest("executive", {"restarts": {"power": 0, "jobs": 1}}, t=0.0)
    model.ingest("executive", {"restarts": {"power": 0}}, t=1.0)
    model.ingest("executive", {"restarts": {"power": 0}}, t=2.0)  # period 1 s: stale after 3
    stale = {r.channel: r.stale for r in model.rows(now=3.5)}
    assert stale == {"restarts.power": False, "restarts.jobs": True}


def test_alarms_only_keeps_yellow_red_and_stale(dictionary) -> None:
    model = TelemetryModel(dictionary)
    model.ingest("power", {"soc": 0.9, "battery_voltage_v": 25.5, "in_sun": True}, t=0.0)
    model.ingest("thermal", {"chip_temp_c": 99.0}, t=0.0)
    assert [r.key for r in model.rows(5.0, alarms_only=True)] == [
        "power.battery_voltage_v", "thermal.chip_temp_c"]
    assert len(model.rows(20.0, alarms_only=True)) == 4  # everything stale by now


# ------------------------------------------------------------------------------ events


def test_event_filter_cycles_through_the_downlinked_severities() -> None:
    log = EventLog()
    for severity, name in [(1, "NOOP"), (2, "LIMIT"), (3, "APP_HUNG"), (4, "APP_FLAPPING")]:
        log.add("executive", name, severity, "", t=float(severity))
    assert [e.name for e in log.visible()] == ["NOOP", "LIMIT", "APP_HUNG", "APP_FLAPPING"]
    assert log.cycle() == 2
    assert [e.name for e in log.visible()] == ["LIMIT", "APP_HUNG", "APP_FLAPPING"]
    assert log.cycle() == 3 and log.cycle() == 4
    assert [e.name for e in log.visible()] == ["APP_FLAPPING"]
    assert log.cycle() == 1 and len(log.visible()) == 4
    assert [e.name for e in log.visible(after=2)] == ["APP_HUNG", "APP_FLAPPING"]


def test_event_log_is_bounded() -> None:
    log = EventLog(maxlen=3)
    for i in range(5):
        log.add("power", f"E{i}", 1, "", float(i))
    assert [e.name for e in log.visible()] == ["E2", "E3", "E4"] and log.total == 5


# ------------------------------------------------------------------------------ verification


def test_verification_stages_and_failure_reason() -> None:
    model = VerificationModel()
    model.add_command(0x1812C001, "health.noop", {}, t=1.0, t_ground=1000.0)
    entry = model.add_stage(0x1812C001, "accepted", True, 1.1, t_ground=1000.1)
    assert entry.status == "accepted" and not entry.done
    model.add_stage(0x1812C001, "started", True, 1.2)
    model.add_stage(0x1812C001, "completed", True, 1.3)
    assert entry.status == "completed" and entry.done and entry.failure is None
    assert [e.label for e in model.take_changed()] == ["health.noop"]
    assert model.take_changed() == []
    bad = model.add_command(0x1813C002, "power.load_on", {"load": "compute"}, 2.0)
    model.add_stage(0x1813C002, "completed", False, 2.2, reason="EXECUTION_ERROR", code=5,
                    message="no such load")
    assert bad.status == "failed" and bad.command_text == "power.load_on load=compute"
    assert bad.failure is not None
    assert bad.failure.text == "EXECUTION_ERROR (5): no such load"


def test_reports_about_commands_sent_elsewhere_are_shown_under_their_apid(dictionary) -> None:
    model = ConsoleModel(dictionary)
    stage = Stage("routed", False, 0x201, "ROUTING_FAILED", "power down", None, 5.0, 5.0, 5.0)
    model.ingest((0x1813C007, stage), t=5.0)
    entry = model.verification.get(0x1813C007)
    assert entry is not None and not entry.known
    assert entry.label == "power request 7"
    assert entry.status == "failed" and "accepted" in entry.stages  # routing = acceptance


def test_verification_keeps_the_newest_commands() -> None:
    model = VerificationModel(maxlen=2)
    for rid in range(3):
        model.add_command(rid, f"health.c{rid}", {}, float(rid))
    assert [e.label for e in model.entries()] == ["health.c1", "health.c2"]


# ------------------------------------------------------------------------------ link


def test_link_indicator_from_packets_and_comms_housekeeping(dictionary) -> None:
    model = ConsoleModel(dictionary, link_timeout=5.0)
    assert not model.link_status(0.0).up and model.link_status(0.0).since_last is None
    report = TelemetryReport("comms", {"in_contact": True, "station": "svalbard",
                                       "store_packets": 12, "tc_rejected": {"bad_mac": 3,
                                                                            "replay": 0}},
                             t_onboard=0.0, t_ground=0.0, t_mono=10.0, apid=0x10, seq=1)
    model.ingest(report, t=10.0)
    model.link.note_stats(7, {"bad_crc": 2}, gaps=1, now=10.0)
    status = model.link_status(12.0)
    assert status.up and status.since_last == pytest.approx(2.0)
    assert (status.in_contact, status.station, status.store_packets) == (True, "svalbard", 12)
    assert status.rejected_flight == {"bad_mac": 3}
    assert status.rejected_ground == {"bad_crc": 2} and status.gaps == 1
    down = model.link_status(15.5)
    assert not down.up and down.contact_age == pytest.approx(5.5)


def test_a_grown_packet_count_alone_counts_as_a_packet() -> None:
    link = LinkModel(timeout=1.0)
    link.note_stats(3, {}, 0, now=50.0)  # e.g. rejected datagrams: nothing decoded
    assert link.last_packet == 50.0
    link.note_stats(3, {}, 0, now=60.0)
    assert link.last_packet == 50.0


def test_console_model_takes_station_records(dictionary) -> None:
    model = ConsoleModel(dictionary)
    model.ingest(Event("health", "NOOP", 1, "No-op", {}, 2, 100.0, 200.0, 3.0), t=3.0)
    model.ingest(TelemetryReport("power", {"soc": 0.45}, 100.0, 200.0, 3.0, 0x13, 4), t=3.0)
    assert [(e.app, e.name, e.severity_name) for e in model.events.visible()] == [
        ("health", "NOOP", "INFO")]
    assert model.telemetry.get("power", "soc").state == "red"  # type: ignore[union-attr]


# ------------------------------------------------------------------------------ formatting


@pytest.mark.parametrize(("value", "text"), [
    (0.91534, "0.9153"), (93.3, "93.3"), (1813536468.4, "1813536468.4"), (12, "12"),
    (True, "true"), (None, "unsupported"), (math.nan, "nan"), ("NOMINAL", "NOMINAL"),
    ({}, "{}"), (b"\x01\x02", "0102"),
])
def test_format_value(value, text) -> None:
    assert format_value(value) == text


@pytest.mark.parametrize(("age", "text"), [
    (None, "-"), (0.2, "<1s"), (5.7, "5s"), (59.9, "59s"), (125, "2m05s"), (7260, "2h01m"),
])
def test_format_age(age, text) -> None:
    assert format_age(age) == text


# ------------------------------------------------------------------------------ command line


@pytest.mark.parametrize(("text", "candidates", "completed"), [
    ("", ("executive.", "health.", "comms.", "power.", "thermal.", "jobs.", "radiation.",
      "world."), ""),
    ("po", ("power.",), "power."),
    ("power.load_o", ("power.load_on", "power.load_off", "power.load_off_critical"),
     "power.load_o"),
    ("power.load_on", ("power.load_on",), "power.load_on "),  # it takes arguments: a space
    ("health.no", ("health.noop",), "health.noop"),  # no arguments: no space
    ("power.load_on ", ("load=",), "power.load_on load="),
    ("power.load_on load=", ("load=compute", "load=heater_noncritical", "load=radio",
                             "load=receiver", "load=obc", "load=eps"), "power.load_on load="),
    ("power.load_on load=r", ("load=radio", "load=receiver"), "power.load_on load=r"),
    ("power.load_on load=ra", ("load=radio",), "power.load_on load=radio "),
    ("executive.set_mode mode=SAFE ", ("why=",), "executive.set_mode mode=SAFE why="),
    ("executive.fdir_enable rule=x enabled=t", ("enabled=true",),
     "executive.fdir_enable rule=x enabled=true "),
    ("xx", (), "xx"), ("health.nothing x", (), "health.nothing x"),
])
def test_completion(cmdline, text, candidates, completed) -> None:
    completion = cmdline.complete(text)
    assert completion.candidates == candidates
    assert completion.text == completed


@pytest.mark.parametrize(("text", "message"), [
    ("xx.noop", "unknown app 'xx'"),
    ("health.bogus", "unknown command health.bogus; health commands: noop"),
    ("health.noop x=1", "health.noop: unknown argument 'x'"),
    ("power.load_on", "power.load_on: missing argument(s) load"),
    ("power.load_on load=toaster", "load: expected one of compute, heater_noncritical"),
    ("world.set_demand duty=5", "world.set_demand: duty: 5.0 is above the maximum 1"),
    ("world.set_demand duty=-1", "duty: -1.0 is below the minimum 0"),
    ("world.set_demand duty=abc", "duty: expected a number, got 'abc'"),
    ("world.set_demand duty=nan", "duty: expected a finite number"),
    ("comms.set_link_rate bps=1.5", "bps: expected an integer, got '1.5'"),
    ("executive.fdir_enable rule=x enabled=maybe", "enabled: expected true or false"),
    ("power.load_on load=compute load=radio", "argument load given twice"),
    ("power.load_on compute", "expected ARG=VALUE, got 'compute'"),
    ('executive.set_mode mode=SAFE why="low', "close the quote"),
])
def test_validation_says_what_is_wrong(cmdline, text, message) -> None:
    feedback = cmdline.check(text)
    assert feedback.level == "error" and feedback.command is None
    assert message in feedback.message
    with pytest.raises(CommandLineError, match=message.split(";")[0].replace("(", r"\(")
                       .replace(")", r"\)").replace(".", r"\.")):
        cmdline.parse(text)


@pytest.mark.parametrize(("text", "hint"), [
    ("he", "apps: health"), ("health", "health commands: noop"),
    ("health.no", "health commands: noop"), ("power.load_on lo", "arguments: load=<compute"),
    ("power.load_on load=comp", "load: compute"),
])
def test_a_prefix_of_something_valid_is_a_hint_not_an_error(cmdline, text, hint) -> None:
    feedback = cmdline.check(text)
    assert feedback.level == "hint" and hint in feedback.message
    with pytest.raises(CommandLineError):  # but Enter still sends nothing
        cmdline.parse(text)


def test_values_are_read_by_their_declared_type(cmdline) -> None:
    assert cmdline.parse("comms.set_link_rate bps=0x2710").args == {"bps": 10000}
    assert cmdline.parse("comms.set_link_rate bps=1e6").args == {"bps": 1000000}
    assert cmdline.parse("world.set_demand duty=0.25").args == {"duty": 0.25}
    assert cmdline.parse("executive.fdir_enable rule=r1 enabled=off").args == {
        "rule": "r1", "enabled": False}
    parsed = cmdline.parse('executive.set_mode mode=SAFE why="battery low"')
    assert parsed.args == {"mode": "SAFE", "why": "battery low"}
    assert parsed.text == "executive.set_mode mode=SAFE why='battery low'"
    assert cmdline.parse("health.param_load name=x value=3").args["value"] == 3
    assert cmdline.parse("health.param_load name=x value=true").args["value"] is True


def test_ok_and_hazardous_feedback(cmdline) -> None:
    ok = cmdline.check("executive.set_mode mode=NOMINAL")
    assert ok.level == "ok" and ok.command is not None and not ok.command.hazardous
    assert "optional: why=<str, default 'commanded'>" in ok.message
    hazardous = cmdline.check("executive.exit_safe mode=NOMINAL")
    assert hazardous.level == "hazardous" and hazardous.command is not None
    assert hazardous.command.hazardous and "executive.arm" in hazardous.message


# ------------------------------------------------------------------------------ replay link


def _archive_with_packets(path: Path, times: list[float]) -> None:
    with Archive(path) as archive:
        for i, t in enumerate(times):
            packet = TelemetryPacket(0x13, 17, 2, CdsTime.from_unix(t), seq_count=i)
            archive.record_packet("down", packet.encode(), t_ground=t, apid=0x13, service=17,
                                  subtype=2, seq=i, t_onboard=t, status="ok")
        archive.record_packet("down", b"\x00\x01", t_ground=times[-1] + 0.1, status="truncated")


def test_replay_link_paces_on_its_own_clock_and_pauses(tmp_path: Path) -> None:
    path = tmp_path / "pass.sqlite"
    _archive_with_packets(path, [1000.0, 1000.5, 1001.0])
    link = ReplayLink(path, speed=10.0)
    try:
        assert math.isnan(link.clock()) and link.total == 4
        start = time.monotonic()
        first = link.receive()
        assert first is not None and first.t_ground == 1000.0 and first.packet is not None
        assert link.clock() == pytest.approx(1000.0, abs=0.05)
        assert link.receive().t_ground == 1000.5  # type: ignore[union-attr]
        assert time.monotonic() - start == pytest.approx(0.05, abs=0.04)  # 0.5 s at 10x
        link.pause()
        frozen = link.clock()
        time.sleep(0.05)
        assert link.clock() == frozen and link.paused
        link.resume()
        assert link.receive().t_ground == 1001.0  # type: ignore[union-attr]
        rejected = link.receive()
        assert rejected is not None and rejected.packet is None
        assert rejected.reason == "truncated"
        assert link.receive(timeout=0.01) is None and link.finished
        assert link.clock() == pytest.approx(1001.1)  # frozen at the last packet
        stats = link.stats()
        assert (stats.received, stats.decoded, stats.rejected) == (4, 3, {"truncated": 1})
        with pytest.raises(OSError, match="replay"):
            link.send_raw(b"x")
    finally:
        link.close()
    assert link.closed and link.receive() is None
