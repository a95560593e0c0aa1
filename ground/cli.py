"""``sunlit-ground``: the operator's command line over the space link and the archive.

Every subcommand takes ``--json`` (machine-readable output: one JSON document, or JSON lines
for the streaming ones) and the link options (``--address``, ``--key``, ``--no-auth``,
``--dictionary``, ``--archive``, ``--run-dir``). Exit status: 0 success, 1 the spacecraft
refused or failed the command (reason printed), 2 the command line or the dictionary said no
(nothing was sent), 3 nothing (or not enough) arrived before the timeout.

Examples::

    sunlit-ground ping --count 3
    sunlit-ground send health.noop --wait
    sunlit-ground send executive.set_mode mode=POWER_SAVE why="battery test" --wait --json
    sunlit-ground send executive.exit_safe mode=NOMINAL --arm --wait
    sunlit-ground tlm power.soc --count 5
    sunlit-ground events --severity WARNING --count 3 --timeout 60
    sunlit-ground watch --duration 30 --archive pass.sqlite
    sunlit-ground --archive pass.sqlite archive query values --app power --limit 20
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import queue
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

import ground

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["build_parser", "describe_packet", "load_dictionary", "main", "parse_value"]

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_TIMEOUT = 0, 1, 2, 3
DEFAULT_TIMEOUT = 10.0


class UsageError(Exception):
    """A command line that cannot be carried out; exit status 2, nothing sent."""


# ------------------------------------------------------------------------------ parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["console"]:  # the Textual console has its own options
        from ground.console import main as console_main

        return int(console_main(argv[1:], prog="sunlit-ground console"))
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except UsageError as exc:
        return _fail(args, str(exc), EXIT_INVALID, "invalid")
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    common = _common_options()
    parser = argparse.ArgumentParser(
        prog="sunlit-ground", description="The operator's command line.", parents=[common])
    parser.add_argument(
        "--version", action="version", version=f"sunlit-ground {ground.__version__}"
    )
    sub = parser.add_subparsers(required=True, metavar="COMMAND")
    _add_dict(sub)
    _add_send(sub, common)
    _add_ping(sub, common)
    _add_tlm(sub, common)
    _add_events(sub, common)
    _add_watch(sub, common)
    _add_archive(sub, common)
    sub.add_parser("console", add_help=False,
                   help="the operator console (Textual): see sunlit-ground console --help")
    return parser


def _common_options() -> argparse.ArgumentParser:
    """Options every subcommand accepts, before or after its name."""
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("link and archive")
    sup = argparse.SUPPRESS  # a value given before the subcommand survives the subparser
    group.add_argument("--address", default=sup, metavar="HOST:PORT",
                       help="the comms app's link address (default 127.0.0.1:52001)")
    group.add_argument("--run-dir", default=sup, metavar="DIR",
                       help="the flatsat's run directory: default key and dictionary "
                            "(default: $SUNLIT_RUN_DIR or the default run directory)")
    group.add_argument("--key", default=sup, metavar="FILE",
                       help="link key file (default: RUN_DIR/keys/link.key)")
    group.add_argument("--no-auth", action="store_true", default=sup,
                       help="send plain packets (flight side with link auth = 'none')")
    group.add_argument("--spi", type=int, default=sup, help="security parameter index (1)")
    group.add_argument("--dictionary", default=sup, metavar="FILE",
                       help="dictionary JSON (default: built from RUN_DIR/config.json, else "
                            "the built-in profile)")
    group.add_argument("--archive", default=sup, metavar="FILE",
                       help="SQLite archive: record everything sent and received")
    group.add_argument("--state-dir", default=sup, metavar="DIR",
                       help="where the ground keeps its ARSN counter "
                            "(default: ~/.local/state/sunlit-ground)")
    group.add_argument("--json", action="store_true", default=sup,
                       help="machine-readable output")
    return common


def _opt(args: argparse.Namespace, name: str, default: Any = None) -> Any:
    return getattr(args, name, default)


def _add_dict(sub: Any) -> None:
    cmd = sub.add_parser("dict", help="summarise a flight dictionary")
    cmd.add_argument("--file", help="dictionary JSON (default: generate from flight)")
    cmd.add_argument("--json", action="store_true", help="print the dictionary as JSON")
    cmd.set_defaults(func=cmd_dict)


def _add_send(sub: Any, common: argparse.ArgumentParser) -> None:
    cmd = sub.add_parser("send", parents=[common], help="send a dictionary command",
                         description="Send APP.COMMAND with NAME=VALUE arguments (values are "
                                     "TOML/JSON scalars, otherwise text).")
    cmd.add_argument("target", metavar="APP.COMMAND")
    cmd.add_argument("assignments", nargs="*", metavar="NAME=VALUE")
    cmd.add_argument("--wait", action="store_true",
                     help="wait for completion: exit 0 completed, 1 failed, 3 timeout")
    cmd.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT)
    cmd.add_argument("--arm", action="store_true",
                     help="for a hazardous command: send APP.arm first, then the command")
    cmd.set_defaults(func=cmd_send)


def _add_ping(sub: Any, common: argparse.ArgumentParser) -> None:
    cmd = sub.add_parser("ping", parents=[common], help="TC[17,1] round trips to comms")
    cmd.add_argument("--count", type=int, default=1)
    cmd.add_argument("--timeout", type=float, default=5.0, help="per ping")
    cmd.set_defaults(func=cmd_ping)


def _add_tlm(sub: Any, common: argparse.ArgumentParser) -> None:
    cmd = sub.add_parser("tlm", parents=[common], help="show live housekeeping telemetry")
    cmd.add_argument("selector", nargs="?", metavar="APP[.CHANNEL]")
    cmd.add_argument("--count", type=int, default=1, help="values (reports) to show")
    cmd.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT)
    cmd.set_defaults(func=cmd_tlm)


def _add_events(sub: Any, common: argparse.ArgumentParser) -> None:
    cmd = sub.add_parser("events", parents=[common], help="show live events")
    cmd.add_argument("--app")
    cmd.add_argument("--name", help="event name (needs --app)")
    cmd.add_argument("--severity", help="at least this severity (INFO, WARNING, ...)")
    cmd.add_argument("--count", type=int, default=1)
    cmd.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT)
    cmd.set_defaults(func=cmd_events)


def _add_watch(sub: Any, common: argparse.ArgumentParser) -> None:
    cmd = sub.add_parser("watch", parents=[common],
                         help="live telemetry and events until Ctrl-C or --duration")
    cmd.add_argument("--duration", type=float, help="seconds (default: until Ctrl-C)")
    cmd.add_argument("--app", help="only this app")
    cmd.set_defaults(func=cmd_watch)


def _add_archive(sub: Any, common: argparse.ArgumentParser) -> None:
    cmd = sub.add_parser("archive", parents=[common], help="query, export or replay an archive")
    verbs = cmd.add_subparsers(required=True, metavar="VERB")
    query = verbs.add_parser("query", parents=[common], help="print archived rows")
    query.add_argument("kind", choices=("values", "events", "commands", "packets", "counts"))
    _archive_filters(query)
    query.add_argument("--limit", type=int, default=100)
    query.set_defaults(func=cmd_archive_query)
    export = verbs.add_parser("export", parents=[common], help="write values or events as CSV")
    export.add_argument("file", help="CSV file, - for standard output")
    export.add_argument("--events", action="store_true", help="events instead of values")
    _archive_filters(export)
    export.set_defaults(func=cmd_archive_export)
    replay = verbs.add_parser("replay", parents=[common],
                              help="decode archived downlink again, paced as received")
    replay.add_argument("--speed", type=float, default=math.inf,
                        help="times real time (default: as fast as possible)")
    replay.add_argument("--max-gap", type=float, help="shorten silences to this many seconds")
    _archive_filters(replay)
    replay.set_defaults(func=cmd_archive_replay)


def _archive_filters(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--app")
    cmd.add_argument("--channel", help="a channel name or glob (values)")
    cmd.add_argument("--severity", help="at least this severity (events)")
    cmd.add_argument("--since", help="ISO 8601 time or UNIX seconds")
    cmd.add_argument("--until", help="ISO 8601 time or UNIX seconds")


# ------------------------------------------------------------------------------ helpers


def load_dictionary(path: str | None) -> dict[str, Any]:
    """The dictionary in ``path``, or the built-in profile's."""
    if path:
        with open(path, encoding="utf-8") as fh:
            return dict(json.load(fh))
    from flight.config.loader import load_config
    from flight.dictionary import build_dictionary

    return build_dictionary(load_config())


