"""Idle cost of a real stack: CPU and unique memory (USS) of the executive and each app.

Starts ``sunlit-flight run`` through :class:`hil.stack.LocalStack` (executive + health app,
``--set apps.health.housekeeping_period_s=1.0``) in a short temp run dir, lets it settle,
then measures every onboard process with psutil for a fixed window while nobody talks to it:

* CPU: (user + system) CPU seconds consumed during the window ÷ window length, in % of one
  core (all of the process's threads, libzmq's I/O thread included);
* USS: ``memory_full_info().uss`` (memory no other process shares), sampled once a second;
  mean and max reported. RSS for information.

The processes are found from the executive's ``status`` process table; the executive itself is
``LocalStack.process`` (the ``python -m flight.cli run`` process *is* the executive).

Baseline, measured alongside the same way: an idle Python process that imports zmq, msgpack
and numpy and sleeps in a ``zmq.Poller`` loop with a 500 ms timeout (an app's heartbeat
period), i.e. the floor any Python app on this bus costs before Sunlit adds anything.

Targets (per onboard process): CPU < 1 % of one core, USS < 30 MiB.

Run: ``.venv/bin/python -m bench.idle_stack [--settle S] [--window S]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import BenchResult, Check, fmt_ratio, md_table, short_tmp_dir

NAME = "idle_stack"
CPU_TARGET_PCT = 1.0
USS_TARGET_MIB = 30.0
MIB = 1024 * 1024
DEFAULT_SETTLE_S = 3.0
DEFAULT_WINDOW_S = 10.0

BASELINE_SCRIPT = """
import sys, zmq, msgpack, numpy
ctx = zmq.Context()
sock = ctx.socket(zmq.SUB)
poller = zmq.Poller()
poller.register(sock, zmq.POLLIN)
print("ready", flush=True)
while True:
    poller.poll(500)
