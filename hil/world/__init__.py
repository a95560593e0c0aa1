"""World simulation library: pure, deterministic physics for a solar-powered compute satellite.

Orbit, sun and eclipse, ground stations and the SAA, solar array, battery and power bus, a
lumped thermal network and radiation upsets, coupled in :class:`hil.world.model.World`.
No bus, no processes, no wall clock: the world app wraps it. See docs/world.md.
"""

from __future__ import annotations

from hil.world.model import Inputs, Ledger, World, WorldConfig
from hil.world.radiation import Upset

__all__ = ["Inputs", "Ledger", "Upset", "World", "WorldConfig"]
