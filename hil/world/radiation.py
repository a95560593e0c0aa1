"""Single-event upsets in named memory regions.

Rate: FIELD_NOTES "Radiation" — commercial SRAM in LEO ~4e-7 upsets/bit/day (Alsat-1, 686 km
SSO), modern DRAM orders of magnitude lower; a parameter from 1e-11 to 1e-6 /bit/day. The rate
here is the background rate *outside* the South Atlantic Anomaly; inside it is multiplied by
``saa_multiplier`` (default 50), since upsets concentrate there. The orbit-average rate is
therefore higher than the parameter by (1 + (m-1)·fraction of time in the SAA), about x3.4 for
the default 650 km SSO (~5 % of the time in the SAA).

Sampling: upsets form a Poisson process whose intensity changes with the SAA. Rather than a
Poisson draw per step, the model draws the exposure (expected count) until the next upset from
an exponential distribution and spends it step by step: per step the count is exactly Poisson
with the step's mean, the upset times inside a step are exact, steps without an upset cost no
random draw (most steps), and the sequence is the same however the time is cut into steps.
Bits are uniform over all protected memory, so each region receives upsets in proportion to
its size. One seeded ``numpy.random.Generator`` (PCG64) drives it; its state is saved and
restored with the world's.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from hil.world.constants import BITS_PER_KIB, BITS_PER_MIB, SECONDS_PER_DAY

DEFAULT_REGIONS: tuple[tuple[str, int], ...] = (
    ("jobs", 8 * BITS_PER_MIB),
    ("checkpoints", 8 * BITS_PER_MIB),
    ("tables", 64 * BITS_PER_KIB),
)


@dataclass(frozen=True)
class Upset:
    """One upset: UNIX time, memory region, bit index in the region, and where it happened."""

    t: float
    region: str
    bit: int
    in_saa: bool
    lat: float
    lon: float

    def as_dict(self) -> dict[str, Any]:
        """Plain dict for msgpack/JSON."""
        return {"t": self.t, "region": self.region, "bit": self.bit, "in_saa": self.in_saa,
                "lat": self.lat, "lon": self.lon}


@dataclass(frozen=True)
class RadiationConfig:
    """Upset rate (per bit per day, outside the SAA), SAA multiplier, regions (name, bits)."""

    upset_rate_per_bit_day: float = 4e-7
    saa_multiplier: float = 50.0
    regions: tuple[tuple[str, int], ...] = DEFAULT_REGIONS

    def __post_init__(self) -> None:
        if not self.upset_rate_per_bit_day >= 0.0:
            raise ValueError("upset_rate_per_bit_day must be >= 0")
        if not self.saa_multiplier >= 0.0:
            raise ValueError("saa_multiplier must be >= 0")
        if not self.regions or any(bits <= 0 for _, bits in self.regions):
            raise ValueError("regions must be non-empty with sizes > 0 bits")
        if len({name for name, _ in self.regions}) != len(self.regions):
            raise ValueError("duplicate region names")


class RadiationModel:
    """Draws upsets step by step; see the module docstring."""

    def __init__(self, config: RadiationConfig, rng: np.random.Generator) -> None:
        self.config = config
        self.rng = rng
        self.names = tuple(name for name, _ in config.regions)
        offsets = [0]
        for _, bits in config.regions:
            offsets.append(offsets[-1] + int(bits))
        self.offsets = tuple(offsets)
        self.total_bits = offsets[-1]
        self._rate_s = config.upset_rate_per_bit_day * self.total_bits / SECONDS_PER_DAY
        #: Expected count still to be "spent" before the next upset.
        self.to_next = float(rng.exponential())
        self.count = 0
        self.count_saa = 0

    def expected(self, dt_s: float, in_saa: bool) -> float:
        """Expected number of upsets over ``dt_s`` seconds."""
        return self._rate_s * dt_s * (self.config.saa_multiplier if in_saa else 1.0)

    def step(self, t0: float, dt_s: float, in_saa: bool, lat: float, lon: float) -> list[Upset]:
        """Upsets in (t0, t0 + dt_s]; position and SAA flag are the step's."""
        lam = self._rate_s * dt_s * (self.config.saa_multiplier if in_saa else 1.0)
        if lam < self.to_next:
            self.to_next -= lam
            return []
        out: list[Upset] = []
        used = 0.0
        while used + self.to_next <= lam:
            used += self.to_next
            g = int(self.rng.integers(self.total_bits))
            i = bisect.bisect_right(self.offsets, g) - 1
            out.append(Upset(t0 + dt_s * used / lam, self.names[i], g - self.offsets[i],
                             in_saa, lat, lon))
            self.to_next = float(self.rng.exponential())
        self.to_next -= lam - used
        self.count += len(out)
        if in_saa:
            self.count_saa += len(out)
        return out


def rng_state(rng: np.random.Generator) -> dict[str, Any]:
    """The generator's state as a msgpack/JSON-able dict (128-bit integers as hex strings)."""
    st = rng.bit_generator.state
    if st.get("bit_generator") != "PCG64":
        raise ValueError("only PCG64 generators are supported")
    return {"bit_generator": "PCG64", "state": format(st["state"]["state"], "x"),
            "inc": format(st["state"]["inc"], "x"), "has_uint32": int(st["has_uint32"]),
            "uinteger": int(st["uinteger"])}


def restore_rng(saved: Mapping[str, Any]) -> np.random.Generator:
    """A PCG64 generator in exactly the state :func:`rng_state` saved."""
    bg = np.random.PCG64()
    bg.state = {"bit_generator": "PCG64",
                "state": {"state": int(saved["state"], 16), "inc": int(saved["inc"], 16)},
                "has_uint32": int(saved["has_uint32"]), "uinteger": int(saved["uinteger"])}
    return np.random.Generator(bg)
