"""Command round trip: Sunlit's CommandClient/CommandServer against raw pyzmq DEALER/ROUTER.

The client always runs in this (the benchmark's) process; the server in another one:

* ``raw-echo`` (the baseline): a pyzmq DEALER sends a msgpack request shaped like Sunlit's
  (``[src, seq, t, {"id", "cmd", "args", "exp"}]``) to a ROUTER in a spawned process, which
  decodes it and answers with one msgpack reply (``[src, seq, t, {"id", "status", ...}]``);
* ``raw-2-replies`` (for information): the same, but the server answers ACCEPTED and then
  COMPLETED, the two replies Sunlit's protocol sends, so the cost of the protocol and the cost
  of the framework's Python can be told apart;
* ``sunlit``: ``CommandClient.call("noop")`` → a minimal ``CommandServer`` (accept everything,
  executor returns ``Outcome.completed()``) in a spawned process whose loop is what an app's
  loop does for commands: ``poll`` then ``handle_ready()``;
* ``sunlit-stack``: the full framework path against a real stack: ``LocalStack`` (executive +
  health app, ``sunlit-flight run``) in a short temp run dir, ``command("health", "noop")``:
  argument checking, counters, the NOOP event published and logged, the app's whole loop.

All servers (and the stack) are up at the same time; each variant gets ``--warmup`` calls,
then ``--calls`` timed calls, one at a time, interleaved with the other variants in 4 rounds
so that drift on a shared machine hits them all alike. p50, p99 and mean round trip in µs,
and the ratio to ``raw-echo``.

Run: ``.venv/bin/python -m bench.command_rtt [--calls N] [--warmup N] [--no-stack]``.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import BenchResult, Check, fmt_ratio, md_table, percentile, short_tmp_dir

NAME = "command_rtt"
DEFAULT_CALLS = 2000
DEFAULT_WARMUP = 200
POLL_MS = 100

VARIANTS = {
    "raw-echo": "raw DEALER→ROUTER, msgpack request, 1 reply (baseline)",
    "raw-2-replies": "raw DEALER→ROUTER, msgpack, ACCEPTED + COMPLETED",
    "sunlit": "CommandClient.call → minimal CommandServer (other process)",
    "sunlit-stack": "LocalStack: command('health', 'noop') (executive + health)",
}


# ---------------------------------------------------------------------- servers
def _server_main(kind: str, endpoint: str, ready: Any, stop: Any) -> None:
    import zmq

    ctx = zmq.Context()
    if kind == "sunlit":
        from flight.app.clock import MissionClock
        from flight.bus import CommandServer, Outcome

        server = CommandServer(ctx, endpoint, "bench-srv", MissionClock(),
                               validate=lambda request: None,
                               execute=lambda request: Outcome.completed())
        sock = server.socket
        ready.set()
        while not stop.is_set():
            if sock.poll(POLL_MS):
                server.handle_ready()
        server.close()
    else:
        import msgpack

        sock = ctx.socket(zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.bind(endpoint)
        ready.set()
        seq = 0
        two = kind == "raw-2-replies"
        packb, unpackb = msgpack.packb, msgpack.unpackb
        while not stop.is_set():
            if not sock.poll(POLL_MS):
                continue
            ident, raw = sock.recv_multipart()
            _src, _seq, _t, body = unpackb(raw, raw=False)
            if two:
                seq += 1
                sock.send_multipart((ident, packb(("bench-srv", seq, time.time(), {
                    "id": body["id"], "status": "ACCEPTED", "reason": 0, "msg": "",
                    "data": None}), use_bin_type=True)))
            seq += 1
            sock.send_multipart((ident, packb(("bench-srv", seq, time.time(), {
                "id": body["id"], "status": "COMPLETED", "reason": 0, "msg": "",
                "data": None}), use_bin_type=True)))
        sock.close()
    ctx.term()


# ---------------------------------------------------------------------- clients
def _raw_caller(ctx: Any, endpoint: str) -> tuple[Callable[[], None], Any]:
    import msgpack
    import zmq

    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, 5000)
    sock.connect(endpoint)
    packb, unpackb = msgpack.packb, msgpack.unpackb
    state = {"n": 0}
    prefix = f"bench-{os.getpid()}"

    def call() -> None:
        state["n"] += 1
        n = state["n"]
        cmd_id = f"{prefix}-{n}"
        sock.send(packb(("bench-cli", n, time.time(), {
            "id": cmd_id, "cmd": "noop", "args": {}, "exp": time.time() + 5.0}),
            use_bin_type=True))
        while True:
            _src, _seq, _t, body = unpackb(sock.recv(), raw=False)
            if body["id"] == cmd_id and body["status"] != "ACCEPTED":
                break
        if body["status"] != "COMPLETED":
            raise RuntimeError(f"raw call failed: {body}")

    return call, sock


@contextmanager
def pair_caller(kind: str, ctx: Any, tmp: Path) -> Iterator[Callable[[], None]]:
    """A server of ``kind`` in a spawned process and a ``call()`` to it from this one."""
    spawn = mp.get_context("spawn")
    endpoint = f"ipc://{tmp}/cmd-{kind}"
    ready, stop = spawn.Event(), spawn.Event()
    proc = spawn.Process(target=_server_main, name=f"{kind}-server",
                         args=(kind, endpoint, ready, stop))
    proc.start()
    sock = None
    try:
        if not ready.wait(30):
            raise RuntimeError(f"{kind} server did not start")
        if kind == "sunlit":
            from flight.app.clock import MissionClock
            from flight.bus import CommandClient

            client = CommandClient(ctx, endpoint, "bench-cli", MissionClock())
            sock = client.socket

            def call() -> None:
                reply = client.call("noop")
                if not reply.ok:
                    raise RuntimeError(f"sunlit call failed: {reply}")

            yield call
        else:
            call, sock = _raw_caller(ctx, endpoint)
            yield call
    finally:
        if sock is not None:
            sock.close(linger=0)
        stop.set()
        proc.join(10)
        if proc.is_alive():
            proc.terminate()
            proc.join(5)


@contextmanager
def stack_caller(tmp: Path) -> Iterator[Callable[[], None]]:
    """A real LocalStack and a ``call()`` that sends ``noop`` to its health app."""
    from hil.stack import LocalStack

    stack = LocalStack(tmp / "rd", log_to=tmp / "stack.out")
    stack.start()
    try:
        stack.wait_running("health")
        time.sleep(0.5)  # let boot-time work (first housekeeping, events) pass

        def call() -> None:
            reply = stack.command("health", "noop")
            if not reply.ok:
                raise RuntimeError(f"stack noop failed: {reply}")

        yield call
    finally:
        stack.stop()


def measure(kinds: list[str], calls: int, warmup: int, rounds: int = 4
            ) -> dict[str, list[float]]:
    """Round trips (µs) per variant; all servers up at once, calls interleaved in rounds."""
    import zmq

    samples: dict[str, list[float]] = {k: [] for k in kinds}
    clock = time.perf_counter_ns
    with short_tmp_dir("sbr") as tmp, ExitStack() as stack:
        ctx = zmq.Context()
        stack.callback(ctx.term)
        callers = {}
        for kind in kinds:
            callers[kind] = stack.enter_context(
                stack_caller(tmp) if kind == "sunlit-stack" else pair_caller(kind, ctx, tmp))
        for kind in kinds:
            for _ in range(warmup):
                callers[kind]()
        per_round = [calls // rounds + (1 if i < calls % rounds else 0) for i in range(rounds)]
        for n in per_round:
            for kind in kinds:  # interleaved, so drift on a shared machine hits every variant
                call, out = callers[kind], samples[kind]
                for _ in range(n):
                    t0 = clock()
                    call()
                    out.append((clock() - t0) / 1000.0)
    return samples


def _stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50": percentile(ordered, 50), "p99": percentile(ordered, 99),
            "mean": statistics.fmean(ordered), "min": ordered[0], "n": len(ordered)}


def run(calls: int = DEFAULT_CALLS, warmup: int = DEFAULT_WARMUP, with_stack: bool = True,
        verbose: bool = True) -> BenchResult:
    started = time.monotonic()
    kinds = ["raw-echo", "raw-2-replies", "sunlit"] + (["sunlit-stack"] if with_stack else [])
    stats: dict[str, dict[str, float]] = {}
    for kind, samples in measure(kinds, calls, warmup).items():
        stats[kind] = _stats(samples)
        if verbose:
            s = stats[kind]
            print(f"  [{NAME}] {kind:<13} p50 {s['p50']:8.1f} µs  p99 {s['p99']:8.1f} µs  "
                  f"mean {s['mean']:8.1f} µs", file=sys.stderr)
    base = stats["raw-echo"]
    rows = []
    for kind in kinds:
        s = stats[kind]
        rows.append([kind, VARIANTS[kind], f"{s['p50']:.1f}", f"{s['p99']:.1f}",
                     f"{s['mean']:.1f}", f"{s['min']:.1f}", fmt_ratio(s["p50"] / base["p50"]),
                     fmt_ratio(s["p99"] / base["p99"]), fmt_ratio(s["mean"] / base["mean"])])
    table = md_table(["variant", "path", "p50 µs", "p99 µs", "mean µs", "min µs",
                      "p50 / raw", "p99 / raw", "mean / raw"], rows)
    checks = []
    for kind in kinds[2:]:
        s = stats[kind]
        checks.append(Check(NAME, f"command RTT p50, {kind} vs raw-echo",
                            f"{s['p50']:.0f} µs", f"{base['p50']:.0f} µs",
                            fmt_ratio(s["p50"] / base["p50"]), "- (info)", True))
    notes = [
        f"{calls:,} sequential calls after {warmup:,} warm-up per variant, interleaved in 4 "
        f"rounds; ipc:// sockets; client in the benchmark process, server in another (all "
        f"servers and the stack up throughout); {os.cpu_count()} CPUs.",
        "Ratios are Sunlit latency ÷ raw latency (lower is better; 1.00 = no overhead). "
        "raw-2-replies shows how much of the gap is the two-reply protocol itself.",
    ]
    markdown = "\n".join([f"### Command round trip ({NAME})", "", table, "",
                          *[f"- {n}" for n in notes]])
    return BenchResult(NAME, "Command round trip", markdown, checks, notes,
                       time.monotonic() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.command_rtt", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=DEFAULT_CALLS)
    parser.add_argument("--warmup", type=int, default=DEFAULT_WARMUP)
    parser.add_argument("--no-stack", action="store_true",
                        help="skip the real-stack variant (no sunlit-flight run)")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)
    result = run(args.calls, args.warmup, not args.no_stack)
    print(result.markdown)
    return 1 if args.strict and not result.passed else 0


if __name__ == "__main__":
    sys.exit(main())
