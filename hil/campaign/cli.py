"""``sunlit-hil campaign``: run a fault-injection campaign, or render its report again.

::

    sunlit-hil campaign --runs 400 --out camp/ [--seed 1] [--workers 2] [--classes a,b]
                        [--faults x,y] [--executor local|dask] [--scheduler ADDR] [--resume]
                        [--margin 0.05] [--keep-runs] [--strict]
    sunlit-hil campaign report camp/

Exit status: 0 done (with ``--strict``: 1 when any run is SDC, data lost or an unrecovered
DUE); 1 the golden run failed; 2 bad input (unknown names, a directory holding another
campaign, an unreachable scheduler); 130 interrupted (the report is marked PARTIAL).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", nargs="?", choices=["report"],
                        help="'report DIR': write the report of the campaign in DIR again")
    parser.add_argument("dir", nargs="?", type=Path, help="the campaign directory (report)")
    parser.add_argument("--runs", type=int, help="fault runs to plan (not counting the golden)")
    parser.add_argument("--out", type=Path, help="campaign directory (created if missing)")
    parser.add_argument("--seed", type=int, default=1, help="plan seed (default 1)")
    parser.add_argument("--workers", type=int, default=None,
                        help="runs in flight (local: default one per core; dask: default "
                             "the cluster's threads)")
    parser.add_argument("--classes", type=_names, default=[],
                        help="only these fault classes (comma-separated)")
    parser.add_argument("--faults", type=_names, default=[],
                        help="only these faults (comma-separated)")
    parser.add_argument("--executor", choices=["local", "dask"], default="local",
                        help="local worker processes (default) or a Dask cluster")
    parser.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://host:8786")
    parser.add_argument("--resume", action="store_true",
                        help="continue the campaign in --out as it was planned")
    parser.add_argument("--margin", type=float, default=None,
                        help="error margin for the sample size (default 0.05: ±5 %%)")
    parser.add_argument("--keep-runs", action="store_true",
                        help="keep each run's directory under DIR/runs/")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 if any run is SDC, data lost or an unrecovered DUE")
    parser.add_argument("--name", help="campaign name in the report (default: the directory's)")


def _error(text: str) -> int:
    print(f"sunlit-hil campaign: error: {text}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    from hil.campaign.campaign import CampaignError, GoldenError, Options, run_campaign
    from hil.campaign.journal import CampaignFileError

    if args.action == "report":
        return _report(args)
    if args.dir is not None:
        return _error(f"unexpected argument {str(args.dir)!r} (did you mean 'report "
                      f"{args.dir}' or '--out {args.dir}'?)")
    if args.out is None:
        return _error("--out DIR is required")
    opts = Options(out=args.out, runs=args.runs, seed=args.seed, workers=args.workers,
                   classes=args.classes, faults=args.faults, executor=args.executor,
                   scheduler=args.scheduler, resume=args.resume, margin=args.margin,
                   keep_runs=args.keep_runs, name=args.name, strict=args.strict)
    try:
        return run_campaign(opts)
    except (CampaignError, CampaignFileError) as exc:
        return _error(str(exc))
    except GoldenError as exc:
        print(f"sunlit-hil campaign: the golden run failed: {exc}", file=sys.stderr)
        return 1


def _report(args: argparse.Namespace) -> int:
    from hil.campaign.journal import CampaignFileError
    from hil.campaign.report import write_report

    if args.dir is None:
        return _error("campaign report needs the campaign directory: report DIR")
    if not (args.dir / "campaign.json").is_file():
        return _error(f"{args.dir} holds no campaign (no campaign.json)")
    try:
        path = write_report(args.dir, margin=args.margin)
    except (CampaignFileError, KeyError, TypeError, ValueError) as exc:
        return _error(f"cannot build the report of {args.dir}: {exc}")
    print(path)
    return 0
