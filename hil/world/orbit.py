"""Circular orbit with J2 node drift, sun-synchronous inclination and LTAN, and ground track.

Why circular: the reference mission (FIELD_NOTES: ~650 km dawn-dusk sun-synchronous, Project
Suncatcher, Starcloud-1) flies a frozen, near-circular orbit, and every FIELD_NOTES check
(period, eclipse fraction) is stated for a circular one.

Only the secular J2 effect on the node is modelled (Vallado, *Fundamentals of Astrodynamics and
Applications*, eq. 9-41): Ω̇ = -1.5·n·J2·(R/a)²·cos i. It is what makes an orbit
sun-synchronous (Ω̇ = 360°/365.2422 d). The along-track motion uses the Keplerian mean motion,
so the period is the two-body one FIELD_NOTES checks (650 km → 97.7 min); the J2 along-track
correction (~0.1 %) and the apsidal motion are left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from hil.world.constants import (
    J2,
    J2000_UNIX,
    MU_EARTH_KM3_S2,
    R_EARTH_KM,
    SECONDS_PER_DAY,
    SSO_NODE_RATE_RAD_S,
)
from hil.world.sun import sun_right_ascension_rad

TWO_PI = 2.0 * math.pi


def mean_motion_rad_s(altitude_km: float) -> float:
    """Keplerian mean motion n = sqrt(mu/a³) of a circular orbit at ``altitude_km``."""
    a = R_EARTH_KM + altitude_km
    return math.sqrt(MU_EARTH_KM3_S2 / (a * a * a))


def period_s(altitude_km: float) -> float:
    """Orbital period 2π/n in seconds (FIELD_NOTES: 400 km → 92.6 min, 650 km → 97.7 min)."""
    return TWO_PI / mean_motion_rad_s(altitude_km)


def node_rate_rad_s(altitude_km: float, inclination_rad: float) -> float:
    """Secular J2 drift of the ascending node, Ω̇ = -1.5·n·J2·(R/a)²·cos i (rad/s)."""
    a = R_EARTH_KM + altitude_km
    n = mean_motion_rad_s(altitude_km)
    return -1.5 * n * J2 * (R_EARTH_KM / a) ** 2 * math.cos(inclination_rad)


def sso_inclination_deg(altitude_km: float) -> float:
    """Inclination whose J2 node drift equals 360° per tropical year (650 km → 97.99°).

    Raises ValueError where no such inclination exists (cos i would have to exceed 1: above
    roughly 5,970 km).
    """
    a = R_EARTH_KM + altitude_km
    n = mean_motion_rad_s(altitude_km)
    cos_i = -SSO_NODE_RATE_RAD_S / (1.5 * n * J2 * (R_EARTH_KM / a) ** 2)
    if not -1.0 <= cos_i <= 1.0:
        raise ValueError(f"no sun-synchronous inclination at {altitude_km} km")
    return math.degrees(math.acos(cos_i))


def gmst_rad(t_unix: float) -> float:
    """Greenwich mean sidereal time for UNIX time ``t_unix`` (UT1 ≈ UTC), radians in [0, 2π).

    The linear form of the IAU 1982 expression (Vallado eq. 3-45 / Astronomical Almanac B6):
    GMST = 280.46061837° + 360.98564736629°·d, d = days from J2000.0. Good to well under a
    second of time over decades, far finer than anything here needs.
    """
    d = (t_unix - J2000_UNIX) / SECONDS_PER_DAY
    return math.radians((280.46061837 + 360.98564736629 * d) % 360.0)


@dataclass(frozen=True)
class OrbitConfig:
    """How to build the orbit; see :meth:`CircularOrbit.from_config`.

    altitude_km: circular altitude above the equatorial radius.
    inclination_deg: None = the sun-synchronous inclination for the altitude.
    ltan_h: local time of the ascending node in hours (18.0 = dawn-dusk, node at dusk); used
        when ``raan_deg`` is None.
    raan_deg: right ascension of the ascending node at epoch; overrides ``ltan_h``.
    arg_latitude_deg: argument of latitude at epoch (0 = at the ascending node).
    """

    altitude_km: float = 650.0
    inclination_deg: float | None = None
    ltan_h: float = 18.0
    raan_deg: float | None = None
    arg_latitude_deg: float = 0.0


@dataclass(frozen=True)
class CircularOrbit:
    """A circular orbit: altitude, inclination, node at epoch, argument of latitude at epoch.

    Angles are radians; ``epoch_unix`` is the UNIX time at which ``raan0_rad`` and
    ``arg_lat0_rad`` hold. Derived quantities are precomputed, so a position costs four
    trigonometric calls.
    """

    altitude_km: float
    inclination_rad: float
    raan0_rad: float
    arg_lat0_rad: float
    epoch_unix: float
    # Derived in __post_init__ (not constructor arguments).
    a_km: float = field(init=False, repr=False, compare=False, default=0.0)
    n_rad_s: float = field(init=False, repr=False, compare=False, default=0.0)
    period_s: float = field(init=False, repr=False, compare=False, default=0.0)
    raan_rate_rad_s: float = field(init=False, repr=False, compare=False, default=0.0)
    cos_i: float = field(init=False, repr=False, compare=False, default=0.0)
    sin_i: float = field(init=False, repr=False, compare=False, default=0.0)

    def __post_init__(self) -> None:
        if not self.altitude_km > 0.0:
            raise ValueError(f"altitude must be > 0 km, got {self.altitude_km}")
        a = R_EARTH_KM + self.altitude_km
        n = mean_motion_rad_s(self.altitude_km)
        derived = {
            "a_km": a,
            "n_rad_s": n,
            "period_s": TWO_PI / n,
            "raan_rate_rad_s": node_rate_rad_s(self.altitude_km, self.inclination_rad),
            "cos_i": math.cos(self.inclination_rad),
            "sin_i": math.sin(self.inclination_rad),
        }
        for key, value in derived.items():
            object.__setattr__(self, key, value)

    @classmethod
    def from_config(cls, config: OrbitConfig, epoch_unix: float) -> CircularOrbit:
        """Resolve SSO inclination (when None) and the node from ``raan_deg`` or the LTAN.

        LTAN → node: Ω0 = RA_sun(epoch) + (LTAN - 12 h)·15°/h (the node sits LTAN hours of local
        solar time from the sub-solar meridian). RA_sun is the true sun's right ascension, so the
        equation of time (±4°) shows up in β over the year, as it does for a real orbit whose
        node follows the mean sun.
        """
        inc_deg = config.inclination_deg
        if inc_deg is None:
            inc_deg = sso_inclination_deg(config.altitude_km)
        if config.raan_deg is not None:
            raan0 = math.radians(config.raan_deg)
        else:
            raan0 = sun_right_ascension_rad(epoch_unix) + math.radians(
                (config.ltan_h - 12.0) * 15.0)
        return cls(
            altitude_km=float(config.altitude_km),
            inclination_rad=math.radians(inc_deg),
            raan0_rad=raan0 % TWO_PI,
            arg_lat0_rad=math.radians(config.arg_latitude_deg),
            epoch_unix=float(epoch_unix),
        )

    def raan_rad(self, t_unix: float) -> float:
        """Ω(t) = Ω0 + Ω̇·(t - epoch) (not wrapped)."""
        return self.raan0_rad + self.raan_rate_rad_s * (t_unix - self.epoch_unix)

    def arg_latitude_rad(self, t_unix: float) -> float:
        """u(t) = u0 + n·(t - epoch) (not wrapped; counts whole orbits)."""
        return self.arg_lat0_rad + self.n_rad_s * (t_unix - self.epoch_unix)

    def orbit_number(self, t_unix: float) -> int:
        """Ascending-node passes since the epoch's orbit began (0 during the first orbit)."""
        return math.floor(self.arg_latitude_rad(t_unix) / TWO_PI)

    def position_eci(self, t_unix: float) -> tuple[float, float, float]:
        """Position in the true-of-date equatorial frame (ECI), km."""
        u = self.arg_latitude_rad(t_unix)
        raan = self.raan_rad(t_unix)
        cu, su = math.cos(u), math.sin(u)
        co, so = math.cos(raan), math.sin(raan)
        a = self.a_km
        sui = su * self.cos_i
        return (a * (co * cu - so * sui), a * (so * cu + co * sui), a * su * self.sin_i)

    def normal_eci(self, t_unix: float) -> tuple[float, float, float]:
        """Unit orbit normal h/|h| = (sin Ω sin i, -cos Ω sin i, cos i)."""
        raan = self.raan_rad(t_unix)
        return (math.sin(raan) * self.sin_i, -math.cos(raan) * self.sin_i, self.cos_i)


def eci_to_ecef(r_eci: tuple[float, float, float], t_unix: float) -> tuple[float, float, float]:
    """Rotate an ECI vector into the Earth-fixed frame by GMST (polar motion, nutation ignored)."""
    g = gmst_rad(t_unix)
    c, s = math.cos(g), math.sin(g)
    x, y, z = r_eci
    return (c * x + s * y, -s * x + c * y, z)


def subsatellite_latlon_deg(r_eci: tuple[float, float, float],
                            t_unix: float) -> tuple[float, float]:
    """Geocentric latitude and longitude (east, -180..180) under the satellite, degrees.

    Geocentric, not geodetic: the difference (≤ 0.2°) is below what the SAA outline or the
    ground-track display resolve.
    """
    x, y, z = r_eci
    r = math.sqrt(x * x + y * y + z * z)
    lat = math.degrees(math.asin(z / r))
    lon = math.degrees(math.atan2(y, x) - gmst_rad(t_unix))
    lon = (lon + 180.0) % 360.0 - 180.0
    return lat, lon
