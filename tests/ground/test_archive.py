"""The ground archive: round trips of every record kind, queries, replay and CSV export."""

from __future__ import annotations

import csv
import datetime
import enum
import io
import math
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from flight.link import CdsTime, Telecommand, TelemetryPacket
from ground.archive import (
    SEVERITIES,
    Archive,
    PacketRow,
    flatten,
    format_value,
    pace,
    stage_of,
)

T0 = 1_748_781_296.789  # 2025-06-01T12:34:56.789Z, the ICD's golden time
PING = bytes.fromhex("1810c00100062f11010001ba3c")
PING_FRAME = bytes.fromhex(
    "0001000000011810c00100062f11010001ba3c482054597f3d334ef4759a82113e8c1c")


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[Archive]:
    with Archive(tmp_path / "a.sqlite") as a:
        yield a


def tm(t: float, *, apid: int = 0x13, service: int = 3, subtype: int = 25, seq: int = 0,
       data: bytes = b"\x01\x02") -> bytes:
    return TelemetryPacket(apid, service, subtype, CdsTime.from_unix(t), data,
                           seq_count=seq).encode()


# ---------------------------------------------------------------------------- packets


def test_packet_round_trip_keeps_raw_bytes_and_header_fields(archive: Archive) -> None:
    raw = tm(T0, seq=7)
    pid = archive.record_packet("down", raw, t_ground=T0 + 0.25, apid=0x13, service=3,
                                subtype=25, seq=7, t_onboard=T0)
    bad = archive.record_packet("down", b"\xff" * 5, t_ground=T0 + 1, status="truncated")
    up = archive.record_packet("up", PING, t_ground=T0 + 2)
    assert pid < bad < up
    rows = archive.packets()
    assert rows[0] == PacketRow(pid, "down", T0 + 0.25, T0, 0x13, 3, 25, 7, "ok", raw)
    assert rows[1].status == "truncated" and rows[1].raw == b"\xff" * 5
    assert rows[1].apid is None and rows[1].t_onboard is None
    assert [r.id for r in archive.packets(direction="up")] == [up]
    assert [r.id for r in archive.packets(service=3)] == [pid]
    assert [r.id for r in archive.packets(status="truncated")] == [bad]
    assert rows[0].decode().seq_count == 7


def test_record_packet_refuses_bad_arguments_before_writing(archive: Archive) -> None:
    with pytest.raises(ValueError, match="direction"):
        archive.record_packet("sideways", b"x", t_ground=T0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="apid"):
        archive.record_packet("down", b"x", t_ground=T0, apid=0x800)
    with pytest.raises(ValueError, match="t_ground"):
        archive.record_packet("down", b"x", t_ground=math.nan)
    with pytest.raises(TypeError, match="bytes"):
        archive.record_packet("down", "text", t_ground=T0)  # type: ignore[arg-type]
    assert archive.counts().packets == {}


def test_record_downlink_decodes_or_keeps_the_rejection_reason(archive: Archive) -> None:
    raw = tm(T0, apid=0x14, service=5, subtype=2, seq=9)
    pid, packet = archive.record_downlink(raw, t_ground=T0 + 1)
    assert packet is not None and packet.apid == 0x14
    damaged = bytearray(raw)
    damaged[-1] ^= 0xFF
    bad_id, none = archive.record_downlink(bytes(damaged), t_ground=T0 + 2)
    assert none is None
    good, bad = archive.packets()
    assert (good.id, good.status, good.t_onboard, good.service, good.subtype) == (
        pid, "ok", pytest.approx(T0, abs=1e-3), 5, 2)
    assert (bad.id, bad.status, bad.apid, bad.seq, bad.raw) == (
        bad_id, "bad_crc", 0x14, 9, bytes(damaged))
    assert archive.counts().packets == {"down": {"ok": 1, "bad_crc": 1}}


# ---------------------------------------------------------------------------- values


class Mode(enum.IntEnum):
    SAFE = 3


class Name(str, enum.Enum):
    SAFE = "safe"


