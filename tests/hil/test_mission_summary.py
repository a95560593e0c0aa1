"""The mission summary's numbers, from crafted recordings and packet lists."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from hil.mission.plan import Window
from hil.mission.recorder import Recorder, Recording
from hil.mission.summary import (
    SEQ_RANGE,
    accumulated,
    completeness,
    contact_windows,
    format_summary,
    summarize,
    total,
    windows_where,
)

NAMES = {0x10: "comms", 0x13: "power"}


def test_every_packet_in_order_is_complete() -> None:
    packets = [(0x13, seq, 100.0 + seq) for seq in range(50)]
    c = completeness(packets, [Window(0, 1e9)], NAMES)
    (power,) = c.apids
    assert (power.app, power.expected, power.received, power.missing) == ("power", 50, 50, 0)
    assert c.ratio == 1.0 and power.stored == 0


def test_a_gap_is_missing_a_repeat_a_duplicate_and_a_late_packet_fills_its_gap() -> None:
    seqs = [0, 1, 2, 5, 6, 6, 7, 4, 1]
    c = completeness([(0x10, s, None) for s in seqs], [], NAMES)
    (comms,) = c.apids
    assert comms.expected == 8 and comms.received == 7 and comms.duplicates == 2
    assert comms.missing == 1 and c.missing == 1  # 3 never came


def test_packets_lost_before_the_first_arrival_are_counted_as_such() -> None:
    c = completeness([(0x10, s, None) for s in range(3, 10)], [], NAMES)
    assert c.apids[0].before_first == 3 and c.missing == 3 and c.before_first == 3


def test_counts_unwrap_across_the_14_bit_range() -> None:
    seqs = [SEQ_RANGE - 3, SEQ_RANGE - 2, SEQ_RANGE - 1, 0, 1, 3]
    c = completeness([(0x13, s, None) for s in seqs], [], NAMES)
    (power,) = c.apids
    assert power.restarts == 0
    assert power.received == 6 and power.expected == SEQ_RANGE + 4  # 0..SEQ_RANGE+3
    assert power.missing == power.expected - 6


def test_a_comms_restart_starts_a_new_count_without_losses() -> None:
    seqs = [*range(0, 100), *range(0, 40)]  # comms restarted after packet 99
    c = completeness([(0x13, s, None) for s in seqs], [], NAMES)
    (power,) = c.apids
    assert power.restarts == 1 and power.expected == 140 and power.missing == 0


def test_packets_made_out_of_contact_count_as_stored() -> None:
    contacts = [Window(100.0, 200.0, "svalbard")]
    packets = [(0x13, 0, 50.0), (0x13, 1, 150.0), (0x13, 2, 250.0), (0x13, 3, None)]
    c = completeness(packets, contacts, NAMES)
    assert c.stored == 2  # made at 50 and 250; None: unknown onboard time, not counted


def test_unknown_apids_and_bad_counts_are_handled() -> None:
    c = completeness([(0x99, 0, None), (None, 1, None), (0x13, None, None), (0x13, -1, None),
                      (0x13, SEQ_RANGE, None)], [], NAMES)
    assert [a.app for a in c.apids] == ["apid 0x99"]
    assert json.dumps(c.to_json())


@given(st.integers(0, SEQ_RANGE - 1), st.lists(st.booleans(), min_size=1, max_size=400))
def test_any_subset_in_order_is_counted_exactly(start: int, kept: list[bool]) -> None:
    """The first packet sets the origin; every later one not kept is a missing packet."""
    made = [(start + i) % SEQ_RANGE for i in range(len(kept))]
    kept[0] = True
    arrived = [s for s, k in zip(made, kept, strict=True) if k]
    c = completeness([(0x10, s, None) for s in arrived], [], NAMES)
    (comms,) = c.apids
    last_kept = max(i for i, k in enumerate(kept) if k)
    assert comms.received == len(arrived)
    assert comms.expected == start + last_kept + 1
    assert comms.missing == start + sum(1 for k in kept[:last_kept + 1] if not k)


def test_accumulated_counters_survive_restarts() -> None:
    assert accumulated([0, 2, 5, 1, 3, None, 0, 4]) == [0, 2, 5, 6, 8, None, 8, 12]
    rec = Recording(series={"jobs": {"t": [1, 2, 3], "rollbacks": [3, 0, 2]}})
    assert total(rec, "jobs", "rollbacks") == 5 and total(rec, "jobs", "masked") == 0


def test_windows_where_and_contact_windows() -> None:
    t = [0.0, 10.0, 20.0, 30.0, 40.0]
    sun = [True, False, None, True, False]
    assert windows_where(t, sun, lambda v: v is False) == [Window(10.0, 30.0), Window(40.0, 40.0)]
    rec = Recording(events=[
        _event(5.0, "comms", "CONTACT", state="start", station="troll"),
        _event(9.0, "comms", "CONTACT", state="end", station="troll"),
        _event(20.0, "comms", "CONTACT", state="start", station="svalbard")])
    assert contact_windows(rec, end=30.0) == [Window(5.0, 9.0, "troll"),
                                              Window(20.0, 30.0, "svalbard")]


def test_the_summary_of_a_crafted_mission() -> None:
    rec = _crafted()
    tm = completeness([(0x13, s, 1000.0 + s) for s in range(10)], [], NAMES, on_board=4)
    jobs = [{"job": 1, "kind": "mlp_train", "state": "done", "steps": "60/60",
             "counts": {"corrected": 2, "masked": 0, "rollbacks": 1}, "downloaded": 1000,
             "verified": True},
            {"job": 2, "kind": "matmul", "state": "running", "steps": "3/32", "counts": {},
             "downloaded": None, "verified": None}]
    mission = {"orbits": 3.0, "mission_min": 293.0, "wall_s": 88.0, "speed": 200.0,
               "seed": 1}
    s = summarize(rec, mission, jobs, tm)
    assert s.energy["min_soc"] == 0.65 and s.energy["solar_in_wh"] == 2000.0
    assert s.energy["eclipse_min"] == 1.0 and s.energy["compute_shed_min"] == 1.0
    assert s.thermal["max_chip_temp_c"] == 86.0 and s.thermal["lowest_duty_limit"] == 0.6
    assert s.upsets["landed_in_data"] == 5 and s.upsets["rolled_back"] == 3
    assert s.upsets["policy_actions"] == ["restart_jobs"]
    assert s.restarts == {"jobs": 2, "power": 0}
    assert s.kills[0]["recovered_s"] == 0.5
    table = format_summary(s)
    for text in ("min SoC 65%", "2000 Wh in", "max chip 86.0 °C", "5 landed", "1 rolled-back",
                 "3 rolled back to a checkpoint",
                 "restart_jobs x1", "jobs 2", "SIGKILL jobs, back after 0.5 s",
                 "10 of 10 packets", "4 made after the last pass still on board",
                 "identical to the golden run", "not finished by the last pass"):
        assert text in table, text
    assert json.loads(json.dumps(s.to_json()))["telemetry"]["ratio"] == 1.0


def test_a_recording_survives_json_and_refuses_what_is_not_one() -> None:
    rec = _crafted()
    again = Recording.from_json(json.loads(json.dumps(rec.to_json())))
    assert again.series == rec.series and again.events == rec.events
    for bad in ([], {"t0": "x"}, {"t0": 1, "series": {}, "latest": {}, "events": {}}):
        try:
            Recording.from_json(bad)  # type: ignore[arg-type]
        except ValueError as exc:
            assert "recording" in str(exc)
        else:
            raise AssertionError(f"accepted {bad!r}")


def test_the_recorder_keeps_channels_events_and_contact() -> None:
    r = Recorder(t0=1000.0, speed=100.0)
    seen: list[bool] = []
    r.contact_hook = seen.append
    r.take("tlm.world", 1010.0, {"mission_t": 1010.0, "steps": 5, "in_sun": True,
                                 "energy_wh": {"load_wh": 1.0}, "ignored": 3})
    assert r.world_epoch == 1005.0 and r.recording.latest["world"]["energy_wh"]["load_wh"] == 1.0
    assert r.latest("world")["in_sun"] is True and "ignored" not in r.latest("world")
    event = r.take("evt.comms", 1011.0, {"name": "CONTACT", "severity": "INFO", "text": "x",
                                         "args": {"state": "start", "station": "troll"}})
    assert event is not None and r.in_contact.is_set() and r.station == "troll"
    r.take("evt.comms", 1012.0, {"name": "CONTACT", "args": {"state": "end"}})
    assert not r.in_contact.is_set() and seen == [True, False]
    assert r.take("evt.x", 1.0, "not a dict") is None and r.take("nodot", 1.0, {}) is None
    assert r.take("evt.x", 1.0, {"name": "D", "severity": "DEBUG"}) is None


def _event(t: float, source: str, name: str, **args: object) -> dict[str, object]:
    return {"t": t, "app": source, "name": name, "severity": "INFO", "text": name,
            "args": args}


def _crafted() -> Recording:
    """Four samples a minute apart: an eclipse, a shed, heat, upsets, a kill and recovery."""
    t = [1000.0, 1060.0, 1120.0, 1180.0]
    return Recording(
        t0=1000.0,
        series={
            "world": {"t": t, "in_sun": [True, False, True, True], "upsets": [0, 4, 1, 2],
                      "battery_soc": [0.9, 0.7, 0.65, 0.8]},
            "power": {"t": t, "soc": [0.9, 0.7, 0.65, 0.8], "loads.compute": [1, 1, 0, 1],
                      "shed_count": [0, 0, 1, 1]},
            "thermal": {"t": t, "chip_temp_c": [40.0, 86.0, 70.0, 60.0],
                        "duty_limit": [1.0, 0.6, 0.9, 1.0]},
            "jobs": {"t": t, "sim_flips": [0, 3, 1, 2], "rollbacks": [0, 2, 0, 1],
                     "corrected": [0, 1, 1, 1]},
            "radiation": {"t": t, "upsets": [0, 2, 3, 3], "upsets_saa": [0, 1, 1, 1]},
        },
        latest={"world": {"energy_wh": {"solar_used_wh": 2000.0, "load_wh": 1900.0,
                                        "battery_delta_wh": 80.0}},
                "radiation": {"by_outcome": {"corrected": 2, "rolled-back": 1}},
                "executive": {"restarts": {"jobs": 2, "power": 0}}},
        events=[_event(1050.0, "radiation", "POLICY_FIRED", action="restart_jobs"),
                _event(1150.0, "executive", "APP_RUNNING", app="jobs")],
        ground=[{"t": 1100.0, "what": "kill", "text": "SIGKILL jobs", "app": "jobs",
                 "speed": 100.0}])
