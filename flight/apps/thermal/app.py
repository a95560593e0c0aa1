"""The thermal governor app: every control period (mission time) it reads the chip, plate and
battery temperatures through the HAL, sets the compute duty-cycle limit (PI, anti-windup),
switches the battery heater, caps the clock where the board permits it, and asks for SAFE
when a survival limit is crossed.
"""

from __future__ import annotations

from typing import Any

from flight.app.base import App
from flight.app.timer import MissionTimer
from flight.apps.thermal.governor import PiGovernor, Thermostat
from flight.apps.thermal.model import THERMAL_MODEL
from flight.bus import Reply
from flight.hal import (
    ENV_ACTUATE,
    ENV_MEASURED,
    ENV_SENSORS,
    CoSimHal,
    DvfsResult,
    awaiting_first_sample,
    open_hal,
)
from flight.hal.guard import SensorGuard, SensorRule, report_transitions

SAFE = "SAFE"
MOVING = frozenset({"chip_temp_c"})


class ThermalApp(App):
    """Holds the chip under its limit and the battery above its minimum."""

    app_id = 4
    model = THERMAL_MODEL

    def on_start(self) -> None:
        self.hal, self.world = open_hal(self.ctx.config["hal"], self.clock)
        if self.world is not None:
            self.subscribe(ENV_SENSORS, self.world.feed)
        self.timer = MissionTimer(self.clock, self.params["control_period_s"])
        self.governor = self._make_governor()
        self.heater = Thermostat(self.params["battery_heater_on_c"],
                                 self.params["battery_heater_off_c"])
        self.guard = self._make_guard()
        self.values: dict[str, float | None] = {}
        self.duty_limit = 1.0
        self.throttled = False
        self.frequency_cap = 1.0
        self.dvfs = "not tried"
        self.survival_trips = 0
        self.heater_reported: bool | None = None  # the heater state the last HEATER event gave
        self._beyond: dict[str, int] = {}

    def _make_governor(self) -> PiGovernor:
        p = self.params
        return PiGovernor(p["chip_limit_c"] - p["margin_c"], p["kp"], p["ki"], p["duty_min"])

    def _make_guard(self) -> SensorGuard:
        return SensorGuard([
            SensorRule("chip_temp_c", -60.0, 150.0, self.params["stuck_samples"]),
            SensorRule("plate_temp_c", -150.0, 150.0),
            SensorRule("battery_temp_c", -60.0, 100.0),
            SensorRule("in_sun", 0.0, 1.0),
        ])

    def next_deadline(self) -> float | None:
        return self.timer.next_deadline()

    def check_parameters(self, table: dict[str, Any]) -> str | None:
        if table["battery_heater_off_c"] <= table["battery_heater_on_c"]:
            return "battery_heater_off_c must be above battery_heater_on_c"
        if table["chip_survival_c"] <= table["chip_limit_c"]:
            return "chip_survival_c must be above chip_limit_c"
        if table["battery_survival_min_c"] >= table["battery_heater_on_c"]:
            return "battery_survival_min_c must be below battery_heater_on_c"
        if table["margin_c"] >= table["chip_limit_c"]:
            return "margin_c must be below chip_limit_c"
        return None

    def on_parameters_changed(self, changes: dict[str, Any]) -> None:
        self.timer.set_period(self.params["control_period_s"])
        integral = self.governor.integral
        self.governor = self._make_governor()
        self.governor.integral = integral
        self.heater.on_below = self.params["battery_heater_on_c"]
        self.heater.off_above = self.params["battery_heater_off_c"]
        if "stuck_samples" in changes:
            self.guard = self._make_guard()

    # ------------------------------------------------------------------ the control loop
    def on_tick(self) -> None:
        if self.timer.due() and not awaiting_first_sample(self.world, self.started_mono):
            self.control()

    def control(self) -> None:
        # A real chip sensor always moves a little (noise, load): an exactly repeated value
        # is a frozen sensor or driver.
        self.values, transitions = self.guard.check(self.hal.read(), MOVING)
        report_transitions(self.emit, transitions, {
            "chip_temp_c": f"duty limit held at {self.params['safe_duty']}",
            "battery_temp_c": "battery heater on in eclipse, off in sun"},
            "not used for control")
        self.duty_limit = self._duty(self.values["chip_temp_c"])
        in_sun = self.values["in_sun"]
        heater = self.heater.update(self.values["battery_temp_c"],
                                    fallback_on=in_sun is not None and in_sun < 0.5)
        if heater != self.heater_reported:
            self.heater_reported = heater
            temp = self.values["battery_temp_c"]
            self.emit("HEATER", state="on" if heater else "off",
                      temp="unknown" if temp is None else f"{temp:.1f}")
        self._survival()
        self._dvfs()
        self.publish(f"{ENV_ACTUATE}thermal", {"duty_limit": self.duty_limit,
                                               "heaters": {"battery_heater": heater}})
        if isinstance(self.hal, CoSimHal):
            measured = self.hal.measured()
            if measured:
                self.publish(ENV_MEASURED, measured)

    def _duty(self, chip: float | None) -> float:
        if chip is None:
            self.governor.hold(self.params["safe_duty"])
            return self.params["safe_duty"]
        duty = round(self.governor.update(chip, self.timer.last_dt), 4)
        if duty < 0.98 and not self.throttled:
            self.throttled = True
            self.emit("THROTTLING", duty=duty, chip=chip, setpoint=self.governor.setpoint)
        elif duty >= 1.0 and self.throttled:
            self.throttled = False
            self.emit("UNTHROTTLED", chip=chip)
        return duty

    def _survival(self) -> None:
        p, v = self.params, self.values
        checks = (("chip_temp_c", v["chip_temp_c"], p["chip_survival_c"], 1),
                  ("battery_temp_c", v["battery_temp_c"], p["battery_survival_max_c"], 1),
                  ("battery_temp_c_low", v["battery_temp_c"], p["battery_survival_min_c"], -1))
        for key, value, limit, sign in checks:
            beyond = value is not None and sign * (value - limit) > 0
            count = self._beyond.get(key, 0) + 1 if beyond else 0
            self._beyond[key] = count
            if count == p["survival_samples"] and value is not None:
                self.survival_trips += 1
                self.emit("SURVIVAL", sensor=key.removesuffix("_low"), value=value, limit=limit)
                if self.mode != SAFE:
                    self.send("executive", "set_mode",
                              {"mode": SAFE, "why": f"thermal: {key} {value:.1f} °C"},
                              on_reply=self._mode_reply)

    def _mode_reply(self, reply: Reply) -> None:
        if not reply.ok:
            self.emit("MODE_REQUEST_FAILED", mode=SAFE, why=f"{reply.reason.name} "
                      f"{reply.message}")

    def _dvfs(self) -> None:
        """Cap the clock with the duty limit, where the board lets us; say once if it won't."""
        if not self.params["dvfs_enabled"] or self.dvfs in ("unsupported", "denied"):
            return
        cap = max(self.params["dvfs_min_fraction"], self.duty_limit)
        if abs(cap - self.frequency_cap) < 0.05 and self.dvfs != "not tried":
            return
        result = self.hal.set_frequency_cap(cap)
        self.dvfs = result.value
        if result in (DvfsResult.APPLIED, DvfsResult.UNCHANGED):
            if abs(cap - self.frequency_cap) >= 0.05:
                self.emit("DVFS_APPLIED", fraction=cap)
            self.frequency_cap = cap
        else:
            self.emit("DVFS_UNAVAILABLE", result=result.value)

    # ------------------------------------------------------------------ telemetry, commands
    def housekeeping(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "duty_limit": self.duty_limit,
            "setpoint_c": self.governor.setpoint,
            "integral": round(self.governor.integral, 4),
            "battery_heater": self.heater.on,
            "frequency_cap": self.frequency_cap,
            "dvfs": self.dvfs,
            "sensor_faults": len(self.guard.faults),
            "survival_trips": self.survival_trips,
            "control_overruns": self.timer.overruns,
        }
        for name in ("chip_temp_c", "plate_temp_c", "battery_temp_c"):
            if self.values.get(name) is not None:
                out[name] = round(self.values[name] or 0.0, 2)
        return out

    def do_status(self) -> dict[str, Any]:
        return {"values": self.values, "duty_limit": self.duty_limit,
                "governor": vars(self.governor), "heater": self.heater.on,
                "sensor_faults": dict(self.guard.faults), "dvfs": self.dvfs,
                "hal": self.hal.describe()}
