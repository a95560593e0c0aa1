"""Ground stations and the SAA region."""

from __future__ import annotations

import math

import pytest

from hil.world.orbit import CircularOrbit, OrbitConfig, eci_to_ecef
from hil.world.saa import DEFAULT_SAA, SaaRegion, in_saa
from hil.world.stations import CATALOGUE, Station, in_contact, stations_from_names
from tests.world.world_helpers import unix


def test_elevation_geometry() -> None:
    st = CATALOGUE["svalbard"]
    above = tuple(c + 650.0 * u for c, u in zip(st.ecef, st.up, strict=True))
    assert st.elevation_deg(above) == pytest.approx(90.0)
    antipode = tuple(-c for c in st.ecef)
    assert st.elevation_deg(antipode) == pytest.approx(-90.0, abs=0.2)  # geodetic up


def test_catalogue_lookup() -> None:
    names = [s.name for s in stations_from_names("svalbard, Troll")]
    assert names == ["svalbard", "troll"]
    assert CATALOGUE["svalbard"].lat_deg == 78.23 and CATALOGUE["svalbard"].mask_deg == 5.0
    with pytest.raises(ValueError, match="unknown ground station"):
        stations_from_names("atlantis")


def test_in_contact_picks_the_highest() -> None:
    a, b = Station("a", 0.0, 0.0), Station("b", 0.0, 10.0)
    over_a = tuple(c + 650.0 * u for c, u in zip(a.ecef, a.up, strict=True))
    assert in_contact([b, a], over_a) == "a"
    assert in_contact([b], tuple(-c for c in a.ecef)) is None


def passes(station: str, days: float = 1.0, dt: float = 5.0) -> list[float]:
    """Durations (min) of the station's passes of the default 650 km SSO."""
    t0 = unix(2025, 4, 1)
    orbit = CircularOrbit.from_config(OrbitConfig(), t0)
    stations = stations_from_names(station)
    out, run = [], 0.0
    for k in range(round(days * 86400 / dt)):
        t = t0 + k * dt
        if in_contact(stations, eci_to_ecef(orbit.position_eci(t), t)):
            run += dt
        elif run:
            out.append(run / 60.0)
            run = 0.0
    return out


def test_svalbard_sees_most_orbits() -> None:
    durations = passes("svalbard")
    orbits_per_day = 86400 / CircularOrbit.from_config(OrbitConfig(), 0.0).period_s
    assert len(durations) >= 0.6 * orbits_per_day
    assert all(0.2 < d <= 12.0 for d in durations)
    assert max(durations) > 8.0  # near-overhead passes last ~10-11 min at 650 km
    assert sum(durations) / len(durations) > 4.0


def test_saa_region() -> None:
    assert in_saa(-27.0, -45.0)
    assert in_saa(-30.0, -80.0)
    assert not in_saa(-27.0, 30.0)
    assert not in_saa(40.0, -45.0)
    assert not in_saa(78.0, 15.0)
    wrapped = SaaRegion(center_lat_deg=0.0, center_lon_deg=175.0, semi_lat_deg=5,
                        semi_lon_deg=10)
    assert wrapped.contains(0.0, -178.0)  # across the date line
    assert DEFAULT_SAA.contains(-27.0, -45.0 + 360.0)


def test_saa_fraction_of_a_polar_orbit_day() -> None:
    t0 = unix(2025, 4, 1)
    orbit = CircularOrbit.from_config(OrbitConfig(), t0)
    inside = 0
    n = 8640
    for k in range(n):
        t = t0 + 10.0 * k
        r = eci_to_ecef(orbit.position_eci(t), t)
        lat = math.degrees(math.asin(r[2] / orbit.a_km))
        lon = math.degrees(math.atan2(r[1], r[0]))
        inside += in_saa(lat, lon)
    assert 0.02 < inside / n < 0.15
