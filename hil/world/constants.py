"""Physical constants and reference values used by the world model.

Every number here is cited so that a reader can check it; the FIELD_NOTES values are the
project's contract (``/work/shared/FIELD_NOTES.md``). Units are in the names.
"""

from __future__ import annotations

import math

#: Earth equatorial radius, WGS-84 (NIMA TR8350.2). FIELD_NOTES rounds it to 6378 km; the
#: difference moves the eclipse length by under 0.01 min.
R_EARTH_KM = 6378.137
#: WGS-84 flattening, used for the geodetic position of ground stations.
WGS84_FLATTENING = 1.0 / 298.257223563
#: Earth's gravitational parameter, EGM-96 / WGS-84 (Vallado, *Fundamentals of Astrodynamics*).
MU_EARTH_KM3_S2 = 398600.4418
#: Second zonal harmonic of the geopotential, EGM-96 (Vallado, table D-1).
J2 = 1.08263e-3
#: Earth rotation rate relative to the stars, WGS-84.
OMEGA_EARTH_RAD_S = 7.2921150e-5

#: Solar constant at 1 AU, W/m² (FIELD_NOTES; Kopp & Lean 2011: 1360.8 ± 0.5).
SOLAR_CONSTANT_W_M2 = 1361.0
#: Stefan-Boltzmann constant, W/(m²·K⁴) (FIELD_NOTES; CODATA 5.670374e-8).
SIGMA_W_M2_K4 = 5.670e-8
#: Mean obliquity of the ecliptic at J2000, degrees (Astronomical Almanac: 23.439°).
OBLIQUITY_DEG = 23.44
#: Tropical year, days: the period a sun-synchronous node has to follow.
TROPICAL_YEAR_DAYS = 365.2422
SECONDS_PER_DAY = 86400.0
#: Node drift rate of a sun-synchronous orbit: 360° per tropical year, in rad/s.
SSO_NODE_RATE_RAD_S = 2.0 * math.pi / (TROPICAL_YEAR_DAYS * SECONDS_PER_DAY)

#: Julian date of the UNIX epoch 1970-01-01T00:00:00 UTC.
UNIX_EPOCH_JD = 2440587.5
#: Julian date of J2000.0 (2000-01-01T12:00 TT).
J2000_JD = 2451545.0
#: UNIX seconds of J2000.0, taking UTC ≈ TT (the 64 s offset is far below the model's accuracy).
J2000_UNIX = (J2000_JD - UNIX_EPOCH_JD) * SECONDS_PER_DAY

#: Mean Earth albedo (Gilmore, *Spacecraft Thermal Control Handbook*, 0.3 ± 0.05 orbit average).
EARTH_ALBEDO = 0.3
#: Mean outgoing long-wave radiation of the Earth, W/m² (Gilmore: 237 ± 21 W/m²).
EARTH_IR_W_M2 = 237.0
#: Deep-space sink temperature, K (cosmic background ≈ 2.7 K).
T_SINK_K = 3.0
#: 0 °C in kelvin.
ZERO_C_K = 273.15

#: Bits in a mebibyte / kibibyte, for memory region sizes.
BITS_PER_MIB = 8 * 1024 * 1024
BITS_PER_KIB = 8 * 1024
