"""Earth shadow: the cylindrical shadow test and the closed-form eclipse fraction.

Cylindrical shadow (Earth's shadow as a cylinder of radius R along -ŝ, no penumbra): at LEO the
umbra cone narrows by only ~0.5 % over 1,000 km and the penumbra lasts ~10 s, so the cylinder
gets eclipse lengths right to a few seconds (Wertz & Larson, *Space Mission Analysis and
Design*, §5.1; FIELD_NOTES "Orbit and sun").
"""

from __future__ import annotations

import math

from hil.world.constants import R_EARTH_KM


def in_shadow(r_eci: tuple[float, float, float], sun: tuple[float, float, float],
              radius_km: float = R_EARTH_KM) -> bool:
    """True when ``r_eci`` (km) is inside the cylindrical shadow; ``sun`` is a unit vector."""
    x, y, z = r_eci
    along = x * sun[0] + y * sun[1] + z * sun[2]
    if along >= 0.0:
        return False
    perp2 = x * x + y * y + z * z - along * along
    return perp2 < radius_km * radius_km


def beta_star_rad(altitude_km: float, radius_km: float = R_EARTH_KM) -> float:
    """β* = asin(R/(R+h)): above it a circular orbit sees no eclipse (650 km → 65.2°)."""
    return math.asin(radius_km / (radius_km + altitude_km))


def eclipse_fraction(beta_rad: float, altitude_km: float, radius_km: float = R_EARTH_KM) -> float:
    """Fraction of a circular orbit spent in the cylindrical shadow (FIELD_NOTES formula).

    f = (1/π)·acos( sqrt(h² + 2Rh) / ((R+h)·cos β) ) for |β| < β*, else 0.
    Checks: 650 km → 0.362 at β = 0 (35.4 min of 97.7), 17.8 min at β = 60°.
    """
    if abs(beta_rad) >= beta_star_rad(altitude_km, radius_km):
        return 0.0
    h = altitude_km
    arg = math.sqrt(h * h + 2.0 * radius_km * h) / ((radius_km + h) * math.cos(beta_rad))
    return math.acos(min(1.0, arg)) / math.pi
