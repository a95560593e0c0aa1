"""Sun ephemeris: declination at solstices/equinox, distance over the year, β."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hil.world.sun import (
    beta_angle_rad,
    flux_factor,
    sun_declination_rad,
    sun_direction_eci,
    sun_distance_au,
    sun_right_ascension_rad,
)
from tests.world.world_helpers import unix


def test_declination_at_solstices_and_equinox() -> None:
    # 2025 June solstice 02:42 UTC, December solstice 15:03 UTC, March equinox 09:01 UTC.
    assert math.degrees(sun_declination_rad(unix(2025, 6, 21, 2, 42))) == pytest.approx(
        23.436, abs=0.01)
    assert math.degrees(sun_declination_rad(unix(2025, 12, 21, 15, 3))) == pytest.approx(
        -23.436, abs=0.01)
    assert math.degrees(sun_declination_rad(unix(2025, 3, 20, 9, 1))) == pytest.approx(
        0.0, abs=0.01)
    # At the March equinox the sun is at the vernal equinox direction (RA 0).
    ra = math.degrees(sun_right_ascension_rad(unix(2025, 3, 20, 9, 1)))
    assert min(ra, 360 - ra) < 0.02


def test_distance_perihelion_aphelion() -> None:
    # 2025: perihelion Jan 4 (0.98333 AU), aphelion Jul 3 (1.01664 AU).
    assert sun_distance_au(unix(2025, 1, 4, 13)) == pytest.approx(0.98333, abs=3e-4)
    assert sun_distance_au(unix(2025, 7, 3, 20)) == pytest.approx(1.01664, abs=3e-4)
    assert flux_factor(unix(2025, 1, 4)) == pytest.approx(1.034, abs=0.002)


@given(t=st.floats(0.0, 4.0e9))
def test_direction_is_unit(t: float) -> None:
    s = sun_direction_eci(t)
    assert math.dist(s, (0, 0, 0)) == pytest.approx(1.0, rel=1e-12)


def test_beta_is_elevation_above_plane() -> None:
    assert math.degrees(beta_angle_rad((0, 0, 1), (1, 0, 0))) == pytest.approx(0.0)
    assert math.degrees(beta_angle_rad((0, 0, 1), (0, 0, 1))) == pytest.approx(90.0)
    s = (math.cos(math.radians(30)), 0.0, math.sin(math.radians(30)))
    assert math.degrees(beta_angle_rad((0, 0, 1), s)) == pytest.approx(30.0)
