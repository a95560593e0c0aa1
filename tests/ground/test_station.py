"""GroundStation and GroundLink against a stand-in spacecraft (a real UDP peer).

Everything waits on deadlines; nothing sleeps. The same API against the real onboard stack is
in ``test_station_flatsat.py``.
"""

from __future__ import annotations

import datetime
import json
import os
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from flight.config.loader import load_config
from flight.dictionary import build_dictionary
from flight.link import Authenticator, CdsTime, Telecommand, TelemetryPacket, Verification
from ground.link import (
    GapCounter,
    GroundLink,
    SenderState,
    decode_issued,
    encode_issued,
    issued_size,
    parse_address,
)
from ground.station import (
    CommandFailed,
    CommandTimeout,
    Dictionary,
    GroundError,
    GroundStation,
    HazardousCommandError,
    ValidationError,
)
from tests.ground.test_station_fakesat import TEST_KEY, Failure, FakeSpacecraft, write_key


@pytest.fixture(scope="module")
def dictionary() -> dict[str, Any]:
    return build_dictionary(load_config())


@pytest.fixture
def sat(dictionary: dict[str, Any]) -> Iterator[FakeSpacecraft]:
    spacecraft = FakeSpacecraft(dictionary)
    yield spacecraft
    spacecraft.close()


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return write_key(tmp_path / "link.key")


@pytest.fixture
def gs(sat: FakeSpacecraft, key_file: Path, tmp_path: Path,
       dictionary: dict[str, Any]) -> Iterator[GroundStation]:
    station = GroundStation.connect(sat.address, key_file=key_file, dictionary=dictionary,
                                    state_dir=tmp_path / "state",
                                    archive=tmp_path / "archive.sqlite")
    station.ping()
    sat.wait_tcs(2)  # the announce ping and this one (a pong does not say which ping it answers)
    yield station
    station.close()


# ------------------------------------------------------------------------------ the link


def test_frames_are_sealed_with_increasing_arsns_that_survive_a_restart(tmp_path: Path) -> None:
    opener = Authenticator({1: TEST_KEY})
    arsns = []
    for _ in range(2):  # a second link on the same state directory: a ground restart
        with GroundLink(("127.0.0.1", 9), key=TEST_KEY,
                        state=SenderState(tmp_path / "state")) as link:
            for _ in range(3):
                frame = link.seal(link.make_tc(0x12, 17, 1))
                opened = opener.open(frame)  # MAC and replay window both accept it
                arsns.append(opened.arsn)
                assert Telecommand.decode(opened.packet).source_id == 1
    assert arsns == sorted(set(arsns)) and arsns[0] == 1


def test_two_ground_processes_sharing_a_state_dir_never_reuse_an_arsn(tmp_path: Path) -> None:
    states = [SenderState(tmp_path / "state") for _ in range(2)]  # separate lock files opens
    drawn: list[int] = []

    def draw(state: SenderState) -> None:
        for _ in range(40):
            drawn.append(state.next_arsn(1))

    threads = [threading.Thread(target=draw, args=(s,)) for s in states]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(drawn)) == 80  # never one value twice
    # Each process starts above the durable reserved mark: at most one block skipped per start.
    assert max(drawn) <= 80 + SenderState.RESERVE


def test_drawing_both_ids_at_once_continues_the_same_counters(tmp_path: Path) -> None:
    """A station draws a telecommand's ARSN and sequence count under one lock; they are the
    same counters a single draw, or another process, continues."""
    one, other = SenderState(tmp_path / "state"), SenderState(tmp_path / "state")
    arsns, seqs = [], []
    for i in range(30):
        state = (one, other)[i % 2]
        arsn, seq = state.next_ids(1, 0x12)
        arsns += [arsn, state.next_arsn(1)]
        seqs += [seq, state.next_seq(0x12)]
    assert len(set(arsns)) == 60 and arsns == sorted(arsns)
    assert len(set(seqs)) == 60 and seqs == sorted(seqs)
    memory = SenderState(None)
    assert [memory.next_ids(1, 0x12), memory.next_ids(1, 0x13)] == [(1, 1), (2, 1)]


