"""The operator console driven by Textual's pilot against a real flatsat over the space link.

Each test starts a simulated flatsat (``hil.pytest_plugin``), connects a ground station and
runs :class:`ConsoleApp` headless on it. Waiting is on conditions with deadlines
(:func:`until`), never on bare sleeps.

``SUNLIT_CONSOLE_SCREENSHOT=docs/img/console.svg`` makes ``test_screenshot`` write the README's
screenshot there (and a PNG beside it when ``cairosvg`` is importable).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
import pytest
from textual.pilot import Pilot

from flight.link import CdsTime, TelemetryPacket
from ground.archive import Archive
from ground.console.app import ConsoleApp, build_parser, make_source
from ground.console.source import ReplaySource, StationSource
from ground.console.widgets import ConfirmScreen

pytest_plugins = ["hil.pytest_plugin"]

SIZE = (160, 48)


async def until(pilot: Pilot[Any], check: Callable[[], Any], what: str,
                timeout: float = 10.0, debug: Callable[[], Any] | None = None) -> Any:
    """Let the app run until ``check()`` is truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            seen = f"; {debug()}" if debug is not None else ""
            raise AssertionError(f"timed out after {timeout} s waiting for {what}{seen}")
        await pilot.pause(0.05)


def run(app: ConsoleApp, scenario: Callable[[Pilot[Any], ConsoleApp], Any]) -> None:
    async def main() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await scenario(pilot, app)

    asyncio.run(main())


def console(ground: Any) -> ConsoleApp:
    return ConsoleApp(StationSource(ground), poll_interval=0.1)


def entry_done(app: ConsoleApp, label: str) -> Any:
    entries = [e for e in app.model.verification.find(label) if e.done]
    return entries[-1] if entries else None


# ------------------------------------------------------------------------------ commanding


def test_typed_noop_is_sent_and_verified_to_completion(ground) -> None:
    async def scenario(pilot: Pilot[Any], app: ConsoleApp) -> None:
        await pilot.press(*"health.noop")
        assert app.feedback.level == "ok", app.feedback.message
        await pilot.press("enter")
        entry = await until(pilot, lambda: entry_done(app, "health.noop"), "health.noop done")
        assert entry.status == "completed"
        assert list(entry.stages) == ["accepted", "started", "completed"]
        assert app.command_input.value == ""
        row = await until(pilot, lambda: _verification_row(app, entry.request_id),
                          "the verification row")
        assert row[1] == "health.noop" and row[-1] == "completed"
        assert all(cell.startswith("✓ ") for cell in row[2:5]), row
        # the station really sent it: the same request id is in its history
        assert [h.request_id for h in ground.commands() if h.label == "health.noop"] == [
            entry.request_id]
        # ... and the NOOP event it caused reaches the event log
        await until(pilot, lambda: ("health", "NOOP", "INFO") in
                    app.event_table.shown_events(), "the NOOP event")

    run(console(ground), scenario)


def _verification_row(app: ConsoleApp, request_id: int) -> list[str] | None:
    try:
        row = app.verification_table.row_text(request_id)
    except Exception:
        return None
    return row if row[-1] == "completed" else None


def test_a_bad_argument_is_explained_and_nothing_is_sent(ground) -> None:
    async def scenario(pilot: Pilot[Any], app: ConsoleApp) -> None:
        await until(pilot, lambda: app.model.verification.find("comms.ping"), "the ping")
        sent_before = len(ground.commands())
        app.command_input.value = "world.set_demand duty="
        await pilot.press("5")
        assert app.feedback.level == "error"
        assert "duty: 5.0 is above the maximum 1" in app.feedback.message
        await pilot.press("enter")
        assert app.feedback.level == "error"
        assert app.command_input.value == "world.set_demand duty=5"  # kept, to be fixed
        app.command_input.value = "health.nop"
        await pilot.press("e", "enter")
        assert "unknown command health.nope" in app.feedback.message
        await pilot.pause(0.3)
        assert len(ground.commands()) == sent_before
        assert not app.model.verification.find("world.set_demand")

    run(console(ground), scenario)