def _run_dir(args: argparse.Namespace) -> Path:
    from flight.bus.rundir import default_run_dir

    explicit = _opt(args, "run_dir")
    return Path(explicit) if explicit else default_run_dir()


def _dictionary(args: argparse.Namespace) -> dict[str, Any]:
    """``--dictionary``, else the run directory's resolved config, else the built-in one."""
    path = _opt(args, "dictionary")
    if path:
        return load_dictionary(path)
    config = _run_dir(args) / "config.json"
    if config.is_file():
        from flight.dictionary import build_dictionary

        return build_dictionary(json.loads(config.read_text(encoding="utf-8")))
    return load_dictionary(None)


def _connect(args: argparse.Namespace, *, announce: bool = True) -> Any:
    """A connected GroundStation from the common options; ``UsageError`` for bad ones."""
    from flight.link import KeyFileError
    from ground.link import parse_address
    from ground.station import GroundStation

    plain = bool(_opt(args, "no_auth", False))
    key = _opt(args, "key") or str(_run_dir(args) / "keys" / "link.key")
    try:
        address = parse_address(_opt(args, "address") or "127.0.0.1:52001")
        return GroundStation.connect(
            address, key_file=None if plain else key, dictionary=_dictionary(args),
            archive=_opt(args, "archive"), spi=_opt(args, "spi") or 1, plain=plain,
            state_dir=_opt(args, "state_dir"), announce=announce)
    except (KeyFileError, ValueError, OSError) as exc:
        raise UsageError(str(exc)) from exc


