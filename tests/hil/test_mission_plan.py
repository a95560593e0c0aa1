"""The mission plan (predictions from the world model) and the live timeline's lines."""

from __future__ import annotations

import io
import itertools

import pytest

from flight.app.clock import parse_epoch
from hil.mission.plan import (
    DEFAULT_EPOCH,
    Plan,
    PlanError,
    Settings,
    Window,
    make_plan,
    met,
    predict,
    world_config,
)
from hil.mission.recorder import Recorder
from hil.mission.timeline import Timeline

WORLD = {"seed": 1, "step_s": 1.0, "altitude_km": 650.0, "inclination_deg": -1.0,
         "ltan_h": 18.0, "stations": "svalbard,troll", "publish_period_s": 2.0,
         "demand": 0.0}
CONFIG = {"apps": {"world": WORLD}}
T0 = parse_epoch(DEFAULT_EPOCH) or 0.0


def test_three_orbits_of_the_default_epoch_have_eclipses_passes_and_the_saa() -> None:
    period = 97.73 * 60
    passes, eclipses, saa = predict(world_config(WORLD), T0, T0 + 3 * period)
    assert len(eclipses) == 3 and all(17 * 60 < e.length_s < 21 * 60 for e in eclipses)
    assert {p.label for p in passes} == {"svalbard", "troll"} and len(passes) >= 5
    assert len(saa) == 3  # the ground track crosses the SAA once an orbit from this epoch
    assert all(a.end <= b.start for a, b in itertools.pairwise(passes))


def test_the_mission_ends_at_the_end_of_a_pass_unless_a_duration_is_given() -> None:
    plan = make_plan(Settings(), CONFIG, T0, T0 + 60)
    assert 3.0 <= plan.length_s / plan.period_s <= 3.6
    assert any(abs(p.end - plan.end) < 1 for p in plan.passes)
    exact = make_plan(Settings(orbits=None, duration_s=30.0, speed=100.0), CONFIG, T0, T0)
    assert exact.end == T0 + 3000.0
    lines = plan.describe()
    assert "orbits of 97.7 min" in lines[0] and lines[1].startswith("passes:")
    assert "T+" in lines[2] and lines[3].startswith("SAA:")


def test_a_configuration_without_a_world_cannot_be_planned() -> None:
    with pytest.raises(PlanError, match="no world app"):
        make_plan(Settings(), {"apps": {}}, T0, T0)


@pytest.mark.parametrize(("settings", "words"), [
    (Settings(speed=0.5), "--speed"), (Settings(speed=float("nan")), "--speed"),
    (Settings(orbits=0.0), "--orbits"), (Settings(orbits=None, duration_s=0.5), "--duration"),
    (Settings(seed=-1), "--seed"), (Settings(upset_rate=1.0), "--upset-rate"),
    (Settings(epoch="yesterday"), "--epoch")])
def test_bad_settings_are_refused_with_the_option_named(settings: Settings, words: str) -> None:
    with pytest.raises(PlanError, match=words):
        settings.check()


def test_the_overrides_fly_in_contact_windows_and_the_operator_has_the_last_word() -> None:
    sets = Settings(speed=300.0, seed=9, sets=("apps.world.seed=4",)).overrides()
    assert "apps.comms.contact=world" in sets and "time.speed=300" in sets
    assert "apps.comms.contact=always" not in sets and "hal.stale_s=600" in sets
    assert sets.index("apps.world.seed=9") < sets.index("apps.world.seed=4")


def test_plan_helpers() -> None:
    plan = Plan(t0=0.0, end=1000.0, period_s=500.0, speed=10.0,
                passes=[Window(100.0, 200.0, "troll")])
    assert plan.fraction(250.0) == 0.25 and plan.fraction(-5) == 0.0 and plan.fraction(2e3) == 1
    assert plan.orbit(0.0) == 1 and plan.orbit(600.0) == 2 and plan.at(0.5) == 500.0
    assert plan.pass_at(150.0) is not None and plan.pass_at(400.0) is None
    assert met(3725.0) == "T+01:02" and met(-5) == "T+00:00"


def test_the_timeline_in_plain_text_and_on_a_terminal() -> None:
    plan = Plan(t0=0.0, end=1000.0, period_s=500.0, speed=10.0)
    recorder = Recorder(t0=0.0, speed=10.0)
    recorder.take("tlm.world", 250.0, {"mission_t": 250.0, "steps": 250, "in_sun": False,
                                       "in_saa": True})
    recorder.take("tlm.power", 250.0, {"soc": 0.73})
    recorder.take("tlm.jobs", 250.0, {"running_job": 3, "progress": 0.5, "queued": 2,
                                      "duty": 0.8, "duty_allowed": 0.9})
    plain, tty = io.StringIO(), io.StringIO()
    Timeline(plan, recorder, plain, tty=False).status()
    line = plain.getvalue()
    assert "[#####" in line and "ECLIPSE+SAA" in line and "SoC 73%" in line
    assert "job #3 50%, 2 queued" in line and "duty<=0.90 ran 0.80" in line
    assert line.isascii()
    terminal = Timeline(plan, recorder, tty, tty=True)
    terminal.event({"t": 300.0, "app": "comms", "name": "CONTACT", "severity": "INFO",
                    "text": "", "args": {"state": "start", "station": "troll", "stored": 12}})
    terminal.event({"t": 300.0, "app": "health", "name": "LIMIT", "severity": "WARNING",
                    "text": "cpu", "args": {}})
    terminal.event({"t": 301.0, "app": "x", "name": "SOMETHING", "severity": "ERROR",
                    "text": "went wrong", "args": {}})
    out = tty.getvalue()
    assert "AOS troll" in out and "12 telemetry packets" in out and "\x1b[" in out
    assert "cpu" not in out and "x: went wrong" in out


def test_transitions_of_light_and_the_saa_are_told_once() -> None:
    plan = Plan(t0=0.0, end=1000.0, period_s=500.0, speed=10.0)
    out = io.StringIO()
    tl = Timeline(plan, Recorder(0.0, 10.0), out, tty=False)
    for t, sun, saa in ((1, True, False), (2, True, False), (3, False, True), (4, False, True),
                        (5, True, False)):
        tl.world(float(t), {"in_sun": sun, "in_saa": saa})
    text = out.getvalue()
    assert text.count("eclipse:") == 1 and text.count("sunrise:") == 1
    assert text.count("entering the South Atlantic Anomaly") == 1
    assert text.count("leaving the South Atlantic Anomaly") == 1
