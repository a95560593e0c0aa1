"""``sunlit-flight``: run, inspect and stop the onboard stack, and print its dictionary."""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import zmq

from flight.app.base import AppContext
from flight.app.clock import MissionClock, parse_epoch
from flight.app.logs import setup_logging
from flight.bus import CommandClient, RunDir, RunDirError, default_run_dir
from flight.config.errors import ConfigError
from flight.config.loader import load_config
from flight.dictionary import build_dictionary

EXIT_CONFIG = 2
EXIT_NOT_RUNNING = 3


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"sunlit-flight: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except RunDirError as exc:
        print(f"sunlit-flight: {exc}", file=sys.stderr)
        return EXIT_CONFIG


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sunlit-flight",
        description="Run, inspect and stop the onboard stack, and print its dictionary.")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the onboard stack in the foreground")
    _config_args(run)
    _run_dir_arg(run)
    run.add_argument("--quiet", action="store_true", help="log to files only, not to stderr")
    run.set_defaults(func=cmd_run)

    status = sub.add_parser("status", help="show each onboard process and the mode")
    _run_dir_arg(status)
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.add_argument("--timeout", type=float, default=3.0)
    status.set_defaults(func=cmd_status)

    stop = sub.add_parser("stop", help="stop a running stack (SIGTERM to the executive)")
    _run_dir_arg(stop)
    stop.add_argument("--timeout", type=float, default=15.0)
    stop.set_defaults(func=cmd_stop)

    dictionary = sub.add_parser("dictionary", help="print the command/telemetry dictionary")
    _config_args(dictionary)
    dictionary.set_defaults(func=cmd_dictionary)
    return parser


def _config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="TOML file (default: the built-in sim profile)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override one value (repeatable)")


def _run_dir_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run-dir", type=Path, default=None,
                        help=f"run directory (default: {default_run_dir()})")


def _run_dir(args: argparse.Namespace) -> RunDir:
    return RunDir(args.run_dir or default_run_dir())


# ---------------------------------------------------------------------- run
def cmd_run(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.set)
    run_dir = _run_dir(args)
    run_dir.prepare()
    lock = _claim_run_dir(run_dir)
    if lock is None:
        print(f"sunlit-flight: already running as pid {running_pid(run_dir)} in "
              f"{run_dir.root}", file=sys.stderr)
        return 1
    _write_json_atomically(run_dir.config_file, config)
    try:
        from flight.executive.executive import Executive

        clock = MissionClock.starting(parse_epoch(config["time"]["epoch"]),
                                      config["time"]["speed"])
        clock.save(run_dir.clock_file)
        setup_logging("executive", run_dir.log_dir, clock, to_stderr=not args.quiet)
        ctx = AppContext.from_config("executive", run_dir, config, clock=clock,
                                     supervised=False)
        return Executive(ctx, config).run()
    finally:
        # The pid file stays (unlinking it would let a starting executive lock a file that
        # is about to vanish); emptied and unlocked, it says nobody runs here.
        os.ftruncate(lock, 0)
        os.close(lock)


def _claim_run_dir(run_dir: RunDir) -> int | None:
    """Lock the pid file for this process's lifetime; None if another executive holds it.

    A lock (rather than checking whether the recorded pid is alive) is race-free when two
    stacks start at once, and the kernel releases it however the executive dies.
    """
    fd = os.open(run_dir.pid_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def _write_json_atomically(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def running_pid(run_dir: RunDir) -> int | None:
    """The executive's pid if one holds this run directory, else None.

    Running means holding the pid file's lock, not merely a live process with the recorded
    pid: after a crash that pid may belong to an unrelated process by now.
    """
    try:
        fd = os.open(run_dir.pid_file, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.read(fd, 32).decode(errors="replace").strip()
            return int(text) if text.isdigit() else None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


# ---------------------------------------------------------------------- status
def query_status(run_dir: RunDir, timeout: float = 3.0) -> dict[str, Any] | None:
    """Ask the executive for its status over the bus; None when nobody answers."""
    data = query(run_dir, "executive", "status", timeout)
    return data if isinstance(data, dict) else None


def query(run_dir: RunDir, app: str, command: str, timeout: float = 3.0) -> Any:
    """One command to ``app`` over the bus: its data, or None when it did not complete."""
    ctx = zmq.Context()
    client = CommandClient(ctx, run_dir.command_endpoint(app), f"cli-{os.getpid()}",
                           MissionClock())
    try:
        reply = client.call(command, timeout=timeout)
    finally:
        client.close()
        ctx.term()
    return reply.data if reply.ok else None


def cmd_status(args: argparse.Namespace) -> int:
    run_dir = _run_dir(args)
    status = query_status(run_dir, args.timeout) if running_pid(run_dir) else None
    if status is None:
        print(f"sunlit-flight: no stack answering in {run_dir.root}", file=sys.stderr)
        return EXIT_NOT_RUNNING
    if args.json:
        print(json.dumps(status, indent=2))
    else:
        print(format_status(status))
    return 0


def format_status(status: dict[str, Any]) -> str:
    lines = [f"mission {status['mission']}   mode {status['mode']}   "
             f"executive pid {status['executive']['pid']}   "
             f"up {status['executive']['uptime_s']:.0f} s",
             f"{'APP':<12} {'PID':>7} {'STATE':<10} {'RESTARTS':>8} {'HB AGE':>8}  LAST EXIT"]
    for row in status["processes"]:
        age = "-" if row["heartbeat_age_s"] is None else f"{row['heartbeat_age_s']:.2f}s"
        lines.append(f"{row['name']:<12} {row['pid'] or '-':>7} {row['state']:<10} "
                     f"{row['restarts']:>8} {age:>8}  {row['last_exit']}")
    return "\n".join(lines)


# ---------------------------------------------------------------------- stop
def cmd_stop(args: argparse.Namespace) -> int:
    run_dir = _run_dir(args)
    pid = running_pid(run_dir)
    if pid is None:
        print(f"sunlit-flight: nothing running in {run_dir.root}", file=sys.stderr)
        return EXIT_NOT_RUNNING
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + args.timeout
    while running_pid(run_dir) == pid:
        if time.monotonic() > deadline:
            print(f"sunlit-flight: pid {pid} still running after {args.timeout:.0f} s; "
                  "sending SIGKILL", file=sys.stderr)
            os.kill(pid, signal.SIGKILL)
            return 1
        time.sleep(0.05)
    print(f"stopped pid {pid}")
    return 0


# ---------------------------------------------------------------------- dictionary
def cmd_dictionary(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.set)
    json.dump(build_dictionary(config), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
