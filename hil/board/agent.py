"""Runs on the board inside Sunlit's virtualenv: start, describe, query and stop the stack.

The lab machine calls it over ssh as ``VENV/bin/python -m hil.board.agent COMMAND ...``; each
command prints one marked JSON line. Waiting happens here, next to the stack, so bringing a
flatsat up costs one ssh round trip however long the board takes to boot:

* ``start`` launches ``sunlit-flight run`` in a session of its own (it outlives the ssh
  connection and its process group can be stopped as a whole), waits until the executive has
  left BOOT and comms answers, and returns what a ground needs: the link address and key, the
  dictionary of exactly this configuration, the HAL in use and the highest ARSN comms accepted.
  A stack that does not come up is stopped again before the error is returned.
* ``info`` returns the same for a stack that is already running (one left with ``--keep``).
* ``status`` is the executive's status; ``stop`` is SIGTERM, then SIGKILL of the process group.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

from flight.bus import RunDir
from flight.cli import EXIT_NOT_RUNNING, query, query_status, running_pid

MARK = "SUNLIT-JSON "
OUT_NAME = "flatsat.out"


class AgentError(RuntimeError):
    """Something the lab machine should be told in so many words."""


def _answer(**values: Any) -> int:
    sys.stdout.write(MARK + json.dumps(values) + "\n")
    sys.stdout.flush()
    return 0 if values.get("ok") else 1


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


# ---------------------------------------------------------------------- describe
def describe(run_dir: RunDir, status: dict[str, Any]) -> dict[str, Any]:
    """What a ground needs to talk to this stack, read from its own run directory."""
    from flight.dictionary import build_dictionary
    from flight.hal.detect import detect_backend

    config = json.loads(run_dir.config_file.read_text(encoding="utf-8"))
    hal = config["hal"]["backend"]
    detected = detect_backend(Path(config["hal"]["sysfs_root"])) if hal == "auto" else hal
    answer: dict[str, Any] = {
        "run_dir": str(run_dir.root), "pid": status["executive"]["pid"],
        "mode": status["mode"], "status": status, "hal": {"configured": hal, "in_use": detected},
        "dictionary": build_dictionary(config), "comms": None, "key": None}
    comms = config["apps"].get("comms")
    if not comms or not comms.get("enabled", True):
        return answer
    link = None
    for _ in range(3):  # a board busy booting may miss one deadline
        link = query(run_dir, "comms", "status", timeout=3.0)
        if link is not None:
            break
    if link is None:
        raise AgentError("the comms app does not answer its status command")
    answer["comms"] = {"address": link["address"], "auth": link["auth"],
                       "spi": comms["spi"], "highest_arsn": link.get("highest_arsn")}
    if comms["auth"] != "none":
        key_file = Path(comms["key_file"]) if comms["key_file"] else \
            run_dir.root / "keys" / "link.key"
        answer["key"] = key_file.read_text(encoding="ascii").strip()
    return answer


def _ready(status: dict[str, Any] | None) -> bool:
    """Booted, and comms (when configured) running: what a ground can talk to."""
    if status is None or status.get("mode") in (None, "BOOT"):
        return False
    rows = {row["name"]: row for row in status.get("processes", [])}
    comms = rows.get("comms")
    return comms is None or comms["state"] == "RUNNING"


# ---------------------------------------------------------------------- start
def start(run_dir: RunDir, sets: list[str], timeout: float, config_text: str | None,
          install_dir: Path) -> dict[str, Any]:
    run_dir.root.mkdir(mode=0o700, parents=True, exist_ok=True)
    pid = running_pid(run_dir)
    if pid is not None:
        raise AgentError(f"a stack already runs in {run_dir.root} (executive pid {pid}); "
                         "stop it first")
    argv = [sys.executable, "-m", "flight.cli", "run", "--run-dir", str(run_dir.root),
            "--quiet"]
    if config_text is not None:
        config = install_dir / "flatsat.toml"
        fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(config_text)
        argv += ["--config", str(config)]
    for item in sets:
        argv += ["--set", item]
    out_path = run_dir.root / OUT_NAME
    with open(out_path, "ab") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        status = _await_ready(run_dir, proc, timeout, out_path)
        return describe(run_dir, status)
    except BaseException:
        if proc.poll() is None:
            _stop_pid(run_dir, proc.pid, grace=10.0)
            proc.wait()
        elif _group_members(proc.pid):  # the executive died and left apps behind
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        raise


def _await_ready(run_dir: RunDir, proc: subprocess.Popen[bytes], timeout: float,
                 out_path: Path) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    status: dict[str, Any] | None = None
    while True:
        code = proc.poll()
        if code is not None:
            raise AgentError(f"sunlit-flight run exited with status {code}:\n"
                             f"{_tail(out_path) or '(no output)'}")
        if running_pid(run_dir) == proc.pid:
            status = query_status(run_dir, timeout=1.0)
            if _ready(status):
                return status  # type: ignore[return-value]
        if time.monotonic() >= deadline:
            seen = "no answer from the executive" if status is None else \
                f"mode {status.get('mode')}, " + ", ".join(
                    f"{row['name']} {row['state']}" for row in status.get("processes", []))
            raise AgentError(f"the stack did not come up within {timeout:.0f} s ({seen}); "
                             f"its output:\n{_tail(out_path) or '(none)'}")
        time.sleep(0.1)


# ---------------------------------------------------------------------- stop
def _stop_pid(run_dir: RunDir, pid: int, grace: float) -> bool:
    """SIGTERM the executive, then SIGKILL its process group; True if force was needed.

    The group is killed only when the executive leads one of its own (``start`` made it so):
    a stack started from someone's shell shares that shell's group.
    """
    try:
        own_group = os.getpgid(pid) == pid
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + grace
    while running_pid(run_dir) == pid and time.monotonic() < deadline:
        time.sleep(0.05)
    forced = running_pid(run_dir) == pid
    if not own_group:
        if forced:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return forced
    # The executive stops its apps before it exits; anything left in the group is stray.
    until = time.monotonic() + (0.0 if forced else 2.0)
    while _group_members(pid) and time.monotonic() < until:
        time.sleep(0.05)
    if _group_members(pid):
        forced = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    return forced


def _group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group: an exited executive whose parent has
    not reaped it yet still counts for ``killpg`` but is no longer running."""
    members = []
    for proc in psutil.process_iter(["status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                members.append(proc.pid)
        except (OSError, psutil.Error):
            continue
    return members


# ---------------------------------------------------------------------- the command line
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m hil.board.agent")
    parser.add_argument("command", choices=("start", "info", "status", "stop"))
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--install-dir", type=Path, default=None)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--config-stdin", action="store_true",
                        help="read a TOML configuration from standard input")
    parser.add_argument("--set", action="append", default=[], dest="sets")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    run_dir = RunDir(args.run_dir)
    try:
        if args.command == "start":
            config = sys.stdin.read() if args.config_stdin else None
            return _answer(ok=True, **start(run_dir, args.sets, args.timeout, config,
                                            args.install_dir or args.run_dir.parent))
        pid = running_pid(run_dir)
        if args.command == "stop":
            if pid is None:
                return _answer(ok=True, running=False, code=EXIT_NOT_RUNNING)
            forced = _stop_pid(run_dir, pid, args.timeout)
            return _answer(ok=True, running=True, pid=pid, forced=forced, code=int(forced))
        status = query_status(run_dir, timeout=3.0) if pid is not None else None
        if status is None:
            raise AgentError(f"no stack answering in {run_dir.root}")
        if args.command == "status":
            return _answer(ok=True, status=status)
        return _answer(ok=True, **describe(run_dir, status))
    except (AgentError, OSError, KeyError, ValueError) as exc:
        return _answer(ok=False, error=str(exc) or type(exc).__name__)


if __name__ == "__main__":
    sys.exit(main())
