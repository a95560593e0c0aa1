"""The ``sim`` backend: readings from the simulated world, which publishes them on the bus.

The world process publishes ``env.sensors`` every few mission seconds. This backend keeps the
latest sample and answers from it; a value the world did not send reads as unsupported, one
that is not a finite number as invalid, and all of them as stale once the sample is older
than ``stale_s`` mission seconds — a world that stopped must not look like a calm world.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from flight.bus import Envelope
from flight.hal.base import (
    BATTERY_TEMP,
    CHIP_TEMP,
    IN_SUN,
    PLATE_TEMP,
    SENSORS,
    UNSUPPORTED,
    Hal,
    Reading,
    SensorStatus,
)

#: The topic the world publishes its sensor sample on.
ENV_SENSORS = "env.sensors"
#: The topic on which a board publishes what it measured, for the world to use instead.
ENV_MEASURED = "env.measured"
#: The topic on which apps tell the world what they switched (loads, heaters, duty limits).
ENV_ACTUATE = "env.act."


class SimHal(Hal):
    """Readings from the world's latest ``env.sensors`` sample."""

    backend = "sim"

    def __init__(self, clock: Callable[[], float], stale_s: float = 60.0):
        self._clock = clock
        self._stale_s = stale_s
        self._sample: dict[str, Any] = {}
        self._sample_t: float | None = None
        self.rejected = 0

    def feed(self, envelope: Envelope) -> None:
        """Take a new sample from the bus; anything that is not a table is counted and dropped."""
        data = envelope.data
        if envelope.src != "world" or not isinstance(data, dict) \
                or not isinstance(data.get("t"), (int, float)):
            self.rejected += 1
            return
        self._sample = data
        self._sample_t = float(data["t"])

    @property
    def sample(self) -> dict[str, Any]:
        """The latest raw sample (orbit position, contact, per-load power ...)."""
        return self._sample

    def age(self) -> float | None:
        """Mission seconds since the latest sample was taken; None before the first."""
        return None if self._sample_t is None else self._clock() - self._sample_t

    def read(self) -> dict[str, Reading]:
        age = self.age()
        stale = age is None or age > self._stale_s
        return {name: self._reading(name, stale) for name in SENSORS}

    def _reading(self, name: str, stale: bool) -> Reading:
        if name not in self._sample:
            return UNSUPPORTED
        if stale:
            return Reading(None, SensorStatus.STALE, "world")
        raw = self._sample[name]
        if isinstance(raw, bool):
            raw = float(raw)
        if not isinstance(raw, (int, float)) or not math.isfinite(raw):
            return Reading(None, SensorStatus.INVALID, "world")
        return Reading(float(raw), SensorStatus.OK, "world")

    def temperatures(self) -> dict[str, Reading]:
        readings = self.read()
        return {name: readings[name] for name in (CHIP_TEMP, PLATE_TEMP, BATTERY_TEMP)}

    def rails(self) -> dict[str, Reading]:
        loads = self._sample.get("loads_w")
        if not isinstance(loads, dict):
            return {}
        return {str(k): Reading(float(v), SensorStatus.OK, "world") for k, v in loads.items()
                if isinstance(v, (int, float)) and math.isfinite(v)}

    def in_sun(self) -> bool | None:
        reading = self.read()[IN_SUN]
        return None if not reading.ok else bool(reading.value)

    def describe(self) -> dict[str, Any]:
        return {"backend": self.backend, "stale_s": self._stale_s}
