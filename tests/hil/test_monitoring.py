"""``sunlit-hil monitor`` without a flatsat: the collector against crafted bus messages (valid,
malformed, hostile) sent over a real ZeroMQ socket, the campaign progress file in every shape
it can go wrong, the command's refusals, and the deploy files against what the exporter emits.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from flight.bus import Envelope, RunDir
from hil.cli import main as hil_main
from hil.monitoring import BusSource, CampaignCollector, FlatsatCollector, FlatsatState
from hil.monitoring.campaign import ProgressError, read_progress
from hil.monitoring.exporter import build_registry
from hil.monitoring.sources import ingest_envelope
from hil.monitoring.state import MAX_APPS, MAX_CHANNELS

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "hil" / "deploy"

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(*collectors: Any) -> Samples:
    """Render the collectors as Prometheus would read them: ``(name, labels) -> value``."""
    text = generate_latest(build_registry(*collectors)).decode()
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples: Samples, metric: str, /, **labels: str) -> float | None:
    return samples.get((metric, tuple(sorted(labels.items()))))


def env(topic: str, data: Any, src: str = "x", seq: int = 1, t: float = 1.0e9) -> Envelope:
    return Envelope(topic, src, seq, t, data)


EXECUTIVE_REPORT = {
    "mode": "POWER_SAVE", "uptime_s": 12.5, "apps_running": 6, "apps_down": 1,
    "restarts": {"health": 2, "power": 0}, "heartbeat_age_s": {"health": 0.2, "power": 0.05},
    "fdir_trips": 1,
}
POWER_REPORT = {
    "soc": 0.61, "in_sun": True, "solar_power_w": 1200.5, "loads": {"compute": True, "radio": 0},
    "forced": {}, "mode": "POWER_SAVE", "note": "text is skipped", "nothing": None,
    "list": [1, 2], "energy": {"solar": {"used_wh": 3.5, "lost": "n/a"}, "bad key!": 1},
}


# ------------------------------------------------------------------------------ the collector


def test_collector_renders_latest_telemetry_events_and_health() -> None:
    state = FlatsatState()
    for envelope in (env("tlm.executive", EXECUTIVE_REPORT, t=100.0),
                     env("tlm.power", {"soc": 0.5}, t=101.0),
                     env("tlm.power", POWER_REPORT, t=102.0),
                     env("evt.power", {"name": "LOAD_SHED", "severity": "WARNING"}),
                     env("evt.power", {"name": "LOAD_SHED", "severity": "WARNING"}),
                     env("evt.health", {"name": "LIMIT", "severity": "info"})):
        ingest_envelope(state, envelope)
    s = scrape(FlatsatCollector(state))

    assert value(s, "sunlit_telemetry", app="power", channel="soc") == 0.61  # the latest
    assert value(s, "sunlit_telemetry", app="power", channel="in_sun") == 1.0
    assert value(s, "sunlit_telemetry", app="power", channel="solar_power_w") == 1200.5
    for skipped in ("mode", "note", "nothing", "list", "forced"):
        assert value(s, "sunlit_telemetry", app="power", channel=skipped) is None
    assert value(s, "sunlit_telemetry_map", app="power", channel="loads", key="compute") == 1.0
    assert value(s, "sunlit_telemetry_map", app="power", channel="loads", key="radio") == 0.0
    assert value(s, "sunlit_telemetry_map", app="power", channel="energy",
                 key="solar.used_wh") == 3.5
    assert not [k for k in s if ("key", "bad key!") in k[1] or ("key", "solar.lost") in k[1]]
    assert value(s, "sunlit_telemetry_reports_total", app="power") == 2
    assert value(s, "sunlit_telemetry_mission_time_seconds", app="power") == 102.0
    age = value(s, "sunlit_telemetry_age_seconds", app="power")
    assert age is not None and 0 <= age < 60

    assert value(s, "sunlit_events_total", app="power", name="LOAD_SHED",
                 severity="WARNING") == 2
    assert value(s, "sunlit_events_total", app="health", name="LIMIT", severity="INFO") == 1

    assert value(s, "sunlit_mode", sunlit_mode="POWER_SAVE") == 1
    assert value(s, "sunlit_mode", sunlit_mode="NOMINAL") == 0
    assert value(s, "sunlit_mode", sunlit_mode="SAFE") == 0
    assert value(s, "sunlit_apps_running") == 6 and value(s, "sunlit_apps_down") == 1
    assert value(s, "sunlit_app_restarts_total", app="health") == 2
    assert value(s, "sunlit_app_heartbeat_age_seconds", app="power") == 0.05
    assert value(s, "sunlit_exporter_messages_total", kind="telemetry") == 3
    assert value(s, "sunlit_exporter_messages_total", kind="event") == 3
    assert value(s, "sunlit_exporter_rejected_total", reason="bad_event") == 0


def test_nothing_received_yet_is_a_valid_scrape() -> None:
    s = scrape(FlatsatCollector(FlatsatState()))
    assert value(s, "sunlit_exporter_last_message_age_seconds") == math.inf
    assert value(s, "sunlit_exporter_rejected_total", reason="telemetry_not_a_map") == 0
    assert not [k for k in s if k[0] in ("sunlit_telemetry", "sunlit_mode")]


def test_malformed_messages_are_counted_by_reason_and_dropped() -> None:
    state = FlatsatState()
    bad = [
        env("tlm.power", [1, 2, 3]),  # telemetry_not_a_map
        env("tlm.power", "soc=0.5"),  # telemetry_not_a_map
        env("tlm.", {"soc": 1}),  # bad_app_name
        env("tlm.a b", {"soc": 1}),  # bad_app_name
        env("tlm.power", {1: 0.5}),  # bad_channel_name
        env("tlm.power", {"x" * 100: 0.5}),  # bad_channel_name
        env("tlm.power", {f"c{i}": i for i in range(MAX_CHANNELS + 1)}),  # too_many_channels
        env("tlm.power", {"loads": {f"k{i}": 1 for i in range(300)}}),  # too_many_map_entries
        env("evt.power", ["LOAD_SHED"]),  # bad_event
        env("evt.power", {"severity": "INFO"}),  # bad_event: no name
        env("evt.power", {"name": "X", "severity": 3}),  # bad_event: severity not a name
        env("hb.power", {"pid": 1}),  # unexpected_topic
    ]
    for envelope in bad:
        ingest_envelope(state, envelope)
    ingest_envelope(state, env("tlm.power", {"soc": 0.25}))
    s = scrape(FlatsatCollector(state))
    assert value(s, "sunlit_telemetry", app="power", channel="soc") == 0.25
    expected = {"telemetry_not_a_map": 2, "bad_app_name": 2, "bad_channel_name": 2,
                "too_many_channels": 1, "too_many_map_entries": 1, "bad_event": 3,
                "unexpected_topic": 1}
    for reason, count in expected.items():
        assert value(s, "sunlit_exporter_rejected_total", reason=reason) == count, reason
    assert value(s, "sunlit_exporter_messages_total", kind="telemetry") == 1


def test_series_are_bounded_against_a_sender_inventing_names() -> None:
    state = FlatsatState()
    for i in range(MAX_APPS + 5):
        state.telemetry(f"app{i}", {"v": i}, 0.0)
    for i in range(5000):
        state.event("power", f"E{i}", "INFO")
    s = scrape(FlatsatCollector(state))
    assert len({k for k in s if k[0] == "sunlit_telemetry"}) == MAX_APPS
    assert value(s, "sunlit_exporter_rejected_total", reason="too_many_apps") == 5
    assert value(s, "sunlit_exporter_rejected_total", reason="too_many_event_series") > 0


_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**64 - 1),
                     st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
                     st.binary(max_size=8))
_values = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.one_of(st.text(max_size=8), st.integers()),
                                                 inner, max_size=4)), max_leaves=20)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(topic=st.sampled_from(["tlm.power", "tlm.executive", "evt.power", "tlm.", "x.y"]),
       data=_values)
def test_any_message_body_is_stored_or_counted_never_fatal(topic: str, data: Any) -> None:
    state = FlatsatState()
    ingest_envelope(state, env(topic, data))
    ingest_envelope(state, env("tlm.executive", {"mode": data, "restarts": data,
                                                 "apps_running": data}))
    text = generate_latest(build_registry(FlatsatCollector(state))).decode()
    assert list(text_string_to_metric_families(text))  # the exposition is well formed


# ------------------------------------------------------------------------------ a real bus


@pytest.fixture
def fake_bus() -> Iterator[tuple[RunDir, zmq.Socket[Any]]]:
    """A PUB socket where a flatsat's proxy would be (``RUN_DIR/bus/sub``)."""
    root = Path(tempfile.mkdtemp(prefix="sl-mon-", dir="/tmp"))
    run_dir = RunDir(root)
    run_dir.bus_dir.mkdir(parents=True)
    ctx: zmq.Context[Any] = zmq.Context()
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    pub.bind(run_dir.sub_endpoint)
    try:
        yield run_dir, pub
    finally:
        pub.close()
        ctx.term()
        shutil.rmtree(root, ignore_errors=True)


