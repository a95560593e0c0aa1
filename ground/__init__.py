"""Sunlit ground segment: everything an operator runs (link client, CLI, console, archive)."""

__version__ = "0.1.0"
