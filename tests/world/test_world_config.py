"""WorldConfig.from_flat, Inputs validation and the model's speed."""

from __future__ import annotations

import inspect
import time

import pytest

from hil.world.model import FLAT_KEYS, Inputs, World, WorldConfig
from hil.world.orbit import sso_inclination_deg
from tests.world.world_helpers import unix


def test_defaults_follow_the_design() -> None:
    cfg = WorldConfig()
    assert cfg.orbit.altitude_km == 650.0 and cfg.orbit.inclination_deg is None
    assert cfg.orbit.ltan_h == 18.0
    assert cfg.array.area_m2 == 4.0 and cfg.array.efficiency == 0.298
    assert cfg.battery.capacity_wh == 800.0 and cfg.battery.initial_soc == 0.9
    assert cfg.thermal.radiator_area_m2 == 2.0 and cfg.thermal.radiator_emissivity == 0.88
    assert cfg.radiation.upset_rate_per_bit_day == 4e-7
    assert cfg.step_s == 1.0


def test_from_flat_maps_keys() -> None:
    cfg = WorldConfig.from_flat({
        "altitude_km": "550", "inclination_deg": None, "ltan_h": 6, "array_area_m2": 3.0,
        "battery_capacity_wh": 1200, "radiator_area_m2": 1.5, "upset_rate_per_bit_day": 1e-9,
        "saa_multiplier": 20, "stations": "kiruna,inuvik", "seed": "5", "step_s": 2,
        "memory_regions": "jobs=4MiB,tables=1024", "compute_max_w": 700})
    assert cfg.orbit.altitude_km == 550.0 and cfg.orbit.ltan_h == 6.0
    assert cfg.array.area_m2 == 3.0 and cfg.battery.capacity_wh == 1200.0
    assert cfg.thermal.radiator_area_m2 == 1.5
    assert cfg.radiation.upset_rate_per_bit_day == 1e-9 and cfg.radiation.saa_multiplier == 20
    assert cfg.radiation.regions == (("jobs", 4 * 8 * 1024 * 1024), ("tables", 1024))
    assert cfg.stations == ("kiruna", "inuvik") and cfg.seed == 5 and cfg.step_s == 2.0
    assert {s.name: s.power_w for s in cfg.loads}["compute"] == 700.0
    assert cfg.compute_max_w == 700.0 and WorldConfig().compute_max_w == 900.0
    world = World(cfg, unix(2025, 1, 1))
    assert world.orbit.inclination_rad == pytest.approx(
        sso_inclination_deg(550.0) * 3.141592653589793 / 180)


def test_from_flat_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="unknown world config keys: altitude"):
        WorldConfig.from_flat({"altitude": 650})
    with pytest.raises(ValueError, match="step_s"):
        WorldConfig.from_flat({"step_s": "fast"})
    with pytest.raises(ValueError):
        WorldConfig.from_flat({"stations": "atlantis"})
    with pytest.raises(ValueError):
        WorldConfig.from_flat({"initial_soc": 1.5})


def test_every_flat_key_is_documented() -> None:
    doc = inspect.getdoc(WorldConfig) or ""
    missing = [k for k in FLAT_KEYS if f"``{k}``" not in doc]
    assert not missing


def test_inputs_validation_and_round_trip() -> None:
    with pytest.raises(ValueError):
        Inputs(compute_duty=float("nan"))
    inp = Inputs(loads={"radio": False}, compute_duty=0.4, battery_heater=True,
                 chip_temp_c=50.0, compute_power_w=None)
    assert Inputs.from_dict(inp.as_dict()) == inp
    world = World(WorldConfig(), unix(2025, 1, 1))
    with pytest.raises(ValueError, match="unknown load"):
        world.step(1.0, Inputs(loads={"warp": True}))
    with pytest.raises(ValueError):
        world.step(-1.0)


def test_step_advances_exactly_dt() -> None:
    world = World(WorldConfig.from_flat({"step_s": 1.0}), 1_750_000_000.0)
    world.step(2.5)
    assert world.t == 1_750_000_002.5
    world.step(0.0)
    assert world.t == 1_750_000_002.5


def test_speed_at_least_2000_steps_per_second() -> None:
    """The world app must run >= 200x real time next to a whole stack (1 s steps)."""
    world = World(WorldConfig(), unix(2025, 6, 21))
    inputs = Inputs(compute_duty=0.8)
    best = 0.0
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(2000):
            world.step(1.0, inputs)
        best = max(best, 2000 / (time.perf_counter() - start))
    assert best >= 2000.0
