"""Sun direction, Earth-sun distance and the β angle.

The ephemeris is the low-precision solar formula of *The Astronomical Almanac* (section C,
"Low precision formulas for the Sun"): accurate to 0.01° in direction and 0.0003 AU in distance
between 1950 and 2050, which is ~100x finer than what the eclipse or power models resolve. Time
is UNIX seconds taken as TT (the ~69 s UTC-TT offset moves the sun by 0.001°).
"""

from __future__ import annotations

import math

from hil.world.constants import J2000_UNIX, SECONDS_PER_DAY

_DEG = math.pi / 180.0


def _ecliptic(t_unix: float) -> tuple[float, float, float]:
    """Ecliptic longitude λ (rad), obliquity ε (rad), distance (AU) at ``t_unix``."""
    n = (t_unix - J2000_UNIX) / SECONDS_PER_DAY
    mean_lon = (280.460 + 0.9856474 * n) % 360.0
    g = ((357.528 + 0.9856003 * n) % 360.0) * _DEG
    lam = (mean_lon + 1.915 * math.sin(g) + 0.020 * math.sin(2.0 * g)) * _DEG
    eps = (23.439 - 0.0000004 * n) * _DEG
    dist = 1.00014 - 0.01671 * math.cos(g) - 0.00014 * math.cos(2.0 * g)
    return lam, eps, dist


def sun_direction_eci(t_unix: float) -> tuple[float, float, float]:
    """Unit vector from the Earth to the Sun in the equatorial (ECI) frame."""
    lam, eps, _ = _ecliptic(t_unix)
    sl = math.sin(lam)
    return (math.cos(lam), math.cos(eps) * sl, math.sin(eps) * sl)


def sun_state(t_unix: float) -> tuple[float, float, float, float]:
    """Sun unit vector (x, y, z) and the flux factor (1 AU / r)², in one ephemeris evaluation.

    The world model calls this every step, so it shares the work of the two functions below.
    """
    lam, eps, dist = _ecliptic(t_unix)
    sl = math.sin(lam)
    return (math.cos(lam), math.cos(eps) * sl, math.sin(eps) * sl, 1.0 / (dist * dist))


def sun_distance_au(t_unix: float) -> float:
    """Earth-Sun distance in astronomical units (0.983 in early January, 1.017 in early July)."""
    return _ecliptic(t_unix)[2]


def flux_factor(t_unix: float) -> float:
    """Solar flux relative to the solar constant at 1 AU: (1/r)², 0.967 .. 1.035 over the year."""
    d = _ecliptic(t_unix)[2]
    return 1.0 / (d * d)


def sun_right_ascension_rad(t_unix: float) -> float:
    """Right ascension of the (true) Sun, radians in [0, 2π)."""
    lam, eps, _ = _ecliptic(t_unix)
    return math.atan2(math.cos(eps) * math.sin(lam), math.cos(lam)) % (2.0 * math.pi)


def sun_declination_rad(t_unix: float) -> float:
    """Declination of the Sun, radians."""
    lam, eps, _ = _ecliptic(t_unix)
    return math.asin(math.sin(eps) * math.sin(lam))


def beta_angle_rad(normal: tuple[float, float, float], sun: tuple[float, float, float]) -> float:
    """β: the Sun's elevation above the orbit plane, asin(ĥ·ŝ), radians in [-π/2, π/2]."""
    d = normal[0] * sun[0] + normal[1] * sun[1] + normal[2] * sun[2]
    return math.asin(max(-1.0, min(1.0, d)))
