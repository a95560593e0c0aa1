"""No run leaves processes behind, whatever kills whom.

A run's stack is a process tree under its own fresh run directory; every process of it carries
``--run-dir <that directory>`` on its command line. The normal end of a run stops the tree
(:class:`~hil.stack.LocalStack`); this module covers the abnormal ends:

* a **live file** (``<campaign>/live/<run>.json``) says which run directory a worker is flying
  right now; it is removed when the run has been cleaned up. One left behind means the worker
  died mid-run (SIGKILL, OOM), and :func:`reap_orphans` kills whatever still runs under that
  directory and removes the directory;
* :func:`reap_run_dir` is also every run's own last step, so even a stack whose executive was
  killed before it could stop its apps (or whose app was left SIGSTOPped) is gone before the
  worker takes the next run.

Matching is by the exact, randomly named run directory the run created, so nothing else on the
machine is ever touched.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import psutil

from hil.campaign.journal import write_atomic


def _uses_run_dir(cmdline: list[str], run_dir: str) -> bool:
    return any(arg == "--run-dir" and i + 1 < len(cmdline) and cmdline[i + 1] == run_dir
               for i, arg in enumerate(cmdline))


def processes_under(run_dir: Path) -> list[psutil.Process]:
    """Processes of this user started with ``--run-dir run_dir``."""
    wanted, me = str(run_dir), os.getuid()
    found = []
    for proc in psutil.process_iter(["cmdline", "uids"]):
        with contextlib.suppress(psutil.Error, TypeError):
            uids = proc.info["uids"]
            if uids is not None and uids.real != me:
                continue
            if _uses_run_dir(proc.info["cmdline"] or [], wanted):
                found.append(proc)
    return found


def reap_run_dir(run_dir: Path, grace: float = 1.0) -> list[int]:
    """Kill every process still running under ``run_dir``; their pids.

    SIGCONT first (a SIGSTOPped app ignores nothing but cannot act on SIGTERM while stopped),
    then SIGTERM, then SIGKILL after ``grace`` seconds.
    """
    procs = processes_under(run_dir)
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(signal.SIGCONT)
            proc.terminate()
    _, alive = psutil.wait_procs(procs, timeout=grace)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=grace)
    return [p.pid for p in procs]


class LiveFile:
    """``<campaign>/live/<run>.json`` while a run is being flown (nothing without a campaign
    directory this worker can reach, e.g. a remote Dask worker)."""

    def __init__(self, campaign_dir: str | None, run_id: int, run_dir: Path) -> None:
        self.path: Path | None = None
        if campaign_dir and Path(campaign_dir).is_dir():
            live = Path(campaign_dir) / "live"
            live.mkdir(exist_ok=True)
            self.path = live / f"{run_id}.json"
        self.info: dict[str, Any] = {"run": run_id, "run_dir": str(run_dir),
                                     "worker_pid": os.getpid(), "worker_started": _started(),
                                     "host": os.uname().nodename,
                                     "since_unix": time.time()}
        self._write()

    def _write(self) -> None:
        if self.path is not None:
            with contextlib.suppress(OSError):
                write_atomic(self.path, json.dumps(self.info), durable=False)

    def remove(self) -> None:
        if self.path is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()


def reap_orphans(campaign_dir: Path, keep_dirs: bool = False) -> list[dict[str, Any]]:
    """Clean up after runs whose worker died: kill their processes, remove their run dirs.

    Only live files written on this host are acted on; a live file of a worker that is still
    alive is left alone (call this only when no worker of this campaign should be running).
    Returns what was found, for the campaign's log.
    """
    found = []
    live = campaign_dir / "live"
    for path in sorted(live.glob("*.json")) if live.is_dir() else []:
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
            run_dir = Path(str(info["run_dir"]))
        except (OSError, ValueError, KeyError, TypeError):
            path.unlink(missing_ok=True)
            continue
        if info.get("host") != os.uname().nodename:
            continue
        if _still_running(info):
            continue  # its worker is still at it (and will clean up itself)
        killed = reap_run_dir(run_dir)
        if not keep_dirs and run_dir.is_absolute() and run_dir.name.startswith(RUN_DIR_PREFIX):
            shutil.rmtree(run_dir, ignore_errors=True)
        path.unlink(missing_ok=True)
        found.append({"run": info.get("run"), "run_dir": str(run_dir), "killed": killed})
    return found


def _started(pid: int | None = None) -> float | None:
    with contextlib.suppress(psutil.Error):
        return float(psutil.Process(pid).create_time())
    return None


def _still_running(info: dict[str, Any]) -> bool:
    """Whether the worker that wrote a live file is alive (the same process, not a reused pid)."""
    pid = info.get("worker_pid")
    if not isinstance(pid, int) or pid == os.getpid():
        return False
    with contextlib.suppress(psutil.Error):
        proc = psutil.Process(pid)
        return proc.status() != psutil.STATUS_ZOMBIE and proc.create_time() == \
            info.get("worker_started")
    return False


#: Run directories are made under /tmp with this prefix (short: ipc:// paths are limited).
RUN_DIR_PREFIX = "slc-"
