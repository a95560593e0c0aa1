"""The power manager app: every control period (mission time) it reads the battery, the array
and the loads through the HAL, sheds or restores loads, sets the compute budget, asks the
executive for POWER_SAVE or SAFE when the battery calls for it, and tells the world (or the
board's power switches) what it decided.
"""

from __future__ import annotations

from typing import Any

from flight.app.base import App, CommandFailed
from flight.app.timer import MissionTimer
from flight.apps.power.loads import BY_NAME, LOADS, SHEDDABLE
from flight.apps.power.model import POWER_MODEL
from flight.apps.power.shedding import (
    POWER_SAVE,
    SAFE,
    LoadShedder,
    Switch,
    advise_mode,
    compute_budget,
)
from flight.bus import Reason, Reply
from flight.hal import ENV_ACTUATE, ENV_SENSORS, awaiting_first_sample, open_hal
from flight.hal.guard import SensorGuard, SensorRule, report_transitions

#: Control periods in a row that must call for the same mode before it is requested.
CONFIRM_SAMPLES = 3

RULES = ("battery_soc", "battery_voltage_v", "battery_current_a", "solar_power_w",
         "load_power_w", "compute_power_w", "in_sun")


class PowerApp(App):
    """Keeps the bus powered: shedding by priority, compute budget, mode requests."""

    app_id = 3
    model = POWER_MODEL

    def on_start(self) -> None:
        self.hal, self.world = open_hal(self.ctx.config["hal"], self.clock)
        if self.world is not None:
            self.subscribe(ENV_SENSORS, self.world.feed)
        self.timer = MissionTimer(self.clock, self.params["control_period_s"])
        self.shedder = LoadShedder()
        self._advice_seen: str | None = None
        self._advice_run = 0
        self.forced: dict[str, bool] = self._restore_forced()
        self.guard = self._make_guard()
        self.values: dict[str, float | None] = {}
        self.budget_w = 0.0
        self.shed_count = self.restore_count = self.mode_requests = 0
        self._requested_save = False
        self._pending_mode: tuple[str, float] | None = None  # (mode, mission time asked)
        self._announced = False

    def _make_guard(self) -> SensorGuard:
        return SensorGuard([
            SensorRule("battery_soc", 0.0, 1.0, self.params["stuck_samples"]),
            SensorRule("battery_voltage_v", 10.0, 60.0),
            SensorRule("battery_current_a", -500.0, 500.0),
            SensorRule("solar_power_w", 0.0, 100_000.0),
            SensorRule("load_power_w", 0.0, 100_000.0),
            SensorRule("compute_power_w", 0.0, 100_000.0),
            SensorRule("in_sun", 0.0, 1.0),
        ])

    def _restore_forced(self) -> dict[str, bool]:
        self.forced_store = self.mirrored_store("forced")
        stored = self.forced_store.load_object()
        data = stored[0] if stored else {}
        return {k: v for k, v in data.items() if k in BY_NAME and isinstance(v, bool)} \
            if isinstance(data, dict) else {}

    def next_deadline(self) -> float | None:
        return self.timer.next_deadline()

    def on_parameters_changed(self, changes: dict[str, Any]) -> None:
        self.timer.set_period(self.params["control_period_s"])
        if "stuck_samples" in changes:
            self.guard = self._make_guard()

    def check_parameters(self, table: dict[str, Any]) -> str | None:
        for load in SHEDDABLE:
            shed, restore = table[f"{load.name}_shed_soc"], table[f"{load.name}_restore_soc"]
            if restore <= shed:
                return f"{load.name}: restore threshold {restore} must be above shed {shed}"
        order = [table[f"{load.name}_shed_soc"] for load in SHEDDABLE]
        if order != sorted(order, reverse=True):
            return "shed thresholds must fall with priority (compute sheds first)"
        if not table["safe_soc"] < table["power_save_soc"] < table["power_save_exit_soc"]:
            return "need safe_soc < power_save_soc < power_save_exit_soc"
        return None

    # ------------------------------------------------------------------ the control loop
    def on_tick(self) -> None:
        if self.timer.due() and not awaiting_first_sample(self.world, self.started_mono):
            self.control()

    def control(self) -> None:
        readings = self.hal.read()
        current = readings["battery_current_a"]
        moving = frozenset({"battery_soc"}) if current.ok and abs(current.value or 0) > 0.5 \
            else frozenset()
        self.values, transitions = self.guard.check(readings, moving)
        report_transitions(self.emit, transitions,
                           {"battery_soc": "compute shed, no mode advice"},
                           "left out of the budget")
        if not self._announced and self.values["battery_soc"] is not None:
            self._announced = True
            self.emit("POWER_DATA", source=self.hal.backend)
        soc = self.values["battery_soc"]
        for switch in self.shedder.update(soc, self._thresholds(), self.mode == SAFE):
            self._switched(switch)
        self.budget_w = self._budget(soc)
        self._advise(soc)
        self._actuate()

    def _thresholds(self) -> dict[str, tuple[float, float]]:
        return {load.name: (self.params[f"{load.name}_shed_soc"],
                            self.params[f"{load.name}_restore_soc"]) for load in SHEDDABLE}

    def _actuate(self) -> None:
        """Level-triggered: the world switches the loads, the job runner paces to the budget."""
        self.publish(f"{ENV_ACTUATE}power", {"loads": self.commanded(),
                                             "compute_budget_w": self.budget_w,
                                             "compute_max_w": self.params["compute_max_w"]})

    def _budget(self, soc: float | None) -> float:
        v = self.values
        other = None if v["load_power_w"] is None or v["compute_power_w"] is None \
            else v["load_power_w"] - v["compute_power_w"]
        return compute_budget(soc, v["solar_power_w"], other, self.commanded()["compute"],
                              self.mode, self.params["compute_max_w"],
                              self.params["battery_allowance_w"],
                              self.params["compute_shed_soc"], self.params["budget_ramp_soc"])

    def commanded(self) -> dict[str, bool]:
        """Every load's state as switched: forced where forced, else automatic."""
        states = {load.name: True for load in LOADS}
        states.update(self.shedder.on)
        states.update(self.forced)
        return states

    def _switched(self, switch: Switch) -> None:
        note = " (forced on: stays on)" if self.forced.get(switch.load) else ""
        if switch.on:
            self.restore_count += 1
            self.emit("LOAD_RESTORED", load=switch.load, why=switch.why + note)
        else:
            self.shed_count += 1
            self.emit("LOAD_SHED", load=switch.load, why=switch.why + note)

    # ------------------------------------------------------------------ mode requests
    def on_mode_change(self, old: str | None, new: str) -> None:
        """A POWER_SAVE this manager asked for ends when the spacecraft leaves it (not for SAFE).

        Tracked on the transition, not by polling the mode: the request's own round trip
        through the executive must not count as "POWER_SAVE left".
        """
        if old == POWER_SAVE and new not in (POWER_SAVE, SAFE):
            self._requested_save = False

    def _advise(self, soc: float | None) -> None:
        mode = self.mode
        advice = advise_mode(soc, mode, self.params["safe_soc"], self.params["power_save_soc"],
                             self.params["power_save_exit_soc"], self._requested_save)
        # A mode change needs the same advice from CONFIRM_SAMPLES samples in a row: one lying
        # reading (a noisy or glitching sensor) must not put the spacecraft in SAFE, which
        # only a ground command ends. A real discharge lasts far longer than three periods.
        self._advice_run = self._advice_run + 1 if advice is not None \
            and advice == self._advice_seen else int(advice is not None)
        self._advice_seen = advice
        if advice is None or self._advice_run < CONFIRM_SAMPLES:
            if advice is None:
                self._pending_mode = None
            return
        now = self.clock.now()
        if self._pending_mode and self._pending_mode[0] == advice \
                and now - self._pending_mode[1] < self.params["mode_retry_s"]:
            return
        self._pending_mode = (advice, now)
        self.mode_requests += 1
        why = f"battery state of charge {soc:.3f}"
        self.emit("MODE_REQUEST", mode=advice, why=why)
        if advice == POWER_SAVE:
            self._requested_save = True
        self.send("executive", "set_mode", {"mode": advice, "why": f"power: {why}"},
                  on_reply=lambda reply: self._mode_reply(advice, reply))

    def _mode_reply(self, mode: str, reply: Reply) -> None:
        if not reply.ok:
            self.emit("MODE_REQUEST_FAILED", mode=mode, why=f"{reply.reason.name} "
                      f"{reply.message}")

    # ------------------------------------------------------------------ telemetry
    def housekeeping(self) -> dict[str, Any]:
        v = self.values
        out: dict[str, Any] = {
            "compute_budget_w": self.budget_w,
            "loads": {k: int(on) for k, on in self.commanded().items()},
            "forced": {k: int(on) for k, on in self.forced.items()},
            "shed_count": self.shed_count,
            "restore_count": self.restore_count,
            "mode_requests": self.mode_requests,
            "sensor_faults": len(self.guard.faults),
            "control_overruns": self.timer.overruns,
        }
        if v.get("battery_soc") is not None:
            out["soc"] = round(v["battery_soc"] or 0.0, 4)
        for name in ("battery_voltage_v", "battery_current_a", "solar_power_w",
                     "load_power_w", "compute_power_w"):
            if v.get(name) is not None:
                out[name] = round(v[name] or 0.0, 2)
        if v.get("solar_power_w") is not None and v.get("load_power_w") is not None:
            out["net_power_w"] = round((v["solar_power_w"] or 0) - (v["load_power_w"] or 0), 2)
        if v.get("in_sun") is not None:
            out["in_sun"] = bool(v["in_sun"])
        return out

    # ------------------------------------------------------------------ commands
    def _force(self, load: str, on: bool | None) -> None:
        if on is None:
            self.forced.pop(load, None)
            self.emit("LOAD_RELEASED", load=load)
        else:
            self.forced[load] = on
            self.emit("LOAD_FORCED", load=load, state="on" if on else "off",
                      src=self._current_src)
        self.forced_store.save_object(self.forced)
        self._actuate()

    def do_load_on(self, load: str) -> dict[str, Any]:
        self._force(load, True)
        return {"load": load, "on": True}

    def do_load_off(self, load: str) -> dict[str, Any]:
        self._force(load, False)
        return {"load": load, "on": False}

    def do_load_off_critical(self, load: str) -> dict[str, Any]:
        self._force(load, False)
        return {"load": load, "on": False}

    def do_load_auto(self, load: str) -> dict[str, Any]:
        if load not in self.forced:
            raise CommandFailed(Reason.NOT_PERMITTED, f"{load} is not forced")
        self._force(load, None)
        return {"load": load, "on": self.commanded()[load]}

    def do_status(self) -> dict[str, Any]:
        return {"values": self.values, "loads": self.commanded(), "forced": self.forced,
                "compute_budget_w": self.budget_w, "sensor_faults": dict(self.guard.faults),
                "hal": self.hal.describe()}
