"""The world process: the simulated environment of a flatsat, as an app on its bus.

It steps :class:`~hil.world.model.World` in fixed mission-time steps so that it is always at
the stack's mission time (time acceleration comes from the clock, not from bigger steps),
publishes the sensor sample the ``sim`` HAL reads (``env.sensors``) and every radiation upset
(``env.upset``), and takes the apps' actuations (``env.act.*``) and a real board's measurements
(``env.measured``) as its inputs. Fault knobs — failed strings, battery fade, radiator
degradation, sensor faults — are commands, so scenarios and campaigns drive them like any
other telecommand.

It runs under the executive like an onboard app (supervised, restarted, checkpointed): the
simulated world must survive the faults the test engineer injects into the stack around it.
A restart within one boot continues the same world from its checkpoint; a new boot starts a
new one at the configured epoch.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from flight.app.base import App, CommandFailed
from flight.app.timer import MissionTimer
from flight.bus import Envelope, Reason
from flight.hal import ENV_ACTUATE, ENV_MEASURED, ENV_SENSORS
from hil.world.faults import SensorFaults
from hil.world.model import Inputs, World, WorldConfig
from hil.world.radiation import Upset
from hil.world.settings import WORLD_MODEL, WORLD_SETTINGS, model_settings

ENV_UPSET = "env.upset"
#: Steps taken in one go before the main loop gets a turn (commands, heartbeats).
MAX_STEPS_PER_TURN = 500
#: Mission seconds between checkpoints of the world's state.
CHECKPOINT_EVERY_S = 60.0
#: Actuations older than this (mission seconds) no longer hold: the app that sent them is gone.
ACTUATION_STALE_S = 120.0


class WorldApp(App):
    """Orbit, sun, power, heat and radiation, stepped on mission time."""

    app_id = 7
    model = WORLD_MODEL
    settings = WORLD_SETTINGS

    def on_start(self) -> None:
        self.config = WorldConfig.from_flat(model_settings(self.ctx.settings))
        self.world = self._restore_or_new()
        self._injections = np.random.default_rng()  # harness upsets: not the world's own draws
        self.faults = SensorFaults(np.random.default_rng(self.ctx.settings["seed"] + 1))
        self._act: dict[str, tuple[float, dict[str, Any]]] = {}
        self._measured: tuple[float, dict[str, float]] | None = None
        self.publish_timer = MissionTimer(self.clock, self.ctx.settings["publish_period_s"])
        self.upsets = 0
        self.steps = 0
        self.lag_s = 0.0
        self._next_checkpoint = self.world.t + CHECKPOINT_EVERY_S
        self.subscribe(ENV_ACTUATE, self._actuation)
        self.subscribe(ENV_MEASURED, self._measurement)

    def _restore_or_new(self) -> World:
        """The checkpointed world of this boot, or a new one at the current mission time."""
        anchor = self.clock.anchor
        boot = None if anchor is None else [anchor.mission0, anchor.mono0]
        stored = self.checkpoint_store("world").load_object()
        if stored and isinstance(stored[0], dict) and stored[0].get("boot") == boot:
            try:
                world = World.from_state(self.config, stored[0]["state"])
                if world.t <= self.clock.now():
                    return world
            except (KeyError, TypeError, ValueError) as exc:
                self.log.warning("world checkpoint unusable (%s): starting anew", exc)
        return World(self.config, self.clock.now())

    def _checkpoint(self) -> None:
        anchor = self.clock.anchor
        boot = None if anchor is None else [anchor.mission0, anchor.mono0]
        self.checkpoint_store("world").save_object({"boot": boot, "state": self.world.state()})

    # ------------------------------------------------------------------ stepping
    def next_deadline(self) -> float | None:
        return self.clock.monotonic_at(self.world.t + self.config.step_s)

    def on_tick(self) -> None:
        now = self.clock.now()
        step = self.config.step_s
        taken = 0
        while self.world.t + step <= now and taken < MAX_STEPS_PER_TURN:
            for upset in self.world.step(step, self._inputs()):
                self._upset(upset)
            taken += 1
            if self.world.t >= self.publish_timer.next_t:
                self.publish_timer.due()
                self._publish_sensors()
        self.steps += taken
        self.lag_s = max(0.0, now - self.world.t)
        if self.world.t >= self._next_checkpoint:
            self._next_checkpoint = self.world.t + CHECKPOINT_EVERY_S
            self._checkpoint()

    def _inputs(self) -> Inputs:
        t = self.world.t
        power = self._fresh("power", t)
        thermal = self._fresh("thermal", t)
        jobs = self._fresh("jobs", t)
        loads = {k: bool(v) for k, v in power.get("loads", {}).items()}
        heaters = thermal.get("heaters", {})
        if "duty" in jobs:  # the job runner reports the duty it really ran
            duty = float(jobs["duty"])
        else:  # stand-in payload: wants ``demand``, gets what thermal and power allow
            limit = float(thermal.get("duty_limit", 1.0))
            budget = float(power.get("compute_budget_w", self.config.compute_max_w))
            duty = self.ctx.settings["demand"] * min(limit, budget / self.config.compute_max_w)
        if self.mode == "SAFE":
            duty = 0.0
        measured = self._measured[1] if self._measured and t - self._measured[0] \
            < ACTUATION_STALE_S else {}
        return Inputs(loads=loads, compute_duty=min(1.0, max(0.0, duty)),
                      battery_heater=bool(heaters.get("battery_heater", False)),
                      chip_temp_c=measured.get("chip_temp_c"),
                      compute_power_w=measured.get("compute_power_w"))

    def _fresh(self, app: str, t: float) -> dict[str, Any]:
        entry = self._act.get(app)
        return entry[1] if entry is not None and t - entry[0] < ACTUATION_STALE_S else {}

    def _actuation(self, envelope: Envelope) -> None:
        app = envelope.topic[len(ENV_ACTUATE):]
        if app != envelope.src or not isinstance(envelope.data, dict):
            self.counters.rx_malformed += 1
            return
        self._act[app] = (self.clock.now(), envelope.data)

    def _measurement(self, envelope: Envelope) -> None:
        data = envelope.data
        if not isinstance(data, dict) or not all(
                isinstance(v, (int, float)) and math.isfinite(v) for v in data.values()):
            self.counters.rx_malformed += 1
            return
        self._measured = (self.clock.now(), {str(k): float(v) for k, v in data.items()})

    def _upset(self, upset: Any) -> None:
        self.upsets += 1
        self.publish(ENV_UPSET, {"t": upset.t, "region": upset.region, "bit": upset.bit,
                                 "in_saa": upset.in_saa, "lat": upset.lat, "lon": upset.lon})

    def _publish_sensors(self) -> None:
        self.publish(ENV_SENSORS, self.faults.apply(self.world.sensors()))

    # ------------------------------------------------------------------ telemetry
    def housekeeping(self) -> dict[str, Any]:
        s = self.world.sensors()
        ledger = self.world.ledger
        return {
            "mission_t": round(self.world.t, 1),
            "speed": self.clock.speed,
            "lag_s": round(self.lag_s, 2),
            "steps": self.steps,
            "in_sun": bool(s["in_sun"]),
            "beta_deg": round(float(s["beta_deg"]), 2),
            "lat_deg": round(float(s["lat_deg"]), 2),
            "lon_deg": round(float(s["lon_deg"]), 2),
            "in_saa": bool(s["in_saa"]),
            "contact": str(s["contact"]),
            "orbit_number": int(s["orbit_number"]),
            "battery_soc": round(float(s["battery_soc"]), 4),
            "solar_power_w": round(float(s["solar_power_w"]), 1),
            "load_power_w": round(float(s["load_power_w"]), 1),
            "compute_duty": round(float(s["compute_duty"]), 3),
            "chip_temp_c": round(float(s["chip_temp_c"]), 2),
            "plate_temp_c": round(float(s["plate_temp_c"]), 2),
            "battery_temp_c": round(float(s["battery_temp_c"]), 2),
            "upsets": self.upsets,
            "energy_wh": {k: round(float(v), 2) for k, v in vars(ledger).items()},
            "sensor_faults": len(self.faults.active),
        }

    # ------------------------------------------------------------------ fault knobs
    def do_fail_strings(self, count: int) -> dict[str, Any]:
        self.world.fail_strings(count)
        self.emit("WORLD_FAULT", what=f"{count} solar string(s) failed")
        return {"failed_strings": count}

    def do_battery_fade(self, fraction: float) -> dict[str, Any]:
        self.world.set_battery_fade(fraction)
        self.emit("WORLD_FAULT", what=f"battery capacity faded by {fraction:.0%}")
        return {"fade": fraction}

    def do_radiator_degradation(self, fraction: float) -> dict[str, Any]:
        self.world.set_radiator_degradation(fraction)
        self.emit("WORLD_FAULT", what=f"radiator degraded by {fraction:.0%}")
        return {"degradation": fraction}

    def do_sensor_fault(self, sensor: str, kind: str, magnitude: float) -> dict[str, Any]:
        current = self.world.sensors().get(sensor)
        if kind != "clear" and not isinstance(current, (int, float)):
            raise CommandFailed(Reason.BAD_ARGUMENTS, f"no numeric sensor {sensor!r}")
        self.faults.set(sensor, kind, magnitude, current)
        self.emit("WORLD_FAULT", what=f"sensor {sensor}: {kind}")
        return {"sensor": sensor, "kind": kind}

    def do_set_demand(self, duty: float) -> dict[str, Any]:
        self.ctx.settings["demand"] = duty
        return {"demand": duty}

    def do_inject_upset(self, region: str, bit: int) -> dict[str, Any]:
        """The harness's upset: published like a natural one, at the spacecraft's position."""
        sizes = dict(self.world.radiation.config.regions)
        if region not in sizes:
            raise CommandFailed(Reason.NOT_PERMITTED, f"no region {region!r} in this world")
        if bit >= sizes[region]:
            raise CommandFailed(Reason.BAD_ARGUMENTS, f"{region} has {sizes[region]} bits")
        if bit < 0:
            bit = int(self._injections.integers(sizes[region]))
        s = self.world.sensors()
        self._upset(Upset(self.world.t, region, bit, bool(s["in_saa"]), float(s["lat_deg"]),
                          float(s["lon_deg"])))
        return {"region": region, "bit": bit}

    def do_snapshot(self) -> dict[str, Any]:
        return {"sensors": self.world.sensors(), "ledger": vars(self.world.ledger)}
