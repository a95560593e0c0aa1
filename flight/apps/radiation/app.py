"""The radiation-fault monitor: gathers the evidence that bits flipped, decides what to do about
it by the policy table in the configuration, scrubs protected memory on a schedule, and keeps the
upset statistics (by orbit position and by the check that found them) from which it estimates the
upset rate and the mean time between upsets that the job runner sizes its checkpoints by.

Evidence arrives from the job runner (``rad.evidence``: ABFT, digests, checkpoint files), from
the executive (the jobs app crashing or hanging), from its own scrubs of the protected tables,
and from the board's EDAC counters where the HAL has them. First responses (correct, roll back,
repair) are taken where the damage is found; this app carries out the escalations.
"""

from __future__ import annotations

import json
import math
from typing import Any

from flight.app.base import App
from flight.app.timer import MissionTimer
from flight.apps.radiation.model import RADIATION_MODEL
from flight.apps.radiation.policy import Decision, Policy, parse_policy
from flight.apps.radiation.stats import UpsetStats
from flight.apps.radiation.tables import ProtectedMemory, ProtectedTable
from flight.bus import Envelope, Reply
from flight.dictionary import build_dictionary
from flight.hal import ENV_SENSORS, open_hal
from flight.jobs.evidence import ESTIMATE_TOPIC, EVIDENCE_TOPIC

SAFE = "SAFE"
UPSET_TOPIC = "env.upset"
#: Evidence that bits really flipped (counted in the statistics); the rest only feeds the policy.
UPSET_EVIDENCE = frozenset({"abft_single", "abft_multiple", "digest_mismatch",
                            "checkpoint_corrupt", "table_mismatch", "edac_ce", "edac_ue"})
#: Actions this app carries out itself; the others are first responses taken by the finder.
ESCALATIONS = frozenset({"restart_jobs", "safe"})
#: How the executive describes an exit it did not ask for.
CLEAN_EXIT = "exit status 0"


