"""``sunlit-hil monitor``: serve a flatsat's telemetry, health and campaign progress to Prometheus.

::

    sunlit-hil monitor --run-dir /run/sunlit                       # a flatsat on this machine
    sunlit-hil monitor --link 10.0.0.7:52001 --key link.key \\
        --dictionary dictionary.json --local 0.0.0.0:52002         # a flatsat over the link
    sunlit-hil monitor --campaign runs/seu-sweep                   # campaign progress only

It runs until SIGTERM or SIGINT (exit status 0), printing one line with the URL it serves once
it is ready. Bad options, an address that cannot be bound, an unreadable key or dictionary end
it at once with a message and exit status 2. See docs/monitoring.md.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from prometheus_client.registry import Collector

from hil.monitoring.campaign import CampaignCollector
from hil.monitoring.exporter import FlatsatCollector, MetricsServer, build_registry
from hil.monitoring.sources import BusSource, LinkOptions, LinkSource, Source, SourceError
from hil.monitoring.state import FlatsatState

DEFAULT_LISTEN = "127.0.0.1:9108"
EXIT_USAGE = 2


class UsageError(ValueError):
    """An option is wrong; the message says which and why."""


def configure(parser: argparse.ArgumentParser) -> None:
    where = parser.add_argument_group("which flatsat (default: the local one in the default "
                                      "run directory, unless only --campaign is given)")
    one = where.add_mutually_exclusive_group()
    one.add_argument("--run-dir", type=Path, metavar="DIR",
                     help="a flatsat on this machine: subscribe to its bus")
    one.add_argument("--link", metavar="HOST:PORT",
                     help="a flatsat over the space link: its comms address")
    link = parser.add_argument_group("space link (with --link)")
    link.add_argument("--key", type=Path, metavar="FILE",
                      help="link key file (default: the default run directory's keys/link.key)")
    link.add_argument("--dictionary", type=Path, metavar="FILE",
                      help="flight dictionary JSON (default: the built-in profile's)")
    link.add_argument("--no-auth", action="store_true",
                      help="plain packets (a flight side with link auth = 'none')")
    link.add_argument("--spi", type=int, default=1, help="security parameter index (1)")
    link.add_argument("--state-dir", type=Path, metavar="DIR",
                      help="the ground's ARSN counter (default: sunlit-ground's, shared safely)")
    link.add_argument("--local", metavar="HOST:PORT",
                      help="bind here: the flatsat's configured ground address, which gets all "
                           "downlink whoever commands it (default: any free port)")
    link.add_argument("--announce-every", type=float, default=0.0, metavar="S",
                      help="re-send the ping that draws the downlink every S seconds (default "
                           "0: only at start; it takes the downlink from other grounds)")
    parser.add_argument("--listen", default=DEFAULT_LISTEN, metavar="HOST:PORT",
                        help=f"serve /metrics here (default {DEFAULT_LISTEN}; port 0: any free "
                             f"port, printed)")
    parser.add_argument("--campaign", type=Path, metavar="DIR",
                        help="also export the campaign progress in DIR/progress.json")


def parse_host_port(text: str, what: str, *, allow_zero: bool) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:9108`` for IPv6; an empty host is 127.0.0.1)."""
    host, sep, port = text.strip().rpartition(":")
    low = 0 if allow_zero else 1
    if not sep or not port.isdigit() or not low <= int(port) < 65536:
        raise UsageError(f"{what} {text!r} is not HOST:PORT (port {low}..65535)")
    return host.strip("[]") or "127.0.0.1", int(port)


#: Options that only mean something with ``--link``: (attribute, flag, default).
LINK_ONLY = (("key", "--key", None), ("dictionary", "--dictionary", None),
             ("no_auth", "--no-auth", False), ("spi", "--spi", 1),
             ("state_dir", "--state-dir", None), ("local", "--local", None),
             ("announce_every", "--announce-every", 0.0))


def make_source(args: argparse.Namespace, state: FlatsatState) -> Source | None:
    """The source the options name; None when only campaign progress is wanted."""
    if args.link:
        return _link_source(args, state)
    given = [flag for name, flag, default in LINK_ONLY if getattr(args, name) != default]
    if given:
        raise UsageError(f"{', '.join(given)} only apply with --link")
    if args.run_dir is None and args.campaign is not None:
        return None
    from flight.bus import default_run_dir

    return BusSource(args.run_dir or default_run_dir(), state)


def _link_source(args: argparse.Namespace, state: FlatsatState) -> LinkSource:
    if args.announce_every < 0:
        raise UsageError("--announce-every must be 0 or more seconds")
    if not 0 < args.spi < 65536:
        raise UsageError("--spi must be 1..65535")
    local = parse_host_port(args.local, "--local", allow_zero=True) if args.local else None
    options = LinkOptions(parse_host_port(args.link, "--link", allow_zero=False),
                          key_file=args.key, dictionary=args.dictionary, plain=args.no_auth,
                          spi=args.spi, state_dir=args.state_dir, local=local,
                          announce_every=args.announce_every)
    return LinkSource(options, state)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s sunlit-hil monitor %(levelname)s %(message)s")
    stop = threading.Event()
    source: Source | None = None
    server: MetricsServer | None = None
    try:
        host, port = parse_host_port(args.listen, "--listen", allow_zero=True)
        state = FlatsatState()
        source = make_source(args, state)
        collectors: list[Collector] = []
        if source is not None:
            collectors.append(FlatsatCollector(state, source))
        if args.campaign is not None:
            collectors.append(CampaignCollector(args.campaign))
        server = MetricsServer(build_registry(*collectors), host, port)
        if source is not None:
            source.start()
        server.start()
    except (UsageError, SourceError, OSError) as exc:
        _shutdown(server, source)
        print(f"sunlit-hil monitor: {_describe(exc, args)}", file=sys.stderr)
        return EXIT_USAGE
    _on_signals(stop)
    what = f"{source.kind} {source.target}" if source is not None else "no flatsat"
    if args.campaign is not None:
        what += f", campaign {args.campaign}"
    print(f"sunlit-hil monitor: serving {server.url} ({what})", flush=True)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        _shutdown(server, source)
    return 0


def _describe(exc: Exception, args: argparse.Namespace) -> str:
    if isinstance(exc, OSError) and not isinstance(exc, SourceError):
        return f"cannot listen on {args.listen}: {exc.strerror or exc}"
    return str(exc)


def _on_signals(stop: threading.Event) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _shutdown(server: MetricsServer | None, source: Source | None) -> None:
    if server is not None:
        server.stop()
    if source is not None:
        source.stop()
