"""The health app: the board's CPU, memory, disk, load and temperatures, and each onboard
process's CPU and memory, measured with psutil.

It is the flatsat's first line of self-knowledge: FDIR rules watch these channels, and an
engineer sees at a glance whether a restart loop or a leak is eating the board. A sensor the
board does not have is left out of the packet (unsupported), never reported as zero.
"""

from __future__ import annotations

import os
from typing import Any

import psutil

from flight.app.base import App, CommandFailed
from flight.apps.health.model import HEALTH_MODEL
from flight.bus import Reason

MIB = 1024 * 1024
#: Samples between two readings of a process's unique memory (USS).
USS_EVERY = 10


class HealthApp(App):
    """Measures the board and the onboard processes every housekeeping period."""

    app_id = 2
    model = HEALTH_MODEL

    def on_start(self) -> None:
        self._procs: dict[int, psutil.Process] = {}
        self._uss: dict[int, tuple[int, float]] = {}  # pid -> (samples until refresh, MiB)
        self._unreadable: set[int] = set()
        psutil.cpu_percent(interval=None)  # prime: the first call has no interval to measure
        sensors = self._temperatures()
        if sensors:
            self.emit("SENSORS", count=len(sensors), names=", ".join(sorted(sensors)))
        else:
            self.emit("NO_TEMPERATURE")

    def housekeeping(self) -> dict[str, Any]:
        values = self._board()
        values.update(self._processes())
        return values

    # ------------------------------------------------------------------ measurements
    def _board(self) -> dict[str, Any]:
        mem = psutil.virtual_memory()
        disk = psutil.disk_usage(self._disk_path())
        values: dict[str, Any] = {
            "cpu_percent": psutil.cpu_percent(interval=None),
            "load_1m": round(os.getloadavg()[0], 3),
            "mem_percent": mem.percent,
            "mem_available_mib": round(mem.available / MIB, 1),
            "disk_percent": disk.percent,
            "disk_free_mib": round(disk.free / MIB, 1),
        }
        temps = self._temperatures()
        if temps:
            values["temperatures_c"] = temps
            values["temp_max_c"] = max(temps.values())
        return values

    def _disk_path(self) -> str:
        path = self.params["disk_path"]
        return path if path and os.path.exists(path) else str(self.ctx.run_dir.root)

    @staticmethod
    def _temperatures() -> dict[str, float]:
        """Every readable sensor as ``chip[.label]`` → °C; offline sensors are skipped."""
        reader = getattr(psutil, "sensors_temperatures", None)
        if reader is None:
            return {}
        try:
            chips = reader()
        except (OSError, RuntimeError):
            return {}
        out: dict[str, float] = {}
        for chip, readings in chips.items():
            for index, reading in enumerate(readings):
                label = reading.label or str(index)
                if -100.0 < reading.current < 200.0:  # e.g. Jetson's -256 °C means offline
                    out[f"{chip}.{label}"] = round(reading.current, 1)
        return out

    def _processes(self) -> dict[str, Any]:
        pids = self._onboard_pids()
        cpu: dict[str, float] = {}
        uss: dict[str, float] = {}
        for app, pid in pids.items():
            sample = self._measure(app, pid)
            if sample is not None:
                cpu[app], uss[app] = sample
        self._procs = {pid: p for pid, p in self._procs.items() if pid in pids.values()}
        return {"process_cpu_percent": cpu, "process_uss_mib": uss,
                "processes_monitored": len(cpu)}

    def _onboard_pids(self) -> dict[str, int]:
        table = self.shared.values.get("processes")
        pids = {str(k): v for k, v in table.items() if isinstance(v, int)} \
            if isinstance(table, dict) else {}
        if self.params["include_self"]:
            pids[self.name] = os.getpid()
        else:
            pids.pop(self.name, None)
        return pids

    def _measure(self, app: str, pid: int) -> tuple[float, float] | None:
        try:
            proc = self._procs.get(pid)
            if proc is None:
                proc = self._procs[pid] = psutil.Process(pid)
                proc.cpu_percent(interval=None)
            with proc.oneshot():
                cpu = round(proc.cpu_percent(interval=None), 2)
                uss = self._uss.get(pid)
                if uss is None or uss[0] <= 0:
                    # USS means reading /proc/PID/smaps: the dearest call here, and memory
                    # moves slowly, so it is refreshed every USS_EVERY samples.
                    uss = (USS_EVERY, round(proc.memory_full_info().uss / MIB, 2))
                self._uss[pid] = (uss[0] - 1, uss[1])
                return cpu, uss[1]
        except (psutil.Error, OSError) as exc:
            if pid not in self._unreadable:
                self._unreadable.add(pid)
                self.emit("PROCESS_UNREADABLE", app=app, pid=pid, why=type(exc).__name__)
            return None

    # ------------------------------------------------------------------ commands
    def do_sample(self) -> dict[str, Any]:
        return self.housekeeping()

    def do_list_sensors(self) -> dict[str, float]:
        temps = self._temperatures()
        if not temps:
            raise CommandFailed(Reason.UNAVAILABLE, "this board exposes no temperature sensor")
        return temps