def test_tab_completes_and_hints_candidates(ground) -> None:
    async def scenario(pilot: Pilot[Any], app: ConsoleApp) -> None:
        await pilot.press("p", "o", "tab")
        assert app.command_input.value == "power."
        await pilot.press(*"load_o", "tab")
        assert app.command_input.value == "power.load_o"
        assert "load_on" in app.feedback.message and "load_off_critical" in app.feedback.message
        await pilot.press("n", "tab", "tab", "c", "tab")
        assert app.command_input.value == "power.load_on load=compute "
        assert app.feedback.level == "ok"
        await pilot.press("enter")
        entry = await until(pilot, lambda: entry_done(app, "power.load_on"), "load_on done")
        assert entry.args == {"load": "compute"}
        await pilot.press("up")  # history
        assert app.command_input.value == "power.load_on load=compute "
        await pilot.press("escape")
        assert app.command_input.value == "" and app.feedback.level == "idle"

    run(console(ground), scenario)


def test_hazardous_command_asks_then_sends_arm_and_command(ground) -> None:
    async def scenario(pilot: Pilot[Any], app: ConsoleApp) -> None:
        app.command_input.value = "executive.stop_app app=worl"
        await pilot.press("d")
        assert app.feedback.level == "hazardous"
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
        await pilot.press("n")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen), "the dismissal")
        assert "cancelled" in app.feedback.message
        assert not [h for h in ground.commands() if h.command in ("arm", "stop_app")]
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
        await pilot.press("y")
        arm = await until(pilot, lambda: entry_done(app, "executive.arm"), "the arm")
        stop = await until(pilot, lambda: entry_done(app, "executive.stop_app"), "stop_app")
        assert arm.status == "completed" and arm.args == {"command": "stop_app"}
        assert stop.status == "completed", stop.failure
        assert stop.t_ground > arm.stages["completed"].t_ground  # armed first, then sent
        await until(pilot, lambda: ("executive", "ARMED", "WARN") in
                    app.event_table.shown_events(), "the ARMED event")

    run(console(ground), scenario)


# ------------------------------------------------------------------------------ watching


def test_telemetry_fills_with_limits_and_goes_stale_when_it_stops(ground) -> None:
    async def scenario(pilot: Pilot[Any], app: ConsoleApp) -> None:
        await until(pilot, lambda: "power.soc" in app.telemetry_table.row_keys(), "power.soc")
        row = app.telemetry_table.row_text("power.soc")
        assert row[:2] == ["power", "soc"] and row[3] == "fraction"
        assert 0.0 <= float(row[2]) <= 1.0
        soc = app.model.telemetry.get("power", "soc")
        assert soc is not None and soc.state in ("nominal", "yellow", "red")
        for key in ("thermal.chip_temp_c", "executive.mode", "comms.in_contact"):
            await until(pilot, lambda k=key: k in app.telemetry_table.row_keys(), key)
        status = app.model.link_status(app.source.clock())
        assert status.up and status.in_contact is True and status.store_packets == 0
        assert "LINK UP" in str(app.link_bar.render())
        assert "IN CONTACT" in str(app.link_bar.render())
        # stop thermal's housekeeping (its period known): its values go stale, power's do not
        await until(pilot, lambda: app.model.telemetry.period("thermal"), "thermal's period")
        assert app.model.telemetry.threshold("thermal") < 2.0
        await asyncio.to_thread(ground.disable_hk, "thermal")
        await until(pilot, lambda: "STALE" in
                    app.telemetry_table.row_text("thermal.chip_temp_c")[-1],
                    "thermal to be shown stale", timeout=5.0, debug=lambda: (
                        app.telemetry_table.row_text("thermal.chip_temp_c"),
                        app.model.telemetry.get("thermal", "chip_temp_c"),
                        app.model.telemetry.threshold("thermal"), app.source.clock()))
        assert _stale(app, "thermal.chip_temp_c")
        assert not _stale(app, "power.soc")
        await pilot.press("f3")  # telemetry of one app at a time
        assert app.app_filter == "executive"
        assert all(k.startswith("executive.") for k in app.telemetry_table.row_keys())

    run(console(ground), scenario)


