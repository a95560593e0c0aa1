"""Mission time: anchored, accelerated, shared through the run directory."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flight.app import clock as clock_module
from flight.app.clock import ClockAnchor, MissionClock, parse_epoch
from flight.app.timer import MissionTimer


def test_epoch_parsing() -> None:
    assert parse_epoch("") is None
    assert parse_epoch("2027-06-21T00:00:00Z") == 1813536000.0
    assert parse_epoch("2027-06-21T00:00:00") == 1813536000.0
    with pytest.raises(ValueError):
        parse_epoch("midsummer")


def test_unanchored_clock_is_utc() -> None:
    assert abs(MissionClock().now() - time.time()) < 0.01
    assert MissionClock().speed == 1.0


def test_accelerated_clock_runs_speed_times_faster(monkeypatch: pytest.MonkeyPatch) -> None:
    wall = [5000.0]  # the monotonic clock, driven by the test (no scheduling in the way)
    monkeypatch.setattr(clock_module, "time", SimpleNamespace(monotonic=lambda: wall[0],
                                                              time=time.time))
    clock = MissionClock.starting(1_000_000.0, speed=300.0)
    assert clock.now() == 1_000_000.0
    wall[0] += 0.02
    assert clock.now() == pytest.approx(1_000_006.0)
    target = clock.now() + 30.0  # 30 mission seconds = 0.1 s of wall time
    assert clock.monotonic_at(target) == pytest.approx(wall[0] + 0.1)


def test_anchor_round_trips_through_the_run_directory(tmp_path: Path) -> None:
    clock = MissionClock.starting(parse_epoch("2027-06-21T00:00:00Z"), speed=50.0)
    clock.save(tmp_path / "clock.json")
    other = MissionClock.from_file(tmp_path / "clock.json")
    assert other.anchor == clock.anchor
    assert abs(other.now() - clock.now()) < 0.01
    assert MissionClock.from_file(tmp_path / "absent.json").anchor is None


@given(st.one_of(st.none(), st.integers(), st.text(), st.lists(st.floats()),
                 st.dictionaries(st.sampled_from(["mission0", "mono0", "speed"]),
                                 st.one_of(st.floats(), st.text(), st.none()))))
def test_a_corrupt_anchor_is_refused_clearly(data: object) -> None:
    try:
        anchor = ClockAnchor.from_json(data)
    except ValueError:
        return
    assert anchor.speed > 0


def test_timer_fires_per_mission_period_and_counts_overruns(
        monkeypatch: pytest.MonkeyPatch) -> None:
    wall = [100.0]
    monkeypatch.setattr(clock_module, "time", SimpleNamespace(monotonic=lambda: wall[0],
                                                              time=time.time))
    clock = MissionClock.starting(0.0, speed=1000.0)  # 10 mission s = 10 ms
    timer = MissionTimer(clock, 10.0)
    assert timer.due()  # the first period is due at once
    assert not timer.due()
    assert timer.next_deadline() == pytest.approx(wall[0] + 0.010)
    wall[0] += 0.010
    assert timer.due() and timer.overruns == 0
    wall[0] += 0.035  # three more periods pass while the loop is elsewhere
    assert timer.due()
    assert timer.overruns == 2
    assert timer.last_dt == pytest.approx(30.0)
