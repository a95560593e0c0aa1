"""The ``rpi`` backend: the Linux backend plus what the VideoCore firmware tells ``vcgencmd``.

The firmware knows things the kernel does not: whether the board is under-volted or throttled
(``get_throttled``) and, on a Pi 5, the PMIC's per-rail currents and voltages
(``pmic_read_adc``). Each tool command is probed once at construction; a command that fails then
(older Pi, no ``vcgencmd``) stays *unsupported* rather than costing a process spawn every cycle.
A command that worked at start but fails later reads as *offline*.
"""

from __future__ import annotations

from typing import Any

from flight.hal.base import UNSUPPORTED, Reading, SensorStatus, measured
from flight.hal.linux import POWER_MAX_W, LinuxHal, temperature_reading
from flight.hal.programs import (
    parse_get_throttled,
    parse_measure_temp,
    parse_pmic_read_adc,
    pmic_rail_watts,
)

PMIC_SOURCE = "vcgencmd pmic_read_adc"
#: The Pi 5 PMIC rail that feeds the SoC's CPU cores and GPU.
CORE_RAIL = "VDD_CORE"


class RpiHal(LinuxHal):
    """Raspberry Pi: thermal zone or ``measure_temp``, ``get_throttled``, Pi 5 PMIC rails."""

    backend = "rpi"

    def _probe(self) -> None:
        self._has_pmic = self._pmic_readings() is not None
        self._has_measure_temp = (not self.sysfs.thermal_zones()
                                  and self._measure_temp() is not None)

    def _vcgencmd(self, *args: str) -> str | None:
        return self.programs.run("vcgencmd", *args)

    def _measure_temp(self) -> float | None:
        out = self._vcgencmd("measure_temp")
        return None if out is None else parse_measure_temp(out)

    def _pmic_readings(self) -> dict[str, float] | None:
        out = self._vcgencmd("pmic_read_adc")
        return None if out is None else parse_pmic_read_adc(out)

    def temperatures(self) -> dict[str, Reading]:
        temps = super().temperatures()
        if self._has_measure_temp:
            temps["vcgencmd"] = temperature_reading(self._measure_temp(), "vcgencmd measure_temp")
        return temps

    def _chip_temp(self, temps: dict[str, Reading]) -> Reading:
        """The thermal zone; ``measure_temp`` only on a Pi whose kernel has no zone."""
        chip = super()._chip_temp(temps)
        if chip.status is SensorStatus.UNSUPPORTED and "vcgencmd" in temps:
            return temps["vcgencmd"]
        return chip

    def throttling(self) -> dict[str, bool] | None:
        out = self._vcgencmd("get_throttled")
        return None if out is None else parse_get_throttled(out)

    def rails(self) -> dict[str, Reading]:
        """Pi 5 PMIC rails in watts (each ``_A`` reading paired with its ``_V``)."""
        if not self._has_pmic:
            return {}
        readings = self._pmic_readings()
        if readings is None:
            return {}
        return {name: measured(w, PMIC_SOURCE, 0.0, POWER_MAX_W)
                for name, w in pmic_rail_watts(readings).items()}

    def _board_power(self, rails: dict[str, Reading]) -> Reading:
        """The sum of the PMIC rails (what the SoC and memory draw, not USB peripherals)."""
        if not self._has_pmic:
            return UNSUPPORTED
        values = [r.value for r in rails.values() if r.ok and r.value is not None]
        if not values:
            return Reading(None, SensorStatus.OFFLINE, PMIC_SOURCE)
        return measured(sum(values), PMIC_SOURCE, 0.0, POWER_MAX_W)

    def _compute_power(self, rails: dict[str, Reading]) -> Reading:
        if not self._has_pmic:
            return UNSUPPORTED
        return rails.get(CORE_RAIL, Reading(None, SensorStatus.OFFLINE, PMIC_SOURCE))

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info.update(vcgencmd=self.programs.resolve("vcgencmd"), pmic=self._has_pmic,
                    measure_temp=self._has_measure_temp)
        return info
