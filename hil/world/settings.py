"""The world app's configuration keys (``[apps.world]``) and its command/telemetry model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flight.app.model import (
    AppModel,
    Arg,
    Channel,
    Command,
    Event,
    Param,
    Severity,
    ValueType,
)
from hil.world.faults import KINDS

FLOAT, INT, BOOL, STR, MAP = (ValueType.FLOAT, ValueType.INT, ValueType.BOOL, ValueType.STR,
                              ValueType.MAP)

WORLD_SETTINGS = (
    Param("seed", INT, 1, "Seed of every random draw (upsets, noise): same seed, same world.",
          min=0, max=2**32 - 1),
    Param("step_s", FLOAT, 1.0, "Integration step, mission seconds.", min=0.01, max=60),
    Param("publish_period_s", FLOAT, 2.0, "Mission seconds between sensor samples.",
          min=0.01, max=600),
    Param("demand", FLOAT, 1.0, "Duty the stand-in payload asks for when no job runner "
          "reports its own.", min=0.0, max=1.0),
    Param("altitude_km", FLOAT, 650.0, "Circular orbit altitude.", min=160, max=36_000),
    Param("inclination_deg", FLOAT, -1.0, "Inclination; negative: sun-synchronous.",
          min=-1, max=180),
    Param("ltan_h", FLOAT, 18.0, "Local time of the ascending node (18 = dawn-dusk).",
          min=0, max=24),
    Param("array_area_m2", FLOAT, 4.0, "Solar array area.", min=0.01, max=1000),
    Param("battery_capacity_wh", FLOAT, 800.0, "Battery capacity.", min=1, max=1_000_000),
    Param("initial_soc", FLOAT, 0.9, "State of charge at the start.", min=0, max=1),
    Param("radiator_area_m2", FLOAT, 2.0, "Payload radiator area.", min=0.01, max=1000),
    Param("upset_rate_per_bit_day", FLOAT, 4e-7, "Single-event upset rate outside the SAA.",
          min=1e-11, max=1e-6),
    Param("saa_multiplier", FLOAT, 50.0, "Upset rate multiplier inside the SAA.",
          min=1, max=10_000),
    Param("stations", STR, "svalbard,troll", "Ground stations, comma-separated catalogue names."),
)

WORLD_MODEL = AppModel(
    commands=(
        Command("fail_strings", "Fail solar-array strings (fault injection).",
                args=(Arg("count", INT, "Strings failed in all.", min=0, max=1000),)),
        Command("battery_fade", "Lose a fraction of battery capacity (fault injection).",
                args=(Arg("fraction", FLOAT, "Capacity lost.", min=0, max=0.95),)),
        Command("radiator_degradation", "Degrade the radiator (fault injection).",
                args=(Arg("fraction", FLOAT, "Emissive capability lost.", min=0, max=0.95),)),
        Command("sensor_fault", "Make a published sensor lie (fault injection).",
                args=(Arg("sensor", STR, "Sensor name, e.g. chip_temp_c."),
                      Arg("kind", ValueType.ENUM, "Fault kind.", choices=KINDS),
                      Arg("magnitude", FLOAT, "Noise sigma or the fixed value.", default=0.0))),
        Command("set_demand", "Duty the stand-in payload asks for.",
                args=(Arg("duty", FLOAT, "0..1.", min=0, max=1),)),
        Command("inject_upset", "Flip one bit of a memory region now (fault injection).",
                args=(Arg("region", ValueType.ENUM, "Memory region.",
                          choices=("jobs", "checkpoints", "tables")),
                      Arg("bit", INT, "Bit index in the region (-1: a random one).", default=-1,
                          min=-1, max=2**40))),
        Command("snapshot", "Return the full sensor sample and the energy ledger."),
    ),
    telemetry=(
        Channel("mission_t", FLOAT, "The world's mission time.", "s"),
        Channel("speed", FLOAT, "Mission seconds per wall second."),
        Channel("lag_s", FLOAT, "How far the world is behind mission time.", "s"),
        Channel("steps", INT, "Integration steps taken."),
        Channel("in_sun", BOOL, "In sunlight."),
        Channel("beta_deg", FLOAT, "Sun angle above the orbit plane.", "deg"),
        Channel("lat_deg", FLOAT, "Sub-satellite latitude.", "deg"),
        Channel("lon_deg", FLOAT, "Sub-satellite longitude.", "deg"),
        Channel("in_saa", BOOL, "Inside the South Atlantic Anomaly."),
        Channel("contact", STR, "Ground station in view, or empty."),
        Channel("orbit_number", INT, "Orbits since the start."),
        Channel("battery_soc", FLOAT, "True state of charge.", "fraction"),
        Channel("solar_power_w", FLOAT, "True array output.", "W"),
        Channel("load_power_w", FLOAT, "True bus load.", "W"),
        Channel("compute_duty", FLOAT, "Duty the payload ran.", "fraction"),
        Channel("chip_temp_c", FLOAT, "True chip temperature.", "degC"),
        Channel("plate_temp_c", FLOAT, "True plate temperature.", "degC"),
        Channel("battery_temp_c", FLOAT, "True battery temperature.", "degC"),
        Channel("upsets", INT, "Radiation upsets emitted."),
        Channel("energy_wh", MAP, "Energy ledger since the start.", "Wh"),
        Channel("sensor_faults", INT, "Injected sensor faults active."),
    ),
    events=(
        Event("WORLD_FAULT", Severity.WARNING, "Injected: {what}"),
    ),
)


#: Settings of the world app that are its own (publishing, demand), not the model's.
APP_ONLY_SETTINGS = ("publish_period_s", "demand")


def model_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The world model's flat settings out of the world app's resolved ones: what both the
    app and anything predicting its world (the mission plan) must build it from."""
    own = {f.name for f in WORLD_SETTINGS} - set(APP_ONLY_SETTINGS)
    flat = {k: v for k, v in settings.items() if k in own}
    inclination = flat.get("inclination_deg")
    if inclination is None or float(inclination) < 0:
        flat["inclination_deg"] = None  # the sun-synchronous inclination
    return flat