def parse_value(text: str) -> Any:
    """A command-line value: a TOML or JSON scalar (``3``, ``1.5``, ``true``, ``"a b"``) or table
    (``{n = 512}``, ``{"n": 512}``: a map argument such as ``jobs.submit``'s ``params``),
    otherwise the text itself (``NOMINAL``)."""
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        try:
            value = json.loads(text)
        except ValueError:
            return text
    return value if isinstance(value, (bool, int, float, str, dict)) else text


def parse_assignments(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UsageError(f"argument {item!r} is not NAME=VALUE")
        out[name] = parse_value(value)
    return out


def _split(target: str, what: str) -> tuple[str, str]:
    app, sep, name = target.partition(".")
    if not sep or not app or not name:
        raise UsageError(f"{target!r} is not {what}")
    return app, name


def _iso(t: float | None) -> str:
    if t is None or not math.isfinite(t):
        return "-"
    stamp = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _emit(args: argparse.Namespace, document: Any, text: str,
          out: TextIO | None = None) -> None:
    """Print ``document`` as JSON with ``--json``, else ``text``."""
    stream = out or sys.stdout
    if _opt(args, "json", False):
        print(json.dumps(document, default=_jsonable), file=stream, flush=True)
    else:
        print(text, file=stream, flush=True)


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return repr(value)


def _fail(args: argparse.Namespace, message: str, code: int, status: str) -> int:
    if _opt(args, "json", False):
        print(json.dumps({"ok": False, "status": status, "error": message}), flush=True)
    else:
        print(f"sunlit-ground: {message}", file=sys.stderr, flush=True)
    return code


# ------------------------------------------------------------------------------ dict


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


# ------------------------------------------------------------------------------ send


def cmd_send(args: argparse.Namespace) -> int:
    from ground.station import CommandTimeout, ValidationError

    app, name = _split(args.target, "APP.COMMAND")
    values = parse_assignments(args.assignments)
    with _connect(args, announce=False) as station:
        try:
            handle = station.send(app, name, arm=True if args.arm else None, args=values)
        except ValidationError as exc:
            return _fail(args, str(exc), EXIT_INVALID, "invalid")
        if not args.wait:
            _emit(args, _handle_doc(handle), f"sent {handle.label} "
                                             f"request {handle.request_id:#010x}")
            return EXIT_OK
        try:
            stage = handle.wait(args.timeout)
        except CommandTimeout as exc:
            _emit(args, {**_handle_doc(handle), "ok": False, "error": str(exc)}, str(exc))
            return EXIT_TIMEOUT
        _emit(args, _handle_doc(handle), _handle_text(handle))
        return EXIT_OK if stage.ok else EXIT_FAILED


def _stage_doc(stage: Any, sent_mono: float) -> dict[str, Any]:
    return {"stage": stage.name, "ok": stage.ok, "code": stage.code, "reason": stage.reason,
            "message": stage.message, "step": stage.step,
            "after_s": round(stage.t_mono - sent_mono, 6), "t_ground": stage.t_ground,
            "t_onboard": stage.t_onboard}


def _handle_doc(handle: Any) -> dict[str, Any]:
    final = handle.final
    return {"command": handle.label, "args": handle.args,
            "request_id": f"{handle.request_id:#010x}", "status": handle.status,
            "ok": None if final is None else final.ok,
            "reason": None if final is None else final.reason,
            "round_trip_s": handle.round_trip,
            "stages": [_stage_doc(s, handle.sent_mono) for s in handle.stages],
            "data": handle.data}


def _handle_text(handle: Any) -> str:
    lines = [f"{handle.label} request {handle.request_id:#010x}: {handle.status.upper()}"]
    for stage in handle.stages:
        mark = "ok" if stage.ok else f"FAILED {stage.reason} ({stage.code})"
        text = f"  {stage.name:<10} {mark:<28} +{(stage.t_mono - handle.sent_mono) * 1000:7.1f} ms"
        lines.append(text + (f"  {stage.message}" if stage.message else ""))
    if handle.data is not None:
        lines.append(f"  returned   {json.dumps(handle.data, default=repr)}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------ ping


def cmd_ping(args: argparse.Namespace) -> int:
    with _connect(args, announce=False) as station:
        rtts: list[float] = []
        where = _opt(args, "address") or "127.0.0.1:52001"
        for _ in range(max(args.count, 1)):
            try:
                rtt = station.ping(args.timeout)
            except TimeoutError:
                _emit(args, {"ok": False, "rtt_s": rtts, "status": "timeout"},
                      f"no answer from {where} within {args.timeout:g} s")
                return EXIT_TIMEOUT
            rtts.append(rtt)
            if not _opt(args, "json", False):
                print(f"pong from {where}: {rtt * 1000:.2f} ms", flush=True)
        if _opt(args, "json", False):
            _emit(args, {"ok": True, "rtt_s": rtts}, "")
        return EXIT_OK


# ------------------------------------------------------------------------------ live data


def _sample_doc(sample: Any) -> dict[str, Any]:
    return {"app": sample.app, "channel": sample.channel, "value": sample.value,
            "t_onboard": sample.t_onboard, "t_ground": sample.t_ground}


def _sample_text(sample: Any) -> str:
    if sample.channel is not None:
        return f"{_iso(sample.t_onboard)}  {sample.app}.{sample.channel} = {sample.value!r}"
    body = "  ".join(f"{k}={_compact(v)}" for k, v in sample.value.items())
    return f"{_iso(sample.t_onboard)}  {sample.app}: {body}"


def _compact(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{_compact(v)}" for k, v in value.items()) + "}"
    return str(value)


def _event_doc(event: Any) -> dict[str, Any]:
    return {"app": event.app, "name": event.name, "severity": event.severity_name,
            "text": event.text, "args": event.args, "t_onboard": event.t_onboard,
            "t_ground": event.t_ground}


def _event_text(event: Any) -> str:
    return f"{_iso(event.t_onboard)}  {event.severity_name:<8} {event.app}.{event.name}: " \
           f"{event.text}"


def _stream(args: argparse.Namespace, count: int, timeout: float,
            wait_one: Callable[[float, float], Any], doc: Callable[[Any], Any],
            text: Callable[[Any], str]) -> int:
    """Print ``count`` items as they arrive, each from ``wait_one(since, timeout_left)``."""
    deadline = time.monotonic() + timeout
    since = time.monotonic()
    for got in range(max(count, 1)):
        try:
            item = wait_one(since, max(deadline - time.monotonic(), 0.0))
        except TimeoutError as exc:
            _fail(args, f"{got} of {count} received: {exc}", EXIT_TIMEOUT, "timeout")
            return EXIT_TIMEOUT
        since = math.nextafter(item.t_mono, math.inf)
        _emit(args, doc(item), text(item))
    return EXIT_OK


def cmd_tlm(args: argparse.Namespace) -> int:
    from ground.station import ValidationError

    app = channel = None
    if args.selector:
        app, _, channel_text = args.selector.partition(".")
        channel = channel_text or None
    with _connect(args) as station:
        try:
            if app:
                station.latest(app, channel)  # refuses unknown names before any waiting
        except ValidationError as exc:
            return _fail(args, str(exc), EXIT_INVALID, "invalid")
        return _stream(args, args.count, args.timeout,
                       lambda since, left: station.await_telemetry(
                           app, channel, since=since, timeout=left),
                       _sample_doc, _sample_text)


def cmd_events(args: argparse.Namespace) -> int:
    from ground.station import ValidationError

    with _connect(args) as station:
        try:
            station.event_history(args.app, args.name, args.severity)  # refuses bad names
        except ValidationError as exc:
            return _fail(args, str(exc), EXIT_INVALID, "invalid")
        return _stream(args, args.count, args.timeout,
                       lambda since, left: station.await_event(
                           args.app, args.name, args.severity, since=since, timeout=left),
                       _event_doc, _event_text)


def cmd_watch(args: argparse.Namespace) -> int:
    from ground.station import Event, TelemetryReport

    items: queue.Queue[Any] = queue.Queue()
    with _connect(args) as station:
        stop = station.listen(items.put)
        try:
            for item in _drain(items, args.duration):
                if args.app and getattr(item, "app", args.app) != args.app:
                    continue
                if isinstance(item, TelemetryReport):
                    sample = _report_sample(item)
                    _emit(args, {"kind": "tlm", **_sample_doc(sample)}, _sample_text(sample))
                elif isinstance(item, Event):
                    _emit(args, {"kind": "event", **_event_doc(item)}, _event_text(item))
        except KeyboardInterrupt:
            pass
        finally:
            stop()
    return EXIT_OK


def _report_sample(report: Any) -> Any:
    from ground.station import Sample

    return Sample(report.app, None, report.values, report.t_onboard, report.t_ground,
                  report.t_mono)


def _drain(items: queue.Queue[Any], duration: float | None) -> Iterator[Any]:
    """Items from the queue until ``duration`` seconds passed (forever with None)."""
    deadline = None if duration is None else time.monotonic() + duration
    while True:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            return
        try:
            yield items.get(timeout=left)
        except queue.Empty:
            return


# ------------------------------------------------------------------------------ archive


def _open_archive(args: argparse.Namespace) -> Any:
    path = _opt(args, "archive")
    if not path:
        raise UsageError("archive commands need --archive FILE")
    from ground.archive import Archive, ArchiveError

    try:
        return Archive(path, readonly=True)
    except ArchiveError as exc:
        raise UsageError(str(exc)) from exc


def _time_arg(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        stamp = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"time {text!r} is neither ISO 8601 nor UNIX seconds") from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=datetime.timezone.utc)
    return stamp.timestamp()


def cmd_archive_query(args: argparse.Namespace) -> int:
    archive = _open_archive(args)
    since, until = _time_arg(args.since), _time_arg(args.until)
    try:
        rows = _query_rows(archive, args, since, until)
    finally:
        archive.close()
    for doc, text in rows:
        _emit(args, doc, text)
    return EXIT_OK


def _query_rows(archive: Any, args: argparse.Namespace, since: float | None,
                until: float | None) -> list[tuple[Any, str]]:
    kind, limit = args.kind, args.limit
    if kind == "counts":
        counts = archive.counts().as_dict()
        return [(counts, json.dumps(counts, indent=2))]
    if kind == "values":
        rows = archive.values(args.app, args.channel, since, until, limit)
        return [({"t_onboard": r.t_onboard, "t_ground": r.t_ground, "app": r.app,
                  "channel": r.channel, "value": r.value},
                 f"{_iso(r.t_onboard)}  {r.app}.{r.channel} = {r.value!r}") for r in rows]
    if kind == "events":
        events = archive.events(args.app, args.severity, since, until, limit=limit)
        return [({"t_onboard": e.t_onboard, "app": e.app, "name": e.name,
                  "severity": e.severity_name, "text": e.text, "args": e.args},
                 f"{_iso(e.t_onboard)}  {e.severity_name:<8} {e.app}.{e.name}: {e.text}")
                for e in events]
    if kind == "commands":
        return [({"request_id": f"{c.request_id:#010x}", "t_ground": c.t_ground,
                  "command": f"{c.app}.{c.name}", "args": c.args, "status": c.status,
                  "stages": [{"stage": v.stage, "ok": v.ok, "code": v.code, "text": v.text}
                             for v in c.stages]},
                 f"{_iso(c.t_ground)}  {c.app}.{c.name} {c.args} "
                 f"{c.request_id:#010x}: {c.status}")
                for c in archive.commands(args.app, since, until, limit=limit)]
    return [({"id": p.id, "direction": p.direction, "t_ground": p.t_ground, "apid": p.apid,
              "service": p.service, "subtype": p.subtype, "seq": p.seq, "status": p.status,
              "raw": p.raw.hex()},
             f"{_iso(p.t_ground)}  {p.direction:<4} apid={p.apid} [{p.service},{p.subtype}] "
             f"seq={p.seq} {p.status} {len(p.raw)} bytes")
            for p in archive.packets(None, since, until, limit=limit)]


def cmd_archive_export(args: argparse.Namespace) -> int:
    archive = _open_archive(args)
    since, until = _time_arg(args.since), _time_arg(args.until)
    out: Any = sys.stdout if args.file == "-" else args.file
    try:
        if args.events:
            n = archive.export_events_csv(out, app=args.app, min_severity=args.severity,
                                          since=since, until=until)
        else:
            n = archive.export_csv(out, app=args.app, channels=args.channel, since=since,
                                   until=until)
    finally:
        archive.close()
    if args.file != "-":
        _emit(args, {"ok": True, "rows": n, "file": args.file},
              f"{n} rows written to {args.file}", out=sys.stderr)
    return EXIT_OK


def cmd_archive_replay(args: argparse.Namespace) -> int:
    from flight.link import LinkError
    from ground.archive import pace
    from ground.station import Dictionary

    archive = _open_archive(args)
    dictionary = Dictionary.load(_dictionary(args))
    since, until = _time_arg(args.since), _time_arg(args.until)
    try:
        for row in pace(archive.replay(since, until), args.speed, max_gap=args.max_gap):
            try:
                packet = row.decode()
            except LinkError as exc:
                _emit(args, {"t_ground": row.t_ground, "error": exc.reason.value},
                      f"{_iso(row.t_ground)}  undecodable: {exc.reason.value}")
                continue
            app = dictionary.app_at(packet.apid)
            if args.app and app != args.app:
                continue
            doc, text = describe_packet(packet, app, row.t_ground)
            _emit(args, doc, text)
    finally:
        archive.close()
    return EXIT_OK


def describe_packet(packet: Any, app: str, t_ground: float) -> tuple[dict[str, Any], str]:
    """A telemetry packet as an operator reads it: decoded source data where the ICD says."""
    import msgpack

    from flight.link import VerificationReport

    data: Any = packet.source_data.hex()
    try:
        if packet.service == 1:
            report = VerificationReport.decode(packet.subtype, packet.source_data)
            data = {"request_id": f"{int.from_bytes(report.request_id, 'big'):#010x}",
                    "code": report.code, "text": report.data.decode("utf-8", "replace")}
        elif packet.service == 3 and packet.subtype == 25:
            data = msgpack.unpackb(packet.source_data[2:], strict_map_key=False)
        elif packet.service in (5, 11, 20) and packet.source_data:
            data = msgpack.unpackb(packet.source_data, strict_map_key=False)
    except (ValueError, msgpack.UnpackException):
        pass
    doc = {"t_ground": t_ground, "t_onboard": packet.time.to_unix(), "app": app,
           "apid": packet.apid, "service": packet.service, "subtype": packet.subtype,
           "seq": packet.seq_count, "data": data}
    text = f"{_iso(packet.time.to_unix())}  {app} TM[{packet.service},{packet.subtype}] " \
           f"seq={packet.seq_count} {json.dumps(data, default=_jsonable)[:200]}"
    return doc, text


if __name__ == "__main__":
    sys.exit(main())

