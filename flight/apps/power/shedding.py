"""Load shedding with hysteresis, and the mode the battery calls for: pure decisions.

Kept free of I/O so property tests can drive them with thousands of noisy samples: the app
only feeds them the plausible state of charge and acts on what they return.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flight.apps.power.loads import SHEDDABLE, Load

NOMINAL, POWER_SAVE, SAFE = "NOMINAL", "POWER_SAVE", "SAFE"


@dataclass(frozen=True)
class Switch:
    """One automatic decision: ``load`` shed (``on`` False) or restored, and why."""

    load: str
    on: bool
    soc: float | None
    why: str


@dataclass
class LoadShedder:
    """Automatic on/off of the sheddable loads from the state of charge.

    A load is shed when SoC falls below its shed threshold and restored only when SoC rises
    above its (higher) restore threshold, so between the two nothing changes. Without a
    plausible SoC the compute load is shed (the one load whose draw can empty the battery
    fast) and the others keep their state; compute comes back only after ``trust_after``
    plausible samples in a row, so a sensor that lies now and then (noise pushing it out of
    range) cannot switch the payload on and off at every sample.
    """

    loads: tuple[Load, ...] = SHEDDABLE
    on: dict[str, bool] = field(default_factory=dict)
    trust_after: int = 3
    _plausible_run: int = 0
    _shed_unknown: bool = False

    def __post_init__(self) -> None:
        for load in self.loads:
            self.on.setdefault(load.name, True)

    def update(self, soc: float | None, thresholds: dict[str, tuple[float, float]],
               safe_mode: bool = False) -> list[Switch]:
        """Apply one sample; ``thresholds`` maps load name → (shed_soc, restore_soc)."""
        self._plausible_run = 0 if soc is None else self._plausible_run + 1
        switches = []
        for load in self.loads:
            shed, restore = thresholds[load.name]
            want = self._decide(load, soc, shed, restore, safe_mode)
            if want is not None and want[0] != self.on[load.name]:
                self.on[load.name] = want[0]
                switches.append(Switch(load.name, want[0], soc, want[1]))
        return switches

    def _decide(self, load: Load, soc: float | None, shed: float, restore: float,
                safe_mode: bool) -> tuple[bool, str] | None:
        if load.name == "compute" and safe_mode:
            return False, "SAFE mode"
        if load.name == "compute":
            if soc is None:
                self._shed_unknown = True
                return False, "state of charge unknown"
            if self._shed_unknown and self._plausible_run < self.trust_after:
                return None  # not yet trusted again: stays as it is
            self._shed_unknown = False
        if soc is None:
            return None
        if soc < shed:
            return False, f"SoC {soc:.3f} below {shed:.2f}"
        if soc > restore:
            return True, f"SoC {soc:.3f} above {restore:.2f}"
        return None


def advise_mode(soc: float | None, mode: str, safe_soc: float, save_soc: float,
                save_exit_soc: float, requested_save: bool) -> str | None:
    """The mode the battery calls for, or None to leave the mode alone.

    Only POWER_SAVE that this manager asked for is left by it: an operator who chose
    POWER_SAVE keeps it. Leaving SAFE is never advised — that takes a ground command.
    """
    if soc is None:
        return None
    if soc < safe_soc and mode != SAFE:
        return SAFE
    if soc < save_soc and mode == NOMINAL:
        return POWER_SAVE
    if soc > save_exit_soc and mode == POWER_SAVE and requested_save:
        return NOMINAL
    return None


def compute_budget(soc: float | None, solar_w: float | None, other_loads_w: float | None,
                   compute_on: bool, mode: str, compute_max_w: float, battery_allowance_w: float,
                   shed_soc: float, ramp_soc: float) -> float:
    """Watts the compute payload may draw now.

    What the array gives beyond the other loads, plus a share of the battery that falls from
    ``battery_allowance_w`` at ``ramp_soc`` above the compute shed threshold to nothing at the
    threshold: the payload slows down over the last few percent instead of hitting a wall
    when it is shed. In POWER_SAVE it gets the array surplus only; in SAFE, or with no
    plausible data, nothing.
    """
    if not compute_on or mode == SAFE or soc is None or solar_w is None \
            or other_loads_w is None:
        return 0.0
    share = 0.0 if mode == POWER_SAVE else \
        min(1.0, max(0.0, (soc - shed_soc) / max(1e-9, ramp_soc)))
    budget = solar_w - other_loads_w + share * battery_allowance_w
    return round(min(compute_max_w, max(0.0, budget)), 1)
