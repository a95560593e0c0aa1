"""The operator console (Textual): command line with completion and validation, verification,
telemetry with limits and staleness, the event log, the link, and replay of archived passes.

``python -m ground.console --help``; ``docs/console.md``. The layers:

* :mod:`ground.console.model` and :mod:`ground.console.commandline`: pure state and logic;
* :mod:`ground.console.source`, :mod:`ground.console.replay`: a ground station (live, or over
  an archive) feeding the model;
* :mod:`ground.console.widgets`, :mod:`ground.console.app`: the screen.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None, *, prog: str = "python -m ground.console") -> int:
    """Run the console (``sunlit-ground console ...`` calls this); imports Textual lazily."""
    from ground.console.app import main as run

    return run(argv, prog=prog)
