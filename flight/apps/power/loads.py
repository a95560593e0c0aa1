"""The loads the power manager switches, in the order it gives them up.

The table is the policy (FIELD_NOTES: shed AI compute first, then non-critical heaters, then
the radio; never the OBC, the EPS or the receiver). Each sheddable load has a shed and a
restore threshold of state of charge — the gap between them is the hysteresis that keeps a
noisy SoC at a threshold from switching the load on and off every sample.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Load:
    """A switchable load on the power bus."""

    name: str
    doc: str
    #: Shedding order: 1 goes first. None: critical, never shed automatically.
    priority: int | None = None
    shed_soc: float = 0.0
    restore_soc: float = 0.0
    #: Switching it off by command needs the two-step arm/execute.
    hazardous_off: bool = False

    @property
    def sheddable(self) -> bool:
        return self.priority is not None


LOADS: tuple[Load, ...] = (
    Load("compute", "The AI compute payload.", 1, 0.70, 0.80),
    Load("heater_noncritical", "Payload and propulsion comfort heaters.", 2, 0.60, 0.70),
    Load("radio", "The downlink transmitter.", 3, 0.40, 0.50, hazardous_off=True),
    Load("receiver", "The command receiver: the spacecraft's ear.", hazardous_off=True),
    Load("obc", "The onboard computer this software runs on.", hazardous_off=True),
    Load("eps", "The electrical power system controller.", hazardous_off=True),
)

SHEDDABLE = tuple(load for load in LOADS if load.sheddable)
SOFT_OFF = tuple(load.name for load in LOADS if not load.hazardous_off)
HARD_OFF = tuple(load.name for load in LOADS if load.hazardous_off)
BY_NAME = {load.name: load for load in LOADS}
