"""``sunlit-hil``: the lab bench — bring a flatsat up and watch it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import hil


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["linksim"]:  # its own option parser (and its "ctl" sub-command)
        from hil.linksim.cli import main as linksim_main

        return linksim_main(argv[1:])
    parser = argparse.ArgumentParser(
        prog="sunlit-hil", description="The lab bench: bring a flatsat up and watch it.")
    parser.add_argument("--version", action="version", version=f"sunlit-hil {hil.__version__}")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")
    sub.add_parser("linksim", add_help=False,
                   help="UDP link-impairment proxy: delay, loss, reordering, outages ...")
    flatsat = sub.add_parser("flatsat", help="bring up a simulated flatsat and watch it live")
    flatsat.add_argument("--run-dir", type=Path, default=None)
    flatsat.add_argument("--config", help="TOML file (default: the built-in sim profile)")
    flatsat.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    flatsat.add_argument("--duration", type=float, default=45.0,
                         help="seconds of live telemetry (default 45: two orbits at 300x)")
    flatsat.add_argument("--speed", type=float, default=300.0,
                         help="mission seconds per wall second (default 300)")
    flatsat.add_argument("--keep", action="store_true",
                         help="leave the stack running afterwards")
    flatsat.add_argument("--kill", metavar="APP", default="health",
                         help="SIGKILL this app half-way to show recovery ('' for none)")
    flatsat.add_argument("--no-jobs", dest="jobs", action="store_false",
                         help="do not queue the demo compute jobs")
    flatsat.add_argument("--upset-rate", type=float, default=1e-6, metavar="PER_BIT_DAY",
                         help="radiation upsets per bit per day outside the SAA (default 1e-6, "
                              "the top of the LEO range, so a short demo sees some)")
    args = parser.parse_args(argv)
    from hil.flatsat import run_flatsat

    overrides = (f"time.speed={args.speed}",
                 f"apps.world.upset_rate_per_bit_day={args.upset_rate}", *args.set)
    return run_flatsat(args.run_dir, args.duration, args.keep, args.kill or None,
                       args.config, overrides, jobs=args.jobs)


if __name__ == "__main__":
    sys.exit(main())
