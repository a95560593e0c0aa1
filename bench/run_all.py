"""Run every Sunlit benchmark, print one combined Markdown report and write bench/results.md.

``make bench`` runs ``.venv/bin/python -m bench.run_all``. The report starts with the machine
(date, Python, pyzmq/libzmq, msgpack, CPU count, load average), then one summary table of
every target (Sunlit figure, baseline figure, ratio, target, PASS/FAIL), then each
benchmark's own table. ``bench/results.md`` is overwritten on every run.

Exit status: 0 when the benchmarks ran (whatever their verdicts); with ``--strict``, 1 when a
target was missed. ``--quick`` runs shorter versions (a smoke test, not figures to quote).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import multiprocessing
import os
import platform
import sys
import time
from functools import partial
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import (
    abft,
    bus_throughput,
    checkpoint,
    command_rtt,
    idle_stack,
    jobs,
    link,
    world_speed,
)
from bench._common import BenchResult, md_table

RESULTS = Path(__file__).resolve().parent / "results.md"


def machine() -> list[tuple[str, str]]:
    import msgpack
    import psutil
    import zmq

    load = os.getloadavg()
    return [
        ("date", datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")),
        ("host", f"{platform.system()} {platform.release()} {platform.machine()}"),
        ("python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("pyzmq / libzmq", f"{zmq.__version__} / {zmq.zmq_version()}"),
        ("msgpack", ".".join(str(x) for x in msgpack.version)),
        ("psutil", psutil.__version__),
        ("CPUs", f"{os.cpu_count()} (usable: {len(os.sched_getaffinity(0))})"),
        ("load average at start", f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"),
    ]


def report(results: list[BenchResult], info: list[tuple[str, str]], seconds: float) -> str:
    rows = []
    for r in results:
        for c in r.checks:
            rows.append([c.metric, c.sunlit, c.baseline, c.ratio, c.target,
                         c.verdict if c.target not in ("-", "- (info)") else "info"])
    missed = [c for r in results for c in r.checks if not c.passed]
    load = os.getloadavg()
    lines = [
        "# Sunlit benchmarks",
        "",
        md_table(["machine", "value"], [[k, v] for k, v in info]
                 + [["load average at end", f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"],
                    ["total run time", f"{seconds:.1f} s "
                     f"({', '.join(f'{r.name} {r.seconds:.1f} s' for r in results)})"]]),
        "",
        "## Summary",
        "",
        md_table(["metric", "Sunlit", "baseline", "ratio", "target", "result"], rows),
        "",
        ("All targets met." if not missed else
         "Targets missed: " + "; ".join(f"{c.metric} ({c.ratio if c.ratio != '-' else c.sunlit}"
                                        f" vs {c.target})" for c in missed) + "."),
        "",
        "Ratios: throughput = Sunlit ÷ baseline (higher is better); latency and memory = "
        "Sunlit ÷ baseline (lower is better). See docs/benchmarks.md.",
    ]
    for r in results:
        lines += ["", r.markdown]
    return "\n".join(lines) + "\n"


def in_fresh_process(run: partial[BenchResult]) -> BenchResult:
    """Run one benchmark in a new interpreter, as ``python -m bench.NAME`` would.

    A benchmark must not inherit another's process: the heap a long stack run left behind,
    threads, imported state and the BLAS pool all shifted later figures by several percent
    when every benchmark shared one process.
    """
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(run).result()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.run_all", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short runs (smoke test)")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument("--no-write", action="store_true", help="do not write bench/results.md")
    args = parser.parse_args(argv)
    info = machine()
    started = time.monotonic()
    if args.quick:
        runs = [partial(bus_throughput.run, count=30_000, warmup=5_000, repeats=1),
                partial(command_rtt.run, calls=300, warmup=50),
                partial(idle_stack.run, settle_s=1.0, window_s=3.0),
                partial(world_speed.run, (200.0, 800.0), 4.0, orbits_run=False),
                partial(link.run, 200, 512 * 1024),
                partial(abft.run, quick=True),
                partial(checkpoint.run, (1, 8), 3),
                partial(jobs.run, reps=1, job=jobs.QUICK_JOB)]
    else:
        runs = [partial(bus_throughput.run), partial(command_rtt.run), partial(idle_stack.run),
                partial(world_speed.run), partial(link.run), partial(abft.run),
                partial(checkpoint.run), partial(jobs.run), partial(jobs.run, job=jobs.TRAIN_JOB)]
    results = [in_fresh_process(run) for run in runs]
    text = report(results, info, time.monotonic() - started)
    if args.quick:
        text = text.replace("# Sunlit benchmarks", "# Sunlit benchmarks (--quick: smoke test, "
                            "not figures to quote)", 1)
    print(text)
    if not args.no_write:
        RESULTS.write_text(text, encoding="utf-8")
        print(f"(written to {RESULTS})", file=sys.stderr)
    failed = any(not r.passed for r in results)
    return 1 if failed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
