"""``sunlit-ground``: the operator's command line.

The space-link commands (send, tlm, events, watch, archive, ping) arrive with the space link;
today it reads the flight dictionary, the document every ground tool is built from.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import ground


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="sunlit-ground", description="The operator's command line.")
    parser.add_argument(
        "--version", action="version", version=f"sunlit-ground {ground.__version__}"
    )
    sub = parser.add_subparsers(required=True, metavar="COMMAND")
    dict_cmd = sub.add_parser("dict", help="summarise a flight dictionary")
    dict_cmd.add_argument("--file", help="dictionary JSON (default: generate from flight)")
    dict_cmd.add_argument("--json", action="store_true", help="print the dictionary as JSON")
    dict_cmd.set_defaults(func=cmd_dict)
    args = parser.parse_args(argv)
    return int(args.func(args))


def load_dictionary(path: str | None) -> dict[str, Any]:
    if path:
        with open(path, encoding="utf-8") as fh:
            return dict(json.load(fh))
    from flight.config.loader import load_config
    from flight.dictionary import build_dictionary

    return build_dictionary(load_config())


def cmd_dict(args: argparse.Namespace) -> int:
    dictionary = load_dictionary(args.file)
    if args.json:
        json.dump(dictionary, sys.stdout, indent=2)
        print()
        return 0
    print(
        f"dictionary {dictionary['hash'][:12]}  spec {dictionary['spec_version']}  "
        f"framework {dictionary['framework_version']}"
    )
    for name, app in dictionary["apps"].items():
        print(f"\n{name} (id {app['id']}): {app['doc']}")
        for cmd in app["commands"]:
            args_text = " ".join(f"{a['name']}:{_arg_type(a)}" for a in cmd["args"])
            flag = "  [hazardous]" if cmd["hazardous"] else ""
            print(f"  {name}.{cmd['name']} {args_text}{flag}")
    return 0


def _arg_type(arg: dict[str, Any]) -> str:
    return "|".join(arg["choices"]) if "choices" in arg else str(arg["type"])


if __name__ == "__main__":
    sys.exit(main())
