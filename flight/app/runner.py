"""Entry point of one app process: ``python -m flight.app.runner NAME --run-dir DIR``.

The executive starts every app through this module. The app's configuration comes from the
run directory's ``config.json``, which the executive wrote after validating it, so a child
never re-parses TOML and every process of one flatsat agrees on the same values.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from flight.app.base import App, AppContext
from flight.app.logs import setup_logging
from flight.bus import RunDir
from flight.config.loader import resolve_app_class


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="flight.app.runner")
    parser.add_argument("name")
    parser.add_argument("--run-dir", required=True)
    args = parser.parse_args(argv)
    run_dir = RunDir(Path(args.run_dir))
    config = json.loads(run_dir.config_file.read_text(encoding="utf-8"))
    ctx = AppContext.from_config(args.name, run_dir, config)
    setup_logging(args.name, run_dir.log_dir, ctx.clock)
    cls = resolve_app_class(args.name, config["apps"][args.name]["class"], f"apps.{args.name}")
    app: App = cls(ctx)
    code = app.run()
    if app.busy:
        # Offloaded work cannot be interrupted, and Python would wait for it at exit: leave
        # now (logs flushed) so a SIGTERM stops the app within the executive's grace period.
        logging.shutdown()
        os._exit(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
