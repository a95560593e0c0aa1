"""``sunlit-hil flatsat``: fly the demo mission on a simulated flatsat and write its report."""

from __future__ import annotations

import argparse
from pathlib import Path

from hil.board.stack import HAL_CHOICES
from hil.mission.plan import (
    DEFAULT_EPOCH,
    DEFAULT_ORBITS,
    DEFAULT_SPEED,
    DEFAULT_UPSET_RATE,
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Fly the demo mission: about three orbits of a simulated flatsat at high time "
        "acceleration, with ground passes, eclipses, radiation upsets and a killed app; "
        "then print a summary and write a report directory (plots, report.html, report.md).")
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--orbits", type=float, default=None,
                        help=f"mission length in orbits (default {DEFAULT_ORBITS:g}), "
                             "stretched to the end of the pass in progress then")
    length.add_argument("--duration", type=float, default=None, metavar="SECONDS",
                        help="mission length in wall-clock seconds, exactly")
    parser.add_argument("--speed", type=float, default=DEFAULT_SPEED,
                        help=f"mission seconds per wall second (default {DEFAULT_SPEED:g})")
    parser.add_argument("--seed", type=int, default=1,
                        help="seed of the world's random draws (upsets) and the link proxy "
                             "(default 1)")
    parser.add_argument("--epoch", default=DEFAULT_EPOCH,
                        help=f"mission start, UTC (default {DEFAULT_EPOCH}: eclipse season)")
    parser.add_argument("--upset-rate", type=float, default=DEFAULT_UPSET_RATE,
                        metavar="PER_BIT_DAY",
                        help=f"upsets per bit per day outside the SAA (default "
                             f"{DEFAULT_UPSET_RATE:g}, measured on Alsat-1's SRAM; LEO: "
                             "1e-11 to 1e-6)")
    parser.add_argument("--report", type=Path, default=None, metavar="DIR",
                        help="report directory (default RUN_DIR/report)")
    parser.add_argument("--no-jobs", dest="jobs", action="store_false",
                        help="uplink no compute jobs")
    parser.add_argument("--kill", metavar="APP", default="jobs",
                        help="SIGKILL this app mid-mission to show recovery (default jobs; "
                             "'' for none)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the flatsat running after the mission, until Ctrl-C")
    parser.add_argument("--run-dir", type=Path, default=None,
                        help="a new or empty run directory (default: a fresh one under /tmp)")
    parser.add_argument("--config", help="TOML file (default: the built-in sim profile)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override one configuration value (repeatable; after the "
                             "mission's own)")
    board = parser.add_argument_group(
        "a board over ssh", "Deploy to a board, start the stack there and watch it over the real "
        "space link (docs/deploy.md). --duration, --keep, --config and --set apply.")
    board.add_argument("--board", metavar="USER@HOST",
                       help="deploy to this board over ssh instead of simulating here")
    board.add_argument("--hal", default="auto", choices=HAL_CHOICES,
                       help="the board's HAL (default: detected on the board)")
    board.add_argument("--python", default="python3", help="the board's Python (default python3)")
    board.add_argument("--ssh-option", action="append", default=[], metavar="OPT",
                       help="one extra ssh argument, e.g. --ssh-option=-p2222 (repeatable)")
    board.add_argument("--stop", action="store_true",
                       help="only stop a stack left running on the board with --keep")


def run(args: argparse.Namespace) -> int:
    if args.board:
        return _run_board(args)
    from hil.flatsat import run_mission
    from hil.mission.plan import Settings

    settings = Settings(speed=args.speed, orbits=args.orbits if args.duration is None
                        else None, duration_s=args.duration, seed=args.seed,
                        epoch=args.epoch, upset_rate=args.upset_rate, kill=args.kill or None,
                        jobs=args.jobs, sets=tuple(args.set))
    if settings.orbits is None and settings.duration_s is None:
        settings = Settings(**{**settings.__dict__, "orbits": DEFAULT_ORBITS})
    return run_mission(settings, run_dir=args.run_dir, report_dir=args.report, keep=args.keep,
                       config=args.config)


def _run_board(args: argparse.Namespace) -> int:
    import sys

    from hil.board import BoardError, BoardStack
    from hil.board.fly import fly_board

    try:
        stack = BoardStack(args.board, hal=args.hal, python=args.python,
                           ssh_options=args.ssh_option, overrides=args.set, config=args.config,
                           log=print)
        if args.stop:
            return 0 if stack.stop() in (0, 3) else 1
    except BoardError as exc:
        print(f"sunlit-hil flatsat: {exc}", file=sys.stderr)
        return 2
    return fly_board(stack, duration=args.duration or 30.0, keep=args.keep, out=sys.stdout)
