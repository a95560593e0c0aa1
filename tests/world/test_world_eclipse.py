"""Eclipse: cylindrical shadow stepped over an orbit against the closed form; β over a year."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hil.world.eclipse import beta_star_rad, eclipse_fraction, in_shadow
from hil.world.model import Inputs, World, WorldConfig
from hil.world.orbit import CircularOrbit, OrbitConfig, period_s
from hil.world.sun import beta_angle_rad, sun_direction_eci
from tests.world.world_helpers import unix

SUN_AT_EQUINOX = (1.0, 0.0, 0.0)  # the vernal equinox direction


def stepped_eclipse_min(altitude_km: float, beta_deg: float) -> float:
    """Minutes in shadow over one orbit, 1 s steps, with the sun frozen at the vernal equinox.

    A polar orbit (i = 90°) with node Ω = β has its normal (sin Ω, -cos Ω, 0), so sin β = sin Ω.
    """
    orbit = CircularOrbit.from_config(
        OrbitConfig(altitude_km=altitude_km, inclination_deg=90.0, raan_deg=beta_deg), 0.0)
    assert math.degrees(beta_angle_rad(orbit.normal_eci(0.0), SUN_AT_EQUINOX)) == pytest.approx(
        beta_deg, abs=1e-9)
    n = math.ceil(orbit.period_s)
    dark = sum(in_shadow(orbit.position_eci(float(k)), SUN_AT_EQUINOX) for k in range(n))
    return dark / 60.0 * orbit.period_s / n


def closed_form_min(altitude_km: float, beta_deg: float) -> float:
    return eclipse_fraction(math.radians(beta_deg), altitude_km) * period_s(altitude_km) / 60.0


@pytest.mark.parametrize(("altitude", "beta", "minutes"), [
    (650.0, 0.0, 35.4), (650.0, 60.0, 17.8), (400.0, 0.0, 36.1)])
def test_stepped_shadow_matches_field_notes(altitude: float, beta: float, minutes: float) -> None:
    assert stepped_eclipse_min(altitude, beta) == pytest.approx(minutes, abs=0.3)
    assert closed_form_min(altitude, beta) == pytest.approx(minutes, abs=0.1)


def test_no_eclipse_above_beta_star() -> None:
    assert math.degrees(beta_star_rad(650.0)) == pytest.approx(65.2, abs=0.1)
    assert stepped_eclipse_min(650.0, 65.5) == 0.0
    assert closed_form_min(650.0, 65.5) == 0.0
    assert stepped_eclipse_min(650.0, 64.5) > 0.0


@settings(max_examples=15, deadline=None)
@given(beta=st.floats(-64.0, 64.0), alt=st.floats(350.0, 1200.0))
def test_stepped_matches_closed_form(beta: float, alt: float) -> None:
    assert stepped_eclipse_min(alt, beta) == pytest.approx(closed_form_min(alt, beta), abs=0.1)


def test_dawn_dusk_eclipse_season_is_around_the_june_solstice() -> None:
    """β of the default 650 km LTAN 18:00 SSO, daily over 2025 (FIELD_NOTES: ~88 days)."""
    t0 = unix(2025, 1, 1)
    orbit = CircularOrbit.from_config(OrbitConfig(), t0)
    limit = beta_star_rad(orbit.altitude_km)
    season = []
    worst_min = 0.0
    for day in range(365):
        t = t0 + day * 86400.0
        beta = beta_angle_rad(orbit.normal_eci(t), sun_direction_eci(t))
        if abs(beta) < limit:
            season.append(day)
            worst_min = max(worst_min, closed_form_min(orbit.altitude_km, math.degrees(beta)))
    june_solstice = 171
    assert 75 <= len(season) <= 105
    assert season == list(range(season[0], season[-1] + 1))  # one contiguous season
    assert abs((season[0] + season[-1]) / 2 - june_solstice) < 10
    assert 15.0 < worst_min <= 21.0
    december = range(355 - 30, 355 + 10)
    assert not set(season) & set(december)


def test_world_in_sun_matches_closed_form_in_the_season() -> None:
    """The full model, stepped 1 s over one orbit at the June solstice."""
    world = World(WorldConfig(), unix(2025, 6, 21))
    s0 = world.sensors()
    dark = 0
    n = round(world.orbit.period_s)
    for _ in range(n):
        world.step(1.0, Inputs())
        dark += not world.sensors()["in_sun"]
    expected = s0["eclipse_fraction_closed_form"] * world.orbit.period_s / 60.0
    assert 15.0 < expected < 21.0
    assert dark / 60.0 == pytest.approx(expected, abs=0.3)
