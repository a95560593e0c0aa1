"""What the health app offers: the board's own vital signs and every onboard process's share."""

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

FLOAT, INT, MAP = ValueType.FLOAT, ValueType.INT, ValueType.MAP

HEALTH_MODEL = AppModel(
    commands=(
        Command("sample", "Measure now and return every value, per-process details included."),
        Command("list_sensors", "Return the temperature sensors this board exposes."),
    ),
    telemetry=(
        Channel("cpu_percent", FLOAT, "Whole-board CPU use since the last sample.", "%",
                Limits(yellow_high=85, red_high=97)),
        Channel("load_1m", FLOAT, "One-minute load average."),
        Channel("mem_percent", FLOAT, "Memory in use.", "%", Limits(yellow_high=85, red_high=95)),
        Channel("mem_available_mib", FLOAT, "Memory available to new work.", "MiB",
                Limits(yellow_low=256, red_low=64)),
        Channel("disk_percent", FLOAT, "Use of the filesystem holding the run directory.", "%",
                Limits(yellow_high=85, red_high=95)),
        Channel("disk_free_mib", FLOAT, "Free space on that filesystem.", "MiB",
                Limits(yellow_low=512, red_low=64)),
        Channel("temp_max_c", FLOAT, "Hottest temperature sensor; absent where none is readable.",
                "degC", Limits(yellow_high=75, red_high=85)),
        Channel("temperatures_c", MAP, "Every readable temperature sensor.", "degC",
                Limits(yellow_high=75, red_high=85)),
        Channel("process_cpu_percent", MAP, "CPU use of each onboard process (100 = one core).",
                "%", Limits(yellow_high=80)),
        Channel("process_uss_mib", MAP, "Unique memory of each onboard process.", "MiB",
                Limits(yellow_high=200, red_high=500)),
        Channel("processes_monitored", INT, "Onboard processes found and measured."),
    ),
    events=(
        Event("SENSORS", Severity.INFO, "{count} temperature sensor(s): {names}"),
        Event("NO_TEMPERATURE", Severity.INFO,
              "No readable temperature sensor: temperatures reported as unsupported"),
        Event("PROCESS_UNREADABLE", Severity.WARNING, "Cannot measure {app} (pid {pid}): {why}"),
    ),
    parameters=(
        Param("disk_path", ValueType.STR, "",
              "Filesystem to watch; empty means the one holding the run directory."),
        Param("include_self", ValueType.BOOL, True,
              "Also report the health app's own process."),
    ),
)
