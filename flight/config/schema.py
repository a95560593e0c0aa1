"""What a flight configuration may contain, declared once, checked before anything starts.

Each section is a table of :class:`~flight.app.model.Field` declarations (the same records
that type command arguments and parameters), so a value is checked one way everywhere.
Unknown keys are errors: a misspelt key that silently falls back to a default is the kind of
mistake that costs an orbit.
"""

from __future__ import annotations

import re

from flight.app.model import Field, Param, ValueType
from flight.bus.rundir import MAX_APP_NAME

FLOAT, INT, STR, BOOL = ValueType.FLOAT, ValueType.INT, ValueType.STR, ValueType.BOOL

SECTIONS: dict[str, tuple[Field, ...]] = {
    "mission": (
        Param("name", STR, "sunlit-sim", "Name of this spacecraft or flatsat."),
        Param("profile", ValueType.ENUM, "sim", "Where the stack runs.",
              choices=("sim", "flatsat", "flight")),
    ),
    "time": (
        Param("epoch", STR, "", "Mission time at boot, ISO 8601 UTC ('2027-06-21T00:00:00Z'); "
              "empty: the current UTC."),
        Param("speed", FLOAT, 1.0, "Mission seconds per wall-clock second (simulation only).",
              min=0.01, max=10_000),
    ),
    "hal": (
        Param("backend", ValueType.ENUM, "auto", "Hardware backend; auto detects the board.",
              choices=("auto", "sim", "linux", "rpi", "jetson")),
        Param("cosim", BOOL, True, "On a board, take battery, solar and orbit from the "
              "simulated world (when one runs) and feed measured values back to it."),
        Param("sysfs_root", STR, "/", "Root under which /sys and /proc are read (tests)."),
        Param("vcgencmd", STR, "vcgencmd", "Raspberry Pi firmware tool."),
        Param("tegrastats", STR, "tegrastats", "Jetson statistics tool."),
        Param("nvpmodel", STR, "nvpmodel", "Jetson power-mode tool."),
        Param("dvfs", BOOL, False, "Allow capping the CPU/GPU clock (cpufreq, nvpmodel)."),
        Param("chip_zone", STR, "", "Thermal zone read as the chip temperature; empty: the "
              "hottest CPU/GPU/SoC zone."),
        Param("nvpmodel_low", INT, -1, "nvpmodel mode id used when throttling (-1: none).",
              min=-1, max=64),
        Param("stale_s", FLOAT, 60.0, "Simulated readings older than this (mission seconds) "
              "read as stale.", min=0.1, max=86_400),
    ),
    "bus": (
        Param("hwm", INT, 10_000, "High-water mark of every bus socket (messages).",
              min=100, max=1_000_000),
        Param("max_message_bytes", INT, 1_048_576, "Largest bus message accepted (bytes).",
              min=1024, max=64 * 1024 * 1024),
    ),
    "executive": (
        Param("heartbeat_period_s", FLOAT, 0.5, "Period of every app's heartbeat.",
              min=0.05, max=60),
        Param("hang_misses", INT, 3, "Heartbeats missed before an app is declared hung.",
              min=2, max=100),
        Param("start_timeout_s", FLOAT, 10.0, "Longest wait for a new process's first heartbeat.",
              min=0.5, max=600),
        Param("stop_grace_s", FLOAT, 2.0, "Wait between SIGTERM and SIGKILL.", min=0.1, max=60),
        Param("backoff_initial_s", FLOAT, 0.5, "First restart delay.", min=0.0, max=600),
        Param("backoff_max_s", FLOAT, 30.0, "Longest restart delay.", min=0.0, max=3600),
        Param("backoff_reset_s", FLOAT, 30.0, "Running this long clears the backoff.",
              min=0.1, max=86_400),
        Param("flap_max_restarts", INT, 5, "Restarts within the window that count as flapping.",
              min=1, max=1000),
        Param("flap_window_s", FLOAT, 60.0, "Window for counting restarts.", min=1, max=86_400),
        Param("boot_timeout_s", FLOAT, 20.0, "Longest BOOT before NOMINAL is entered anyway.",
              min=1, max=3600),
        Param("housekeeping_period_s", FLOAT, 1.0, "Executive housekeeping period.",
              min=0.05, max=3600),
        Param("fdir_period_s", FLOAT, 0.5, "How often the FDIR table is evaluated.",
              min=0.05, max=3600),
    ),
}

#: What ``<name>`` in ``[apps.<name>]`` may be: lower_snake_case (so FDIR names such as
#: ``app.channel`` parse) and short enough that the app's command socket path fits.
APP_NAME_RE = re.compile(rf"^[a-z][a-z0-9_]{{0,{MAX_APP_NAME - 1}}}$")
APP_NAME_EXPECTED = (f"an app name of 1-{MAX_APP_NAME} characters from [a-z0-9_], "
                     "starting with a letter")

#: Keys every ``[apps.<name>]`` table may have, besides the app's own settings.
APP_KEYS: tuple[Field, ...] = (
    Param("enabled", BOOL, True, "Start this app."),
    Param("class", STR, "", "Import path 'package.module:Class' (built-in apps need none)."),
    Param("housekeeping_period_s", FLOAT, 1.0, "Housekeeping telemetry period.",
          min=0.05, max=3600),
)
