"""What the power manager offers: its commands, telemetry, events and every threshold."""

from __future__ import annotations

from flight.app.model import (
    AppModel,
    Arg,
    Channel,
    Command,
    Event,
    Field,
    Limits,
    Param,
    Severity,
    ValueType,
)
from flight.apps.power.loads import HARD_OFF, LOADS, SHEDDABLE, SOFT_OFF
from flight.hal.guard import SENSOR_EVENTS

FLOAT, INT, BOOL, MAP, ENUM = (ValueType.FLOAT, ValueType.INT, ValueType.BOOL, ValueType.MAP,
                               ValueType.ENUM)
LOAD_NAMES = tuple(load.name for load in LOADS)


def _threshold_params() -> tuple[Field, ...]:
    out: list[Field] = []
    for load in SHEDDABLE:
        out.append(Param(f"{load.name}_shed_soc", FLOAT, load.shed_soc,
                         f"Shed {load.name} below this state of charge.", min=0.0, max=1.0))
        out.append(Param(f"{load.name}_restore_soc", FLOAT, load.restore_soc,
                         f"Restore {load.name} above this state of charge (above its shed "
                         "threshold: the gap is the hysteresis).", min=0.0, max=1.0))
    return tuple(out)


POWER_MODEL = AppModel(
    commands=(
        Command("load_on", "Force a load on, overriding automatic shedding.",
                args=(Arg("load", ENUM, "Load name.", choices=LOAD_NAMES),)),
        Command("load_off", "Force a non-critical load off.",
                args=(Arg("load", ENUM, "Load name.", choices=SOFT_OFF),)),
        Command("load_off_critical", "Force off a load the spacecraft needs (two-step).",
                args=(Arg("load", ENUM, "Load name.", choices=HARD_OFF),), hazardous=True),
        Command("load_auto", "Return a forced load to automatic management.",
                args=(Arg("load", ENUM, "Load name.", choices=LOAD_NAMES),)),
        Command("status", "Return the latest readings, load states and decisions."),
    ),
    telemetry=(
        Channel("soc", FLOAT, "Battery state of charge.", "fraction",
                Limits(yellow_low=0.6, red_low=0.5)),
        Channel("battery_voltage_v", FLOAT, "Battery voltage.", "V",
                Limits(yellow_low=26.0, red_low=25.0)),
        Channel("battery_current_a", FLOAT, "Battery current, positive when charging.", "A"),
        Channel("solar_power_w", FLOAT, "Solar array power delivered to the bus.", "W"),
        Channel("load_power_w", FLOAT, "Total load on the bus.", "W"),
        Channel("compute_power_w", FLOAT, "Power drawn by the compute payload.", "W"),
        Channel("net_power_w", FLOAT, "Solar input minus loads (negative: draining).", "W"),
        Channel("compute_budget_w", FLOAT, "Power the compute payload may draw now.", "W"),
        Channel("in_sun", BOOL, "The spacecraft is in sunlight."),
        Channel("loads", MAP, "Each load's commanded state (1 on, 0 off)."),
        Channel("forced", MAP, "Loads an operator forced (1 on, 0 off); the rest are automatic."),
        Channel("shed_count", INT, "Automatic sheds since start."),
        Channel("restore_count", INT, "Automatic restores since start."),
        Channel("mode_requests", INT, "Mode changes this manager asked for."),
        Channel("sensor_faults", INT, "Sensors currently implausible.",
                limits=Limits(yellow_high=0)),
        Channel("control_overruns", INT, "Control periods missed (the loop fell behind).",
                limits=Limits(yellow_high=0)),
    ),
    events=(
        Event("LOAD_SHED", Severity.WARNING, "Load {load} shed: {why}"),
        Event("LOAD_RESTORED", Severity.INFO, "Load {load} restored: {why}"),
        Event("LOAD_FORCED", Severity.WARNING, "Load {load} forced {state} by {src}"),
        Event("LOAD_RELEASED", Severity.INFO, "Load {load} back under automatic control"),
        Event("MODE_REQUEST", Severity.WARNING, "Requesting mode {mode}: {why}"),
        Event("MODE_REQUEST_FAILED", Severity.ERROR, "Mode request {mode} refused: {why}"),
        Event("POWER_DATA", Severity.INFO, "Power readings from {source} backend"),
        *SENSOR_EVENTS,
    ),
    parameters=(
        Param("control_period_s", FLOAT, 10.0, "Control period in mission seconds.",
              min=0.1, max=600),
        *_threshold_params(),
        Param("power_save_soc", FLOAT, 0.60, "Request POWER_SAVE below this SoC (in NOMINAL).",
              min=0.0, max=1.0),
        Param("power_save_exit_soc", FLOAT, 0.75,
              "Request NOMINAL above this SoC (leaving a POWER_SAVE this manager asked for).",
              min=0.0, max=1.0),
        Param("safe_soc", FLOAT, 0.50, "Request SAFE below this SoC.", min=0.0, max=1.0),
        Param("compute_max_w", FLOAT, 900.0, "Full-duty draw of the compute payload.",
              min=0.0, max=100_000),
        Param("battery_allowance_w", FLOAT, 900.0,
              "Battery power the payload may use at or above its restore threshold.",
              min=0.0, max=100_000),
        Param("budget_ramp_soc", FLOAT, 0.02,
              "Above the compute shed threshold, the SoC band over which the battery share "
              "of the compute budget falls to zero.", min=0.0, max=1.0),
        Param("stuck_samples", INT, 30,
              "Identical SoC samples while current flows that mean a stuck sensor (0: off).",
              min=0, max=10_000),
        Param("mode_retry_s", FLOAT, 60.0,
              "Mission seconds before an unanswered or refused mode request is repeated.",
              min=1.0, max=86_400),
    ),
)
