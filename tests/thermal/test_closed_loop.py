"""The governor and the battery thermostat flying the world's thermal network.

The world model (``hil.world``) is the plant; the controllers are the thermal app's own
classes with the app's default parameters, run at the app's control period. Mission time is
simulated here step by step, so hours of orbit take well under a second.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from flight.app.clock import parse_epoch
from flight.apps.thermal.governor import PiGovernor, Thermostat
from flight.apps.thermal.model import THERMAL_MODEL
from hil.world.model import Inputs, World, WorldConfig

DEFAULTS = {p.name: p.default for p in THERMAL_MODEL.parameters}
LIMIT = DEFAULTS["chip_limit_c"]
SETPOINT = LIMIT - DEFAULTS["margin_c"]
PERIOD = DEFAULTS["control_period_s"]
ALL_SUN = parse_epoch("2027-12-21T00:00:00Z")  # dawn-dusk orbit out of eclipse season
ECLIPSE_SEASON = parse_epoch("2027-06-21T00:00:00Z")


@dataclass
class Flight:
    """A world and the thermal controllers, stepped together."""

    epoch: float
    heater_enabled: bool = True
    world: World = field(init=False)
    governor: PiGovernor = field(init=False)
    heater: Thermostat = field(init=False)

    def __post_init__(self) -> None:
        assert self.epoch is not None
        self.world = World(WorldConfig.from_flat({"initial_temp_c": 20.0}), self.epoch)
        self.governor = PiGovernor(SETPOINT, DEFAULTS["kp"], DEFAULTS["ki"],
                                   DEFAULTS["duty_min"])
        self.heater = Thermostat(DEFAULTS["battery_heater_on_c"],
                                 DEFAULTS["battery_heater_off_c"])
        self.limit, self.heater_on = 1.0, False

    def fly(self, seconds: float, demand: float) -> list[dict[str, float]]:
        samples = []
        for step in range(int(seconds)):
            if step % int(PERIOD) == 0:
                s = self.world.sensors()
                self.limit = self.governor.update(s["chip_temp_c"], PERIOD)
                self.heater_on = self.heater_enabled and self.heater.update(
                    s["battery_temp_c"], fallback_on=False)
            self.world.step(1.0, Inputs(compute_duty=demand * self.limit,
                                        battery_heater=self.heater_on))
            samples.append(self.world.sensors())
        return samples


def test_step_to_full_compute_in_sun_is_held_under_the_limit_without_oscillation() -> None:
    flight = Flight(ALL_SUN)
    idle = flight.fly(1800, demand=0.0)
    assert idle[-1]["in_sun"] and idle[-1]["chip_temp_c"] < SETPOINT - 20
    run = flight.fly(4 * 3600, demand=1.0)
    chip = [s["chip_temp_c"] for s in run]
    assert all(s["in_sun"] for s in run)
    overshoot = max(chip) - SETPOINT
    assert max(chip) <= LIMIT
    assert overshoot <= 2.0
    last_hour = chip[-3600:]
    assert max(last_hour) - min(last_hour) < 0.5  # settled: no sustained oscillation
    assert abs(last_hour[-1] - SETPOINT) < 0.3
    assert 0.5 < flight.limit < 1.0  # really throttling: full duty would overheat


def test_a_second_step_after_an_idle_spell_does_not_overshoot_more() -> None:
    flight = Flight(ALL_SUN)
    flight.fly(2 * 3600, demand=1.0)
    flight.fly(3600, demand=0.0)  # the governor sits saturated: its integral must not wind up
    chip = [s["chip_temp_c"] for s in flight.fly(2 * 3600, demand=1.0)]
    assert max(chip) - SETPOINT <= 2.0


def test_in_eclipse_with_compute_shed_the_heater_keeps_the_battery_warm() -> None:
    minimum = DEFAULTS["battery_heater_on_c"] - 5.0  # the survival floor is further below
    flight = Flight(ECLIPSE_SEASON)
    run = flight.fly(12 * 3600, demand=0.0)
    assert sum(1 for a, b in itertools.pairwise(run) if a["in_sun"] and not b["in_sun"]) >= 7
    assert min(s["battery_temp_c"] for s in run) >= minimum
    cold = Flight(ECLIPSE_SEASON, heater_enabled=False)
    assert min(s["battery_temp_c"] for s in cold.fly(12 * 3600, demand=0.0)) < minimum
