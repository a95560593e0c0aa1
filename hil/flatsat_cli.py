"""``sunlit-hil flatsat``: bring a flatsat up and fly the demo mission on it."""

from __future__ import annotations

import argparse
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run-dir", type=Path, default=None)
    parser.add_argument("--config", help="TOML file (default: the built-in sim profile)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--duration", type=float, default=45.0,
                        help="seconds of live telemetry (default 45: two orbits at 300x)")
    parser.add_argument("--speed", type=float, default=300.0,
                        help="mission seconds per wall second (default 300)")
    parser.add_argument("--keep", action="store_true",
                        help="leave the stack running afterwards")
    parser.add_argument("--kill", metavar="APP", default="health",
                        help="SIGKILL this app half-way to show recovery ('' for none)")
    parser.add_argument("--no-jobs", dest="jobs", action="store_false",
                        help="do not queue the demo compute jobs")
    parser.add_argument("--upset-rate", type=float, default=1e-6, metavar="PER_BIT_DAY",
                        help="radiation upsets per bit per day outside the SAA (default 1e-6, "
                             "the top of the LEO range, so a short demo sees some)")


def run(args: argparse.Namespace) -> int:
    from hil.flatsat import run_flatsat

    overrides = (f"time.speed={args.speed}",
                 f"apps.world.upset_rate_per_bit_day={args.upset_rate}", *args.set)
    return run_flatsat(args.run_dir, args.duration, args.keep, args.kill or None,
                       args.config, overrides, jobs=args.jobs)
