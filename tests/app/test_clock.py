"""Mission time: anchored, accelerated, shared through the run directory."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

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


def test_accelerated_clock_runs_speed_times_faster() -> None:
    clock = MissionClock.starting(1_000_000.0, speed=300.0)
    m0, w0 = clock.now(), time.monotonic()
    while time.monotonic() - w0 < 0.02:
        pass
    m1, w1 = clock.now(), time.monotonic()
    assert m0 >= 1_000_000.0
    assert (m1 - m0) / (w1 - w0) == pytest.approx(300.0, rel=0.05)
    target = clock.now() + 30.0  # 30 mission seconds = 0.1 s of wall time
    assert clock.monotonic_at(target) - time.monotonic() == pytest.approx(0.1, abs=0.01)


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


def test_timer_fires_per_mission_period_and_counts_overruns() -> None:
    clock = MissionClock.starting(0.0, speed=1000.0)  # 10 mission s = 10 ms
    timer = MissionTimer(clock, 10.0)
    assert timer.due()  # the first period is due at once
    assert not timer.due()
    while time.monotonic() < timer.next_deadline():
        pass
    assert timer.due() and timer.overruns == 0
    deadline = time.monotonic() + 0.035  # sleep through three more periods
    while time.monotonic() < deadline:
        pass
    assert timer.due()
    assert timer.overruns >= 2
    assert timer.last_dt >= 30.0
