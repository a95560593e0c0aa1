"""The commands, telemetry and events every app has, whatever it does (the cFS habit).

``noop`` proves the command path end to end; ``reset_counters`` zeroes the counters an operator
watches; the ``param_*`` commands are the load → validate → activate cycle of the parameter
table; ``arm`` is the first step of every hazardous command (arm, then execute in time).
Counters of commands and of rejected bus input are in every housekeeping packet.
"""

from __future__ import annotations

from flight.app.model import (
    AppModel,
    Arg,
    Channel,
    Command,
    Event,
    Limits,
    Severity,
    ValueType,
)

COMMON = AppModel(
    commands=(
        Command("noop", "Do nothing but answer and emit NOOP: proves the command path."),
        Command("reset_counters", "Zero the command and bus counters."),
        Command("param_load", "Stage a new value for one parameter (checked, not yet active).",
                args=(Arg("name", ValueType.STR, "Parameter name."),
                      Arg("value", ValueType.ANY, "New value, checked against its declaration."))),
        Command("param_validate",
                "Check the staged table as a whole, without activating it (a dry run)."),
        Command("param_activate",
                "Check the staged table as a whole, persist it and make it active."),
        Command("param_abort", "Drop every staged value."),
        Command("param_report", "Return the active and staged parameter values."),
        Command("arm", "Arm one hazardous command of this app: it must follow within the "
                "arm timeout, from the same sender (the first step of two).",
                args=(Arg("command", ValueType.STR, "Name of the hazardous command."),)),
    ),
    telemetry=(
        Channel("mode", ValueType.STR, "Spacecraft mode as this process knows it."),
        Channel("uptime_s", ValueType.FLOAT, "Seconds since this process started.", "s"),
        Channel("cmd_count", ValueType.INT, "Commands completed since the last reset."),
        Channel("cmd_error_count", ValueType.INT, "Commands rejected or failed since reset.",
                limits=Limits(yellow_high=0)),
        Channel("bus_rx_malformed", ValueType.INT, "Bus messages dropped as malformed.",
                limits=Limits(yellow_high=0)),
        Channel("bus_rx_oversized", ValueType.INT, "Bus messages dropped as oversized.",
                limits=Limits(yellow_high=0)),
        Channel("bus_rx_gaps", ValueType.INT, "Messages missed, from sequence-number gaps."),
        Channel("bus_tx_dropped", ValueType.INT, "Messages not sent because a queue was full."),
    ),
    events=(
        Event("STARTED", Severity.INFO, "{app} started (pid {pid}, version {version})"),
        Event("STOPPING", Severity.INFO, "{app} stopping: {why}"),
        Event("NOOP", Severity.INFO, "No-op received by {app}, version {version}"),
        Event("COUNTERS_RESET", Severity.INFO, "Counters reset"),
        Event("COMMAND_FAILED", Severity.WARNING,
              "Command {cmd} from {src} failed: {reason} {msg}"),
        Event("PARAM_STAGED", Severity.INFO, "Parameter {name} staged as {value!r}"),
        Event("PARAM_ACTIVATED", Severity.INFO, "Parameter table activated: {changes}"),
        Event("PARAM_DROPPED", Severity.WARNING,
              "Stored parameter entry ignored at start: {why}"),
        Event("CHECKPOINT_FALLBACK", Severity.WARNING,
              "Checkpoint {store}: skipped generation {generation} ({reason}); using {used}"),
        Event("LIMIT", Severity.WARNING,
              "{channel} = {value} is {state} (was {previous})"),
        Event("MODE_CHANGED", Severity.INFO, "Spacecraft mode {old} -> {new}"),
        Event("ARMED", Severity.WARNING,
              "Hazardous command {cmd} armed by {src} for {timeout_s:.0f} s"),
    ),
)
