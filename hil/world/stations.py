"""Ground stations: a small catalogue, elevation of the satellite, and contact.

Station coordinates are the public positions of polar ground stations that serve
sun-synchronous missions (KSAT, SSC, NASA NEN). A sun-synchronous orbit passes near each pole on
every orbit, so a high-latitude station sees most orbits: Svalbard (78° N) about 10 of the
~15 orbits a day. Passes last up to ~11 min at 650 km with a 5° mask.

Positions are geodetic on the WGS-84 ellipsoid; elevation is the angle of the line of sight
above the local horizontal (the ellipsoid normal). No refraction, no terrain: the mask covers it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from hil.world.constants import R_EARTH_KM, WGS84_FLATTENING

Vec = tuple[float, float, float]


@dataclass(frozen=True)
class Station:
    """A ground station: geodetic latitude/longitude (deg, east +), altitude (km), mask (deg).

    ``ecef`` (km) and ``up`` (unit ellipsoid normal) are derived at construction so that an
    elevation costs one dot product and one square root.
    """

    name: str
    lat_deg: float
    lon_deg: float
    alt_km: float = 0.0
    mask_deg: float = 5.0
    ecef: Vec = field(init=False, repr=False, compare=False, default=(0.0, 0.0, 0.0))
    up: Vec = field(init=False, repr=False, compare=False, default=(0.0, 0.0, 1.0))

    def __post_init__(self) -> None:
        lat, lon = math.radians(self.lat_deg), math.radians(self.lon_deg)
        e2 = WGS84_FLATTENING * (2.0 - WGS84_FLATTENING)
        n = R_EARTH_KM / math.sqrt(1.0 - e2 * math.sin(lat) ** 2)
        cl, sl, co, so = math.cos(lat), math.sin(lat), math.cos(lon), math.sin(lon)
        ecef = ((n + self.alt_km) * cl * co, (n + self.alt_km) * cl * so,
                (n * (1.0 - e2) + self.alt_km) * sl)
        object.__setattr__(self, "ecef", ecef)
        object.__setattr__(self, "up", (cl * co, cl * so, sl))

    def elevation_deg(self, r_ecef: Vec) -> float:
        """Elevation of the point ``r_ecef`` (km, Earth-fixed) above this station's horizon."""
        dx = r_ecef[0] - self.ecef[0]
        dy = r_ecef[1] - self.ecef[1]
        dz = r_ecef[2] - self.ecef[2]
        rng = math.sqrt(dx * dx + dy * dy + dz * dz)
        s = (dx * self.up[0] + dy * self.up[1] + dz * self.up[2]) / rng
        return math.degrees(math.asin(max(-1.0, min(1.0, s))))


#: Built-in catalogue (public station coordinates, rounded).
CATALOGUE: dict[str, Station] = {
    s.name: s for s in (
        Station("svalbard", 78.23, 15.41, 0.50, 5.0),         # KSAT SvalSat, Platåberget
        Station("kiruna", 67.88, 21.07, 0.34, 5.0),           # SSC Esrange
        Station("fairbanks", 64.86, -147.85, 0.17, 5.0),      # NOAA/NASA Gilmore Creek
        Station("inuvik", 68.32, -133.55, 0.10, 5.0),         # Inuvik Satellite Station
        Station("troll", -72.01, 2.53, 1.27, 5.0),            # KSAT TrollSat, Antarctica
        Station("punta_arenas", -52.94, -70.85, 0.02, 5.0),   # KSAT / SSC Punta Arenas
        Station("hartebeesthoek", -25.89, 27.69, 1.56, 5.0),  # SANSA Hartebeesthoek
    )
}


def stations_from_names(names: str | Iterable[str]) -> tuple[Station, ...]:
    """Catalogue stations by name (or a comma-separated string); unknown → ValueError."""
    if isinstance(names, str):
        names = [n for n in (p.strip() for p in names.split(",")) if n]
    out = []
    for name in names:
        key = name.strip().lower()
        if key not in CATALOGUE:
            raise ValueError(f"unknown ground station {name!r}; known: {', '.join(CATALOGUE)}")
        out.append(CATALOGUE[key])
    return tuple(out)


def in_contact(stations: Sequence[Station], r_ecef: Vec) -> str | None:
    """Name of the station that sees ``r_ecef`` highest above its mask, or None.

    Highest elevation wins when two stations see the satellite at once: that is the one a
    scheduler would pick.
    """
    best: str | None = None
    best_el = -90.0
    for st in stations:
        el = st.elevation_deg(r_ecef)
        if el >= st.mask_deg and el > best_el:
            best, best_el = st.name, el
    return best