def test_values_keep_their_type_and_nested_maps_are_flattened(archive: Archive) -> None:
    archive.record_values(T0, "power", {
        "soc": 0.81, "count": -3, "on": True, "mode": "NOMINAL", "none": None,
        "big": 2**64 - 1, "blob": b"\x00\xff", "enum": Mode.SAFE, "name": Name.SAFE,
        "loads": {"gpu": {"on": False, "w": 41.5}, "radio": True},
        "temps": [20.5, 21], "empty": {},
    }, packet_id=None, t_ground=T0 + 1)
    got = {v.channel: v.value for v in archive.values("power")}
    assert got == {
        "soc": 0.81, "count": -3, "on": True, "mode": "NOMINAL", "none": None,
        "big": 2**64 - 1, "blob": b"\x00\xff", "enum": 3, "name": "safe", "loads.gpu.on": False,
        "loads.gpu.w": 41.5, "loads.radio": True, "temps.0": 20.5, "temps.1": 21,
    }
    assert type(got["on"]) is bool and type(got["temps.1"]) is int
    assert type(got["enum"]) is int and type(got["name"]) is str
    assert all(v.t_ground == T0 + 1 and v.t_onboard == T0 for v in archive.values())


def test_non_finite_floats_read_back_but_are_null_to_sql(archive: Archive) -> None:
    archive.record_values(T0, "thermal", {"a": math.nan, "b": math.inf, "c": -math.inf,
                                          "d": 2.0})
    got = {v.channel: v.value for v in archive.values("thermal")}
    assert math.isnan(got["a"]) and got["b"] == math.inf and got["c"] == -math.inf
    archive.flush()
    with sqlite3.connect(archive.path) as db:
        avg, nulls = db.execute("SELECT avg(value), count(*) - count(value) FROM tlm_values"
                                ).fetchone()
    assert (avg, nulls) == (2.0, 3)


def test_numpy_scalars_are_stored_as_plain_numbers(archive: Archive) -> None:
    np = pytest.importorskip("numpy")
    archive.record_values(T0, "jobs", {"f": np.float32(0.5), "i": np.int64(7),
                                       "b": np.bool_(True)})
    got = {v.channel: v.value for v in archive.values("jobs")}
    assert got == {"f": 0.5, "i": 7, "b": True}
    assert type(got["i"]) is int and type(got["b"]) is bool


def test_an_unstorable_value_writes_nothing_of_the_call(archive: Archive) -> None:
    with pytest.raises(TypeError, match=r"'x.bad'.*object"):
        archive.record_values(T0, "power", {"ok": 1.0, "x": {"bad": object()}})
    with pytest.raises(ValueError, match="Unicode"):
        archive.record_values(T0, "power", {"ok": 1.0, "s": "\ud800"})
    with pytest.raises(TypeError, match="mapping"):
        archive.record_values(T0, "power", [1.0])  # type: ignore[arg-type]
    assert archive.values() == []


def test_flatten_names() -> None:
    assert list(flatten({"a": {"b": {"c": 1}}, "l": [1, {"x": 2}], 5: "k"})) == [
        ("a.b.c", 1), ("l.0", 1), ("l.1.x", 2), ("5", "k")]
    loop: dict[str, object] = {}
    loop["self"] = loop
    with pytest.raises(ValueError, match="deeper"):
        list(flatten(loop))


