"""The mission report drawn from a crafted recording: every PNG, both pages, re-drawing."""

from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib.image

from hil.mission.recorder import Recording
from hil.mission.report import FIGURES, main, write_report
from hil.mission.summary import completeness, format_summary, summarize

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PERIOD = 5864.0


def crafted(minutes: int = 200) -> Recording:
    """A sampled mission: sun and shadow, a pass, SAA upsets, two jobs, a kill."""
    t0 = 1_800_000_000.0
    t = [t0 + 60.0 * k for k in range(minutes)]
    sun = [(k % 98) < 78 for k in range(minutes)]
    soc = [min(1.0, 0.6 + 0.4 * abs(math.cos(k / 30))) for k in range(minutes)]
    running = [1 if k < 80 else 2 if k < 150 else 0 for k in range(minutes)]
    progress = [k / 80 if k < 80 else (k - 80) / 70 if k < 150 else 0.0 for k in range(minutes)]
    contact = [40 <= k < 50 or 140 <= k < 150 for k in range(minutes)]
    return Recording(
        t0=t0,
        series={
            "world": {"t": t, "in_sun": sun, "in_saa": [60 <= k < 70 for k in range(minutes)],
                      "upsets": [k // 5 for k in range(minutes)]},
            "power": {"t": t, "soc": soc, "solar_power_w": [1400.0 * s for s in sun],
                      "load_power_w": [600.0] * minutes, "compute_power_w": [550.0] * minutes,
                      "compute_budget_w": [900.0 if s > 0.7 else 0.0 for s in soc],
                      "loads.compute": [1 if s > 0.7 else 0 for s in soc]},
            "thermal": {"t": t, "chip_temp_c": [60 + 25 * math.sin(k / 20) for k in range(minutes)],
                        "plate_temp_c": [30.0] * minutes, "battery_temp_c": [15.0] * minutes,
                        "duty_limit": [1.0 if k % 50 < 30 else 0.7 for k in range(minutes)],
                        "setpoint_c": [82.0] * minutes},
            "jobs": {"t": t, "running_job": running, "progress": progress,
                     "duty": [0.9 if r else 0.0 for r in running],
                     "sim_flips": [k // 20 for k in range(minutes)]},
            "radiation": {"t": t, "upsets": [k // 25 for k in range(minutes)]},
            "comms": {"t": t, "store_packets": [0 if c else k % 100 for k, c in
                                                enumerate(contact)],
                      "in_contact": contact},
        },
        latest={"world": {"energy_wh": {"solar_used_wh": 900.0, "load_wh": 800.0}}},
        events=[
            {"t": t0 + 2400, "app": "comms", "name": "CONTACT", "severity": "INFO", "text": "",
             "args": {"state": "start", "station": "svalbard"}},
            {"t": t0 + 3000, "app": "comms", "name": "CONTACT", "severity": "INFO", "text": "",
             "args": {"state": "end", "station": "svalbard"}},
            {"t": t0 + 3700, "app": "radiation", "name": "UPSET", "severity": "INFO",
             "text": "", "args": {"outcome": "corrected"}},
            {"t": t0 + 3900, "app": "radiation", "name": "UPSET", "severity": "INFO",
             "text": "", "args": {"outcome": "rolled-back"}},
        ],
        ground=[{"t": t0 + 2410, "what": "uplink", "job": 1, "kind": "mlp_train", "text": ""},
                {"t": t0 + 2420, "what": "uplink", "job": 2, "kind": "matmul", "text": ""},
                {"t": t0 + 6000, "what": "kill", "app": "jobs", "text": "SIGKILL jobs"},
                {"t": t0 + 8420, "what": "download", "job": 1, "text": ""},
                {"t": t0 + 8430, "what": "verify", "job": 1, "ok": True, "text": ""}])


def test_every_figure_and_page_is_written_and_valid(tmp_path: Path) -> None:
    rec = crafted()
    summary = summarize(rec, {"orbits": 2.0, "speed": 200.0, "seed": 7, "end": rec.t0 + 12000,
                              "period_s": PERIOD}, [], completeness([], [], {}))
    table = format_summary(summary)
    data = {**summary.to_json(), "table": table}
    written = write_report(tmp_path, rec, data, table, rec.t0 + 12000, PERIOD)
    names = {p.name for p in written}
    assert {"overview.png", *FIGURES, "report.md", "report.html", "summary.json",
            "timeline.json"} <= names
    for name in ("overview.png", *FIGURES):
        raw = (tmp_path / name).read_bytes()
        assert raw.startswith(PNG_MAGIC), name
        height, width = matplotlib.image.imread(tmp_path / name).shape[:2]
        assert width >= 1000 and height >= 350, (name, width, height)
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    for name in ("overview.png", *FIGURES):
        assert f'src="{name}"' in html and f"]({name})" in md
    assert "Mission summary" in html and "Mission summary" in md and "seed 7" in md
    assert json.loads((tmp_path / "summary.json").read_text())["mission"]["seed"] == 7


def test_an_empty_recording_still_draws(tmp_path: Path) -> None:
    """A mission cut short before any telemetry: empty plots, not a crash."""
    rec = Recording(t0=1000.0)
    write_report(tmp_path, rec, {"mission": {}}, "", 2000.0, PERIOD)
    assert (tmp_path / "overview.png").read_bytes().startswith(PNG_MAGIC)


def test_the_report_is_drawn_again_from_its_directory(tmp_path: Path,
                                                      capsys: object) -> None:
    rec = crafted(60)
    summary = {"mission": {"end": rec.t0 + 3600, "period_s": PERIOD}, "table": "T"}
    write_report(tmp_path, rec, summary, "T", rec.t0 + 3600, PERIOD)
    (tmp_path / "soc.png").unlink()
    assert main([str(tmp_path)]) == 0
    assert (tmp_path / "soc.png").read_bytes().startswith(PNG_MAGIC)


def test_redrawing_a_directory_that_is_not_a_report_says_why(tmp_path: Path,
                                                             capsys: object) -> None:
    assert main([str(tmp_path)]) == 1
    (tmp_path / "timeline.json").write_text("{not json", encoding="utf-8")
    assert main([str(tmp_path)]) == 1
    (tmp_path / "timeline.json").write_text('{"t0": 1}', encoding="utf-8")
    assert main([str(tmp_path)]) == 1
    assert main([]) == 2
    err = capsys.readouterr().err  # type: ignore[attr-defined]
    assert "cannot draw the report" in err and "recording" in err and "usage" in err
