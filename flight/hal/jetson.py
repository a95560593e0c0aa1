"""The ``jetson`` backend: named thermal zones, INA3221 power rails, ``nvpmodel`` and tegrastats.

A Jetson measures its own input power (``VDD_IN``) and its CPU/GPU rail with on-board INA3221
monitors, which is exactly what the power and thermal apps want from real hardware. JetPack moved
those monitors from IIO (≤ 4) to hwmon (≥ 5), and named its thermal zones differently on Xavier
and Orin, so both layouts are read. Sensors of power-gated blocks (an idle GPU on Orin) report
-256 °C; that is *offline*, not a temperature. Where sysfs shows nothing (a container without
``/sys`` passthrough) one ``tegrastats`` line is the fallback.

Frequency capping uses ``nvpmodel``: switching the power mode is how NVIDIA caps the CPU and GPU
together. It is used only when a low-power mode id is configured; otherwise cpufreq is capped as
on any Linux board.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from flight.hal.base import UNSUPPORTED, DvfsResult, Reading, SensorStatus, measured
from flight.hal.linux import (
    POWER_MAX_W,
    LinuxHal,
    check_fraction,
    hottest,
    temperature_reading,
)
from flight.hal.programs import (
    NvpMode,
    Programs,
    TegraStats,
    parse_nvpmodel_query,
    parse_tegrastats,
)
from flight.hal.sysfs import glob_dir, read_path_int, read_path_text

#: Total board input, by JetPack generation.
BOARD_RAILS = ("VDD_IN", "POM_5V_IN")
#: The compute rails, best first; the first group with any rail present is summed.
COMPUTE_RAILS: tuple[tuple[str, ...], ...] = (
    ("VDD_CPU_GPU_CV",),  # Orin Nano/NX, Xavier NX
    ("VDD_GPU_SOC", "VDD_CPU_CV"),  # AGX Orin
    ("POM_5V_GPU", "POM_5V_CPU"),  # Nano, TX2
    ("GPU", "CPU"),  # AGX Xavier (JetPack 4 names)
)
_TJ = re.compile(r"^tj", re.IGNORECASE)
_CPU_GPU = re.compile(r"^(cpu|gpu)", re.IGNORECASE)
_NVP_DEFAULT = re.compile(r"<\s*PM_CONFIG\s+DEFAULT\s*=\s*(\d{1,4})\s*>")
#: One tegrastats sample serves all reads within this many seconds (it costs a process).
TEGRASTATS_MAX_AGE_S = 0.5


class JetsonHal(LinuxHal):
    """Jetson (Xavier or Orin, JetPack 4-6).

    ``nvpmodel_low`` is the power-mode id to switch to when the cap fraction is below 0.5;
    the full mode is the one running at start (or nvpmodel.conf's default if the board started
    in the low mode, e.g. after a restart while capped).
    """

    backend = "jetson"

    def __init__(self, root: Path = Path("/"), *, programs: Programs | None = None,
                 dvfs_allowed: bool = False, chip_zone: str = "",
                 nvpmodel_low: int | None = None, use_psutil: bool | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 tegrastats_interval_ms: int = 100) -> None:
        self.nvpmodel_low = nvpmodel_low
        self.tegrastats_interval_ms = tegrastats_interval_ms
        self._tegra_cache: tuple[float, TegraStats | None] | None = None
        super().__init__(root, programs=programs, dvfs_allowed=dvfs_allowed,
                         chip_zone=chip_zone, use_psutil=use_psutil, clock=clock)

    def _probe(self) -> None:
        self._start_mode = self._query_mode()
        self._full_mode_id = self._full_mode()
        need = not self.sysfs.thermal_zones() or not self._sysfs_rails()
        self._use_tegrastats = need and self._tegra() is not None

    # --- temperatures --------------------------------------------------------------------------

    def temperatures(self) -> dict[str, Reading]:
        temps = super().temperatures()
        if temps or not self._use_tegrastats:
            return temps
        stats = self._tegra()
        if stats is None:
            return {}
        return {name: _tegra_temp(c) for name, c in stats.temperatures.items()}

    def _chip_temp(self, temps: dict[str, Reading]) -> Reading:
        """The junction (tj) sensor, else the hotter of CPU and GPU, else the generic choice."""
        if not self.chip_zone:
            for pattern in (_TJ, _CPU_GPU):
                chosen = hottest([r for name, r in temps.items() if pattern.search(name)])
                if chosen.ok:
                    return chosen
        chip = super()._chip_temp(temps)
        return self._unavailable() if chip.status is SensorStatus.UNSUPPORTED else chip

    # --- rails ---------------------------------------------------------------------------------

    def rails(self) -> dict[str, Reading]:
        """INA3221 rails in watts: hwmon (JetPack ≥ 5), IIO (≤ 4), else tegrastats."""
        rails = self._sysfs_rails()
        if rails or not self._use_tegrastats:
            return rails
        stats = self._tegra()
        if stats is None:
            return {}
        return {name: measured(w, "tegrastats", 0.0, POWER_MAX_W)
                for name, w in stats.rails_w.items()}

    def _sysfs_rails(self) -> dict[str, Reading]:
        rails: dict[str, Reading] = {}
        for name, reading in (*self._hwmon_rails(), *self._iio_rails()):
            rails.setdefault(name, reading)
        return rails

    def _hwmon_rails(self) -> list[tuple[str, Reading]]:
        """``inK_label`` / ``inK_input`` (mV) / ``currK_input`` (mA); channels without a
        current (INA3221's "sum of shunt voltages") are not rails."""
        found = []
        for dev in self.sysfs.hwmon():
            for label in glob_dir(dev.path, "in*_label"):
                k = label.name[2:-len("_label")]
                name = read_path_text(label)
                curr = dev.path / f"curr{k}_input"
                if k.isdigit() and name and curr.exists():
                    found.append((name, _watts(read_path_int(dev.path / f"in{k}_input"),
                                               read_path_int(curr), "ina3221:hwmon")))
        return found

    def _iio_rails(self) -> list[tuple[str, Reading]]:
        """``rail_name_K`` / ``in_voltageK_input`` (mV) / ``in_currentK_input`` (mA)."""
        found = []
        for dev in self.sysfs.iio_devices():
            for label in glob_dir(dev, "rail_name_*"):
                k = label.name[len("rail_name_"):]
                name = read_path_text(label)
                if k.isdigit() and name:
                    found.append((name, _watts(read_path_int(dev / f"in_voltage{k}_input"),
                                               read_path_int(dev / f"in_current{k}_input"),
                                               "ina3221:iio")))
        return found

    def _board_power(self, rails: dict[str, Reading]) -> Reading:
        return _first(rails, BOARD_RAILS) or self._unavailable()

    def _compute_power(self, rails: dict[str, Reading]) -> Reading:
        """The CPU/GPU rail(s) of this module; the sum when a module splits them in two."""
        for group in COMPUTE_RAILS:
            present = [rails[name] for name in group if name in rails]
            if not present:
                continue
            if not all(r.ok for r in present):
                return next(r for r in present if not r.ok)
            return measured(sum(r.value or 0.0 for r in present), present[0].source, 0.0,
                            POWER_MAX_W)
        return self._unavailable()

    # --- tegrastats ----------------------------------------------------------------------------

    def _unavailable(self) -> Reading:
        """Unsupported; but offline when tegrastats is this board's source and now fails."""
        if self._use_tegrastats and self._tegra() is None:
            return Reading(None, SensorStatus.OFFLINE, "tegrastats")
        return UNSUPPORTED

    def _tegra(self) -> TegraStats | None:
        """One tegrastats line, reused for :data:`TEGRASTATS_MAX_AGE_S`."""
        now = self._clock()
        if self._tegra_cache is not None and now - self._tegra_cache[0] < TEGRASTATS_MAX_AGE_S:
            return self._tegra_cache[1]
        line = self.programs.first_line("tegrastats", "--interval",
                                        str(self.tegrastats_interval_ms))
        stats = None if line is None else parse_tegrastats(line)
        self._tegra_cache = (now, stats)
        return stats

    # --- nvpmodel ------------------------------------------------------------------------------

    def _query_mode(self) -> NvpMode | None:
        out = self.programs.run("nvpmodel", "-q")
        return None if out is None else parse_nvpmodel_query(out)

    def _full_mode(self) -> int | None:
        """The mode to restore when uncapped: the start mode unless that is the low mode."""
        start = None if self._start_mode is None else self._start_mode.id
        if start is not None and start != self.nvpmodel_low:
            return start
        conf = self.sysfs.read_text("etc/nvpmodel.conf") or ""
        m = _NVP_DEFAULT.search(conf)
        default = int(m.group(1)) if m else None
        return default if default != self.nvpmodel_low else None

    def set_frequency_cap(self, fraction: float) -> DvfsResult:
        """``nvpmodel -m`` low mode below 0.5, full mode otherwise; cpufreq without a low mode."""
        check_fraction(fraction)
        if self.nvpmodel_low is None or self._start_mode is None:
            return self._cpufreq_cap(fraction)
        if not self.dvfs_allowed:
            return DvfsResult.DENIED
        target = self.nvpmodel_low if fraction < 0.5 else self._full_mode_id
        if target is None:
            return DvfsResult.FAILED
        current = self._query_mode()
        if current is not None and current.id == target:
            return DvfsResult.UNCHANGED
        if self.programs.run("nvpmodel", "-m", str(target)) is None:
            return DvfsResult.FAILED
        return DvfsResult.APPLIED

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        mode = self._query_mode()
        info.update(
            nvpmodel=None if mode is None else {"name": mode.name, "id": mode.id},
            nvpmodel_full=self._full_mode_id, nvpmodel_low=self.nvpmodel_low,
            tegrastats=self._use_tegrastats,
        )
        return info


def _watts(millivolts: int | None, milliamps: int | None, source: str) -> Reading:
    if millivolts is None or milliamps is None:
        return Reading(None, SensorStatus.INVALID, source)
    return measured(millivolts * milliamps / 1e6, source, 0.0, POWER_MAX_W)


def _first(rails: dict[str, Reading], names: Iterable[str]) -> Reading | None:
    return next((rails[n] for n in names if n in rails), None)


def _tegra_temp(celsius: float | None) -> Reading:
    if celsius is None:
        return Reading(None, SensorStatus.OFFLINE, "tegrastats")
    return temperature_reading(celsius, "tegrastats")
