"""South Atlantic Anomaly: where the inner proton belt dips to LEO altitudes.

Modelled as an ellipse in latitude/longitude, by default centred at 27° S, 45° W with semi-axes
22° in latitude and 45° in longitude, i.e. roughly 5°-49° S and 90° W-0°. That outline follows
the >10 MeV proton flux contours of the AP-8 model at 500-700 km (see e.g. J. R. Heirtzler,
"The future of the South Atlantic anomaly and implications for radiation damage in space",
JASTP 64 (2002) 1701) and the upset maps of LEO missions, where upsets cluster (FIELD_NOTES:
"upsets concentrate there").

Limits: an approximation. The real region grows with altitude and solar minimum, is not an
ellipse, and drifts west by ~0.3°/year; no altitude dependence here. Change the region through
:class:`SaaRegion` when a scenario needs another one.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SaaRegion:
    """An ellipse in (latitude, longitude), degrees; longitude east-positive, wrapped."""

    center_lat_deg: float = -27.0
    center_lon_deg: float = -45.0
    semi_lat_deg: float = 22.0
    semi_lon_deg: float = 45.0

    def contains(self, lat_deg: float, lon_deg: float) -> bool:
        """True inside the ellipse ((Δlat/a)² + (Δlon/b)² ≤ 1)."""
        dlat = (lat_deg - self.center_lat_deg) / self.semi_lat_deg
        dlon = ((lon_deg - self.center_lon_deg + 180.0) % 360.0 - 180.0) / self.semi_lon_deg
        return dlat * dlat + dlon * dlon <= 1.0


DEFAULT_SAA = SaaRegion()


def in_saa(lat_deg: float, lon_deg: float, region: SaaRegion = DEFAULT_SAA) -> bool:
    """Whether the sub-satellite point lies in the (default) SAA region."""
    return region.contains(lat_deg, lon_deg)
