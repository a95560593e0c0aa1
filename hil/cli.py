"""``sunlit-hil``: the lab bench — bring a flatsat up, fly it, break it on purpose, watch it.

Each sub-command lives in its own module, which offers two functions::

    def configure(parser: argparse.ArgumentParser) -> None   # add its options
    def run(args: argparse.Namespace) -> int                 # do it; the exit status

and is imported only when it is used, so ``sunlit-hil --help`` stays fast and a bench without
(say) Dask installed can still fly a flatsat.
"""

from __future__ import annotations

import argparse
import importlib
import sys

import hil

#: sub-command → (module, one-line help).
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "flatsat": ("hil.flatsat_cli", "bring up a flatsat (simulated, or a board over ssh) and "
                "fly the demo mission"),
    "scenario": ("hil.scenario.cli", "play a scenario file: telecommands, faults, expectations"),
    "campaign": ("hil.campaign.cli", "run a fault-injection campaign and report on it"),
    "inject": ("hil.faults.cli", "inject one fault into a running flatsat"),
    "monitor": ("hil.monitoring.cli", "export a flatsat's telemetry to Prometheus"),
    "linksim": ("hil.linksim.cli", "UDP link-impairment proxy: delay, loss, reordering, "
                "outages ..."),
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["linksim"]:  # its own option parser (and its "ctl" sub-command)
        from hil.linksim.cli import main as linksim_main

        return linksim_main(argv[1:])
    parser = argparse.ArgumentParser(
        prog="sunlit-hil",
        description="The lab bench: bring a flatsat up, fly it, break it on purpose, watch it.")
    parser.add_argument("--version", action="version", version=f"sunlit-hil {hil.__version__}")
    sub = parser.add_subparsers(required=True, metavar="COMMAND", dest="command")
    chosen = argv[0] if argv and argv[0] in SUBCOMMANDS else None
    for name, (module, text) in SUBCOMMANDS.items():
        child = sub.add_parser(name, help=text, description=text, add_help=name != "linksim")
        if name == chosen:
            importlib.import_module(module).configure(child)
    args = parser.parse_args(argv)
    return int(importlib.import_module(SUBCOMMANDS[args.command][0]).run(args))


if __name__ == "__main__":
    sys.exit(main())
