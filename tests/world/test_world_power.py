"""Solar array, battery, loads and the energy ledger."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hil.world.battery import Battery, BatteryConfig, ocv_v
from hil.world.loads import DEFAULT_LOADS, LoadBank
from hil.world.model import Inputs, World, WorldConfig
from hil.world.solar import ArrayConfig, SolarArray
from tests.world.world_helpers import unix


def test_default_array_power() -> None:
    array = SolarArray(ArrayConfig())
    assert array.power_w(True, 1.0, 0.0) == pytest.approx(1361 * 0.298 * 4.0 * 0.9)
    assert array.power_w(True, 1.0, 0.0) == pytest.approx(1460, abs=1)
    assert array.power_w(False, 1.0, 0.0) == 0.0


def test_degradation_pointing_and_strings() -> None:
    aged = SolarArray(ArrayConfig(degradation_per_year=0.02, years_in_orbit=5))
    assert aged.nominal_w == pytest.approx(1460.2 * 0.98**5, rel=1e-3)
    off = SolarArray(ArrayConfig(pointing_error_deg=10.0))
    assert off.power_w(True, 1.0, 0.0) == pytest.approx(1460.2 * math.cos(math.radians(10)),
                                                        rel=1e-3)
    body = SolarArray(ArrayConfig(pointing="body_fixed"))
    sin_beta = math.sin(math.radians(-70.0))
    assert body.power_w(True, 1.0, sin_beta) == pytest.approx(body.nominal_w * abs(sin_beta))
    array = SolarArray(ArrayConfig(strings=8))
    full = array.nominal_w
    assert array.fail_strings(2) == 2
    assert array.nominal_w == pytest.approx(full * 6 / 8)
    assert array.fail_strings(2) == 2  # absolute: injecting twice is the same fault
    assert array.fail_strings(100) == 8
    assert array.nominal_w == 0.0
    assert array.fail_strings(0) == 0
    assert array.nominal_w == pytest.approx(full)
    with pytest.raises(ValueError):
        ArrayConfig(pointing="sideways")


def test_ocv_curve() -> None:
    assert ocv_v(0.0) == pytest.approx(24.0)
    assert ocv_v(1.0) == pytest.approx(33.6)
    # The knee: the bottom 10 % spans far more volts than the plateau does.
    assert ocv_v(0.1) - ocv_v(0.0) > 2 * (ocv_v(0.5) - ocv_v(0.4))


@given(a=st.floats(0, 1), b=st.floats(0, 1))
def test_ocv_monotonic(a: float, b: float) -> None:
    lo, hi = sorted((a, b))
    assert ocv_v(lo) <= ocv_v(hi)


def test_soc_follows_field_notes_formula() -> None:
    bat = Battery(BatteryConfig(capacity_wh=800, initial_soc=0.5))
    flow = bat.step(solar_w=300.0, load_w=100.0, dt_s=60.0)
    assert flow.charge_w == pytest.approx(200.0)
    assert bat.soc == pytest.approx(0.5 + 0.95 * 200.0 * 60 / 3600 / 800)
    flow = bat.step(solar_w=0.0, load_w=500.0, dt_s=60.0)
    assert flow.discharge_w == pytest.approx(500.0)
    assert bat.soc == pytest.approx(0.5 + (0.95 * 200.0 - 500.0 / 0.95) * 60 / 3600 / 800)


def test_charge_limit_and_curtailment_when_full() -> None:
    bat = Battery(BatteryConfig(initial_soc=0.5, max_charge_w=400.0))
    flow = bat.step(1400.0, 100.0, 1.0)
    assert flow.charge_w == 400.0
    assert flow.curtailed_w == pytest.approx(900.0)
    full = Battery(BatteryConfig(initial_soc=1.0))
    flow = full.step(1400.0, 100.0, 1.0)
    assert flow.charge_w == 0.0 and flow.curtailed_w == pytest.approx(1300.0)
    assert full.soc == 1.0
    # Nearly full: only what fits is taken, the rest curtailed, nothing lost to the clamp.
    nearly = Battery(BatteryConfig(capacity_wh=800, initial_soc=0.9999))
    flow = nearly.step(1400.0, 100.0, 60.0)
    assert nearly.soc == pytest.approx(1.0)
    assert 0.0 < flow.charge_w < 400.0


def test_brownout_when_empty() -> None:
    bat = Battery(BatteryConfig(initial_soc=0.0))
    flow = bat.step(50.0, 200.0, 1.0)
    assert flow.discharge_w == 0.0
    assert flow.unmet_w == pytest.approx(150.0)
    assert flow.load_delivered_w == pytest.approx(50.0)
    capped = Battery(BatteryConfig(initial_soc=1.0, max_discharge_w=1000.0))
    assert capped.step(0.0, 1200.0, 1.0).unmet_w == pytest.approx(200.0)


def test_fade_keeps_energy_and_clips() -> None:
    bat = Battery(BatteryConfig(capacity_wh=800, initial_soc=0.5))
    assert bat.set_fade(0.25) == 0.0
    assert bat.capacity_wh == pytest.approx(600)
    assert bat.soc == pytest.approx(400 / 600)
    assert bat.set_fade(0.6) == pytest.approx(80.0)
    assert bat.soc == pytest.approx(1.0)


def test_critical_loads_cannot_be_switched_off() -> None:
    bank = LoadBank(DEFAULT_LOADS)
    bank.switch({"obc": False, "radio": False, "heater_noncritical": True})
    assert bank.on["obc"] and not bank.on["radio"] and bank.on["heater_noncritical"]
    assert bank.critical_off_ignored == 1
    with pytest.raises(ValueError):
        bank.switch({"warp_drive": True})
    powers = bank.powers(450.0)
    assert powers["compute"] == 450.0 and powers["radio"] == 0.0
    assert sum(powers.values()) == pytest.approx(15 + 5 + 4 + 20 + 450)


def test_world_loads_and_compute_duty() -> None:
    world = World(WorldConfig(), unix(2025, 1, 10))
    world.step(1.0, Inputs(compute_duty=0.5, battery_heater=True,
                           loads={"eps": False, "radio": False}))
    s = world.sensors()
    assert s["compute_power_w"] == pytest.approx(450.0)
    assert s["loads_w"]["battery_heater"] == 30.0 and s["loads_w"]["eps"] == 5.0
    assert s["load_power_w"] == pytest.approx(15 + 5 + 4 + 30 + 450)
    assert s["critical_off_ignored"] == 1
    world.step(1.0, Inputs(compute_duty=7.0))  # clamped to 1
    assert world.sensors()["compute_power_w"] == pytest.approx(900.0)
    assert world.sensors()["loads_w"]["battery_heater"] == 30.0  # switch state persists


def _orbit_balance(world: World, inputs: Inputs) -> dict[str, float]:
    """Integrate the per-step sensor powers over one orbit, independently of the ledger."""
    e0 = world.sensors()["battery_energy_wh"]
    led0 = world.ledger.as_dict()
    acc = {"solar": 0.0, "load": 0.0, "loss": 0.0, "dark_s": 0.0, "charge_s": 0.0,
           "discharge_s": 0.0}
    n = round(world.orbit.period_s)
    for _ in range(n):
        world.step(1.0, inputs)
        s = world.sensors()
        acc["solar"] += s["solar_used_w"] / 3600.0
        acc["load"] += s["load_power_w"] / 3600.0
        acc["loss"] += s["battery_loss_w"] / 3600.0
        acc["dark_s"] += not s["in_sun"]
        acc["charge_s"] += s["battery_current_a"] > 0.1
        acc["discharge_s"] += s["battery_current_a"] < -0.1
    acc["delta"] = world.sensors()["battery_energy_wh"] - e0
    led = world.ledger.as_dict()
    acc["ledger_delta"] = (led["solar_used_wh"] - led0["solar_used_wh"]) - (
        led["load_wh"] - led0["load_wh"]) - (led["loss_wh"] - led0["loss_wh"])
    return acc


def test_energy_balance_over_an_orbit_with_eclipse() -> None:
    world = World(WorldConfig.from_flat({"initial_soc": 0.6}), unix(2025, 6, 21))
    acc = _orbit_balance(world, Inputs(compute_duty=0.85))
    assert acc["dark_s"] > 15 * 60  # the orbit had its eclipse
    assert acc["charge_s"] > 0 and acc["discharge_s"] > 0
    throughput = acc["solar"] + acc["load"]
    error = acc["delta"] - (acc["solar"] - acc["load"] - acc["loss"])
    assert abs(error) < 0.005 * throughput
    assert acc["ledger_delta"] == pytest.approx(acc["delta"], abs=1e-6 * throughput)


def test_energy_balance_with_brownout_and_curtailment() -> None:
    """Noon-midnight orbit (36 min eclipse), small battery, full compute: it browns out."""
    cfg = WorldConfig.from_flat({"ltan_h": 12.0, "battery_capacity_wh": 200.0,
                                 "initial_soc": 0.5})
    world = World(cfg, unix(2025, 3, 20))
    acc = _orbit_balance(world, Inputs(compute_duty=1.0))
    s = world.sensors()
    assert s["brownout_events"] >= 1
    assert world.ledger.unmet_wh > 0.0
    assert world.ledger.curtailed_wh > 0.0
    assert world.ledger.solar_available_wh == pytest.approx(
        world.ledger.solar_used_wh + world.ledger.curtailed_wh)
    throughput = acc["solar"] + acc["load"]
    error = acc["delta"] - (acc["solar"] - acc["load"] - acc["loss"])
    assert abs(error) < 0.005 * throughput


def test_failed_strings_and_fade_in_the_world() -> None:
    world = World(WorldConfig(), unix(2025, 1, 10))
    world.step(1.0)
    full = world.sensors()["solar_power_w"]
    assert world.fail_strings(4) == 4
    world.step(1.0)
    assert world.sensors()["solar_power_w"] == pytest.approx(full / 2, rel=1e-3)
    world.set_battery_fade(0.5)
    assert world.sensors()["battery_capacity_wh"] == pytest.approx(400.0)
    assert world.ledger.fade_lost_wh > 0.0  # 0.9·800 = 720 Wh did not fit in 400
