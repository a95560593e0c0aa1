"""Which board this is, and opening its HAL backend.

Detection looks only at files every image of that board ships (``/etc/nv_tegra_release`` and
the device tree), so it works before any tool is installed and against a recorded tree.
"""

from __future__ import annotations

from pathlib import Path

from flight.hal.base import Hal
from flight.hal.jetson import JetsonHal
from flight.hal.linux import LinuxHal
from flight.hal.programs import Programs
from flight.hal.rpi import RpiHal
from flight.hal.sysfs import Sysfs

BOARD_BACKENDS = ("auto", "linux", "rpi", "jetson")


def detect_backend(root: Path = Path("/")) -> str:
    """``jetson``, ``rpi`` or ``linux`` for the board whose filesystem is at ``root``."""
    fs = Sysfs(root)
    compatible = fs.read_text("proc/device-tree/compatible") or ""
    if fs.path("etc/nv_tegra_release").exists() or "nvidia,tegra" in compatible:
        return "jetson"
    if "Raspberry Pi" in (fs.read_text("proc/device-tree/model") or ""):
        return "rpi"
    return "linux"


def open_board_hal(backend: str, *, root: Path = Path("/"),
                   programs: dict[str, str] | None = None, dvfs_allowed: bool = False,
                   chip_zone: str = "", nvpmodel_low: int | None = None) -> Hal:
    """The HAL for a real board: ``auto`` detects it; ``programs`` overrides tool paths.

    Raises ValueError for any other backend name (``sim`` is opened by the simulation layer).
    """
    if backend not in BOARD_BACKENDS:
        raise ValueError(f"not a board HAL backend: {backend!r} (expected one of "
                         f"{', '.join(BOARD_BACKENDS)})")
    if backend == "auto":
        backend = detect_backend(root)
    tools = Programs(programs)
    if backend == "jetson":
        return JetsonHal(root, programs=tools, dvfs_allowed=dvfs_allowed, chip_zone=chip_zone,
                         nvpmodel_low=nvpmodel_low)
    cls = RpiHal if backend == "rpi" else LinuxHal
    return cls(root, programs=tools, dvfs_allowed=dvfs_allowed, chip_zone=chip_zone)
