"""Environment faults: lying sensors, failed solar strings, a faded battery, a worn radiator.

All go through the world app's fault commands, so the simulated physics (or the sensor sample the
``sim`` HAL reads) changes for real and the stack must cope from what it measures:

* sensors (``sensor_stuck``, ``sensor_noisy``, ``sensor_offline``) — the published sample lies
  while the physics goes on: the apps' plausibility checks must flag the sensor
  (``sensor_faults`` in power and thermal telemetry) and their control must not follow a lie
  into a wrong decision;
* power (``solar_string_loss``, ``battery_fade``) — less power in, less stored: the power app must
  lower the compute budget, shed loads, and ask for POWER_SAVE or SAFE before the battery runs
  flat;
* thermal (``radiator_degradation``) — less heat rejected: the thermal governor must lower the
  compute duty to hold the chip under its limit.

Each is lasting; ``clear`` puts the knob back where it was before the injection.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hil.faults.base import Fault, FaultClass, FaultError, Injection, Param, register
from hil.faults.onboard import call, is_running

if TYPE_CHECKING:
    from hil.testbed import Testbed

WORLD = "world"
#: Sample fields that are not sensors (time) and never targets.
NOT_SENSORS = frozenset({"t"})


def world_sample(bed: Testbed) -> dict[str, Any]:
    """The world's full, true sensor sample (before any sensor fault)."""
    data = call(bed, WORLD, "snapshot")
    if not isinstance(data, dict) or not isinstance(data.get("sensors"), dict):
        raise FaultError("world.snapshot returned no sensor sample")
    return dict(data["sensors"])


def numeric_sensors(sample: Mapping[str, Any]) -> list[str]:
    """The sample's numeric, finite fields: what a sensor fault can act on."""
    return sorted(k for k, v in sample.items() if k not in NOT_SENSORS and not isinstance(v, bool)
                  and isinstance(v, (int, float)) and math.isfinite(v))


class _WorldFault(Fault):
    lasting = True

    def why_no_targets(self, bed: Testbed) -> str:
        return "the world app is not running (these faults are its knobs)"


class _SensorFault(_WorldFault):
    fault_class = FaultClass.SENSOR
    target_doc = "a numeric sensor of the world's published sample (e.g. chip_temp_c)"
    kind: str = ""

    def targets(self, bed: Testbed) -> list[str]:
        return numeric_sensors(world_sample(bed)) if is_running(bed, WORLD) else []

    def magnitude(self, params: Mapping[str, Any]) -> float:
        return 0.0

    def inject(self, bed: Testbed, target: str, params: Mapping[str, Any],
               rng: random.Random) -> Injection:
        true_value = world_sample(bed).get(target)
        call(bed, WORLD, "sensor_fault", {"sensor": target, "kind": self.kind,
                                          "magnitude": self.magnitude(params)})
        what = {"stuck": f"stuck at {true_value!r}", "offline": "offline",
                "noisy": f"noisy (sigma {self.magnitude(params)})"}[self.kind]
        return Injection(self.name, self.fault_class.value, target, dict(params),
                         f"sensor {target} {what} (until cleared)",
                         evidence={"kind": self.kind, "true_value_at_injection": true_value})

    def clear(self, bed: Testbed, injection: Injection) -> None:
        call(bed, WORLD, "sensor_fault", {"sensor": injection.target, "kind": "clear",
                                          "magnitude": 0.0})


@register
class SensorStuck(_SensorFault):
    name = "sensor_stuck"
    kind = "stuck"
    doc = ("Freeze a sensor at its present value: telemetry stops moving while the physics "
           "goes on; consumers should notice a value that no longer changes.")


@register
class SensorNoisy(_SensorFault):
    name = "sensor_noisy"
    kind = "noisy"
    doc = ("Add Gaussian noise to a sensor: control loops must filter it, not chatter "
           "(no load flapping, no duty oscillation).")
    params = (Param("sigma", float, "noise standard deviation, in the sensor's unit",
                    default=5.0, min=0.0, max=1e6),)

    def magnitude(self, params: Mapping[str, Any]) -> float:
        return float(params["sigma"])


@register
class SensorOffline(_SensorFault):
    name = "sensor_offline"
    kind = "offline"
    doc = ("Make a sensor vanish from the sample: the HAL must read it as unavailable (never "
           "zero) and the apps count it in sensor_faults.")


class _Knob(_WorldFault):
    """A world fault knob with an absolute value; ``clear`` sets it back."""

    part: str = ""
    command: str = ""
    arg: str = ""
    sample_key: str = ""
    unit: str = ""

    def targets(self, bed: Testbed) -> list[str]:
        return [self.part] if is_running(bed, WORLD) else []

    def value(self, params: Mapping[str, Any], before: Any) -> Any:
        raise NotImplementedError

    def inject(self, bed: Testbed, target: str, params: Mapping[str, Any],
               rng: random.Random) -> Injection:
        before = world_sample(bed).get(self.sample_key)
        value = self.value(params, before)
        call(bed, WORLD, self.command, {self.arg: value})
        after = world_sample(bed).get(self.sample_key)
        return Injection(self.name, self.fault_class.value, target, dict(params),
                         f"{target}: {self.sample_key} {before!r} → {after!r}{self.unit} "
                         f"(until cleared)",
                         evidence={"before": before, "after": after})

    def clear(self, bed: Testbed, injection: Injection) -> None:
        before = injection.evidence.get("before")
        if before is None:
            raise FaultError(f"{injection.fault}: the injection holds no value to restore")
        call(bed, WORLD, self.command, {self.arg: before})


@register
class SolarStringLoss(_Knob):
    name = "solar_string_loss"
    fault_class = FaultClass.POWER
    doc = ("Fail solar-array strings (open circuit): less power in sunlight. The power app "
           "must lower the compute budget and shed loads rather than drain the battery.")
    target_doc = "solar_array (needs the world app)"
    params = (Param("strings", int, "strings that fail (on top of those already failed)",
                    default=2, min=1, max=1000),)
    part, command, arg, sample_key = "solar_array", "fail_strings", "count", "failed_strings"

    def value(self, params: Mapping[str, Any], before: Any) -> Any:
        return min(1000, int(before or 0) + params["strings"])  # the world clamps to its array


@register
class BatteryFade(_Knob):
    name = "battery_fade"
    fault_class = FaultClass.POWER
    doc = ("Lose battery capacity: the state of charge falls faster in eclipse. The power app "
           "must see it and budget for it (earlier POWER_SAVE), never a brown-out.")
    target_doc = "battery (needs the world app)"
    params = (Param("fraction", float, "capacity lost, of the nameplate", default=0.3, min=0.0,
                    max=0.95),)
    part, command, arg, sample_key = "battery", "battery_fade", "fraction", "battery_fade"

    def value(self, params: Mapping[str, Any], before: Any) -> Any:
        return params["fraction"]


@register
class RadiatorDegradation(_Knob):
    name = "radiator_degradation"
    fault_class = FaultClass.THERMAL
    doc = ("Degrade the payload radiator: less heat rejected, the chip runs hotter. The "
           "thermal governor must lower the duty limit and hold the chip under its limit.")
    target_doc = "radiator (needs the world app)"
    params = (Param("fraction", float, "emissive capability lost", default=0.5, min=0.0,
                    max=0.95),)
    part, command, arg = "radiator", "radiator_degradation", "fraction"
    sample_key = "radiator_degradation"

    def value(self, params: Mapping[str, Any], before: Any) -> Any:
        return params["fraction"]
