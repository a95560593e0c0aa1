"""``sunlit-hil inject``: break a running flatsat on purpose, once, from the command line.

::

    sunlit-hil inject --list [--json]
    sunlit-hil inject crash --target jobs --run-dir /tmp/sat
    sunlit-hil inject link_outage --target downlink --run-dir /tmp/sat \\
        --linksim-control 127.0.0.1:52010 --clear-after 30
    sunlit-hil inject sensor_stuck --target chip_temp_c --run-dir /tmp/sat --json > stuck.json
    sunlit-hil inject --clear stuck.json --run-dir /tmp/sat

The flatsat runs in another process (``sunlit-flight run``, ``sunlit-hil flatsat``); this one
attaches to its run directory (:func:`hil.testbed.attach_testbed`). Exit status: 0 done, 1 the
injection failed on the way (the flatsat went away, a file vanished), 2 bad input (unknown fault,
parameter or target, no flatsat at the run directory) with a one-line error.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

from hil.faults.base import Fault, FaultClass, FaultError, Injection, Param, all_faults, get_fault

PROG = "sunlit-hil inject"
BAD_INPUT, FAILED = 2, 1
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class UsageError(Exception):
    """Bad command line: reported in one line with exit status 2."""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("fault", nargs="?", metavar="FAULT",
                        help="the fault to inject (see --list)")
    parser.add_argument("--list", action="store_true",
                        help="list every fault with its class, targets and parameters")
    parser.add_argument("--run-dir", type=Path, metavar="DIR",
                        help="run directory of the running flatsat")
    parser.add_argument("--target", metavar="T", help="what to hit (default: drawn at random)")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="a fault parameter (repeatable)")
    parser.add_argument("--seed", type=int, metavar="N",
                        help="seed of every random choice (target, bit, byte ...)")
    parser.add_argument("--linksim-control", metavar="HOST:PORT",
                        help="control port of the link proxy in front of comms (link faults)")
    parser.add_argument("--ground-state", type=Path, metavar="DIR",
                        help="the ground's ARSN state directory (default: the operator's)")
    parser.add_argument("--clear-after", type=float, metavar="SECONDS",
                        help="end a lasting fault after this long")
    parser.add_argument("--clear", metavar="FILE",
                        help="end a lasting fault injected earlier: its --json output ('-': "
                             "stdin)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    try:
        if args.list:
            print(listing(args.json))
            return 0
        return _inject_or_clear(args)
    except (UsageError, FaultError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return BAD_INPUT
    except KeyboardInterrupt:
        return 130


# ---------------------------------------------------------------------- --list
def _ordered() -> list[Fault]:
    order = list(FaultClass)
    return sorted(all_faults().values(), key=lambda f: (order.index(f.fault_class), f.name))


def _param_text(p: Param) -> str:
    bounds = f", one of {'/'.join(map(str, p.choices))}" if p.choices else ""
    if p.min is not None or p.max is not None:
        bounds += f", {p.min if p.min is not None else ''}..{p.max if p.max is not None else ''}"
    return f"{p.name} ({p.type.__name__}, default {p.default!r}{bounds}): {p.doc}"


def listing(as_json: bool) -> str:
    """Every fault, by class: JSON (a list of :meth:`Fault.describe`) or text."""
    faults = _ordered()
    if as_json:
        return json.dumps([f.describe() for f in faults], indent=2)
    lines = []
    for f in faults:
        lasting = ", lasting" if f.lasting else ""
        lines += [f"{f.name}  [{f.fault_class.value}{lasting}]", f"    {f.doc}",
                  f"    targets: {f.target_doc or '-'}"]
        lines += [f"    {_param_text(p)}" for p in f.params] or ["    no parameters"]
    return "\n".join(lines)


# ---------------------------------------------------------------------- inject / clear
def parse_params(fault: Fault, items: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` strings → values for ``fault`` (booleans spelled true/false/yes/no)."""
    known = {p.name: p for p in fault.params}
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--param {item!r} is not KEY=VALUE")
        if key in out:
            raise UsageError(f"--param {key} given twice")
        spec = known.get(key)
        value: Any = text
        if spec is not None and spec.type is bool and text.lower() in _TRUE + _FALSE:
            value = text.lower() in _TRUE
        out[key] = value
    return out


def _read_injection(source: str) -> Injection:
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {source}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{source} is not JSON: {exc}") from None
    return Injection.from_dict(data)


def _inject_or_clear(args: argparse.Namespace) -> int:
    from hil.stack import StackError
    from hil.testbed import TestbedError, attach_testbed

    if args.run_dir is None:
        raise UsageError("--run-dir DIR is required (the running flatsat's run directory)")
    if args.clear is not None and args.fault is not None:
        raise UsageError("give either FAULT or --clear FILE, not both")
    if args.clear is None and args.fault is None:
        raise UsageError("name a FAULT (see --list), or --clear FILE")
    if args.clear_after is not None and not 0 <= args.clear_after <= 86_400:
        raise UsageError("--clear-after must be 0..86400 seconds")
    if args.clear is not None:
        injection = _read_injection(args.clear)
        fault = get_fault(injection.fault)
    else:
        fault = get_fault(args.fault)
        params = fault.check_params(parse_params(fault, args.param))
        if args.clear_after is not None and not fault.lasting:
            raise UsageError(f"{fault.name} is not lasting: --clear-after does not apply")
    try:
        with attach_testbed(args.run_dir, linksim_control=args.linksim_control,
                            ground_state=args.ground_state) as bed:
            if args.clear is not None:
                fault.clear(bed, injection)
                _report(injection, args.json, "cleared: ")
                return 0
            seed = args.seed if args.seed is not None else random.SystemRandom().getrandbits(32)
            injection = fault.run(bed, args.target, params, random.Random(seed))
            injection.evidence.setdefault("seed", seed)
            if args.clear_after is not None:
                _hold_then_clear(fault, bed, injection, args.clear_after)
    except TestbedError as exc:
        raise UsageError(str(exc)) from None
    except (OSError, StackError) as exc:  # the flatsat went away under us
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return FAILED
    _report(injection, args.json, "")
    if injection.lasting and args.clear_after is None and not args.json:
        print("lasting: it stays until cleared (save --json output, then --clear FILE)")
    return 0


def _hold_then_clear(fault: Fault, bed: Any, injection: Injection, seconds: float) -> None:
    """Keep the fault ``seconds`` long, then clear it (also on Ctrl-C)."""
    try:
        time.sleep(seconds)  # the operator asked for this long: nothing to wait on
    finally:
        fault.clear(bed, injection)
        injection.evidence["cleared_after_s"] = seconds


def _report(injection: Injection, as_json: bool, prefix: str) -> None:
    if as_json:
        print(json.dumps(injection.to_dict(), indent=2, default=str))
    else:
        print(f"{prefix}{injection.fault} → {injection.target}: {injection.detail}")