def _stale(app: ConsoleApp, key: str) -> bool:
    rows = app.model.telemetry.rows(app.source.clock())
    return any(r.key == key and r.stale for r in rows)


def test_event_log_filters_by_severity(ground) -> None:
    async def scenario(pilot: Pilot[Any], app: ConsoleApp) -> None:
        await until(pilot, lambda: ("health", "NOOP", "INFO") in
                    app.event_table.shown_events(), "the NOOP event")
        await asyncio.to_thread(ground.send, "health", "param_load", name="no_such_param",
                                value=1)
        await until(pilot, lambda: ("health", "COMMAND_FAILED", "WARN") in
                    app.event_table.shown_events(), "COMMAND_FAILED")
        await pilot.press("f2")
        assert "WARNING" in str(app.event_table.border_title)
        shown = app.event_table.shown_events()
        assert ("health", "COMMAND_FAILED", "WARN") in shown
        assert all(sev != "INFO" for _, _, sev in shown)
        await pilot.press("f2", "f2", "f2")  # ERROR, CRITICAL, back to INFO
        assert ("health", "NOOP", "INFO") in app.event_table.shown_events()

    ground.command("health", "noop")
    run(console(ground), scenario)


# ------------------------------------------------------------------------------ replay


def test_replay_of_an_archived_pass(ground, flatsat) -> None:
    ground.command("health", "noop")
    ground.await_telemetry("power", "soc", timeout=10)
    ground.await_telemetry("comms", timeout=10)
    ground.archive.flush()
    path = flatsat.run_dir / "ground" / "archive.sqlite"
    args = build_parser().parse_args(["--replay", str(path), "--speed", "50"])
    source = make_source(args)
    assert isinstance(source, ReplaySource) and not source.can_send

    async def scenario(pilot: Pilot[Any], app: ConsoleApp) -> None:
        assert app.command_input.disabled
        await until(pilot, lambda: source.finished, "the end of the replay", timeout=15)
        await until(pilot, lambda: not source._queue.qsize() and not source._backlog,
                    "everything drawn")
        await pilot.pause(0.3)
        assert "power.soc" in app.telemetry_table.row_keys()
        assert ("health", "NOOP", "INFO") in app.event_table.shown_events()
        noop = entry_done(app, "health.noop")
        assert noop is not None and noop.status == "completed" and noop.known
        done, total = source.progress
        assert done == total > 0
        last = source.replay.archive.packets("down")[-1].t_ground
        assert app.source.clock() == pytest.approx(last)  # the replay clock stops at the end
        assert "REPLAY" in str(app.link_bar.render())
        assert "finished" in str(app.link_bar.render())

    run(ConsoleApp(source, poll_interval=0.1), scenario)


def test_main_refuses_bad_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ground.console import main

    assert main(["--replay", str(tmp_path / "missing.sqlite")]) == 1
    assert "no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--replay", "x", "--speed", "0"])
    args = build_parser().parse_args(["--replay", "x", "--speed", "inf"])
    assert math.isinf(args.speed)


# ------------------------------------------------------------------------------ screenshot


