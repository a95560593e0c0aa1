"""Telemetry throughput between two processes: Sunlit's bus against raw pyzmq + msgpack.

Topologies, each a sender process and a receiver process (``multiprocessing``, spawn):

* ``raw-direct``  (the baseline the target is measured against): a pyzmq PUB connects straight
  to a SUB that binds; topic frame + ``msgpack.packb(payload)``, ``msgpack.unpackb`` at the
  receiver, blocking ``recv_multipart`` loop;
* ``raw-proxy`` (for information): the same sockets, but through a plain ``zmq.proxy``
  (XSUB/XPUB) running in a *third* process, i.e. the topology Sunlit uses;
* ``sunlit``: :class:`flight.bus.Publisher` → :class:`flight.bus.BusProxy` hosted in a *third*
  process (as the executive hosts it) → :class:`flight.bus.Subscriber`, read the way an app's
  main loop reads it: ``poll`` then ``drain()``;
* ``sunlit-recv`` (for information, ``--recv``): the same, but one ``Subscriber.recv()`` per
  message.

Every socket (and the proxy) gets a high-water mark of 100 000 so a sender that outruns its
receiver queues instead of dropping; drops, if any, are counted at the receiver. All endpoints
are ``ipc://`` sockets in a short-named temp directory, as on a flatsat.

The sender first publishes probe messages until the receiver has seen one (so the
subscription has propagated, through the proxy if there is one), then sends ``warmup + count``
messages as fast as it can. The receiver starts its clock when it has received ``warmup`` of
them and stops it at the last one; msgs/s is what it consumed in between.

Run: ``.venv/bin/python -m bench.bus_throughput [--count N] [--repeats R] [--recv]
[--profile]``.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import queue
import sys
import threading
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (
    BenchResult,
    Check,
    fmt_int,
    fmt_ratio,
    md_table,
    median,
    short_tmp_dir,
)

NAME = "bus_throughput"
TARGET = 0.85
HWM = 100_000
DEFAULT_COUNT = 200_000
DEFAULT_WARMUP = 20_000
DEFAULT_REPEATS = 3
IDLE_TIMEOUT_MS = 2_000  # the receiver gives up after this long without a message

SUBSCRIPTION = "tlm."
TOPIC = "tlm.bench"
PROBE_TOPIC = "tlm.probe"

#: A typical housekeeping packet: ~100 bytes once msgpacked.
PAYLOAD: dict[str, Any] = {
    "mode": "NOMINAL",
    "uptime_s": 1234.567,
    "cpu_percent": 12.5,
    "load_1m": 0.42,
    "mem_percent": 37.1,
    "disk_percent": 61.0,
    "cmd_count": 17,
    "bus_rx_gaps": 0,
}

VARIANTS = {
    "raw-direct": "raw pyzmq PUB→SUB + msgpack, direct (baseline)",
    "raw-proxy": "raw pyzmq PUB→zmq.proxy→SUB + msgpack (3rd process)",
    "sunlit": "Publisher→BusProxy (3rd process)→Subscriber.drain()",
    "sunlit-recv": "Publisher→BusProxy (3rd process)→Subscriber.recv()",
}


# ---------------------------------------------------------------------- child processes
def _proxy_main(kind: str, front: str, back: str, ready: Any, stop: Any) -> None:
    import zmq

    ctx = zmq.Context()
    if kind.startswith("sunlit"):
        from flight.bus import BusProxy

        proxy = BusProxy(ctx, front, back, hwm=HWM)
        proxy.start()
        ready.set()
        stop.wait(120)
        proxy.stop()
        ctx.term()
        return
    xsub, xpub = ctx.socket(zmq.XSUB), ctx.socket(zmq.XPUB)
    for sock in (xsub, xpub):
        sock.setsockopt(zmq.SNDHWM, HWM)
        sock.setsockopt(zmq.RCVHWM, HWM)
        sock.setsockopt(zmq.LINGER, 0)
    xsub.bind(front)
    xpub.bind(back)
    threading.Thread(target=zmq.proxy, args=(xsub, xpub), daemon=True).start()
    ready.set()
    stop.wait(120)
    os._exit(0)  # zmq.proxy cannot be interrupted; nothing to flush here


def _sender_main(kind: str, endpoint: str, total: int, joined: Any, stop: Any,
                 results: Any) -> None:
    import msgpack
    import zmq

    ctx = zmq.Context()
    if kind.startswith("raw"):
        sock = ctx.socket(zmq.PUB)
        sock.setsockopt(zmq.SNDHWM, HWM)
        sock.setsockopt(zmq.LINGER, 1000)
        sock.connect(endpoint)
        topic_b, probe_b = TOPIC.encode(), PROBE_TOPIC.encode()
        packb = msgpack.packb

        def probe() -> None:
            sock.send_multipart((probe_b, packb({}, use_bin_type=True)))

        t0 = 0.0
        while not joined.is_set():
            probe()
            time.sleep(0.005)
        t0 = time.perf_counter()
        send = sock.send_multipart
        payload = PAYLOAD
        for _ in range(total):
            send((topic_b, packb(payload, use_bin_type=True)))
        t1 = time.perf_counter()
        dropped = None
    else:
        from flight.app.clock import MissionClock
        from flight.bus import Publisher

        pub = Publisher(ctx, endpoint, "bench-tx", MissionClock(), hwm=HWM)
        sock = pub.socket
        while not joined.is_set():
            pub.publish(PROBE_TOPIC, {})
            time.sleep(0.005)
        publish = pub.publish
        payload = PAYLOAD
        t0 = time.perf_counter()
        for _ in range(total):
            publish(TOPIC, payload)
        t1 = time.perf_counter()
        dropped = pub.counters.tx_dropped
    results.put({"role": "sender", "send_rate": total / (t1 - t0), "tx_dropped": dropped})
    stop.wait(120)  # keep the socket open until the receiver is done
    sock.close(linger=0)
    ctx.term()


def _receiver_main(kind: str, endpoint: str, bind: bool, warmup: int, total: int,
                   ready: Any, joined: Any, results: Any, profile_to: str | None) -> None:
    import zmq

    ctx = zmq.Context()
    if profile_to:
        import cProfile

        profiler = cProfile.Profile()
    else:
        profiler = None
    if kind.startswith("raw"):
        import msgpack

        sock = ctx.socket(zmq.SUB)
        sock.setsockopt(zmq.RCVHWM, HWM)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVTIMEO, IDLE_TIMEOUT_MS)
        sock.setsockopt(zmq.SUBSCRIBE, SUBSCRIPTION.encode())
        if bind:
            sock.bind(endpoint)
        else:
            sock.connect(endpoint)
        ready.set()
        _raw_join(sock, joined)
        if profiler:
            profiler.enable()
        out = _raw_loop(sock, msgpack.unpackb, warmup, total)
        extra: dict[str, Any] = {}
    else:
        from flight.bus import Subscriber

        sub = Subscriber(ctx, endpoint, [SUBSCRIPTION], hwm=HWM)
        sock = sub.socket
        ready.set()
        _sunlit_join(sub, joined)
        if profiler:
            profiler.enable()
        loop = _sunlit_recv_loop if kind == "sunlit-recv" else _sunlit_drain_loop
        out = loop(sub, warmup, total)
        c = sub.counters
        extra = {"rx_gaps": c.rx_gaps, "rx_malformed": c.rx_malformed}
    if profiler:
        profiler.disable()
        profiler.dump_stats(profile_to)
    results.put({"role": "receiver", **out, **extra})
    sock.close(linger=0)
    ctx.term()


def _raw_join(sock: Any, joined: Any) -> None:
    probe_b = PROBE_TOPIC.encode()
    while True:
        topic, _body = sock.recv_multipart()  # RCVTIMEO: raises zmq.Again if nothing comes
        if topic == probe_b:
            joined.set()
            return


def _sunlit_join(sub: Any, joined: Any) -> None:
    while True:
        envelope = sub.recv(timeout_ms=IDLE_TIMEOUT_MS * 5)
        if envelope is None:
            raise TimeoutError("no probe arrived")
        if envelope.topic == PROBE_TOPIC:
            joined.set()
            return


def _raw_loop(sock: Any, unpackb: Any, warmup: int, total: int) -> dict[str, Any]:
    import zmq

    topic_b = TOPIC.encode()
    recv = sock.recv_multipart
    count = 0
    t0 = t1 = time.perf_counter()
    c0 = 0
    while count < total:
        try:
            topic, body = recv()
        except zmq.Again:
            break
        if topic != topic_b:
            continue
        unpackb(body, raw=False)
        count += 1
        if count == warmup:
            t0, c0 = time.perf_counter(), count
    t1 = time.perf_counter()
    return {"received": count, "measured": count - c0, "seconds": t1 - t0}


def _sunlit_drain_loop(sub: Any, warmup: int, total: int) -> dict[str, Any]:
    poll, drain = sub.socket.poll, sub.drain
    count = 0
    t0: float | None = None
    c0 = 0
    while count < total:
        if not poll(IDLE_TIMEOUT_MS):
            break
        for envelope in drain():
            if envelope.topic == TOPIC:
                count += 1
        if t0 is None and count >= warmup:
            t0, c0 = time.perf_counter(), count
    t1 = time.perf_counter()
    if t0 is None:
        t0 = t1
    return {"received": count, "measured": count - c0, "seconds": t1 - t0}


def _sunlit_recv_loop(sub: Any, warmup: int, total: int) -> dict[str, Any]:
    recv = sub.recv
    count = 0
    t0 = t1 = time.perf_counter()
    c0 = 0
    while count < total:
        envelope = recv(timeout_ms=IDLE_TIMEOUT_MS)
        if envelope is None:
            break
        if envelope.topic != TOPIC:
            continue
        count += 1
        if count == warmup:
            t0, c0 = time.perf_counter(), count
    t1 = time.perf_counter()
    return {"received": count, "measured": count - c0, "seconds": t1 - t0}


# ---------------------------------------------------------------------- orchestration
def measure(kind: str, count: int, warmup: int, profile_to: str | None = None
            ) -> dict[str, Any]:
    """Run one sender/receiver pair (and proxy) for ``kind``; return rates and losses."""
    spawn = mp.get_context("spawn")
    total = warmup + count
    with short_tmp_dir("sbt") as tmp:
        front, back = f"ipc://{tmp}/pub", f"ipc://{tmp}/sub"
        ready_p, ready_r, joined, stop = (spawn.Event() for _ in range(4))
        results = spawn.Queue()
        procs = []
        try:
            if kind == "raw-direct":
                rx_endpoint, tx_endpoint, bind = back, back, True
            else:
                rx_endpoint, tx_endpoint, bind = back, front, False
                proxy = spawn.Process(target=_proxy_main, name=f"{kind}-proxy",
                                      args=(kind, front, back, ready_p, stop))
                proxy.start()
                procs.append(proxy)
                if not ready_p.wait(30):
                    raise RuntimeError("proxy did not start")
            rx = spawn.Process(target=_receiver_main, name=f"{kind}-rx",
                               args=(kind, rx_endpoint, bind, warmup, total, ready_r, joined,
                                     results, profile_to))
            rx.start()
            procs.append(rx)
            if not ready_r.wait(30):
                raise RuntimeError("receiver did not start")
            tx = spawn.Process(target=_sender_main, name=f"{kind}-tx",
                               args=(kind, tx_endpoint, total, joined, stop, results))
            tx.start()
            procs.append(tx)
            got: dict[str, dict[str, Any]] = {}
            deadline = time.monotonic() + 60
            while len(got) < 2:
                try:
                    item = results.get(timeout=max(0.1, deadline - time.monotonic()))
                except queue.Empty:
                    raise RuntimeError(f"{kind}: no result in time ({sorted(got)})") from None
                got[item.pop("role")] = item
        finally:
            stop.set()
            for p in procs:
                p.join(10)
                if p.is_alive():
                    p.terminate()
                    p.join(5)
    rx_out, tx_out = got["receiver"], got["sender"]
    return {
        "kind": kind,
        "rate": rx_out["measured"] / rx_out["seconds"] if rx_out["seconds"] > 0 else 0.0,
        "lost": total - rx_out["received"],
        "send_rate": tx_out["send_rate"],
        "rx_gaps": rx_out.get("rx_gaps"),
        "tx_dropped": tx_out.get("tx_dropped"),
    }


def run(count: int = DEFAULT_COUNT, warmup: int = DEFAULT_WARMUP, repeats: int = DEFAULT_REPEATS,
        with_recv: bool = False, verbose: bool = True) -> BenchResult:
    started = time.monotonic()
    kinds = ["raw-direct", "raw-proxy", "sunlit"] + (["sunlit-recv"] if with_recv else [])
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in kinds}
    for rep in range(repeats):
        for kind in kinds:  # interleaved, so drift on a shared machine hits every variant
            r = measure(kind, count, warmup)
            runs[kind].append(r)
            if verbose:
                print(f"  [{NAME}] round {rep + 1}/{repeats} {kind:<11} "
                      f"{r['rate']:>10,.0f} msg/s  lost {r['lost']}", file=sys.stderr)
    base = median([r["rate"] for r in runs["raw-direct"]])
    rows = []
    for kind in kinds:
        rates = [r["rate"] for r in runs[kind]]
        med = median(rates)
        lost = sum(r["lost"] for r in runs[kind])
        rows.append([
            kind, VARIANTS[kind], fmt_int(med),
            " / ".join(fmt_int(x) for x in rates),
            f"{1e6 / med:.2f}" if med else "-",
            fmt_int(median([r["send_rate"] for r in runs[kind]])),
            str(lost),
            fmt_ratio(med / base) if base else "-",
        ])
    table = md_table(
        ["variant", "path", "median msg/s", "runs msg/s", "µs/msg (rx)", "sender msg/s",
         "lost (all runs)", "vs raw-direct"], rows)
    sunlit = median([r["rate"] for r in runs["sunlit"]])
    via_proxy = median([r["rate"] for r in runs["raw-proxy"]])
    ratio = sunlit / base if base else 0.0
    lost_sunlit = sum(r["lost"] for r in runs["sunlit"])
    lost_base = sum(r["lost"] for r in runs["raw-direct"])
    checks = [
        Check(NAME, "telemetry msg/s, Sunlit vs raw-direct", fmt_int(sunlit), fmt_int(base),
              fmt_ratio(ratio), f"≥ {TARGET:.2f}", ratio >= TARGET),
        Check(NAME, "messages lost (all runs)", str(lost_sunlit), str(lost_base), "-", "0",
              lost_sunlit == 0),
    ]
    notes = [
        f"{count:,} messages measured after {warmup:,} warm-up, {repeats} interleaved rounds, "
        f"median; payload {_payload_size()} B msgpack; HWM {HWM:,} on every socket; "
        f"ipc:// transport; {os.cpu_count()} CPUs.",
        f"Sunlit vs raw-proxy (same 3-process topology, isolates the Python-side cost of "
        f"Publisher/Subscriber/Envelope): {fmt_ratio(sunlit / via_proxy if via_proxy else 0)}.",
        f"Sunlit vs raw-direct: {fmt_ratio(ratio)} → "
        f"{'PASS' if ratio >= TARGET else 'FAIL'} (target ≥ {TARGET}).",
    ]
    markdown = "\n".join([
        f"### Bus throughput ({NAME})", "", table, "", *[f"- {n}" for n in notes]])
    return BenchResult(NAME, "Telemetry throughput", markdown, checks, notes,
                       time.monotonic() - started)


def _payload_size() -> int:
    import msgpack

    return len(msgpack.packb(PAYLOAD, use_bin_type=True))


def profile(count: int, warmup: int, top: int = 25) -> str:
    """cProfile the Sunlit receiver (drain loop) and return the top functions by tottime."""
    import io
    import pstats
    import tempfile

    fd, path = tempfile.mkstemp(prefix="sbt-prof", suffix=".pstats")
    os.close(fd)
    try:
        r = measure("sunlit", count, warmup, profile_to=path)
        buf = io.StringIO()
        stats = pstats.Stats(path, stream=buf)
        stats.sort_stats("tottime").print_stats(top)
        return (f"(profiled run: {r['rate']:,.0f} msg/s under cProfile, lost {r['lost']})\n"
                + buf.getvalue())
    finally:
        os.unlink(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.bus_throughput", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT)
    parser.add_argument("--warmup", type=int, default=DEFAULT_WARMUP)
    parser.add_argument("--repeats", type=int, default=DEFAULT_REPEATS)
    parser.add_argument("--recv", action="store_true",
                        help="also measure Subscriber.recv() (one call per message)")
    parser.add_argument("--profile", action="store_true",
                        help="instead: cProfile the Sunlit receiver and print the top functions")
    args = parser.parse_args(argv)
    if args.profile:
        print(profile(args.count, args.warmup))
        return 0
    result = run(args.count, args.warmup, args.repeats, args.recv)
    print(result.markdown)
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