"""


def _spawn_baseline() -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-c", BASELINE_SCRIPT], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != b"ready":
        proc.kill()
        raise RuntimeError("baseline process did not start")
    return proc


def _cpu_seconds(proc: Any) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


def _thread_cpu(proc: Any) -> dict[int, float]:
    """CPU seconds per thread id (the main thread's id is the pid)."""
    return {t.id: float(t.user_time + t.system_time) for t in proc.threads()}


def measure(settle_s: float, window_s: float) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Start a stack and a baseline, measure them; return (rows, info)."""
    import psutil

    from hil.stack import LocalStack

    with short_tmp_dir("sbi") as tmp:
        stack = LocalStack(tmp / "rd", overrides=["apps.health.housekeeping_period_s=1.0"],
                           log_to=tmp / "stack.out")
        baseline = None
        stack.start()
        try:
            stack.wait_running("health")
            baseline = _spawn_baseline()
            time.sleep(settle_s)
            status = stack.status()
            assert stack.process is not None
            exec_pid = stack.process.pid
            if status["executive"]["pid"] != exec_pid:
                raise RuntimeError(f"status says executive pid {status['executive']['pid']}, "
                                   f"LocalStack.process is {exec_pid}")
            targets: list[tuple[str, str, int]] = [("executive", "executive", exec_pid)]
            for row in status["processes"]:
                if row["pid"] is None or row["state"] != "RUNNING":
                    raise RuntimeError(f"app {row['name']} is not running: {row}")
                targets.append((row["name"], "app", int(row["pid"])))
            targets.append(("baseline", "baseline (zmq+msgpack+numpy, poll loop)",
                            baseline.pid))
            children = {p.pid for p in psutil.Process(exec_pid).children()}
            missing = [name for name, kind, pid in targets
                       if kind == "app" and pid not in children]
            if missing:
                raise RuntimeError(f"apps {missing} are not children of the executive")
            procs = {name: psutil.Process(pid) for name, _, pid in targets}
            uss: dict[str, list[int]] = {name: [] for name in procs}
            rss: dict[str, list[int]] = {name: [] for name in procs}
            cpu0 = {name: _cpu_seconds(p) for name, p in procs.items()}
            threads0 = {name: _thread_cpu(p) for name, p in procs.items()}
            t0 = time.monotonic()
            end = t0 + window_s
            while True:
                for name, p in procs.items():
                    info = p.memory_full_info()
                    uss[name].append(info.uss)
                    rss[name].append(info.rss)
                left = end - time.monotonic()
                if left <= 0:
                    break
                time.sleep(min(1.0, left))
            cpu1 = {name: _cpu_seconds(p) for name, p in procs.items()}
            threads1 = {name: _thread_cpu(p) for name, p in procs.items()}
            elapsed = time.monotonic() - t0
            threads = {name: p.num_threads() for name, p in procs.items()}
            final = stack.status()
        finally:
            if baseline is not None:
                baseline.kill()
                baseline.wait(5)
            code = stack.stop()
    rows = []
    for name, kind, pid in targets:
        main = threads1[name].get(pid, 0.0) - threads0[name].get(pid, 0.0)
        others = sum(max(0.0, cpu - threads0[name].get(tid, 0.0))
                     for tid, cpu in threads1[name].items() if tid != pid)
        rows.append({
            "name": name, "kind": kind, "pid": pid,
            "cpu_pct": (cpu1[name] - cpu0[name]) / elapsed * 100.0,
            "cpu_main_pct": main / elapsed * 100.0,
            "cpu_other_pct": others / elapsed * 100.0,
            "uss_mean": statistics.fmean(uss[name]) / MIB,
            "uss_max": max(uss[name]) / MIB,
            "rss_max": max(rss[name]) / MIB,
            "threads": threads[name],
        })
    restarts = {row["name"]: row["restarts"] for row in final["processes"]}
    return rows, {"elapsed": elapsed, "mode": final["mode"], "restarts": restarts,
                  "exit": code}


def run(settle_s: float = DEFAULT_SETTLE_S, window_s: float = DEFAULT_WINDOW_S,
        verbose: bool = True) -> BenchResult:
    started = time.monotonic()
    rows, info = measure(settle_s, window_s)
    base = next(r for r in rows if r["name"] == "baseline")
    table_rows = []
    checks = []
    for r in rows:
        onboard = r["name"] != "baseline"
        ok_cpu = r["cpu_pct"] < CPU_TARGET_PCT
        ok_uss = r["uss_max"] < USS_TARGET_MIB
        verdict = ("PASS" if ok_cpu and ok_uss else "FAIL") if onboard else "-"
        table_rows.append([
            r["name"], r["kind"], r["pid"], f"{r['cpu_pct']:.2f}",
            f"{r['cpu_main_pct']:.2f}", f"{r['cpu_other_pct']:.2f}",
            f"{r['uss_mean']:.1f}",
            f"{r['uss_max']:.1f}",
            f"{r['uss_max'] - base['uss_max']:+.1f}" if onboard else "-",
            fmt_ratio(r["uss_max"] / base["uss_max"]) if onboard else "-",
            f"{r['rss_max']:.1f}", r["threads"], verdict])
        if onboard:
            checks.append(Check(NAME, f"idle CPU % of one core, {r['name']}",
                                f"{r['cpu_pct']:.2f} %", f"{base['cpu_pct']:.2f} %",
                                "-", f"< {CPU_TARGET_PCT:g} %", ok_cpu))
            checks.append(Check(NAME, f"USS MiB, {r['name']}", f"{r['uss_max']:.1f}",
                                f"{base['uss_max']:.1f}",
                                fmt_ratio(r["uss_max"] / base["uss_max"]),
                                f"< {USS_TARGET_MIB:g} MiB", ok_uss))
        if verbose:
            print(f"  [{NAME}] {r['name']:<10} cpu {r['cpu_pct']:5.2f} %  "
                  f"uss {r['uss_max']:5.1f} MiB", file=sys.stderr)
    table = md_table(["process", "role", "pid", "CPU % (1 core)", "main thread",
                      "other threads", "USS mean MiB",
                      "USS max MiB", "USS - baseline", "USS / baseline", "RSS max MiB",
                      "threads", "target"], table_rows)
    notes = [
        f"Window {info['elapsed']:.1f} s after {settle_s:g} s settling; stack mode "
        f"{info['mode']}, restarts {info['restarts']}; health housekeeping 1.0 s, "
        f"heartbeats 0.5 s (the executive sleeps until its next deadline); {os.cpu_count()} CPUs.",
        "CPU is counted in 10 ms kernel ticks: over a 10 s window a figure is good to about "
        "±0.1 %. 'main thread' is the Python loop; 'other threads' are libzmq's I/O thread "
        "and, in the executive, the bus proxy.",
        f"Targets per onboard process: CPU < {CPU_TARGET_PCT:g} % of one core and USS < "
        f"{USS_TARGET_MIB:g} MiB (max over the window). The baseline row is the floor: "
        "Python + zmq + msgpack + numpy doing nothing.",
    ]
    markdown = "\n".join([f"### Idle stack ({NAME})", "", table, "",
                          *[f"- {n}" for n in notes]])
    return BenchResult(NAME, "Idle stack CPU and memory", markdown, checks, notes,
                       time.monotonic() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.idle_stack", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settle", type=float, default=DEFAULT_SETTLE_S)
    parser.add_argument("--window", type=float, default=DEFAULT_WINDOW_S)
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)
    result = run(args.settle, args.window)
    print(result.markdown)
    return 1 if args.strict and not result.passed else 0


if __name__ == "__main__":
    sys.exit(main())
