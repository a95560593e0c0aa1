"""``python -m hil.linksim``: run the link-impairment proxy (``... ctl``: steer a running one).

Run::

    python -m hil.linksim --ground 127.0.0.1:52002 --flight 127.0.0.1:52001 \\
        --loss 0.05 --delay-ms 50 --jitter-ms 10 --outage 30:45 --seed 7 \\
        --control 127.0.0.1:52010 --stats-every 5

Impairment flags apply to both directions; ``--uplink KEY=VALUE`` / ``--downlink KEY=VALUE``
(repeatable, any :class:`~hil.linksim.impair.Impairments` field) override one direction. Stats
go to stdout periodically (``--stats-every``) and on SIGINT/SIGTERM, which stop the proxy.

Steer a running proxy::

    python -m hil.linksim ctl 127.0.0.1:52010 set --direction uplink loss=0.2 delay_ms=100
    python -m hil.linksim ctl 127.0.0.1:52010 outage on
    python -m hil.linksim ctl 127.0.0.1:52010 stats
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from hil.linksim.control import ControlClient, ControlError
from hil.linksim.impair import COUNTERS, Impairments, parse_value
from hil.linksim.proxy import LinkSim

#: flag → Impairments field, for the flags that apply to both directions.
_COMMON = {
    "delay_ms": float, "jitter_ms": float, "jitter_dist": str, "loss": float,
    "duplicate": float, "reorder": float, "reorder_delay_ms": float, "corrupt": float,
    "corrupt_bits": int, "bandwidth": float, "max_queue": int, "max_queue_bytes": int,
}
_HELP = {
    "delay_ms": "one-way delay, ms",
    "jitter_ms": "delay variation, ms (± for uniform, sigma for normal)",
    "jitter_dist": "uniform (default) or normal",
    "loss": "drop probability",
    "duplicate": "duplication probability",
    "reorder": "probability a datagram is held back so later ones overtake it",
    "reorder_delay_ms": "how long a reordered datagram is held back, ms (default 10)",
    "corrupt": "probability a datagram gets 1..--corrupt-bits bits flipped",
    "corrupt_bits": "most bits flipped in a corrupted datagram (default 1)",
    "bandwidth": "link rate, bytes/s (0 = unlimited)",
    "max_queue": "most datagrams held per direction; more are dropped (default 10000)",
    "max_queue_bytes": "most payload bytes held per direction (default 64 MiB)",
}


def _kv(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    key = key.strip().replace("-", "_")
    try:
        return key, parse_value(key, value.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m hil.linksim",
        description="UDP link-impairment proxy between a ground station and a flight stack. "
                    "('python -m hil.linksim ctl --help' steers a running one.)")
    p.add_argument("--ground", required=True, metavar="HOST:PORT",
                   help="where the proxy listens for the ground (port 0: ephemeral, printed)")
    p.add_argument("--flight", default="127.0.0.1:52001", metavar="HOST:PORT",
                   help="where flight listens (default 127.0.0.1:52001)")
    p.add_argument("--flight-bind", metavar="HOST:PORT",
                   help="local address of the flight-side socket (default: ephemeral)")
    p.add_argument("--ground-peer", action="append", default=[], metavar="HOST:PORT",
                   help="a fixed ground address that gets all downlink too (repeatable)")
    imp = p.add_argument_group("impairments (both directions)")
    for name, typ in _COMMON.items():
        imp.add_argument("--" + name.replace("_", "-"), type=typ, default=None, help=_HELP[name])
    imp.add_argument("--jitter-reorders", action="store_true",
                     help="let jitter reorder datagrams (netem-like); default keeps order")
    imp.add_argument("--outage", action="append", default=[], metavar="START:END",
                     help="link down from START to END seconds after start (repeatable)")
    imp.add_argument("--uplink", action="append", default=[], type=_kv, metavar="KEY=VALUE",
                     help="override an impairment for ground→flight only (repeatable)")
    imp.add_argument("--downlink", action="append", default=[], type=_kv, metavar="KEY=VALUE",
                     help="override an impairment for flight→ground only (repeatable)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: drawn, printed)")
    p.add_argument("--control", metavar="HOST:PORT",
                   help="JSON-over-UDP control port (see docs/linksim.md)")
    p.add_argument("--stats-every", type=float, default=0.0, metavar="S",
                   help="print stats every S seconds (default: only at exit)")
    p.add_argument("--duration", type=float, default=None, metavar="S",
                   help="stop after S seconds (default: run until SIGINT/SIGTERM)")
    p.add_argument("--json", action="store_true", help="one JSON object per line on stdout")
    return p


def _build(args: argparse.Namespace) -> tuple[Impairments, Impairments]:
    common: dict[str, Any] = {k: getattr(args, k) for k in _COMMON if getattr(args, k) is not None}
    if args.jitter_reorders:
        common["preserve_order"] = False
    if args.outage:
        common["outages"] = list(args.outage)
    base = Impairments.from_dict(common)
    up = Impairments.from_dict(dict(args.uplink), base)
    down = Impairments.from_dict(dict(args.downlink), base)
    return up, down


def _emit(args: argparse.Namespace, event: str, payload: dict[str, Any], text: str) -> None:
    if args.json:
        print(json.dumps({"event": event, "wall": round(time.time(), 3), **payload}), flush=True)
    else:
        print(text, flush=True)


def _stats_text(stats: dict[str, dict[str, int]], uptime: float) -> str:
    lines = [f"linksim stats at {uptime:.1f} s:"]
    for name, counters in stats.items():
        parts = " ".join(f"{k}={counters[k]}" for k in COUNTERS)
        lines.append(f"  {name:8s} {parts}")
    return "\n".join(lines)


def _print_stats(args: argparse.Namespace, sim: LinkSim) -> None:
    stats, uptime = sim.stats(), sim.uptime_s
    _emit(args, "stats", {"uptime_s": round(uptime, 3), "stats": stats},
          _stats_text(stats, uptime))


def run(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        up, down = _build(args)
    except ValueError as exc:
        parser.error(str(exc))
    if args.stats_every < 0:
        parser.error("--stats-every must be >= 0")
    try:
        sim = LinkSim(args.ground, args.flight, flight_bind=args.flight_bind,
                      ground_peers=args.ground_peer, uplink=up, downlink=down, seed=args.seed,
                      control=args.control)
        sim.start()
    except (OSError, ValueError) as exc:
        print(f"linksim: cannot start: {exc}", file=sys.stderr)
        return 1

    stop = threading.Event()
    previous = {}
    in_main = threading.current_thread() is threading.main_thread()
    if in_main:
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    try:
        addrs = sim.addresses()
        text = (f"linksim: ground {addrs['ground']} -> flight {addrs['flight']} "
                f"via {addrs['flight_side']}; control {addrs['control'] or 'off'}; "
                f"seed {sim.seed}")
        _emit(args, "started", {"addresses": addrs, "seed": sim.seed,
                                "impairments": {"uplink": up.as_dict(),
                                                "downlink": down.as_dict()}}, text)
        end = None if args.duration is None else time.monotonic() + args.duration
        while not stop.is_set():
            waits = [w for w in (args.stats_every or None,
                                 None if end is None else end - time.monotonic()) if w is not None]
            if stop.wait(min(waits) if waits else None):
                break
            if end is not None and time.monotonic() >= end:
                break
            if args.stats_every:
                _print_stats(args, sim)
    finally:
        sim.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    _print_stats(args, sim)
    return 0


def _ctl_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m hil.linksim ctl",
                                description="Steer a running linksim through its control port.")
    p.add_argument("address", metavar="HOST:PORT", help="the proxy's --control address")
    p.add_argument("command", choices=("ping", "stats", "get", "set", "outage", "reset-stats"))
    p.add_argument("args", nargs="*",
                   help="set: KEY=VALUE...; outage: on|off")
    p.add_argument("--direction", default="both", help="uplink, downlink or both (default)")
    p.add_argument("--replace", action="store_true",
                   help="set: fields not given go back to their defaults")
    p.add_argument("--timeout", type=float, default=1.0)
    return p


def ctl_main(argv: Sequence[str] | None = None) -> int:
    parser = _ctl_parser()
    args = parser.parse_intermixed_args(argv)
    try:
        with ControlClient(args.address, timeout=args.timeout) as ctl:
            if args.command == "set":
                fields = dict(_kv(a) for a in args.args)
                reply = ctl.request("set", direction=args.direction, replace=args.replace,
                                    **fields)
            elif args.command == "outage":
                if args.args not in (["on"], ["off"]):
                    parser.error("outage takes exactly one argument: on or off")
                reply = ctl.request("outage", on=args.args == ["on"], direction=args.direction)
            else:
                if args.args:
                    parser.error(f"{args.command} takes no arguments")
                reply = ctl.request(args.command.replace("-", "_"))
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    except (ControlError, ValueError, OSError) as exc:
        print(f"linksim ctl: {exc}", file=sys.stderr)
        return 1
    reply.pop("id", None)
    print(json.dumps(reply, indent=2))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m hil.linksim [run flags]`` or ``python -m hil.linksim ctl ...``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["ctl"]:
        return ctl_main(argv[1:])
    return run(argv)


__all__ = ["ctl_main", "main", "run"]
