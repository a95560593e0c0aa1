"""Sensor faults the test engineer injects into what the world publishes.

They act on the published sample only — the simulated physics goes on undisturbed, as a real
satellite's would while one of its sensors lies: ``stuck`` freezes a value, ``noisy`` adds
Gaussian noise of the given standard deviation, ``offline`` makes the sensor vanish from the
sample, ``nan`` reports NaN, ``value`` reports a fixed (e.g. out-of-range) number, and
``clear`` removes the fault.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

KINDS = ("stuck", "noisy", "offline", "nan", "value", "clear")


class SensorFaults:
    """The active faults, applied to each published sample."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.active: dict[str, tuple[str, float]] = {}

    def set(self, sensor: str, kind: str, magnitude: float, current: Any) -> None:
        if kind == "clear":
            self.active.pop(sensor, None)
        elif kind == "stuck":
            self.active[sensor] = (kind, float(current))
        else:
            self.active[sensor] = (kind, magnitude)

    def apply(self, sample: dict[str, Any]) -> dict[str, Any]:
        if not self.active:
            return sample
        out = dict(sample)
        for sensor, (kind, value) in self.active.items():
            if kind == "offline":
                out.pop(sensor, None)
            elif kind == "nan":
                out[sensor] = math.nan
            elif kind in ("stuck", "value"):
                out[sensor] = value
            elif kind == "noisy" and isinstance(out.get(sensor), (int, float)):
                out[sensor] = float(out[sensor]) + float(self.rng.normal(0.0, value))
        return out
