"""Co-simulation: a real board's measurements over the simulated world's.

On a flatsat the board really has a chip that heats and a payload that draws power, but no
orbit, sun or battery. :class:`CoSimHal` answers with the board's reading wherever the board
measures a quantity (and for :data:`~flight.hal.base.MEASURABLE` quantities it wins over the
world's), and with the world's reading for everything else. What the board measured is also
handed back to the world (``env.measured``), so the simulated radiator and battery respond to
the real chip.
"""

from __future__ import annotations

from typing import Any

from flight.hal.base import MEASURABLE, DvfsResult, Hal, Reading
from flight.hal.sim import SimHal


class CoSimHal(Hal):
    """A board backend layered over the world's readings."""

    def __init__(self, board: Hal, world: SimHal):
        self.board = board
        self.world = world
        self.backend = board.backend  # type: ignore[misc]

    def read(self) -> dict[str, Reading]:
        merged = self.world.read()
        for name, reading in self.board.read().items():
            if reading.ok and (name in MEASURABLE or not merged[name].ok):
                merged[name] = reading
        return merged

    def measured(self) -> dict[str, float]:
        """The board's own readings of the quantities the world should stop simulating."""
        return {name: reading.value for name, reading in self.board.read().items()
                if name in MEASURABLE and reading.ok and reading.value is not None}

    def temperatures(self) -> dict[str, Reading]:
        return {**self.world.temperatures(), **self.board.temperatures()}

    def rails(self) -> dict[str, Reading]:
        return {**self.world.rails(), **self.board.rails()}

    def throttling(self) -> dict[str, bool] | None:
        return self.board.throttling()

    def edac(self) -> dict[str, int] | None:
        return self.board.edac()

    def set_frequency_cap(self, fraction: float) -> DvfsResult:
        return self.board.set_frequency_cap(fraction)

    def describe(self) -> dict[str, Any]:
        return {**self.board.describe(), "cosim": True}

    def close(self) -> None:
        self.board.close()
