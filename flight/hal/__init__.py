"""Hardware abstraction: one interface (:class:`Hal`), backends ``sim``, ``linux``, ``rpi``,
``jetson``, and co-simulation of a real board with the simulated world.

:func:`open_hal` is what an app calls: it reads the ``[hal]`` configuration section, detects
the board when asked to, and returns the backend plus the world feed (a :class:`SimHal`) that
the app must subscribe to ``env.sensors`` when there is one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flight.hal.base import (
    MEASURABLE,
    SENSORS,
    UNSUPPORTED,
    DvfsResult,
    Hal,
    Reading,
    SensorStatus,
)
from flight.hal.cosim import CoSimHal
from flight.hal.sim import ENV_ACTUATE, ENV_MEASURED, ENV_SENSORS, SimHal

__all__ = [
    "ENV_ACTUATE", "ENV_MEASURED", "ENV_SENSORS", "MEASURABLE", "SENSORS", "UNSUPPORTED",
    "CoSimHal", "DvfsResult", "Hal", "Reading", "SensorStatus", "SimHal",
    "awaiting_first_sample", "open_hal",
]

#: Wall seconds a (re)started app waits for the world's first sample before it treats the
#: missing readings as sensor faults.
FIRST_SAMPLE_GRACE_S = 5.0


def open_hal(settings: dict[str, Any], clock: Callable[[], float]) -> tuple[Hal, SimHal | None]:
    """The configured backend and, unless the board stands alone, the world feed it reads."""
    world = SimHal(clock, settings["stale_s"])
    if settings["backend"] == "sim":
        return world, world
    from flight.hal.detect import open_board_hal

    board = open_board_hal(
        settings["backend"], root=Path(settings["sysfs_root"]),
        programs={name: settings[name] for name in ("vcgencmd", "tegrastats", "nvpmodel")},
        dvfs_allowed=settings["dvfs"], chip_zone=settings["chip_zone"],
        nvpmodel_low=None if settings["nvpmodel_low"] < 0 else settings["nvpmodel_low"])
    if not settings["cosim"]:
        return board, None
    return CoSimHal(board, world), world


def awaiting_first_sample(world: SimHal | None, started_mono: float) -> bool:
    """True while a just-started app has not heard the world yet, within the grace period.

    Without it every restart of an app would report each world sensor as missing and shed
    loads for the second it takes the first ``env.sensors`` sample to arrive.
    """
    return world is not None and world.age() is None \
        and time.monotonic() - started_mono < FIRST_SAMPLE_GRACE_S
