"""``sunlit-hil flatsat``: bring a simulated flatsat up, watch it live, take it down cleanly.

What a newcomer sees first: the stack boots, its process table, then a line of live telemetry
per second with every event as it happens; optionally an app is killed half-way to show the
executive bringing it back. ``--keep`` leaves the stack running for ``sunlit-flight status``,
``sunlit-flight stop`` and the rest.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from flight.bus import Envelope, default_run_dir
from flight.cli import format_status
from hil.flatsat_jobs import Goldens
from hil.stack import BusTap, LocalStack, StackError

SEVERITY_MARK = {"DEBUG": " ", "INFO": "·", "WARNING": "!", "ERROR": "✖", "CRITICAL": "‼"}


def run_flatsat(run_dir: Path | None, duration: float, keep: bool, kill_app: str | None,
                config: str | None = None, overrides: tuple[str, ...] = (),
                out: TextIO = sys.stdout, jobs: bool = True) -> int:
    root = run_dir or default_run_dir()
    stack = LocalStack(root, config=config, overrides=overrides, log_to=root / "flatsat.out")
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    print(f"Starting the onboard stack in {root} ...", file=out)
    try:
        stack.start(timeout=30)
    except StackError as exc:
        print(f"flatsat failed to start: {exc}\n(see {root / 'flatsat.out'})", file=out)
        stack.stop()
        return 1
    try:
        _fly(stack, root, duration, kill_app, jobs, out)
    except BaseException:
        if not keep:  # whatever went wrong here, no stack is left running behind the user
            stack.stop()
        raise
    if keep:
        print(f"\nThe stack keeps running (executive pid {stack.process.pid}).\n"  # type: ignore[union-attr]
              f"  sunlit-flight status --run-dir {root}\n"
              f"  sunlit-flight stop --run-dir {root}", file=out)
        return 0
    code = stack.stop()
    print(f"\nStack stopped cleanly (exit status {code}).", file=out)
    return code


def _fly(stack: LocalStack, root: Path, duration: float, kill_app: str | None, jobs: bool,
         out: TextIO) -> None:
    """Status, link, jobs, live telemetry, the final status and the jobs' verdicts."""
    print(format_status(stack.status()), file=out)
    _print_link(stack, root, out)
    ids = _queue_jobs(stack, out) if jobs else []
    goldens = Goldens() if ids else None
    print(f"\nLive telemetry for {duration:.0f} s (events marked · ! ✖ ‼):", file=out)
    tap = stack.tap("tlm.", "evt.")
    try:
        _watch(stack, tap, duration, kill_app, out)
    except KeyboardInterrupt:
        print("\ninterrupted", file=out)
    print("\n" + format_status(stack.status()), file=out)
    if goldens is not None:
        _report_jobs(stack, ids, goldens, out)


def _print_link(stack: LocalStack, root: Path, out: TextIO) -> None:
    """Where an operator's ground station can reach this flatsat."""
    reply = stack.command("comms", "status", timeout=2.0)
    if not reply.ok:
        return
    print(f"\nSpace link: comms listens on {reply.data['address']} ({reply.data['auth']}), "
          f"key {root / 'keys' / 'link.key'}\n"
          f"  sunlit-ground --run-dir {root} ping      (or: python -m ground.console "
          f"--address {reply.data['address']} --key {root / 'keys' / 'link.key'})", file=out)


def _queue_jobs(stack: LocalStack, out: TextIO) -> list[int]:
    from hil.flatsat_jobs import DEMO_JOBS, submit

    try:
        ids = submit(stack)
    except RuntimeError as exc:
        print(f"\nJobs not queued: {exc}", file=out)
        return []
    print("\nJobs queued: " + ", ".join(
        f"#{i} {kind} {params}" for i, (kind, params, _) in zip(ids, DEMO_JOBS, strict=True)),
        file=out)
    return ids


def _report_jobs(stack: LocalStack, ids: list[int], goldens: Goldens, out: TextIO) -> None:
    """Every job; each finished result checked against a fault-free run done here."""
    from hil.flatsat_jobs import verify

    print("\nJobs (stored results compared with a fault-free run on the ground):", file=out)
    print(f"  {'job':>4} {'kind':<10} {'state':<10} {'steps':>9} {'corrected':>9} "
          f"{'masked':>6} {'rollbacks':>9}  result", file=out)
    for r in verify(stack, ids, goldens):
        verdict = {None: "-", True: "identical to the golden run",
                   False: "DIFFERS from the golden run"}[r.matches_golden]
        print(f"  {r.job:>4} {r.kind:<10} {r.state:<10} {r.steps:>9} {r.corrected:>9} "
              f"{r.masked:>6} {r.rollbacks:>9}  {verdict}", file=out, flush=True)


