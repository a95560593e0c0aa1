"""The ``linux`` backend: what any Linux board offers through sysfs and psutil.

Thermal zones, cpufreq, RAPL energy counters and EDAC are generic kernel interfaces, so this
backend works on a laptop, a server or an unknown ARM board, and the Raspberry Pi and Jetson
backends build on it. It reports only what the board really has: a missing file is
*unsupported*, a sensor that answers nonsense is *invalid* or *offline* — never a zero.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from flight.hal.base import (
    BOARD_POWER,
    CHIP_TEMP,
    COMPUTE_POWER,
    CPU_FREQ,
    CPU_PERCENT,
    SENSORS,
    UNSUPPORTED,
    DvfsResult,
    Hal,
    Reading,
    SensorStatus,
    measured,
)
from flight.hal.programs import OFFLINE_C, Programs
from flight.hal.sysfs import CpufreqPolicy, Sysfs, ThermalZone

#: A die temperature outside this range is a broken sensor, not a measurement.
TEMP_MIN_C = -40.0
TEMP_MAX_C = 150.0
#: A plausible board/rail power, W.
POWER_MAX_W = 1000.0

#: Zone types that name a compute die (CPU, GPU, SoC, package or junction sensor).
COMPUTE_ZONE = re.compile(r"cpu|gpu|soc|pkg|package|core|tj|tdiode", re.IGNORECASE)

RAPL_DIR = "sys/class/powercap/intel-rapl:0"
#: Shorter RAPL intervals are dominated by the counter's update granularity (about 1 ms).
RAPL_MIN_INTERVAL_S = 0.05


def temperature_reading(celsius: float | None, source: str) -> Reading:
    """A die temperature: OFFLINE for Jetson's -256 °C marker, INVALID outside -40..150 °C."""
    if celsius is None:
        return Reading(None, SensorStatus.INVALID, source)
    if celsius <= OFFLINE_C + 0.5:
        return Reading(None, SensorStatus.OFFLINE, source)
    return measured(celsius, source, TEMP_MIN_C, TEMP_MAX_C)


def zone_reading(zone: ThermalZone) -> Reading:
    """A thermal zone's temperature; a zone whose temp cannot be read at all is OFFLINE."""
    source = f"thermal:{zone.type or zone.zone}"
    if zone.raw is None:
        return Reading(None, SensorStatus.OFFLINE, source)
    mc = zone.millidegrees
    return temperature_reading(None if mc is None else mc / 1000.0, source)


def hottest(readings: list[Reading]) -> Reading:
    """The hottest OK reading; else OFFLINE if any is offline, INVALID if any is invalid."""
    ok = [r for r in readings if r.ok]
    if ok:
        return max(ok, key=lambda r: r.value or 0.0)
    for status in (SensorStatus.OFFLINE, SensorStatus.INVALID):
        bad = [r for r in readings if r.status is status]
        if bad:
            return bad[0]
    return UNSUPPORTED


def _write_sysfs(path: Path, value: str) -> None:
    """Write one sysfs attribute (separate so tests can make it fail)."""
    with path.open("w") as f:
        f.write(value)


