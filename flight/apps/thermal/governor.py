"""The duty-cycle governor: a PI controller with anti-windup, and the battery thermostat.

Why PI: the chip is close to a first-order lag (its own heat capacity against the conductance
to the payload plate, a time constant of a minute or two) riding on the plate, which warms
over tens of minutes. Proportional action alone would hold the chip some degrees below the
set point whatever the plate does; the integral removes that offset as the plate warms.

Why this anti-windup (conditional integration, integral clamped to the output range): while
the payload idles — or the power manager holds compute at zero — the chip sits far below the
set point and the output is pinned at full duty. An unconditioned integral would grow all that
time, and when the payload came back the chip would overshoot its limit until the integral
unwound. Here the integral does not move while the output is saturated in the direction the
error pushes, so after an idle spell the governor resumes from the duty it last needed.

The set point sits ``margin`` below the chip's limit so that the small overshoot of a step
to full compute stays under the limit.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class PiGovernor:
    """Duty-cycle limit in [``out_min``, ``out_max``] from the chip temperature."""

    setpoint: float
    kp: float = 0.05  # duty per °C of error
    ki: float = 0.0008  # duty per °C·s
    out_min: float = 0.0
    out_max: float = 1.0
    integral: float = 0.0
    output: float = 1.0

    def update(self, measured: float, dt: float) -> float:
        """One control step ``dt`` seconds after the previous one; returns the duty limit."""
        error = self.setpoint - measured
        proportional = self.kp * error
        unclamped = proportional + self.integral
        saturated_high = unclamped >= self.out_max and error > 0
        saturated_low = unclamped <= self.out_min and error < 0
        if not (saturated_high or saturated_low):
            self.integral += self.ki * error * dt
            self.integral = min(self.out_max, max(self.out_min - self.out_max, self.integral))
        self.output = min(self.out_max, max(self.out_min, proportional + self.integral))
        return self.output

    def hold(self, output: float) -> None:
        """Take over from a fallback output without a bump when the sensor comes back."""
        self.output = output
        self.integral = min(self.out_max, max(self.out_min, output))


@dataclass
class Thermostat:
    """On below ``on_below``, off above ``off_above``: a heater that cannot chatter."""

    on_below: float
    off_above: float
    on: bool = False

    def update(self, temperature: float | None, fallback_on: bool) -> bool:
        """New heater state; ``fallback_on`` is used when there is no plausible temperature."""
        if temperature is None:
            self.on = fallback_on
        elif temperature < self.on_below:
            self.on = True
        elif temperature > self.off_above:
            self.on = False
        return self.on
