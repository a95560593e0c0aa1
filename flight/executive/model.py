"""The executive's commands, telemetry, events and parameters: its declarative spec."""

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

MODES = ("NOMINAL", "POWER_SAVE", "SAFE")

EXECUTIVE_MODEL = AppModel(
    commands=(
        Command("set_mode", "Request a mode change (refused when leaving SAFE).",
                args=(Arg("mode", ValueType.ENUM, "Target mode.", choices=MODES),
                      Arg("why", ValueType.STR, "Reason, for the event log.",
                          default="commanded"))),
        Command("exit_safe", "Leave SAFE for the given mode: the only way out of SAFE.",
                args=(Arg("mode", ValueType.ENUM, "Mode to enter.",
                          choices=("NOMINAL", "POWER_SAVE")),),
                hazardous=True),
        Command("restart_app", "Stop an app and start it again at once.",
                args=(Arg("app", ValueType.STR, "App name."),)),
        Command("stop_app", "Stop an app and keep it down.",
                args=(Arg("app", ValueType.STR, "App name."),), hazardous=True),
        Command("start_app", "Start a stopped or flapping app (clears its restart history).",
                args=(Arg("app", ValueType.STR, "App name."),)),
        Command("status", "Return the process table and the mode."),
        Command("state_snapshot", "Return the shared state (Clone pattern snapshot)."),
        Command("fdir_enable", "Enable or disable one FDIR rule.",
                args=(Arg("rule", ValueType.STR, "Rule name."),
                      Arg("enabled", ValueType.BOOL, "New state."))),
        Command("fdir_reset", "Clear the persistence and trip state of one rule, or all.",
                args=(Arg("rule", ValueType.STR, "Rule name, empty for all.", default=""),)),
        Command("fdir_report", "Return every FDIR rule's state."),
    ),
    telemetry=(
        Channel("apps_running", ValueType.INT, "Apps in RUNNING state."),
        Channel("apps_down", ValueType.INT, "Apps neither running nor starting.",
                limits=Limits(yellow_high=0, red_high=1)),
        Channel("restarts", ValueType.MAP, "Restarts per app since boot.",
                limits=Limits(yellow_high=0)),
        Channel("heartbeat_age_s", ValueType.MAP, "Seconds since each app's last heartbeat.", "s"),
        Channel("fdir_trips", ValueType.INT, "FDIR rule firings since boot."),
    ),
    events=(
        Event("APP_STARTED", Severity.INFO, "{app} started as pid {pid}"),
        Event("APP_RUNNING", Severity.INFO, "{app} is running (first heartbeat)"),
        Event("APP_EXITED", Severity.WARNING, "{app} (pid {pid}) ended: {how}"),
        Event("APP_HUNG", Severity.ERROR, "{app} silent for {silent_s:.2f} s: stopping it"),
        Event("APP_RESTART_SCHEDULED", Severity.WARNING,
              "{app} restart #{restarts} in {delay_s:.2f} s"),
        Event("APP_FLAPPING", Severity.CRITICAL,
              "{app} restarted {count} times within {window_s:.0f} s: left down"),
        Event("MODE_TRANSITION", Severity.WARNING, "Mode {old} -> {new}: {why}"),
        Event("MODE_REFUSED", Severity.WARNING, "Mode change refused: {why}"),
        Event("FDIR_TRIPPED", Severity.WARNING, "FDIR rule {rule} tripped: {message} {values}"),
        Event("FDIR_ACTION_FAILED", Severity.ERROR, "FDIR rule {rule} action failed: {why}"),
        Event("BOOT_TIMEOUT", Severity.ERROR, "Apps not running at the end of boot: {apps}"),
        Event("PERSIST_FAILED", Severity.ERROR, "Could not persist the {what}: {why}"),
    ),
)