class LinuxHal(Hal):
    """Sysfs thermal zones, cpufreq (read and, where allowed, cap), RAPL, EDAC and psutil.

    ``root`` is the filesystem root to read (tests pass a recorded tree). ``use_psutil``
    defaults to True only for the live root, because psutil always describes this machine and
    would otherwise mix it into a recorded board. ``chip_zone`` names the thermal zone (type or
    ``thermal_zoneN``) to use as the chip temperature instead of the heuristic.
    ``programs`` are the board tools subclasses may run (none for plain Linux).
    """

    backend = "linux"

    def __init__(self, root: Path = Path("/"), *, programs: Programs | None = None,
                 dvfs_allowed: bool = False, chip_zone: str = "",
                 use_psutil: bool | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.root = Path(root)
        self.sysfs = Sysfs(self.root)
        self.programs = programs or Programs()
        self.dvfs_allowed = dvfs_allowed
        self.chip_zone = chip_zone
        self.use_psutil = _is_live_root(self.root) if use_psutil is None else use_psutil
        self._clock = clock
        #: scaling_max_freq file -> (the cap we wrote, what the kernel then showed)
        self._applied: dict[Path, tuple[int, int | None]] = {}
        self._rapl_last = self._rapl_sample()  # the start of the first power interval
        self._rapl_power: Reading | None = None
        if self.use_psutil:
            _cpu_percent()  # prime: the first call has no interval to measure over
        self._probe()

    def _probe(self) -> None:
        """Find out once which optional sources work (subclasses probe their board tools)."""

    # --- readings --------------------------------------------------------------------------

    def read(self) -> dict[str, Reading]:
        out = dict.fromkeys(SENSORS, UNSUPPORTED)
        temps = self.temperatures()
        rails = self.rails()
        out[CHIP_TEMP] = self._chip_temp(temps)
        out[BOARD_POWER] = self._board_power(rails)
        out[COMPUTE_POWER] = self._compute_power(rails)
        out[CPU_PERCENT] = self._cpu_percent()
        out[CPU_FREQ] = self._cpu_freq()
        return out

    def temperatures(self) -> dict[str, Reading]:
        """Every thermal zone by its type (``type:thermal_zoneN`` when types repeat)."""
        zones = self.sysfs.thermal_zones()
        counts: dict[str, int] = {}
        for z in zones:
            counts[z.type] = counts.get(z.type, 0) + 1
        return {_zone_key(z, counts[z.type]): zone_reading(z) for z in zones}

    def _chip_temp(self, temps: dict[str, Reading]) -> Reading:
        """The configured zone, else the hottest compute-die zone, else the hottest zone."""
        if self.chip_zone:
            return self._configured_zone()
        compute = [r for name, r in temps.items() if COMPUTE_ZONE.search(name)]
        chosen = hottest(compute)
        return chosen if chosen.ok else hottest(list(temps.values()))

    def _configured_zone(self) -> Reading:
        for z in self.sysfs.thermal_zones():
            if self.chip_zone in (z.type, z.zone):
                return zone_reading(z)
        return Reading(None, SensorStatus.UNSUPPORTED, f"thermal:{self.chip_zone}")

    def _board_power(self, rails: dict[str, Reading]) -> Reading:
        """Package power from the RAPL energy counter, averaged since the previous read."""
        return self._rapl_power_now()

    def _compute_power(self, rails: dict[str, Reading]) -> Reading:
        return UNSUPPORTED

    def _cpu_percent(self) -> Reading:
        if not self.use_psutil:
            return UNSUPPORTED
        return measured(_cpu_percent(), "psutil", 0.0, 100.0)

    def _cpu_freq(self) -> Reading:
        """The fastest policy's current frequency (cpufreq), else psutil's figure."""
        khz = [p.cur_khz for p in self.sysfs.cpufreq_policies() if p.cur_khz is not None]
        if khz:
            return measured(max(khz) / 1000.0, "cpufreq", 1.0, 100_000.0)
        if self.use_psutil:
            return measured(_psutil_freq_mhz(), "psutil", 1.0, 100_000.0)
        return UNSUPPORTED

    # --- RAPL --------------------------------------------------------------------------------

    def _rapl_sample(self) -> tuple[float, int] | None:
        energy = self.sysfs.read_int(f"{RAPL_DIR}/energy_uj")
        return None if energy is None else (self._clock(), energy)

    def _rapl_power_now(self) -> Reading:
        """Energy difference over time since the last sample; wraps at ``max_energy_range``."""
        sample, last = self._rapl_sample(), self._rapl_last
        if sample is None:
            return UNSUPPORTED
        if last is None or sample[0] - last[0] < RAPL_MIN_INTERVAL_S:
            self._rapl_last = last or sample  # keep the older sample: a longer, truer interval
            return self._rapl_power or Reading(None, SensorStatus.STALE, "rapl")
        self._rapl_last = sample
        delta = sample[1] - last[1]
        if delta < 0:
            span = self.sysfs.read_int(f"{RAPL_DIR}/max_energy_range_uj")
            if span is None:
                return Reading(None, SensorStatus.INVALID, "rapl")
            delta += span
        self._rapl_power = measured(delta / 1e6 / (sample[0] - last[0]), "rapl", 0.0,
                                    POWER_MAX_W)
        return self._rapl_power

    # --- actuation ---------------------------------------------------------------------------

    def edac(self) -> dict[str, int] | None:
        return self.sysfs.edac_counts()

    def set_frequency_cap(self, fraction: float) -> DvfsResult:
        """Write every policy's ``scaling_max_freq`` = max(cpuinfo_min, fraction * cpuinfo_max).

        Raises ValueError for a fraction outside (0, 1]: that is a caller bug, not a board state.
        """
        check_fraction(fraction)
        return self._cpufreq_cap(fraction)

    def _cpufreq_cap(self, fraction: float) -> DvfsResult:
        policies = [p for p in self.sysfs.cpufreq_policies() if p.hw_max_khz is not None]
        if not policies:
            return DvfsResult.UNSUPPORTED
        if not self.dvfs_allowed or not all(os.access(p.max_file, os.W_OK) for p in policies):
            return DvfsResult.DENIED
        targets = {p.max_file: _cap_khz(p, fraction) for p in policies}
        if all(self._at_target(p, targets[p.max_file]) for p in policies):
            return DvfsResult.UNCHANGED
        return self._write_caps(targets)

    def _at_target(self, policy: CpufreqPolicy, target: int) -> bool:
        """Already capped there — also when the kernel rounded our last write of ``target``."""
        current = policy.scaling_max_khz
        return current == target or self._applied.get(policy.max_file) == (target, current)

    def _write_caps(self, targets: dict[Path, int]) -> DvfsResult:
        for path, khz in targets.items():
            try:
                _write_sysfs(path, str(khz))
            except PermissionError:
                return DvfsResult.DENIED
            except OSError:
                return DvfsResult.FAILED
            self._applied[path] = (khz, self.sysfs.read_int(path))
        return DvfsResult.APPLIED

    # --- description ---------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        policies = self.sysfs.cpufreq_policies()
        writable = bool(policies) and all(os.access(p.max_file, os.W_OK) for p in policies)
        return {
            "backend": self.backend,
            "root": str(self.root),
            "thermal_zones": {z.zone: z.type for z in self.sysfs.thermal_zones()},
            "chip_zone": self.chip_zone or None,
            "rails": sorted(self.rails()),
            "cpufreq_policies": [p.name for p in policies],
            "dvfs": {"allowed": self.dvfs_allowed, "writable": writable},
            "edac": self.edac() is not None,
            "rapl": self._rapl_sample() is not None,
            "psutil": self.use_psutil,
        }


def _zone_key(zone: ThermalZone, same_type: int) -> str:
    if not zone.type:
        return zone.zone
    return zone.type if same_type == 1 else f"{zone.type}:{zone.zone}"


def _cap_khz(policy: CpufreqPolicy, fraction: float) -> int:
    hw_max = policy.hw_max_khz or 0
    return max(policy.hw_min_khz or 0, round(fraction * hw_max))


def check_fraction(fraction: float) -> None:
    if not (math.isfinite(fraction) and 0.0 < fraction <= 1.0):
        raise ValueError(f"frequency cap fraction must be in (0, 1], not {fraction!r}")


def _is_live_root(root: Path) -> bool:
    try:
        return root.resolve() == Path("/")
    except (OSError, RuntimeError):
        return False


def _cpu_percent() -> float | None:
    """psutil's whole-machine CPU use since its previous call (shared, process-wide)."""
    try:
        return float(psutil.cpu_percent(interval=None))
    except (OSError, RuntimeError, ValueError):
        return None


def _psutil_freq_mhz() -> float | None:
    """psutil's CPU frequency; 0 or nothing means it does not know."""
    try:
        freq = psutil.cpu_freq()
    except (OSError, RuntimeError, ValueError, NotImplementedError):
        return None
    if freq is None or not freq.current or freq.current <= 0:
        return None
    return float(freq.current)
