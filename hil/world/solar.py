"""Solar array output.

P = S·(1 AU/r)²·η·A·cosθ·packing·(1 - degradation)^years·(working strings / strings), and 0 in
eclipse (FIELD_NOTES "Orbit and sun": S = 1361 W/m², triple-junction η ≈ 29.8 % at beginning
of life). The default 4.0 m² array gives 1361·0.298·4.0·0.9 ≈ 1460 W at 1 AU.

Pointing:
- ``tracking``: a sun-tracking array; θ is the residual pointing error (constant).
- ``body_fixed``: the array normal fixed along the orbit normal, as a dawn-dusk craft flies it:
  the sun sits β above the orbit plane, so cosθ = |sin β|.

Limits: no cell temperature coefficient, no shadowing by the craft, no penumbra, no
string-level I-V curve: a failed string removes its share of the power.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hil.world.constants import SOLAR_CONSTANT_W_M2

POINTING_MODES = ("tracking", "body_fixed")


@dataclass(frozen=True)
class ArrayConfig:
    """Array design. Units in the names; efficiency and packing are fractions."""

    area_m2: float = 4.0
    efficiency: float = 0.298
    packing_factor: float = 0.9
    degradation_per_year: float = 0.005
    years_in_orbit: float = 0.0
    strings: int = 8
    failed_strings: int = 0
    pointing: str = "tracking"
    pointing_error_deg: float = 0.0

    def __post_init__(self) -> None:
        if self.pointing not in POINTING_MODES:
            raise ValueError(f"pointing must be one of {POINTING_MODES}, got {self.pointing!r}")
        if self.strings < 1:
            raise ValueError("strings must be >= 1")
        if not 0 <= self.failed_strings <= self.strings:
            raise ValueError("failed_strings must be within 0..strings")
        for name in ("area_m2", "efficiency", "packing_factor", "degradation_per_year",
                     "years_in_orbit"):
            if not getattr(self, name) >= 0.0:
                raise ValueError(f"{name} must be >= 0")


class SolarArray:
    """The array with its run-time state: the number of failed strings."""

    def __init__(self, config: ArrayConfig) -> None:
        self.config = config
        self.failed_strings = config.failed_strings
        self._recompute()

    def _recompute(self) -> None:
        """Fold every constant factor into one number, so a step costs a multiply or two."""
        c = self.config
        working = (c.strings - self.failed_strings) / c.strings
        self._k_w = (SOLAR_CONSTANT_W_M2 * c.efficiency * c.area_m2 * c.packing_factor
                     * (1.0 - c.degradation_per_year) ** c.years_in_orbit * working)
        self._tracking = c.pointing == "tracking"
        self._cos_error = math.cos(math.radians(c.pointing_error_deg))

    def fail_strings(self, n: int) -> int:
        """Set the number of failed strings to ``n`` (absolute, clamped to 0..strings).

        Absolute rather than incremental, like the other fault knobs: injecting the same fault
        twice leaves the same world, and 0 repairs the array. Returns the number now failed.
        """
        self.failed_strings = max(0, min(self.config.strings, int(n)))
        self._recompute()
        return self.failed_strings

    def power_w(self, in_sun: bool, flux_factor: float, sin_beta: float) -> float:
        """Electrical output available from the array, W (before any curtailment)."""
        if not in_sun:
            return 0.0
        cos_theta = self._cos_error if self._tracking else abs(sin_beta)
        return self._k_w * flux_factor * cos_theta

    @property
    def nominal_w(self) -> float:
        """Output at 1 AU, normal incidence, with the current failed strings."""
        return self._k_w