def test_a_lost_issued_file_never_brings_a_value_back(tmp_path: Path) -> None:
    """A power cut may lose the unsynced file of issued values; the durable mark covers it."""
    first = SenderState(tmp_path / "state")
    drawn = [first.next_arsn(1) for _ in range(10)]
    (tmp_path / "state" / "arsn-tx.issued").write_bytes(b"\x00garbage")
    after = SenderState(tmp_path / "state").next_arsn(1)
    assert after > max(drawn)
    # A new process (a new SenderState) draws its first ARSN above the block the last one
    # reserved; sequence counts simply continue.
    block = SenderState.RESERVE
    assert [SenderState(tmp_path / "state").next_arsn(2) for _ in range(3)] == [
        1, 1 + block, 1 + 2 * block]
    assert [SenderState(tmp_path / "state").next_seq(0x12) for _ in range(3)] == [1, 2, 3]


@given(st.dictionaries(st.integers(0, 0xFFFF_FFFF), st.integers(0, 0xFFFF_FFFF), max_size=600))
def test_the_issued_record_round_trips_and_refuses_any_damage(values: dict[int, int]) -> None:
    record = encode_issued(values)
    assert decode_issued(record) == values
    assert decode_issued(record + b"stale tail of a longer record") == values
    assert issued_size(record[:4096]) == len(record)
    for cut in {0, 3, len(record) // 2, len(record) - 1}:
        assert decode_issued(record[:cut]) == {}
    for bit in {0, 37, 8 * len(record) - 1}:
        damaged = bytearray(record)
        damaged[bit // 8] ^= 1 << bit % 8
        assert decode_issued(bytes(damaged)) == {}


def test_an_issued_file_of_an_older_layout_is_stepped_over_safely(tmp_path: Path) -> None:
    old = SenderState(tmp_path / "state")
    drawn = [old.next_arsn(1) for _ in range(5)]
    old.close()
    body = b'{"1": 5}'  # what earlier versions wrote: JSON and a CRC
    (tmp_path / "state" / "arsn-tx.issued").write_bytes(body + zlib.crc32(body).to_bytes(4, "big"))
    assert SenderState(tmp_path / "state").next_arsn(1) > max(drawn)


def test_a_forked_child_and_its_parent_never_share_an_arsn(tmp_path: Path) -> None:
    """flock belongs to the open file, which fork shares: the child must take its own."""
    state = SenderState(tmp_path / "state")
    state.next_arsn(1)  # the lock file is open before the fork
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: draw, report, leave without running pytest's teardown
        try:
            values = [state.next_arsn(1) for _ in range(300)]
            os.write(write, json.dumps(values).encode())
        finally:
            os._exit(0)
    os.close(write)
    mine = [state.next_arsn(1) for _ in range(300)]
    with os.fdopen(read, "rb") as pipe:
        theirs = json.loads(pipe.read())
    os.waitpid(pid, 0)
    assert len(theirs) == 300 and len(set(mine) | set(theirs)) == 600


def test_plain_link_sends_bare_packets_and_refuses_to_start_without_a_key() -> None:
    with GroundLink(("127.0.0.1", 9), plain=True) as link:
        tc = link.make_tc(0x10, 17, 1)
        assert link.seal(tc) == tc.encode()
    with pytest.raises(ValueError, match="no link key"):
        GroundLink(("127.0.0.1", 9))


def test_undecodable_datagrams_are_counted_by_reason_and_gaps_per_apid() -> None:
    with GroundLink(("127.0.0.1", 9), plain=True) as link:
        good = [TelemetryPacket(0x13, 17, 2, CdsTime(24623, 0), seq_count=n).encode()
                for n in (0, 1, 4)]
        for raw in good:
            assert link.decode(raw).packet is not None
        damaged = bytearray(good[0])
        damaged[-1] ^= 0xFF
        assert link.decode(bytes(damaged)).reason == "bad_crc"
        assert link.decode(b"\x08\x13").reason == "truncated"
        stats = link.stats()
    assert stats.rejected == {"bad_crc": 1, "truncated": 1}
    assert stats.gaps == {0x13: 2} and stats.decoded == 3


def test_gap_counter_tells_gaps_from_duplicates_late_packets_and_wraps() -> None:
    gaps = GapCounter()
    assert [gaps.observe(1, s) for s in (16382, 16383, 2, 2, 1, 3)] == [0, 0, 2, 0, 0, 0]
    assert (gaps.gaps[1], gaps.duplicates[1], gaps.late[1]) == (2, 1, 1)


def test_addresses_parse_with_ipv6_and_refuse_garbage() -> None:
    assert parse_address("10.0.0.2:52001") == ("10.0.0.2", 52001)
    assert parse_address("[::1]:7") == ("::1", 7)
    with pytest.raises(ValueError):
        parse_address("localhost")


# ------------------------------------------------------------------------------ commands


def test_ping_measures_the_round_trip(gs: GroundStation) -> None:
    assert 0 < gs.ping() < 1.0


def test_a_wrong_key_is_met_with_silence_and_a_hint(sat: FakeSpacecraft, tmp_path: Path,
                                                   dictionary: dict[str, Any]) -> None:
    other = write_key(tmp_path / "other.key", bytes(range(32)))
    with GroundStation.connect(sat.address, key_file=other, dictionary=dictionary,
                               state_dir=tmp_path / "state") as station:
        with pytest.raises(TimeoutError, match="the key is the spacecraft's"):
            station.ping(timeout=0.3)
        with pytest.raises(CommandTimeout, match="no report at all"):
            station.send_and_wait("health", "noop", timeout=0.2)
    assert set(sat.rejected) == {"bad_mac"}


def test_noop_reports_every_stage_with_ground_and_onboard_times(
        gs: GroundStation, sat: FakeSpacecraft) -> None:
    handle = gs.send("health", "noop")
    final = handle.wait(5)
    assert final.ok and final.name == "completed" and handle.status == "completed"
    assert [s.name for s in handle.stages] == ["accepted", "started", "completed"]
    for stage in handle.stages:
        assert stage.t_mono >= handle.sent_mono
        assert abs(stage.t_onboard - time.time()) < 5
    assert handle.round_trip is not None and handle.round_trip < 1.0
    assert handle.wait_stage("started").ok
    assert Telecommand.decode(Authenticator({1: TEST_KEY}).open(handle.raw).packet).apid == 0x12


def test_a_failure_carries_the_reason_named_by_the_dictionary(
        gs: GroundStation, sat: FakeSpacecraft) -> None:
    sat.behaviours["executive.fdir_enable"] = Failure(Verification.COMPLETION_FAILURE, 5,
                                                      "no rule nosuch")
    handle = gs.send("executive", "fdir_enable", rule="nosuch", enabled=True)
    final = handle.wait(5)
    assert not final.ok and final.reason == "EXECUTION_ERROR" and final.code == 5
    assert final.message == "no rule nosuch" and handle.status == "failed"
    with pytest.raises(CommandFailed, match=r"EXECUTION_ERROR.*no rule nosuch") as info:
        gs.command("executive", "fdir_enable", rule="nosuch", enabled=True)
    assert info.value.reason == "EXECUTION_ERROR" and info.value.stage.name == "completed"


def test_wait_stage_gives_up_as_soon_as_a_failure_shows_the_stage_will_not_come(
        gs: GroundStation, sat: FakeSpacecraft) -> None:
    sat.behaviours["health.sample"] = Failure(Verification.START_FAILURE, 6, "busy")
    handle = gs.send("health", "sample")
    start = time.monotonic()
    with pytest.raises(CommandFailed, match="BUSY"):
        handle.wait_stage("completed", timeout=30)
    assert time.monotonic() - start < 5


def test_link_level_failures_are_named_from_the_icd(gs: GroundStation) -> None:
    handle = gs.send_tc(0x12, 42, 1)
    final = handle.wait(5)
    assert (final.name, final.ok, final.reason) == ("accepted", False, "UNKNOWN_SERVICE")


def test_no_final_report_is_a_command_timeout_naming_the_last_stage(
        gs: GroundStation, sat: FakeSpacecraft) -> None:
    sat.behaviours["health.noop"] = "accept-only"
    handle = gs.send("health", "noop")
    with pytest.raises(CommandTimeout, match="last status: accepted"):
        handle.wait(0.5)
    with pytest.raises(TimeoutError):
        gs.send_and_wait("health", "noop", timeout=0.3)


@pytest.mark.parametrize(("app", "command", "args", "message"), [
    ("nosuch", "noop", {}, "unknown app 'nosuch'"),
    ("health", "launch", {}, "unknown health command 'launch'"),
    ("health", "noop", {"force": True}, "unknown argument"),
    ("executive", "set_mode", {}, "missing argument.*mode"),
    ("executive", "set_mode", {"mode": "WARP"}, "expected one of NOMINAL"),
    ("executive", "fdir_enable", {"rule": "r", "enabled": "yes"}, "expected true or false"),
    ("comms", "set_link_rate", {"bps": 10}, "below the minimum"),
    ("comms", "set_link_rate", {"bps": 1.5e3 + 0.5}, "expected an integer"),
])
def test_arguments_are_checked_against_the_dictionary_before_anything_is_sent(
        gs: GroundStation, sat: FakeSpacecraft, app: str, command: str,
        args: dict[str, Any], message: str) -> None:
    before = len(sat.wait_tcs(1))
    with pytest.raises(ValidationError, match=message):
        gs.send(app, command, args=args)
    gs.ping()  # anything sent in between would arrive before this
    assert [tc.service for tc in sat.tcs[before:]] == [17]


def test_values_are_converted_as_the_flight_side_would(
        gs: GroundStation, sat: FakeSpacecraft) -> None:
    handle = gs.command("comms", "set_link_rate", bps=2000.0)
    sent = next(tc for tc in sat.tcs if tc.request_id == handle.tc.request_id)
    assert msgpack.unpackb(sent.app_data[2:]) == {"bps": 2000}
    assert isinstance(handle.args["bps"], int)


def test_a_hazardous_command_needs_an_arm(gs: GroundStation, sat: FakeSpacecraft) -> None:
    with pytest.raises(HazardousCommandError, match="arm=True"):
        gs.send("executive", "stop_app", app="thermal")
    unarmed = gs.send("executive", "stop_app", arm=False, args={"app": "thermal"}).wait(5)
    assert (unarmed.name, unarmed.reason) == ("started", "NOT_ARMED")
    handle = gs.send_and_wait("executive", "stop_app", arm=True, args={"app": "thermal"})
    assert handle.arm_handle is not None and handle.arm_handle.ok
    assert handle.ok


def test_an_arm_sent_by_hand_allows_one_execution(gs: GroundStation) -> None:
    gs.command("power", "arm", command="load_off_critical")
    assert gs.command("power", "load_off_critical", load="radio").ok
    with pytest.raises(HazardousCommandError):
        gs.send("power", "load_off_critical", load="radio")


def test_concurrent_senders_get_distinct_request_ids_and_all_complete(
        gs: GroundStation) -> None:
    handles = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(10):
            handle = gs.send("health", "noop")
            with lock:
                handles.append(handle)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({h.request_id for h in handles}) == 40
    assert all(h.wait(5).ok for h in handles)


# ------------------------------------------------------------------------------ telemetry


def test_await_telemetry_sees_only_what_arrives_after_the_call_unless_asked(
        gs: GroundStation, sat: FakeSpacecraft) -> None:
    sat.hk("power", {"soc": 0.9, "loads": {"compute": 1}})
    gs.await_telemetry("power", "soc", timeout=5, history=True)
    threading.Timer(0.05, sat.hk, ("power", {"soc": 0.7, "loads": {"compute": 0}})).start()
    sample = gs.await_telemetry("power", "soc", lambda v: v < 0.8, timeout=5)
    assert sample.value == 0.7 and sample.app == "power" and sample.t_ground > 0
    assert gs.await_telemetry("power", "loads.compute", value=1, history=True).value == 1
    assert gs.latest("power", "soc").value == 0.7  # type: ignore[union-attr]
    assert [s.value for s in gs.telemetry_history("power", "soc")] == [0.9, 0.7]


def test_a_telemetry_timeout_names_the_last_values_seen(
        gs: GroundStation, sat: FakeSpacecraft) -> None:
    mark = gs.mark()
    for soc in (0.91, 0.92):
        sat.hk("power", {"soc": soc})
    gs.await_telemetry_count(2, "power", "soc", since=mark, timeout=5)
    with pytest.raises(TimeoutError, match=r"power\.soc.*0\.91; 0\.92"):
        gs.await_telemetry("power", "soc", lambda v: v < 0.5, since=mark, timeout=0.2)


def test_unknown_channels_are_refused_at_once(gs: GroundStation) -> None:
    with pytest.raises(ValidationError, match="unknown power telemetry channel 'charge'"):
        gs.await_telemetry("power", "charge", timeout=30)


def test_history_and_counts(gs: GroundStation, sat: FakeSpacecraft) -> None:
    mark = gs.mark()
    for n in range(3):
        sat.hk("thermal", {"mode": "NOMINAL", "cmd_count": n})
    gs.await_telemetry("thermal", "cmd_count", value=2, since=mark, timeout=5)
    gs.assert_telemetry_count(3, "thermal", "cmd_count", since=mark)
    gs.assert_telemetry_count(lambda n: n >= 1, "thermal", "cmd_count", lambda v: v > 0,
                              since=mark)
    with pytest.raises(AssertionError):
        gs.assert_telemetry_count(5, "thermal", since=mark)
    assert len(gs.telemetry_history("thermal", since=mark)) == 6  # 2 channels x 3 reports
    assert gs.telemetry_history("thermal", "cmd_count", limit=1)[0].value == 2


# ------------------------------------------------------------------------------ events


def test_await_event_by_app_name_severity_and_predicate(
        gs: GroundStation, sat: FakeSpacecraft) -> None:
    handle = gs.send("health", "noop")
    event = gs.await_event("health", "NOOP", since=handle, timeout=5)
    assert event.severity_name == "INFO" and event.event_id == 2 and event.args["app"] == "health"
    threading.Timer(0.05, sat.event, ("power", "LOAD_SHED", 2, "compute shed",
                                      {"load": "compute"})).start()
    shed = gs.await_event(severity="WARNING", predicate=lambda e: e.args["load"] == "compute",
                          timeout=5)
    assert shed.name == "LOAD_SHED"
    assert gs.event_history(severity="WARNING") == [shed]
    gs.assert_event_count(1, "health", "NOOP")


def test_an_event_timeout_says_what_else_came(gs: GroundStation, sat: FakeSpacecraft) -> None:
    mark = gs.mark()
    sat.event("power", "SENSOR_OK", 1, "battery_soc readable again")
    gs.await_event("power", since=mark, timeout=5)
    with pytest.raises(TimeoutError, match="SENSOR_OK INFO: 'battery_soc readable again'"):
        gs.await_event("power", "SENSOR_FAULT", since=mark, timeout=0.2)
    with pytest.raises(ValidationError, match="unknown power event"):
        gs.await_event("power", "MELTDOWN")


# ------------------------------------------------------------------------------ services


def test_parameters_report_and_set(gs: GroundStation, sat: FakeSpacecraft) -> None:
    report = gs.params("power")
    assert report["active"]["compute_shed_soc"] == 0.7
    gs.set_params("power", compute_shed_soc=0.65, control_period_s=1)
    assert gs.params("power", "compute_shed_soc") == {"active": {"compute_shed_soc": 0.65},
                                                      "staged": {}}
    assert isinstance(sat.params["power"]["control_period_s"], float)
    with pytest.raises(ValidationError, match="above the maximum"):
        gs.set_params("power", compute_shed_soc=2.0)
    with pytest.raises(ValidationError, match="unknown power parameter"):
        gs.params("power", "warp_factor")


def _param_answer(sat: FakeSpacecraft, tc: Telecommand, value: float) -> None:
    sat.tm(tc.apid, 20, 2, msgpack.packb({"active": {"compute_shed_soc": value}, "staged": {}}))


@pytest.mark.parametrize("acceptance_lost", [False, True])
def test_a_late_answer_to_an_earlier_request_is_not_taken_for_this_ones(
        gs: GroundStation, sat: FakeSpacecraft, acceptance_lost: bool) -> None:
    """TM[20,2] (like a pong) names no request: it must be the one between this request's
    acceptance and completion, even when a late one of an earlier request comes first."""
    def answer(tc: Telecommand) -> None:
        _param_answer(sat, tc, 0.1)  # late: an earlier request's answer
        if not acceptance_lost:
            sat.verify(tc, Verification.ACCEPTANCE_SUCCESS)
        _param_answer(sat, tc, 0.2)  # this request's own
        sat.verify(tc, Verification.COMPLETION_SUCCESS)

    sat._param_report = answer  # type: ignore[method-assign]
    assert gs.params("power")["active"] == {"compute_shed_soc": 0.2}


def test_housekeeping_and_event_control_follow_the_icd_layouts(
        gs: GroundStation, sat: FakeSpacecraft) -> None:
    gs.set_hk_interval("power", 5)
    gs.disable_events("power.LIMIT", "thermal.*")
    gs.enable_events("*")
    gs.request_hk("power", "thermal")
    assert sat.service_data == [(3, 31, {3: 5}), (5, 6, ["power.LIMIT", "thermal.*"]),
                                (5, 5, ["*"]), (3, 27, [3, 4])]
    with pytest.raises(ValidationError):
        gs.disable_events("power.NOPE")
    with pytest.raises(ValidationError):
        gs.set_hk_interval("power", -1)


def test_a_time_tagged_command_fires_and_reports_under_its_own_request_id(
        gs: GroundStation, sat: FakeSpacecraft) -> None:
    scheduled = gs.schedule(datetime.timedelta(seconds=0.3), "health", "noop")
    assert scheduled.insertion.ok and scheduled.command.status == "sent"
    assert [row["request_id"] for row in gs.schedule_summary()] == [scheduled.request_id]
    assert gs.schedule_summary()[0]["app"] == "health"
    assert scheduled.command.wait(5).ok
    assert gs.schedule_summary() == []


def test_mission_time_follows_the_spacecraft_clock(dictionary: dict[str, Any], key_file: Path,
                                                   tmp_path: Path) -> None:
    sat = FakeSpacecraft(dictionary, clock_offset=86_400.0)
    try:
        with GroundStation.connect(sat.address, key_file=key_file, dictionary=dictionary,
                                   state_dir=tmp_path / "s") as station:
            assert abs(station.mission_time() - (time.time() + 86_400)) < 0.5
            late = station.mission_time() - 1
            with pytest.raises(CommandFailed, match="RELEASE_TIME_PASSED"):
                station.schedule(late, "health", "noop")
            scheduled = station.schedule(time.time() + 86_400 + 60, "health", "noop")
            station.unschedule(scheduled)
            assert station.schedule_summary() == []
    finally:
        sat.close()


# ------------------------------------------------------------------------------ the rest


def test_everything_sent_and_received_is_archived(gs: GroundStation, sat: FakeSpacecraft,
                                                 tmp_path: Path) -> None:
    from ground.archive import Archive

    sat.behaviours["health.sample"] = Failure(Verification.COMPLETION_FAILURE, 9, "no data")
    gs.send("health", "noop").wait(5)
    gs.send("health", "sample").wait(5)
    sat.hk("power", {"soc": 0.5, "loads": {"compute": 1}})
    gs.await_telemetry("power", "soc", history=True, timeout=5)
    gs.archive.flush()
    with Archive(tmp_path / "archive.sqlite", readonly=True) as archive:
        commands = {c.name: c for c in archive.commands()}
        assert commands["noop"].status == "completed" and commands["noop"].raw
        assert commands["sample"].status == "failed"
        assert commands["sample"].stages[-1].code == 9
        assert archive.latest("power", "loads.compute").value == 1  # type: ignore[union-attr]
        assert [e.name for e in archive.events(app="health")] == ["NOOP"]
        counts = archive.counts()
        assert counts.packets["up"]["ok"] == len(gs.commands())
        assert counts.packets["down"]["ok"] >= 10


def test_bad_source_data_is_counted_and_the_downlink_goes_on(
        gs: GroundStation, sat: FakeSpacecraft) -> None:
    sat.tm(0x13, 3, 25, b"\x00\x03\xc1")  # 0xc1 is never valid msgpack
    sat.hk("power", {"soc": 0.4})
    gs.await_telemetry("power", "soc", history=True, timeout=5)
    assert gs.stats()["bad_data"] == {"tm[3,25]": 1}


def test_close_wakes_every_waiter(gs: GroundStation) -> None:
    errors: list[BaseException] = []

    def wait() -> None:
        try:
            gs.await_event("power", "SENSOR_FAULT", timeout=30)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=wait)
    thread.start()
    gs.close()  # whether the waiter is asleep already or not, it must not wait 30 s
    thread.join(5)
    assert isinstance(errors[0], GroundError) and "closed" in str(errors[0])
    with pytest.raises(GroundError):
        gs.send("health", "noop")


def test_dictionary_loads_from_a_file_and_names_unknown_codes(
        tmp_path: Path, dictionary: dict[str, Any]) -> None:
    import json

    path = tmp_path / "d.json"
    path.write_text(json.dumps(dictionary))
    loaded = Dictionary.load(path)
    assert loaded.apid("power") == 0x13 and loaded.app_at(0x13) == "power"
    assert loaded.app_at(0x7E) == "apid_0x07e"
    assert loaded.reason_name(10) == "NOT_ARMED"
    assert loaded.reason_name(0x0302) == "RELEASE_TIME_PASSED"
    assert loaded.reason_name(0x0999) == "CODE_0x0999"
