"""Orbit: period, sun-synchronous inclination, LTAN, J2 drift, GMST and ground track."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hil.world.constants import SSO_NODE_RATE_RAD_S
from hil.world.orbit import (
    CircularOrbit,
    OrbitConfig,
    gmst_rad,
    period_s,
    sso_inclination_deg,
    subsatellite_latlon_deg,
)
from hil.world.sun import sun_right_ascension_rad
from tests.world.world_helpers import unix


def test_period_matches_field_notes() -> None:
    assert period_s(650.0) / 60.0 == pytest.approx(97.7, abs=0.2)
    assert period_s(400.0) / 60.0 == pytest.approx(92.6, abs=0.2)


def test_sso_inclination_and_node_rate() -> None:
    inc = sso_inclination_deg(650.0)
    assert inc == pytest.approx(97.99, abs=0.05)  # ~98° (FIELD_NOTES)
    orbit = CircularOrbit.from_config(OrbitConfig(altitude_km=650.0), unix(2025, 1, 1))
    assert orbit.raan_rate_rad_s == pytest.approx(SSO_NODE_RATE_RAD_S, rel=1e-9)
    # 360° per tropical year, in degrees per day.
    assert math.degrees(orbit.raan_rate_rad_s) * 86400 == pytest.approx(0.9856, abs=1e-4)


def test_no_sso_at_absurd_altitude() -> None:
    with pytest.raises(ValueError):
        sso_inclination_deg(20000.0)


@pytest.mark.parametrize("ltan", [6.0, 10.5, 12.0, 18.0])
def test_ltan_places_the_node(ltan: float) -> None:
    t0 = unix(2025, 3, 1)
    orbit = CircularOrbit.from_config(OrbitConfig(ltan_h=ltan), t0)
    offset = (orbit.raan0_rad - sun_right_ascension_rad(t0)) % (2 * math.pi)
    assert math.degrees(offset) == pytest.approx(((ltan - 12.0) * 15.0) % 360.0, abs=1e-9)


def test_raan_overrides_ltan() -> None:
    orbit = CircularOrbit.from_config(OrbitConfig(raan_deg=42.0, inclination_deg=51.6), 0.0)
    assert math.degrees(orbit.raan0_rad) == pytest.approx(42.0)
    assert math.degrees(orbit.inclination_rad) == pytest.approx(51.6)


@given(t=st.floats(0.0, 3.2e7), alt=st.floats(300.0, 1500.0), inc=st.floats(0.0, 180.0))
def test_position_on_the_circle_and_in_the_plane(t: float, alt: float, inc: float) -> None:
    orbit = CircularOrbit.from_config(
        OrbitConfig(altitude_km=alt, inclination_deg=inc, raan_deg=10.0), 1.7e9)
    r = orbit.position_eci(1.7e9 + t)
    n = orbit.normal_eci(1.7e9 + t)
    assert math.dist(r, (0, 0, 0)) == pytest.approx(orbit.a_km, rel=1e-12)
    assert abs(sum(a * b for a, b in zip(r, n, strict=True))) < 1e-6 * orbit.a_km


def test_orbit_number_counts_node_passes() -> None:
    t0 = unix(2025, 5, 1)
    orbit = CircularOrbit.from_config(OrbitConfig(), t0)
    assert orbit.orbit_number(t0) == 0
    assert orbit.orbit_number(t0 + orbit.period_s - 1) == 0
    assert orbit.orbit_number(t0 + orbit.period_s + 1) == 1
    assert orbit.orbit_number(t0 + 10.5 * orbit.period_s) == 10


def test_gmst_reference_values() -> None:
    # At J2000.0 GMST is 280.46061837° by definition of the formula.
    assert math.degrees(gmst_rad(unix(2000, 1, 1, 12))) == pytest.approx(280.46061837, abs=1e-6)
    # Vallado, example 3-5: 1992-08-20 12:14 UT1 → GMST 152.578788°.
    t = unix(1992, 8, 20, 12, 14)
    assert math.degrees(gmst_rad(t)) == pytest.approx(152.578788, abs=1e-3)


def test_ground_track_starts_at_the_equator_and_reaches_the_inclination() -> None:
    t0 = unix(2025, 5, 1)
    orbit = CircularOrbit.from_config(OrbitConfig(), t0)
    lat0, _ = subsatellite_latlon_deg(orbit.position_eci(t0), t0)
    assert lat0 == pytest.approx(0.0, abs=1e-9)
    quarter = t0 + orbit.period_s / 4
    lat, _ = subsatellite_latlon_deg(orbit.position_eci(quarter), quarter)
    assert lat == pytest.approx(180.0 - math.degrees(orbit.inclination_rad), abs=1e-6)


def test_world_geometry_agrees_with_the_orbit_module() -> None:
    """World.environment inlines the orbit formulas for speed; they must stay the same."""
    from hil.world.model import World, WorldConfig

    t0 = unix(2025, 8, 1)
    world = World(WorldConfig(), t0)
    for k in range(0, 200_000, 7_919):
        t = t0 + k
        env = world.environment(t)
        r = world.orbit.position_eci(t)
        assert math.dist(env.r_eci, r) < 1e-6
        lat, lon = subsatellite_latlon_deg(r, t)
        assert env.lat_deg == pytest.approx(lat, abs=1e-9)
        assert env.lon_deg == pytest.approx(lon, abs=1e-9)
