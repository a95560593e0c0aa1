"""The load table: what draws power, how much, and what may never be switched off.

Shedding order follows FIELD_NOTES "Power": AI compute → non-critical heaters → radio, never
OBC/EPS/receiver. The model does not shed anything itself (that is the power app's job); it
only enforces that a critical load cannot be switched off from its inputs: such a request is
ignored and counted, as a protected relay would refuse it.

Where the heat goes (read by the thermal model): ``compute`` into the chip, ``battery_heater``
into the battery, everything else into the payload plate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class LoadSpec:
    """One load: nominal power (W; ``compute``: at full duty), critical, initially on."""

    name: str
    power_w: float
    critical: bool = False
    default_on: bool = True


COMPUTE = "compute"
BATTERY_HEATER = "battery_heater"

#: Default load table (W). Compute is the payload: power = duty x 900 W.
DEFAULT_LOADS: tuple[LoadSpec, ...] = (
    LoadSpec("obc", 15.0, critical=True),
    LoadSpec("eps", 5.0, critical=True),
    LoadSpec("receiver", 4.0, critical=True),
    LoadSpec("radio", 30.0),
    LoadSpec("heater_noncritical", 20.0, default_on=False),
    LoadSpec(BATTERY_HEATER, 30.0, default_on=False),
    LoadSpec(COMPUTE, 900.0),
)


class LoadBank:
    """Switch states of the loads; computes the power each draws.

    Switch states persist between steps (relays): an input that names a load switches it; loads
    not named keep their state.
    """

    def __init__(self, table: tuple[LoadSpec, ...]) -> None:
        names = [spec.name for spec in table]
        if len(set(names)) != len(names):
            raise ValueError("duplicate load names in the load table")
        if COMPUTE not in names:
            raise ValueError(f"the load table needs a {COMPUTE!r} load")
        self.table = table
        self.specs = {spec.name: spec for spec in table}
        self.on = {spec.name: spec.default_on or spec.critical for spec in table}
        self.critical_off_ignored = 0
        self._bus = tuple(s for s in table if s.name != COMPUTE)

    def switch(self, requests: Mapping[str, bool]) -> None:
        """Apply on/off requests; unknown name → ValueError; critical off → ignored, counted."""
        for name, want in requests.items():
            spec = self.specs.get(name)
            if spec is None:
                raise ValueError(f"unknown load {name!r}; known: {', '.join(self.specs)}")
            if spec.critical and not want:
                self.critical_off_ignored += 1
                continue
            self.on[name] = bool(want)

    def powers(self, compute_w: float) -> dict[str, float]:
        """Power per load (W) given the compute power (already duty-scaled or measured)."""
        out = {s.name: (s.power_w if self.on[s.name] else 0.0) for s in self._bus}
        out[COMPUTE] = compute_w if self.on[COMPUTE] else 0.0
        return out

    def split(self, compute_w: float) -> tuple[float, float, float]:
        """(compute W, battery heater W, all other loads W): the three thermal destinations.

        The fast path of :meth:`powers` for the stepping loop (no dict built).
        """
        on = self.on
        heater = other = 0.0
        for s in self._bus:
            if on[s.name]:
                if s.name == BATTERY_HEATER:
                    heater += s.power_w
                else:
                    other += s.power_w
        return (compute_w if on[COMPUTE] else 0.0), heater, other

    @property
    def compute_max_w(self) -> float:
        """Compute power at full duty."""
        return self.specs[COMPUTE].power_w
