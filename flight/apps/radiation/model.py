"""What the radiation-fault monitor offers: its commands, telemetry, events and parameters."""

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

FLOAT, INT, BOOL, STR, MAP = (ValueType.FLOAT, ValueType.INT, ValueType.BOOL, ValueType.STR,
                              ValueType.MAP)

RADIATION_MODEL = AppModel(
    commands=(
        Command("status", "Statistics, the estimate, the policy's counters and the tables."),
        Command("scrub", "Scrub the protected tables and ask the job runner to scrub now."),
        Command("policy_report", "Every policy rule with its counters."),
        Command("reset_stats", "Forget the upset statistics (the estimate returns to the prior)."),
    ),
    telemetry=(
        Channel("upsets", INT, "Upsets found from data (ABFT, digests, checkpoints, tables, "
                "EDAC)."),
        Channel("upsets_saa", INT, "Of them, found inside the South Atlantic Anomaly."),
        Channel("in_saa", BOOL, "Spacecraft inside the SAA now."),
        Channel("rate_per_day", FLOAT, "Estimated upsets per day (posterior mean).", "1/day"),
        Channel("rate_saa_per_day", FLOAT, "Estimated rate inside the SAA.", "1/day"),
        Channel("rate_other_per_day", FLOAT, "Estimated rate outside the SAA.", "1/day"),
        Channel("rate_per_bit_day", FLOAT, "Estimated rate per watched bit.", "1/bit/day"),
        Channel("mtbf_s", FLOAT, "Mean time between upsets (mission time).", "s"),
        Channel("by_outcome", MAP, "Upsets by outcome (corrected, masked, rolled back ...)."),
        Channel("by_evidence", MAP, "Upsets by the check that found them."),
        Channel("decisions", INT, "Policy rules that fired (restart, SAFE ...).",
                limits=Limits(yellow_high=0)),
        Channel("scrubs", INT, "Scrub passes over the protected tables."),
        Channel("table_repairs", INT, "Protected-table bytes repaired from the golden copy."),
        Channel("edac", STR, "EDAC counters: 'ce/ue' or 'unsupported'."),
        Channel("jobs_crashes", INT, "Crashes or hangs of the jobs app seen."),
    ),
    events=(
        Event("UPSET", Severity.INFO, "Upset: {evidence} in {where} -> {outcome} "
              "({position})"),
        Event("POLICY_FIRED", Severity.WARNING, "Policy rule {rule}: {count} x {evidence} "
              "within {window} -> {action} ({note})"),
        Event("ACTION_FAILED", Severity.ERROR, "Policy action {action} failed: {why}"),
        Event("TABLE_REPAIRED", Severity.WARNING, "Protected table {table}: {bits} bit(s) of "
              "its {copy} copy differed from the digest; repaired"),
        Event("TABLE_UNREPAIRABLE", Severity.CRITICAL, "Protected table {table}: live and "
              "golden copies both damaged"),
        Event("EDAC", Severity.WARNING, "EDAC: {ce} corrected, {ue} uncorrected errors (new)"),
        Event("STATE_RESET", Severity.WARNING, "Radiation statistics not restored: {why}"),
    ),
    parameters=(
        Param("scrub_period_s", FLOAT, 600.0, "Scrub protected tables and job data this often "
              "(mission seconds).", min=1.0, max=86400 * 7),
        Param("estimate_period_s", FLOAT, 60.0, "Publish the rate estimate this often "
              "(mission seconds).", min=1.0, max=86400),
        Param("prior_rate_per_day", FLOAT, 1.0, "Upset rate assumed before evidence (Gamma "
              "prior mean).", min=1e-9, max=1e9),
        Param("prior_days", FLOAT, 1.0, "Weight of the prior, in days of exposure.",
              min=1e-6, max=3650),
    ),
)
