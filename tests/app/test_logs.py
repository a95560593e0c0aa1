"""Structured logs: one JSON object per line, with mission time and wall time."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from flight.app.logs import setup_logging


def test_json_lines_carry_mission_and_wall_time_and_extras(tmp_path: Path) -> None:
    log = setup_logging("fan", tmp_path, lambda: 1234.5)
    log.warning("stalled at %d rpm", 90, extra={"event": "STALLED"})
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("handler failed")
    for handler in logging.getLogger("sunlit").handlers:
        handler.flush()
    first, second = (json.loads(line) for line in
                     (tmp_path / "fan.log").read_text().splitlines())
    assert first["met"] == 1234.5 and first["wall"].endswith("+00:00")
    assert first["app"] == "fan" and first["level"] == "WARNING"
    assert first["msg"] == "stalled at 90 rpm" and first["event"] == "STALLED"
    assert "ValueError: boom" in second["exc"]