def test_screenshot(ground, tmp_path: Path) -> None:
    """Renders the console on a live flatsat to SVG: docs/img/console.svg when asked."""
    ground.command("health", "noop")
    target = os.environ.get("SUNLIT_CONSOLE_SCREENSHOT")
    out = Path(target) if target else tmp_path / "console.svg"
    out.parent.mkdir(parents=True, exist_ok=True)

    async def scenario(pilot: Pilot[Any], app: ConsoleApp) -> None:
        app.command_input.value = "power.load_off load=compute"
        await pilot.press("enter")
        await until(pilot, lambda: entry_done(app, "power.load_off"), "load_off")
        app.command_input.value = "executive.restart_app app=nonexistent"
        await pilot.press("enter")
        await until(pilot, lambda: entry_done(app, "executive.restart_app"), "restart_app")
        await until(pilot, lambda: "power.soc" in app.telemetry_table.row_keys(), "soc")
        while app.app_filter != "power":  # F3: one app's telemetry
            await pilot.press("f3")
        await until(pilot, lambda: "power.loads.compute" in app.telemetry_table.row_keys(),
                    "the power table")
        app.command_input.value = "world.set_demand duty=1.5"
        await pilot.pause(0.5)
        app.save_screenshot(out.name, str(out.parent))

    run(console(ground), scenario)
    svg = out.read_text(encoding="utf-8")
    assert svg.startswith("<svg") and "Telemetry" in svg and "health.noop" in svg
    if target:
        try:
            import cairosvg  # type: ignore[import-not-found]
        except ImportError:
            return
        cairosvg.svg2png(url=str(out), write_to=str(out.with_suffix(".png")),
                         output_width=1600)


# ------------------------------------------------------------------------------ entry point


def test_command_line_options_make_a_live_console_that_archives(flatsat, tmp_path) -> None:
    dictionary = tmp_path / "dictionary.json"
    dictionary.write_text(json.dumps(flatsat.dictionary()), encoding="utf-8")
    archive = tmp_path / "session.sqlite"
    host, port = flatsat.address
    args = build_parser().parse_args([
        "--address", f"{host}:{port}", "--key", str(flatsat.key_file),
        "--state-dir", str(tmp_path / "state"), "--dictionary", str(dictionary),
        "--archive", str(archive)])
    source = make_source(args)
    assert isinstance(source, StationSource) and source.owns and source.can_send
    assert "authenticated" in source.description

    async def scenario(pilot: Pilot[Any], app: ConsoleApp) -> None:
        await until(pilot, lambda: "power.soc" in app.telemetry_table.row_keys(), "power.soc")
        app.command_input.value = "health.noo"
        await pilot.press("p", "enter")
        await until(pilot, lambda: entry_done(app, "health.noop"), "health.noop done")

    run(ConsoleApp(source, poll_interval=0.1), scenario)
    assert source.station.closed  # the console closed the station it owned
    with Archive(archive, readonly=True) as saved:
        assert [c.status for c in saved.commands(name="noop")] == ["completed"]


# ------------------------------------------------------------------------------ replay controls


def _hk_packet(apid: int, structure: int, values: dict[str, Any], t: float,
               seq: int) -> bytes:
    data = structure.to_bytes(2, "big") + msgpack.packb(values)
    return TelemetryPacket(apid, 3, 25, CdsTime.from_unix(t), data, seq_count=seq).encode()


def test_replay_pauses_and_resumes_on_f5(tmp_path: Path) -> None:
    path = tmp_path / "pass.sqlite"
    with Archive(path) as archive:
        for i, t in enumerate((1000.0, 1000.4, 1000.8)):
            raw = _hk_packet(0x13, 3, {"soc": 0.55 - i / 100}, t, i)
            archive.record_packet("down", raw, t_ground=t, apid=0x13, service=3, subtype=25,
                                  seq=i, t_onboard=t)
    source = ReplaySource(path, speed=1.0)

    async def scenario(pilot: Pilot[Any], app: ConsoleApp) -> None:
        await until(pilot, lambda: "power.soc" in app.telemetry_table.row_keys(), "soc")
        await pilot.press("f5")
        assert source.replay.paused
        delivered, clock = source.progress[0], source.clock()
        await pilot.pause(0.6)  # longer than the next packet's 0.4 s
        assert source.progress[0] == delivered and source.clock() == clock
        assert "paused" in str(app.link_bar.render())
        await pilot.press("f5")
        await until(pilot, lambda: source.finished, "the end", timeout=5)
        await until(pilot, lambda: app.telemetry_table.row_text("power.soc")[2] == "0.53",
                    "the last soc")
        soc = app.model.telemetry.get("power", "soc")
        assert soc is not None and soc.state == "yellow"
        assert source.clock() == pytest.approx(1000.8)

    run(ConsoleApp(source, poll_interval=0.05), scenario)