def test_values_by_channel_glob_list_and_time_range(archive: Archive) -> None:
    for i in range(10):
        archive.record_values(T0 + i, "power", {"soc": i / 10, "loads": {"gpu": i, "cpu": -i}})
        archive.record_values(T0 + i + 0.5, "thermal", {"chip": 40.0 + i})
    assert [v.value for v in archive.values("power", "soc", since=T0 + 2, until=T0 + 5)] == [
        0.2, 0.3, 0.4]  # since inclusive, until exclusive
    assert {v.channel for v in archive.values("power", "loads.*")} == {"loads.gpu", "loads.cpu"}
    assert len(archive.values("power", ["soc", "loads.cpu"])) == 20
    assert archive.values("power", []) == []
    rows = archive.values(since=T0 + 9)
    assert [(v.app, v.channel) for v in rows] == [
        ("power", "soc"), ("power", "loads.gpu"), ("power", "loads.cpu"), ("thermal", "chip")]
    assert [v.t_onboard for v in archive.values()] == sorted(v.t_onboard
                                                             for v in archive.values())
    when = datetime.datetime.fromtimestamp(T0 + 8, tz=datetime.timezone.utc)
    assert [v.value for v in archive.values("thermal", since=when)] == [48.0, 49.0]
    with pytest.raises(ValueError, match="naive"):
        archive.values(since=datetime.datetime(2025, 1, 1))
    newest = archive.values("power", limit=2, newest_first=True)
    assert [(v.t_onboard, v.channel) for v in newest] == [(T0 + 9, "loads.cpu"),
                                                          (T0 + 9, "loads.gpu")]
    assert archive.channels("power") == [("power", "loads.cpu"), ("power", "loads.gpu"),
                                         ("power", "soc")]
    assert len(archive.channels()) == 4


def test_latest_is_by_onboard_time_not_arrival(archive: Archive) -> None:
    archive.record_values(T0 + 5, "power", {"soc": 0.5})
    archive.record_values(T0 + 9, "power", {"soc": 0.9})
    archive.record_values(T0 + 1, "power", {"soc": 0.1})  # stored downlink played late
    latest = archive.latest("power", "soc")
    assert latest is not None and latest.value == 0.9
    assert archive.latest("power", "nope") is None


# ---------------------------------------------------------------------------- events


def test_events_round_trip_and_filters(archive: Archive) -> None:
    pid = archive.record_packet("down", b"e", t_ground=T0)
    archive.record_event(T0, "power", "LOAD_SHED", "WARNING", "shed gpu",
                         {"load": "gpu", "soc": 0.2, "raw": b"\x01", "nan": math.nan},
                         packet_id=pid, t_ground=T0 + 0.5)
    archive.record_event(T0 + 1, "thermal", "HOT", 3, "chip hot", {})
    archive.record_event(T0 + 2, "power", "NOTE", "info", "fine", None)
    first = archive.events()[0]
    assert (first.app, first.name, first.severity, first.severity_name, first.text) == (
        "power", "LOAD_SHED", 2, "WARNING", "shed gpu")
    assert first.args["load"] == "gpu" and first.args["raw"] == "01"
    assert math.isnan(first.args["nan"]) and first.packet_id == pid
    assert first.t_ground == T0 + 0.5
    assert [e.name for e in archive.events(min_severity="WARNING")] == ["LOAD_SHED", "HOT"]
    assert [e.name for e in archive.events(app="power")] == ["LOAD_SHED", "NOTE"]
    assert [e.name for e in archive.events(since=T0 + 1, until=T0 + 2)] == ["HOT"]
    assert [e.name for e in archive.events(name="NOTE")] == ["NOTE"]
    with pytest.raises(ValueError, match="severity"):
        archive.record_event(T0, "power", "X", "LOUD", "", {})
    with pytest.raises(ValueError, match="severity"):
        archive.record_event(T0, "power", "X", 5, "", {})


def test_severities_match_the_flight_model(archive: Archive) -> None:
    from flight.app.model import Severity

    assert {int(s): s.name for s in Severity} == SEVERITIES
    archive.record_event(T0, "power", "X", Severity.ERROR, "", {})
    assert archive.events()[0].severity_name == "ERROR"


# ---------------------------------------------------------------------------- commands


