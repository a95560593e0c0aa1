"""Sunlit ground segment: everything an operator runs (link client, CLI, console, archive).

``from ground import GroundStation`` is the scripting entry point (see ``docs/ground.md``);
names are imported on first use, so ``import ground`` stays cheap for the CLI.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "GroundStation": "ground.station",
    "CommandHandle": "ground.station",
    "CommandFailed": "ground.station",
    "CommandTimeout": "ground.station",
    "ValidationError": "ground.station",
    "HazardousCommandError": "ground.station",
    "GroundLink": "ground.link",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ground' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