class RadiationApp(App):
    """Counts upsets, escalates by policy, scrubs, and estimates the rate."""

    app_id = 5
    model = RADIATION_MODEL
    setting_tables = {"policy": parse_policy}

    def on_start(self) -> None:
        self.policy = Policy.from_config(self.ctx.settings.get("policy"))
        self.stats = UpsetStats(self.params["prior_rate_per_day"], self.params["prior_days"])
        self.store = self.checkpoint_store("stats")
        self._restore()
        self.memory = self._protected_tables()
        self.hal, _ = open_hal(self.ctx.config["hal"], self.clock)
        self.edac_last = self.hal.edac()
        self.in_saa = False
        self.last_job = 0  # the job the latest evidence was about (a rollback's target)
        self.counts = dict.fromkeys(("decisions", "scrubs", "table_repairs", "jobs_crashes"), 0)
        self.scrub_timer = MissionTimer(self.clock, self.params["scrub_period_s"])
        self.estimate_timer = MissionTimer(self.clock, self.params["estimate_period_s"])
        self.subscribe(EVIDENCE_TOPIC, self._evidence)
        self.subscribe("evt.executive", self._executive_event)
        self.subscribe(ENV_SENSORS, self._sensors)
        self.subscribe(UPSET_TOPIC, self._upset)

    def _protected_tables(self) -> ProtectedMemory:
        """The tables whose corruption would misdirect the spacecraft: its configuration (FDIR
        rules, limits, this policy) and the command dictionary."""
        config = json.dumps(self.ctx.config, sort_keys=True).encode()
        dictionary = json.dumps(build_dictionary(self.ctx.config), sort_keys=True).encode()
        return ProtectedMemory([ProtectedTable("config", config),
                                ProtectedTable("dictionary", dictionary)])

    def _restore(self) -> None:
        loaded = self.store.load_object()
        if loaded is None:
            return
        state = loaded[0]
        try:
            self.stats = UpsetStats.from_state(state["stats"],
                                               prior_rate_per_day=self.params["prior_rate_per_day"],
                                               prior_days=self.params["prior_days"])
            self.policy.load_state(state["policy"])
        except (ValueError, KeyError, TypeError) as exc:
            self.emit("STATE_RESET", why=str(exc))

    def _save(self) -> None:
        try:
            self.store.save_object({"stats": self.stats.to_state(),
                                    "policy": self.policy.to_state()})
        except (OSError, ValueError) as exc:
            self.log.error("radiation statistics not saved: %s", exc)

    def next_deadline(self) -> float | None:
        return min(self.scrub_timer.next_deadline(), self.estimate_timer.next_deadline())

    # ------------------------------------------------------------------ evidence in
    def _sensors(self, env: Envelope) -> None:
        if isinstance(env.data, dict) and "in_saa" in env.data:
            self.in_saa = bool(env.data["in_saa"])
            self.stats.observe(self.clock.now(), self.in_saa)

    def _upset(self, env: Envelope) -> None:
        """Simulation's hand: an upset in the tables region lands in the live table bytes."""
        data = env.data
        if isinstance(data, dict) and data.get("region") == "tables" \
                and isinstance(data.get("bit"), int) and data["bit"] >= 0:
            self.memory.flip(data["bit"])

    def _evidence(self, env: Envelope) -> None:
        data = env.data
        if not isinstance(data, dict) or not isinstance(data.get("evidence"), str):
            self.counters.count_rejection("malformed")
            return
        if isinstance(data.get("job"), int):
            self.last_job = data["job"]
        try:
            self.record(data["evidence"], str(data.get("outcome", "")),
                        str(data.get("where", "")))
        except ValueError as exc:  # a name the statistics refuse: counted, not a crash
            self.counters.count_rejection("malformed")
            self.log.warning("evidence refused: %s", exc)

    def _executive_event(self, env: Envelope) -> None:
        data: dict[str, Any] = env.data if isinstance(env.data, dict) else {}
        args: dict[str, Any] = data["args"] if isinstance(data.get("args"), dict) else {}
        if data.get("name") == "APP_EXITED" and args.get("app") == "jobs" \
                and args.get("how") != CLEAN_EXIT:
            self.counts["jobs_crashes"] += 1
            self.record("jobs_crash", "restarted", str(args.get("how")))

    def record(self, evidence: str, outcome: str, where: str) -> None:
        """Count one piece of evidence and carry out whatever the policy escalates to."""
        t = self.clock.now()
        if evidence in UPSET_EVIDENCE:
            self.stats.record(evidence, outcome or "seen", t, self.in_saa)
            self.emit("UPSET", evidence=evidence, where=where, outcome=outcome or "seen",
                      position="in SAA" if self.in_saa else "outside SAA")
        try:
            decisions = self.policy.decide(evidence, t)
        except ValueError:
            decisions = []  # evidence this policy does not know: counted, not acted on
        for decision in decisions:
            self._act(decision)
        self._save()

    # ------------------------------------------------------------------ escalation
    def _act(self, decision: Decision) -> None:
        """Carry out an escalation. A count-1 rule that corrects, rolls back, repairs or logs
        was already applied where the damage was found; its UPSET event says so."""
        if decision.count == 1 and decision.action not in ESCALATIONS:
            return
        window = f"{decision.window_s:g} s" if decision.window_s else "ever"
        self.emit("POLICY_FIRED", rule=decision.index, count=decision.count,
                  evidence=decision.evidence, window=window, action=decision.action,
                  note=decision.note)
        if decision.action == "restart_jobs":
            self.counts["decisions"] += 1
            self.send("executive", "restart_app", {"app": "jobs"},
                      on_reply=self._action_reply("restart_jobs"))
        elif decision.action == "rollback" and self.last_job:
            self.counts["decisions"] += 1
            self.send("jobs", "rollback", {"job": self.last_job},
                      on_reply=self._action_reply("rollback"))
        elif decision.action == "safe" and self.mode != SAFE:
            self.counts["decisions"] += 1
            self.send("executive", "set_mode", {"mode": SAFE, "why": f"radiation: "
                      f"{decision.count} x {decision.evidence}"},
                      on_reply=self._action_reply("safe"))

    def _action_reply(self, action: str) -> Any:
        def reply(r: Reply) -> None:
            if not r.ok:
                self.emit("ACTION_FAILED", action=action, why=f"{r.reason.name} {r.message}")
        return reply

    # ------------------------------------------------------------------ schedule
    def on_tick(self) -> None:
        if self.scrub_timer.due():
            self.scrub()
        if self.estimate_timer.due():
            self.publish(ESTIMATE_TOPIC, self.estimate())

    def scrub(self) -> None:
        self.counts["scrubs"] += 1
        for finding in self.memory.scrub_all():
            if finding.repaired:
                self.counts["table_repairs"] += finding.bit_count
                self.emit("TABLE_REPAIRED", table=finding.table, bits=finding.bit_count,
                          copy=finding.copy)
                self.record("table_mismatch", "repaired", finding.table)
            else:
                self.emit("TABLE_UNREPAIRABLE", table=finding.table)
                self.record("table_mismatch", "unrepairable", finding.table)
        self._poll_edac()
        self.send("jobs", "scrub", on_reply=lambda r: None)

    def _poll_edac(self) -> None:
        now = self.hal.edac()
        if now is None or self.edac_last is None:
            self.edac_last = now
            return
        new = {k: max(0, now.get(k, 0) - self.edac_last.get(k, 0)) for k in ("ce", "ue")}
        self.edac_last = now
        if new["ce"] or new["ue"]:
            self.emit("EDAC", ce=new["ce"], ue=new["ue"])
        for _ in range(min(new["ce"], 100)):
            self.record("edac_ce", "corrected", "memory controller")
        for _ in range(min(new["ue"], 100)):
            self.record("edac_ue", "uncorrected", "memory controller")

    def estimate(self) -> dict[str, Any]:
        summary = self.stats.summary(self.memory.watched_bits)
        return {"mtbf_s": summary["mtbf_s"], "rate_per_day": summary["rate_per_day"],
                "upsets": summary["upsets"]}

    # ------------------------------------------------------------------ telemetry, commands
    def housekeeping(self) -> dict[str, Any]:
        s = self.stats.summary(self.memory.watched_bits)
        edac = "unsupported" if self.edac_last is None else \
            f"{self.edac_last.get('ce', 0)}/{self.edac_last.get('ue', 0)}"
        return {"upsets": s["upsets"], "upsets_saa": s["upsets_saa"], "in_saa": self.in_saa,
                "rate_per_day": s["rate_per_day"], "rate_saa_per_day": s["rate_saa_per_day"],
                "rate_other_per_day": s["rate_other_per_day"],
                "rate_per_bit_day": s.get("rate_per_bit_per_day") or 0.0,
                "mtbf_s": s["mtbf_s"] if math.isfinite(s["mtbf_s"]) else -1.0,
                "by_outcome": s["by_outcome"], "by_evidence": s["by_evidence"],
                "edac": edac, **self.counts}

    def on_parameters_changed(self, changes: dict[str, Any]) -> None:
        self.scrub_timer.set_period(self.params["scrub_period_s"])
        self.estimate_timer.set_period(self.params["estimate_period_s"])
        if {"prior_rate_per_day", "prior_days"} & set(changes):  # same counts, new prior
            self.stats = UpsetStats.from_state(
                self.stats.to_state(), prior_rate_per_day=self.params["prior_rate_per_day"],
                prior_days=self.params["prior_days"])
            self.publish(ESTIMATE_TOPIC, self.estimate())

    def do_status(self) -> dict[str, Any]:
        return {"stats": self.stats.summary(self.memory.watched_bits),
                "policy": self.policy.status(), "tables": self.memory.describe(),
                "edac": self.edac_last, **self.counts}

    def do_scrub(self) -> dict[str, Any]:
        before = self.counts["table_repairs"]
        self.scrub()
        return {"table_repairs": self.counts["table_repairs"] - before}

    def do_policy_report(self) -> dict[str, Any]:
        return {"rules": self.policy.status()}

    def do_reset_stats(self) -> None:
        self.stats = UpsetStats(self.params["prior_rate_per_day"], self.params["prior_days"])
        self.policy.reset()
        self._save()
