"""Sunlit hardware-in-the-loop: flatsat bring-up, world simulation, faults and campaigns."""

__version__ = "0.1.0"
