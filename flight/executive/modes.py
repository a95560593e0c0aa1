"""The spacecraft mode machine.

BOOT → NOMINAL ⇄ POWER_SAVE, and any mode → SAFE. SAFE is sticky: only an explicit
``exit_safe`` command (a hazardous, ground-only command) leaves it, never an app's request or
an FDIR rule, because SAFE is where the spacecraft waits for a human to look.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Mode(str, enum.Enum):
    BOOT = "BOOT"
    NOMINAL = "NOMINAL"
    POWER_SAVE = "POWER_SAVE"
    SAFE = "SAFE"


_ALLOWED: dict[Mode, frozenset[Mode]] = {
    Mode.BOOT: frozenset({Mode.NOMINAL, Mode.SAFE}),
    Mode.NOMINAL: frozenset({Mode.POWER_SAVE, Mode.SAFE}),
    Mode.POWER_SAVE: frozenset({Mode.NOMINAL, Mode.SAFE}),
    Mode.SAFE: frozenset(),
}
_SAFE_EXITS = frozenset({Mode.NOMINAL, Mode.POWER_SAVE})


class ModeRefused(Exception):
    """A requested transition is not allowed from the current mode."""


@dataclass(frozen=True)
class Transition:
    old: Mode
    new: Mode
    why: str


class ModeMachine:
    """Holds the current mode and applies only allowed transitions."""

    def __init__(self, initial: Mode = Mode.BOOT):
        self.mode = initial
        self.history: list[Transition] = []

    def request(self, target: Mode, why: str) -> Transition | None:
        """Move to ``target`` if allowed; None if already there; ModeRefused otherwise."""
        if target is self.mode:
            return None
        if target not in _ALLOWED[self.mode]:
            hint = " (leaving SAFE needs exit_safe)" if self.mode is Mode.SAFE else ""
            raise ModeRefused(f"{self.mode.value} -> {target.value} is not allowed{hint}")
        return self._go(target, why)

    def exit_safe(self, target: Mode, why: str) -> Transition:
        """The only way out of SAFE: an explicit, ground-commanded transition."""
        if self.mode is not Mode.SAFE:
            raise ModeRefused(f"not in SAFE (mode is {self.mode.value})")
        if target not in _SAFE_EXITS:
            raise ModeRefused(f"SAFE can only be left for NOMINAL or POWER_SAVE, not {target}")
        return self._go(target, why)

    def _go(self, target: Mode, why: str) -> Transition:
        transition = Transition(self.mode, target, why)
        self.mode = target
        self.history.append(transition)
        del self.history[:-100]
        return transition