def _watch(stack: LocalStack, tap: BusTap, duration: float, kill_app: str | None,
           out: TextIO) -> None:
    start = time.monotonic()
    latest: dict[str, dict[str, Any]] = {}
    next_line = start + 1.0
    killed = kill_app is None
    while (now := time.monotonic()) - start < duration:
        envelope = tap.subscriber.recv(timeout_ms=max(1, int((next_line - now) * 1000)))
        if envelope is not None:
            _take(envelope, latest, now - start, out)
        if not killed and now - start >= duration / 2:
            killed = True
            _kill(stack, kill_app or "", now - start, out)
        if time.monotonic() >= next_line:
            next_line += 1.0
            print(_line(time.monotonic() - start, latest), file=out, flush=True)


def _take(envelope: Envelope, latest: dict[str, dict[str, Any]], elapsed: float,
          out: TextIO) -> None:
    app = envelope.topic.split(".", 1)[1]
    if envelope.topic.startswith("tlm.") and isinstance(envelope.data, dict):
        latest[app] = envelope.data
    elif envelope.topic.startswith("evt.") and isinstance(envelope.data, dict):
        severity = str(envelope.data.get("severity", "INFO"))
        if severity != "DEBUG":
            mark = SEVERITY_MARK.get(severity, "?")
            print(f"  {mark} t+{elapsed:5.1f}s {app:<10} {envelope.data.get('name')}: "
                  f"{envelope.data.get('text')}", file=out, flush=True)


def _kill(stack: LocalStack, app: str, elapsed: float, out: TextIO) -> None:
    row = stack.process_row(app)
    if row["pid"]:
        print(f"  ☠ t+{elapsed:5.1f}s injecting a crash: SIGKILL {app} (pid {row['pid']})",
              file=out, flush=True)
        os.kill(row["pid"], signal.SIGKILL)


def _line(elapsed: float, latest: dict[str, dict[str, Any]]) -> str:
    """One status line: where the spacecraft is, its energy and heat, and the stack's health."""
    e, w = latest.get("executive", {}), latest.get("world", {})
    p, t = latest.get("power", {}), latest.get("thermal", {})
    j, r = latest.get("jobs", {}), latest.get("radiation", {})
    shed = sorted(k for k, on in p.get("loads", {}).items() if not on)
    orbit = (f"orbit {w.get('orbit_number', 0)} {'sun    ' if w.get('in_sun') else 'ECLIPSE'}"
             f"{' SAA' if w.get('in_saa') else ''}") if w else "no world"
    return (f"t+{elapsed:5.1f}s {_fmt_met(w.get('mission_t'))} {orbit:<17} "
            f"mode={e.get('mode', '?'):<10} soc={_num(p.get('soc'), '.0%')} "
            f"solar={_num(p.get('solar_power_w'), '4.0f')}W "
            f"load={_num(p.get('load_power_w'), '4.0f')}W "
            f"budget={_num(p.get('compute_budget_w'), '3.0f')}W "
            f"duty≤{_num(t.get('duty_limit'), '.2f')} chip={_num(t.get('chip_temp_c'), '.1f')}°C "
            f"batt={_num(t.get('battery_temp_c'), '.1f')}°C"
            f"{' heater' if t.get('battery_heater') else ''} "
            f"shed={','.join(shed) or '-'} up={e.get('apps_running', '?')} "
            f"restarts={sum(e.get('restarts', {}).values())} "
            f"job={_job(j)} duty={_num(j.get('duty'), '.2f')} done={j.get('done', '-')} "
            f"upsets={r.get('upsets', '-')} fixed={j.get('corrected', '-')} "
            f"rolled-back={j.get('rollbacks', '-')}")


def _job(j: dict[str, Any]) -> str:
    if not j.get("running_job"):
        return "-"
    return f"#{j['running_job']}:{_num(j.get('progress'), '.0%')}"


def _num(value: Any, spec: str) -> str:
    return "n/a" if not isinstance(value, (int, float)) else format(value, spec)


def _fmt_met(mission_t: Any) -> str:
    if not isinstance(mission_t, (int, float)):
        return "--:--"
    return time.strftime("%H:%M", time.gmtime(mission_t))
