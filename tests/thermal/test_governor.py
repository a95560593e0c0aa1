"""The PI governor and the thermostat on their own (the closed loop with the world is in
test_closed_loop.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from flight.apps.thermal.governor import PiGovernor, Thermostat


def _plant_run(gov: PiGovernor, steps: int, plate: float = 35.0, chip: float = 40.0,
               demand: float = 1.0) -> list[float]:
    """A first-order chip on a fixed plate: C dT/dt = P*duty - G*(T - plate)."""
    temps, c, g, p, dt = [], 1500.0, 18.0, 900.0, 5.0
    for _ in range(steps):
        duty = min(demand, gov.update(chip, dt))
        for _ in range(5):
            chip += (p * duty - g * (chip - plate)) / c
        temps.append(chip)
    return temps


def test_holds_the_set_point_without_offset_or_oscillation() -> None:
    gov = PiGovernor(setpoint=82.0)
    temps = _plant_run(gov, 400)
    assert max(temps) <= 82.0 + 2.0
    tail = temps[-60:]
    assert max(tail) - min(tail) < 0.2  # settled
    assert abs(tail[-1] - 82.0) < 0.2  # no offset: the integral did its work


def test_idle_does_not_wind_up() -> None:
    gov = PiGovernor(setpoint=82.0)
    _plant_run(gov, 300)  # regulate, then idle for a long time
    held = gov.integral
    _plant_run(gov, 300, demand=0.0)
    assert abs(gov.integral - held) < 1e-9  # saturated high the whole idle: integral frozen
    assert max(_plant_run(gov, 300)) <= 84.0


@given(st.floats(-100, 200), st.floats(0.1, 60))
def test_output_stays_in_range(temp: float, dt: float) -> None:
    gov = PiGovernor(setpoint=82.0, out_min=0.05)
    for _ in range(20):
        assert 0.05 <= gov.update(temp, dt) <= 1.0
    assert -1.0 <= gov.integral <= 1.0


def test_thermostat_has_hysteresis_and_a_fallback() -> None:
    heater = Thermostat(on_below=5.0, off_above=10.0)
    states = [heater.update(t, False) for t in (12, 8, 4.9, 6, 9.9, 10.1, 7)]
    assert states == [False, False, True, True, True, False, False]
    assert heater.update(None, fallback_on=True) is True