def test_commands_carry_their_verification_stages(archive: Archive) -> None:
    tc = Telecommand(0x13, 8, 1, b"\x00\x01", seq_count=2, source_id=1)
    rid = int.from_bytes(tc.request_id, "big")
    cid = archive.record_command(rid, "power", "shed", {"load": "gpu"}, T0, tc.encode())
    archive.record_command(PING[:4], "comms", "ping", {}, T0 + 1, PING_FRAME)
    for t, (stage, ok) in ((T0 + 0.1, stage_of(1)), (T0 + 0.2, stage_of(3))):
        archive.record_verification(rid, stage, ok, None, t, command="power.shed")
    archive.record_verification(PING[:4], "accepted", False, 0x0108, T0 + 1.1,
                                text="no service 42")
    archive.record_verification(0xDEADBEEF, "completed", True, None, T0 + 3)  # not ours
    shed, ping = archive.commands()
    assert (shed.id, shed.app, shed.name, shed.args, shed.raw) == (
        cid, "power", "shed", {"load": "gpu"}, tc.encode())
    assert [(v.stage, v.ok) for v in shed.stages] == [("accepted", True), ("started", True)]
    assert shed.status == "started" and shed.stages[0].command == "power.shed"
    assert ping.status == "failed" and ping.stages[0].code == 0x0108
    assert ping.stages[0].text == "no service 42" and ping.raw == PING_FRAME
    up = archive.packets(direction="up")
    assert [(p.apid, p.service, p.subtype, p.seq) for p in up] == [(0x13, 8, 1, 2),
                                                                   (0x10, 17, 1, 1)]
    assert [c.name for c in archive.commands(app="comms")] == ["ping"]
    assert [c.name for c in archive.commands(request_id=rid)] == ["shed"]
    assert [c.name for c in archive.commands(since=T0 + 0.5)] == ["ping"]
    assert [c.name for c in archive.commands(limit=1)] == ["shed"]
    orphan = archive.verifications(request_id=0xDEADBEEF)
    assert len(orphan) == 1 and orphan[0].command_id is None
    archive.record_verification(rid, *stage_of(7), None, T0 + 4)
    assert archive.commands(name="shed")[0].status == "completed"


def test_a_reused_request_id_joins_the_latest_command(archive: Archive) -> None:
    first = archive.record_command(7, "comms", "ping", {}, T0)
    archive.record_verification(7, "completed", True, None, T0 + 1)
    second = archive.record_command(7, "comms", "ping", {}, T0 + 100)  # sequence count wrapped
    archive.record_verification(7, "accepted", True, None, T0 + 101)
    rows = {c.id: c for c in archive.commands()}
    assert rows[first].status == "completed" and rows[second].status == "accepted"
    assert rows[second].raw is None


def test_stage_of_every_verification_subtype() -> None:
    assert [stage_of(s) for s in (1, 2, 3, 4, 5, 6, 7, 8, 10)] == [
        ("accepted", True), ("accepted", False), ("started", True), ("started", False),
        ("progress", True), ("progress", False), ("completed", True), ("completed", False),
        ("routed", False)]
    with pytest.raises(ValueError):
        stage_of(9)


# ---------------------------------------------------------------------------- replay


def test_replay_yields_downlink_in_ground_receive_order(archive: Archive) -> None:
    order = [3.0, 1.0, 2.0, 2.0, 0.5, 2.0, 4.0]
    ids = {}
    for seq, t in enumerate(order):
        ids[seq] = archive.record_packet("down", tm(T0 + seq, seq=seq), t_ground=T0 + t,
                                         seq=seq)
    archive.record_packet("up", PING, t_ground=T0 + 1.5)
    archive.record_packet("down", b"junk", t_ground=T0 + 1.7, status="truncated")
    got = list(archive.replay(chunk=2))  # small pages: ties in t_ground cross page edges
    assert [r.seq for r in got] == [4, 1, 2, 3, 5, 0, 6]
    assert [r.decode().seq_count for r in got] == [4, 1, 2, 3, 5, 0, 6]
    assert len(list(archive.replay(include_rejected=True))) == len(order) + 1
    assert [r.seq for r in archive.replay(since=T0 + 2, until=T0 + 4)] == [2, 3, 5, 0]


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


def _rows(*times: float) -> list[PacketRow]:
    return [PacketRow(i, "down", t, None, None, None, None, None, "ok", b"")
            for i, t in enumerate(times)]


def test_pace_reproduces_gaps_at_speed_and_shortens_long_silences() -> None:
    clock = FakeClock()
    out = list(pace(_rows(10, 11, 13, 13, 3613), speed=2, max_gap=60, clock=clock,
                    sleep=clock.sleep))
    assert len(out) == 5
    assert clock.sleeps == [0.5, 1.0, 30.0]
    clock = FakeClock()
    list(pace(_rows(0, 1000), speed=math.inf, clock=clock, sleep=clock.sleep))
    assert clock.sleeps == []
    with pytest.raises(ValueError):
        list(pace(_rows(0), speed=0))


