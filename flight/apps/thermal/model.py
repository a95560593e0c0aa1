"""What the thermal governor offers: telemetry, events, and every limit and gain as a parameter."""

from __future__ import annotations

from flight.app.model import (
    AppModel,
    Channel,
    Command,
    Event,
    Limits,
    Param,
    Severity,
    ValueType,
)
from flight.hal.guard import SENSOR_EVENTS

FLOAT, INT, BOOL, STR = ValueType.FLOAT, ValueType.INT, ValueType.BOOL, ValueType.STR

THERMAL_MODEL = AppModel(
    commands=(
        Command("status", "Return the readings, the controller's state and the board's DVFS."),
    ),
    telemetry=(
        Channel("chip_temp_c", FLOAT, "Hottest compute die.", "degC",
                Limits(yellow_high=85, red_high=95)),
        Channel("plate_temp_c", FLOAT, "Payload plate / radiator.", "degC",
                Limits(yellow_high=70, red_high=85)),
        Channel("battery_temp_c", FLOAT, "Battery.", "degC",
                Limits(yellow_low=2, red_low=-10, yellow_high=45, red_high=50)),
        Channel("duty_limit", FLOAT, "Compute duty-cycle limit set by the governor.", "fraction"),
        Channel("setpoint_c", FLOAT, "Chip temperature the governor holds at most.", "degC"),
        Channel("integral", FLOAT, "The governor's integral term.", "fraction"),
        Channel("battery_heater", BOOL, "Battery heater commanded on."),
        Channel("frequency_cap", FLOAT, "Clock cap asked of the board (1 = none).", "fraction"),
        Channel("dvfs", STR, "Result of the last DVFS request (applied, unsupported, ...)."),
        Channel("sensor_faults", INT, "Sensors currently implausible.",
                limits=Limits(yellow_high=0)),
        Channel("survival_trips", INT, "Survival limits crossed since start.",
                limits=Limits(yellow_high=0)),
        Channel("control_overruns", INT, "Control periods missed (the loop fell behind).",
                limits=Limits(yellow_high=0)),
    ),
    events=(
        Event("THROTTLING", Severity.INFO, "Compute duty limited to {duty:.2f} (chip {chip:.1f} "
              "°C, set point {setpoint:.1f} °C)"),
        Event("UNTHROTTLED", Severity.INFO, "Compute duty back to full (chip {chip:.1f} °C)"),
        Event("HEATER", Severity.INFO, "Battery heater {state} (battery {temp} °C)"),
        Event("SURVIVAL", Severity.CRITICAL, "{sensor} = {value:.1f} °C beyond its survival "
              "limit {limit:.1f} °C: requesting SAFE"),
        Event("DVFS_UNAVAILABLE", Severity.INFO, "Clock capping skipped on this board: {result}"),
        Event("DVFS_APPLIED", Severity.INFO, "Clock capped at {fraction:.2f} of maximum"),
        Event("MODE_REQUEST_FAILED", Severity.ERROR, "Mode request {mode} refused: {why}"),
        *SENSOR_EVENTS,
    ),
    parameters=(
        Param("control_period_s", FLOAT, 5.0, "Control period in mission seconds.",
              min=0.1, max=600),
        Param("chip_limit_c", FLOAT, 85.0, "The chip's limit (Pi: throttles from 80-85 °C).",
              min=20, max=150),
        Param("margin_c", FLOAT, 3.0, "Set point below the limit (room for overshoot).",
              min=0.0, max=50),
        Param("kp", FLOAT, 0.05, "Proportional gain, duty per °C.", min=0.0, max=10),
        Param("ki", FLOAT, 0.0008, "Integral gain, duty per °C·s (mission).", min=0.0, max=1),
        Param("duty_min", FLOAT, 0.05, "Lowest limit the governor sets while regulating.",
              min=0.0, max=1.0),
        Param("safe_duty", FLOAT, 0.3, "Duty limit while the chip temperature is implausible.",
              min=0.0, max=1.0),
        Param("battery_heater_on_c", FLOAT, 5.0, "Battery heater on below this.",
              min=-40, max=60),
        Param("battery_heater_off_c", FLOAT, 10.0, "Battery heater off above this.",
              min=-40, max=60),
        Param("chip_survival_c", FLOAT, 95.0, "Chip above this requests SAFE.", min=20, max=150),
        Param("battery_survival_min_c", FLOAT, -10.0, "Battery below this requests SAFE.",
              min=-60, max=40),
        Param("battery_survival_max_c", FLOAT, 50.0, "Battery above this requests SAFE.",
              min=0, max=100),
        Param("survival_samples", INT, 3, "Consecutive samples beyond a survival limit before "
              "SAFE is requested.", min=1, max=1000),
        Param("stuck_samples", INT, 60, "Identical chip temperatures that mean a stuck "
              "sensor (0: off).", min=0, max=100_000),
        Param("dvfs_enabled", BOOL, True, "Also cap the clock where the board permits it."),
        Param("dvfs_min_fraction", FLOAT, 0.3, "Lowest clock cap asked for.", min=0.05, max=1),
    ),
)
