"""Reading sysfs-style files under a configurable root, without ever raising.

The board backends read a few dozen tiny kernel files per cycle. Any of them may be missing (the
board lacks the sensor), unreadable (root-only, ``EIO`` from a powered-down sensor), or hold
something that is not a number. A flight process must not die over that, so every read here
answers ``None`` instead of raising, and the caller turns ``None`` into an honest *unsupported*.

Everything is relative to ``root`` so the same code reads the live ``/`` on a board and a
recorded tree in tests (``tests/hal/trees/...``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

#: Sysfs attributes are a page at most; anything longer is not what we were looking for.
MAX_READ = 65536

_DIGITS = re.compile(r"(\d+)")


def natural_key(path: Path) -> tuple[object, ...]:
    """Sort ``thermal_zone10`` after ``thermal_zone9`` (and ``cpu10/cpufreq`` after ``cpu9``)."""
    return tuple(int(p) if p.isdigit() else p for p in _DIGITS.split(str(path)))


def read_path_text(path: Path) -> str | None:
    """The stripped text of ``path`` (NUL padding of device-tree strings removed), or None."""
    try:
        with path.open("rb") as f:
            data = f.read(MAX_READ)
    except (OSError, ValueError):
        return None
    return data.decode("utf-8", errors="replace").strip().strip("\x00").strip()


def read_path_int(path: Path) -> int | None:
    return parse_int(read_path_text(path))


def glob_dir(directory: Path, pattern: str) -> list[Path]:
    """Matches of ``pattern`` inside ``directory``, naturally sorted; [] when unreadable."""
    try:
        return sorted(directory.glob(pattern), key=natural_key)
    except (OSError, ValueError):
        return []


def parse_int(text: str | None) -> int | None:
    """A decimal integer, or None for absent or garbage text."""
    if text is None:
        return None
    text = text.strip()
    if not text or len(text) > 24:
        return None
    try:
        return int(text, 10)
    except ValueError:
        return None


@dataclass(frozen=True)
class ThermalZone:
    """One ``thermal_zoneN``: its kernel name, its ``type`` and the raw ``temp`` text."""

    zone: str
    type: str
    raw: str | None  # None when the temp file is absent or cannot be read (e.g. EIO)

    @property
    def millidegrees(self) -> int | None:
        return parse_int(self.raw)


@dataclass(frozen=True)
class CpufreqPolicy:
    """One cpufreq policy (or per-CPU cpufreq dir on kernels without policy dirs), in kHz."""

    name: str
    path: Path
    cur_khz: int | None
    scaling_max_khz: int | None
    hw_min_khz: int | None
    hw_max_khz: int | None

    @property
    def max_file(self) -> Path:
        return self.path / "scaling_max_freq"


@dataclass(frozen=True)
class HwmonDevice:
    """One hwmon device directory and its ``name``."""

    path: Path
    name: str


class Sysfs:
    """Typed, never-raising access to the kernel files of one (live or recorded) root."""

    def __init__(self, root: Path = Path("/")) -> None:
        self.root = Path(root)

    def path(self, rel: str) -> Path:
        """``rel`` (with or without a leading slash) under this root."""
        return self.root / rel.lstrip("/")

    def read_text(self, rel: str | Path) -> str | None:
        """Text of a file under the root (a Path already under the root is used as is)."""
        return read_path_text(rel if isinstance(rel, Path) else self.path(rel))

    def read_int(self, rel: str | Path) -> int | None:
        return parse_int(self.read_text(rel))

    def glob(self, pattern: str) -> list[Path]:
        """Matches of a relative glob, naturally sorted; [] when the directory is absent."""
        return glob_dir(self.root, pattern.lstrip("/"))

    def thermal_zones(self) -> list[ThermalZone]:
        """Every ``/sys/class/thermal/thermal_zone*``, read now."""
        return [
            ThermalZone(d.name, self.read_text(d / "type") or "", self.read_text(d / "temp"))
            for d in self.glob("sys/class/thermal/thermal_zone*")
        ]

    def hwmon(self) -> list[HwmonDevice]:
        """Every hwmon device: the class directory plus INA3221 devices found via their driver.

        Jetson kernels expose the INA3221 hwmon under ``/sys/bus/i2c/drivers/ina3221/*/hwmon``
        and link it into ``/sys/class/hwmon``; both are scanned and duplicates dropped.
        """
        seen: set[Path] = set()
        found: list[HwmonDevice] = []
        for d in (*self.glob("sys/class/hwmon/hwmon*"),
                  *self.glob("sys/bus/i2c/drivers/ina3221/*/hwmon/hwmon*")):
            key = _resolved(d)
            if key not in seen:
                seen.add(key)
                found.append(HwmonDevice(d, self.read_text(d / "name") or ""))
        return found

    def iio_devices(self) -> list[Path]:
        """Every IIO device directory (JetPack 4 exposes its INA3221 rails there)."""
        seen: set[Path] = set()
        found: list[Path] = []
        for d in (*self.glob("sys/bus/iio/devices/iio:device*"),
                  *self.glob("sys/bus/i2c/drivers/ina3221x/*/iio:device*")):
            key = _resolved(d)
            if key not in seen:
                seen.add(key)
                found.append(d)
        return found

    def cpufreq_policies(self) -> list[CpufreqPolicy]:
        """cpufreq policies, or the per-CPU ``cpuN/cpufreq`` dirs when there are no policies."""
        dirs = self.glob("sys/devices/system/cpu/cpufreq/policy*")
        if not dirs:
            dirs = self.glob("sys/devices/system/cpu/cpu[0-9]*/cpufreq")
        return [self._policy(d) for d in dirs if d.is_dir()]

    def _policy(self, d: Path) -> CpufreqPolicy:
        name = d.name if d.name != "cpufreq" else d.parent.name
        return CpufreqPolicy(
            name=name, path=d,
            cur_khz=self.read_int(d / "scaling_cur_freq"),
            scaling_max_khz=self.read_int(d / "scaling_max_freq"),
            hw_min_khz=self.read_int(d / "cpuinfo_min_freq"),
            hw_max_khz=self.read_int(d / "cpuinfo_max_freq"),
        )

    def edac_counts(self) -> dict[str, int] | None:
        """Corrected/uncorrected error totals over all memory controllers; None without EDAC.

        A controller whose counts cannot be read is left out rather than counted as zero.
        """
        totals = {"ce": 0, "ue": 0}
        readable = 0
        for mc in self.glob("sys/devices/system/edac/mc/mc[0-9]*"):
            ce, ue = self.read_int(mc / "ce_count"), self.read_int(mc / "ue_count")
            if ce is None or ue is None:
                continue
            totals["ce"] += ce
            totals["ue"] += ue
            readable += 1
        return totals if readable else None


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path