# ---------------------------------------------------------------------------- export


def test_export_csv_is_readable_and_matches_the_archive(archive: Archive,
                                                        tmp_path: Path) -> None:
    archive.record_values(T0, "power", {"soc": 0.1 + 0.2, "on": True, "mode": "SAFE, now",
                                        "x": math.nan, "n": None, "big": 2**70},
                          t_ground=T0 + 0.5)
    archive.record_values(T0 + 1, "thermal", {"chip": -1.5e-300})
    buf = io.StringIO()
    assert archive.export_csv(buf) == 7
    rows = list(csv.DictReader(io.StringIO(buf.getvalue())))
    assert list(rows[0]) == ["t_onboard_utc", "t_onboard", "t_ground", "app", "channel",
                             "value", "type"]
    assert rows[0]["t_onboard_utc"] == "2025-06-01T12:34:56.789Z"
    by_channel = {r["channel"]: r for r in rows}
    assert float(by_channel["soc"]["value"]) == 0.1 + 0.2
    assert float(by_channel["soc"]["t_onboard"]) == T0
    assert float(by_channel["soc"]["t_ground"]) == T0 + 0.5
    assert (by_channel["on"]["value"], by_channel["on"]["type"]) == ("true", "bool")
    assert by_channel["mode"]["value"] == "SAFE, now"
    assert math.isnan(float(by_channel["x"]["value"]))
    assert (by_channel["n"]["value"], by_channel["n"]["type"]) == ("", "null")
    assert int(by_channel["big"]["value"]) == 2**70
    assert float(by_channel["chip"]["value"]) == -1.5e-300
    assert by_channel["chip"]["t_ground"] == ""
    path = tmp_path / "out.csv"
    assert archive.export_csv(path, app="power", channels=["soc", "on"]) == 2
    with path.open(newline="") as fh:
        assert [r["channel"] for r in csv.DictReader(fh)] == ["soc", "on"]
    assert archive.export_csv(io.StringIO(), since=T0 + 1) == 1


def test_export_events_csv(archive: Archive) -> None:
    archive.record_event(T0, "power", "LOAD_SHED", 2, 'shed "gpu"\nnow', {"load": "gpu"})
    archive.record_event(T0 + 1, "power", "NOTE", 1, "fine", {})
    buf = io.StringIO()
    assert archive.export_events_csv(buf, min_severity="WARNING") == 1
    (row,) = csv.DictReader(io.StringIO(buf.getvalue()))
    assert (row["severity"], row["name"], row["text"]) == ("WARNING", "LOAD_SHED",
                                                           'shed "gpu"\nnow')
    assert row["args"] == '{"load":"gpu"}'


def test_format_value() -> None:
    assert [format_value(v) for v in (None, True, False, 3, 0.1, math.inf, "x", b"\x0a")] == [
        "", "true", "false", "3", "0.1", "inf", "x", "0a"]


# ---------------------------------------------------------------------------- counts


def test_counts(archive: Archive) -> None:
    archive.record_packet("down", b"a", t_ground=T0)
    archive.record_packet("down", b"b", t_ground=T0, status="bad_crc")
    archive.record_packet("up", b"c", t_ground=T0)
    archive.record_values(T0, "power", {"a": 1, "b": {"c": 2}})
    archive.record_event(T0, "power", "E", 1, "", {})
    archive.record_command(1, "comms", "ping", {}, T0, PING)
    archive.record_verification(1, "accepted", True, None, T0)
    counts = archive.counts()
    assert counts.packets == {"down": {"ok": 1, "bad_crc": 1}, "up": {"ok": 2}}
    assert (counts.channels, counts.values, counts.events, counts.commands,
            counts.verifications) == (2, 2, 1, 1, 1)
    assert counts.as_dict()["packets"]["up"] == {"ok": 2}
    assert archive.meta()["schema_version"] == "1"
    assert archive.check() == []