def wait_for(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def test_bus_source_counts_garbage_frames_and_keeps_receiving(
        fake_bus: tuple[RunDir, zmq.Socket[Any]]) -> None:
    run_dir, pub = fake_bus
    state = FlatsatState()
    source = BusSource(run_dir.root, state)
    collector = FlatsatCollector(state, source)
    source.start()
    try:
        def probe() -> bool:  # a late joiner: publish until the subscription has arrived
            pub.send_multipart([b"tlm.probe", msgpack.packb(["probe", 1, 5.0, {"up": 1}])])
            return value(scrape(collector), "sunlit_telemetry", app="probe",
                         channel="up") == 1.0
        wait_for(probe, 10.0, "the bus source to subscribe")
        before = scrape(collector)
        garbage = [
            [b"tlm.power", b"\xc1\xc1\xc1"],  # not msgpack
            [b"tlm.power", msgpack.packb([1, 2])],  # not a 4-element envelope
            [b"tlm.power", msgpack.packb(["power", "one", 1.0, {}])],  # wrong header types
            [b"tlm.power", b"\x00" * (2 * 1024 * 1024)],  # over the size limit
            [b"tlm.power"],  # one frame
            [b"tlm.power", msgpack.packb(["power", 1, 1.0, {}]), b"extra"],  # three frames
            [b"tlm.power", msgpack.packb(["power", 2, 1.0, [0.5]])],  # valid envelope, bad body
            [b"evt.power", msgpack.packb(["power", 1, 1.0, {"severity": "INFO"}])],  # no name
        ]
        for frames in garbage:
            pub.send_multipart(frames)
        pub.send_multipart([b"tlm.power", msgpack.packb(["power", 9, 7.0, {"soc": 0.75}])])
        after = wait_for(lambda: (s := scrape(collector)) and value(
            s, "sunlit_telemetry", app="power", channel="soc") == 0.75 and s, 10.0,
            "the valid report after the garbage")
    finally:
        source.stop()

    def delta(reason: str) -> float:
        name = "sunlit_exporter_rejected_total"
        return (value(after, name, reason=reason) or 0) - (value(before, name, reason=reason)
                                                           or 0)
    assert delta("malformed") == 5
    assert delta("oversized") == 1
    assert delta("telemetry_not_a_map") == 1 and delta("bad_event") == 1
    received = value(after, "sunlit_exporter_received_total")
    assert received is not None and received >= 9
    assert value(after, "sunlit_exporter_source_info", source="bus",
                 target=str(run_dir.root)) == 1
    assert value(after, "sunlit_exporter_gaps_total") == 6  # seq 9 came after seq 2


# ------------------------------------------------------------------------------ campaign

PROGRESS = {"name": "seu-sweep", "planned": 200, "done": 57, "running": 4,
            "by_class": {"masked": 40, "detected_recovered": 12, "sdc": 3, "due": 1,
                         "data_lost": 1},
            "started_unix": 1750000000.0, "updated_unix": 1750000321.5, "finished": False}


def test_campaign_progress_is_read_on_each_scrape(tmp_path: Path) -> None:
    collector = CampaignCollector(tmp_path)
    s = scrape(collector)
    assert value(s, "sunlit_campaign_progress_ok") == 0
    assert value(s, "sunlit_campaign_progress_errors_total", reason="missing") == 1
    assert value(s, "sunlit_campaign_runs_done") is None

    (tmp_path / "progress.json").write_text(json.dumps(PROGRESS))
    s = scrape(collector)
    assert value(s, "sunlit_campaign_progress_ok") == 1
    assert value(s, "sunlit_campaign_info", name="seu-sweep") == 1
    assert value(s, "sunlit_campaign_runs_planned") == 200
    assert value(s, "sunlit_campaign_runs_done") == 57
    assert value(s, "sunlit_campaign_runs_running") == 4
    assert value(s, "sunlit_campaign_outcomes", **{"class": "sdc"}) == 3
    assert value(s, "sunlit_campaign_started_timestamp_seconds") == 1750000000.0
    assert value(s, "sunlit_campaign_finished") == 0
    assert value(s, "sunlit_campaign_progress_errors_total", reason="missing") == 1

    (tmp_path / "progress.json").write_text(json.dumps({**PROGRESS, "done": 58,
                                                        "finished": True}))
    s = scrape(collector)
    assert value(s, "sunlit_campaign_runs_done") == 58
    assert value(s, "sunlit_campaign_finished") == 1


@pytest.mark.parametrize(("content", "message"), [
    (b"{\"name\": \"seu\", \"planned\": 2", "not JSON"),
    (b"\xff\xfe\x00garbage", "not JSON"),
    (b"[1, 2, 3]", "not a JSON object"),
    (json.dumps({**PROGRESS, "planned": "200"}).encode(), "'planned' should be an integer"),
    (json.dumps({**PROGRESS, "done": -1}).encode(), "'done' is negative"),
    (json.dumps({**PROGRESS, "running": True}).encode(), "'running' should be an integer"),
    (json.dumps({k: v for k, v in PROGRESS.items() if k != "by_class"}).encode(),
     "'by_class' is missing"),
    (json.dumps({**PROGRESS, "by_class": {"sdc": 1.5}}).encode(),
     "'by_class.sdc' should be an integer"),
    (json.dumps({**PROGRESS, "finished": "no"}).encode(), "'finished' should be true or false"),
    (json.dumps({**PROGRESS, "started_unix": -5}).encode(), "'started_unix' is not a UNIX"),
    (b" " * (1024 * 1024 + 1), "larger than"),
])
def test_a_malformed_progress_file_is_counted_with_a_clear_reason(
        tmp_path: Path, content: bytes, message: str) -> None:
    (tmp_path / "progress.json").write_bytes(content)
    with pytest.raises(ProgressError, match=re.escape(message)) as info:
        read_progress(tmp_path)
    assert info.value.reason == "malformed" and "progress.json" in str(info.value)
    s = scrape(CampaignCollector(tmp_path))
    assert value(s, "sunlit_campaign_progress_ok") == 0
    assert value(s, "sunlit_campaign_progress_errors_total", reason="malformed") == 1
    assert value(s, "sunlit_campaign_runs_planned") is None


# ------------------------------------------------------------------------------ the command


def _free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(("argv", "message"), [
    (["--listen", "nonsense"], "--listen 'nonsense' is not HOST:PORT"),
    (["--listen", "127.0.0.1:70000"], "is not HOST:PORT"),
    (["--link", "127.0.0.1:0"], "--link '127.0.0.1:0' is not HOST:PORT"),
    (["--link", "127.0.0.1:52001", "--key", "/nonexistent/link.key"], "/nonexistent/link.key"),
    (["--link", "127.0.0.1:52001", "--no-auth", "--dictionary", "{dictionary}"],
     "cannot open the link"),
    (["--link", "127.0.0.1:52001", "--spi", "0"], "--spi must be"),
    (["--run-dir", "/tmp/" + "x" * 120], "too long for an ipc socket"),
    (["--run-dir", "/tmp/sl-x", "--key", "k", "--local", "127.0.0.1:1"],
     "--key, --local only apply with --link"),
])
def test_bad_options_end_with_a_message_and_status_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
        message: str) -> None:
    bad_dictionary = tmp_path / "dictionary.json"
    bad_dictionary.write_text("{not json")
    argv = [a.replace("{dictionary}", str(bad_dictionary)) for a in argv]
    if "--link" in argv:
        argv = [*argv, "--state-dir", str(tmp_path / "ground")]
    assert hil_main(["monitor", "--campaign", str(tmp_path), "--listen", "127.0.0.1:0",
                     *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_listen_port_in_use_is_refused_clearly(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = subprocess.run([sys.executable, "-m", "hil.cli", "monitor", "--campaign",
                              str(tmp_path), "--listen", f"127.0.0.1:{port}"],
                             capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in out.stderr and "Traceback" not in out.stderr


# ------------------------------------------------------------------------------ deploy files


def _exported_names(tmp_path: Path) -> set[str]:
    """Every sample name the exporter emits with a full flatsat state and a campaign."""
    state = FlatsatState()
    state.telemetry("executive", EXECUTIVE_REPORT, 1.0)
    state.telemetry("power", POWER_REPORT, 1.0)
    state.event("power", "LOAD_SHED", "WARNING")
    (tmp_path / "progress.json").write_text(json.dumps(PROGRESS))
    source = BusSource(tmp_path, state)
    try:
        return {name for name, _ in scrape(FlatsatCollector(state, source),
                                           CampaignCollector(tmp_path))}
    finally:
        source.stop()


def test_dashboard_is_grafana_json_using_only_exported_metrics(tmp_path: Path) -> None:
    board = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    assert board["schemaVersion"] >= 36 and board["uid"] and board["title"]
    variables = {v["name"]: v for v in board["templating"]["list"]}
    ds = [v for v in variables.values() if v["type"] == "datasource"]
    assert len(ds) == 1 and ds[0]["query"] == "prometheus"
    ds_ref = "${" + ds[0]["name"] + "}"
    panels = [p for p in board["panels"] if p["type"] != "row"]
    titles = " | ".join(p["title"].lower() for p in panels)
    for wanted in ("state of charge", "power", "temperature", "duty", "mode", "apps",
                   "restarts", "upsets", "job", "campaign"):
        assert wanted in titles, wanted
    names = _exported_names(tmp_path) | {"up"}
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in panels:
        assert panel["datasource"]["uid"] == ds_ref, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == ds_ref
            for metric in re.findall(r"\bsunlit_[a-z_]+", target["expr"]):
                assert metric in names, f"{panel['title']}: {metric} is not exported"


def test_scrape_config_targets_the_exporter() -> None:
    text = (DEPLOY / "prometheus.yml").read_text()
    assert re.search(r"job_name:\s*['\"]?sunlit-flatsat", text)
    assert re.search(r"scrape_interval:\s*5s", text)
    assert "127.0.0.1:9108" in text
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool (Debian package prometheus) is not installed")
    out = subprocess.run([promtool, "check", "config", str(DEPLOY / "prometheus.yml")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_exposition_passes_promtool_lint(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool (Debian package prometheus) is not installed")
    state = FlatsatState()
    state.telemetry("executive", EXECUTIVE_REPORT, 1.0)
    state.telemetry("power", POWER_REPORT, 1.0)
    state.event("power", "LOAD_SHED", "WARNING")
    (tmp_path / "progress.json").write_text(json.dumps(PROGRESS))
    text = generate_latest(build_registry(FlatsatCollector(state), CampaignCollector(tmp_path)))
    out = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                         timeout=60)
    assert out.returncode == 0 and not out.stdout.strip(), out.stdout + out.stderr
