"""The hardware abstraction: one interface over a simulated world and real boards.

Apps never read sysfs or run board tools themselves: they ask a :class:`Hal` for *readings*
named from one vocabulary (``chip_temp_c``, ``battery_soc`` ...). A backend answers for what
its hardware really has; anything else reads as *unsupported* — never as zero, because a zero
that means "no sensor" is the value a controller would happily act on.
"""

from __future__ import annotations

import enum
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar


class SensorStatus(str, enum.Enum):
    """Why a reading does or does not carry a value."""

    OK = "ok"
    UNSUPPORTED = "unsupported"  # this board has no such sensor
    OFFLINE = "offline"  # the sensor exists but reports it cannot measure (Jetson's -256 °C)
    STALE = "stale"  # the last value is older than the backend's freshness limit
    INVALID = "invalid"  # a value came back but cannot be true (NaN, out of physical range)


@dataclass(frozen=True)
class Reading:
    """One measured quantity: a value only when ``status`` is OK, and where it came from."""

    value: float | None
    status: SensorStatus = SensorStatus.OK
    source: str = ""

    @property
    def ok(self) -> bool:
        return self.status is SensorStatus.OK and self.value is not None

    def describe(self) -> dict[str, Any]:
        return {"value": self.value, "status": self.status.value, "source": self.source}


UNSUPPORTED = Reading(None, SensorStatus.UNSUPPORTED)


def measured(value: float | None, source: str, lo: float = -math.inf,
             hi: float = math.inf) -> Reading:
    """A reading from a raw value: INVALID when it is NaN, infinite or outside [lo, hi]."""
    if value is None:
        return Reading(None, SensorStatus.UNSUPPORTED, source)
    if not math.isfinite(value) or not lo <= value <= hi:
        return Reading(None, SensorStatus.INVALID, source)
    return Reading(float(value), SensorStatus.OK, source)


# The vocabulary: every backend maps what it has onto these names.
CHIP_TEMP = "chip_temp_c"  # the hottest compute die (CPU/GPU/SoC junction), °C
PLATE_TEMP = "plate_temp_c"  # payload plate / radiator, °C
BATTERY_TEMP = "battery_temp_c"
BATTERY_SOC = "battery_soc"  # state of charge, 0..1
BATTERY_VOLTAGE = "battery_voltage_v"
BATTERY_CURRENT = "battery_current_a"  # positive = charging
SOLAR_POWER = "solar_power_w"  # array output delivered to the bus
LOAD_POWER = "load_power_w"  # everything the bus feeds
COMPUTE_POWER = "compute_power_w"  # what the compute payload draws
BOARD_POWER = "board_power_w"  # total input of a real board (Jetson VDD_IN, Pi PMIC sum)
CPU_PERCENT = "cpu_percent"  # whole-board CPU use, 0..100
CPU_FREQ = "cpu_freq_mhz"  # current frequency of the fastest core
IN_SUN = "in_sun"  # 1.0 in sunlight, 0.0 in eclipse (world only)

SENSORS: tuple[str, ...] = (
    CHIP_TEMP, PLATE_TEMP, BATTERY_TEMP, BATTERY_SOC, BATTERY_VOLTAGE, BATTERY_CURRENT,
    SOLAR_POWER, LOAD_POWER, COMPUTE_POWER, BOARD_POWER, CPU_PERCENT, CPU_FREQ, IN_SUN,
)

#: Quantities a real board measures better than the world can simulate: in co-simulation
#: the board's reading replaces the world's (and is fed back to the world).
MEASURABLE: frozenset[str] = frozenset({CHIP_TEMP, COMPUTE_POWER})


class DvfsResult(str, enum.Enum):
    """What became of a request to cap the compute clock."""

    APPLIED = "applied"
    UNCHANGED = "unchanged"  # already at that cap
    UNSUPPORTED = "unsupported"  # no cpufreq / nvpmodel on this board
    DENIED = "denied"  # present but not writable by this user, or not permitted by config
    FAILED = "failed"  # the write or the tool failed


class Hal(ABC):
    """One backend: what a board (or the simulated world) can measure and actuate."""

    #: ``sim``, ``linux``, ``rpi`` or ``jetson``.
    backend: ClassVar[str] = ""

    @abstractmethod
    def read(self) -> dict[str, Reading]:
        """Every name of :data:`SENSORS`, each OK, unsupported, offline, stale or invalid."""

    def temperatures(self) -> dict[str, Reading]:
        """Every temperature sensor by its own name (thermal zone type, rail ...), °C."""
        return {}

    def rails(self) -> dict[str, Reading]:
        """Every power rail by name, in watts."""
        return {}

    def throttling(self) -> dict[str, bool] | None:
        """Board throttling flags (Pi ``get_throttled``); None where the board has none."""
        return None

    def edac(self) -> dict[str, int] | None:
        """Corrected/uncorrected memory error counts (``ce``, ``ue``); None = unsupported."""
        return None

    def set_frequency_cap(self, fraction: float) -> DvfsResult:
        """Cap the compute clock at ``fraction`` (0..1] of its maximum, where permitted."""
        return DvfsResult.UNSUPPORTED

    def describe(self) -> dict[str, Any]:
        """What was detected: backend, sensors found, rails, DVFS capability (for events)."""
        return {"backend": self.backend}

    def close(self) -> None:  # noqa: B027 - an optional hook, most backends hold nothing
        """Release files or helper processes."""
