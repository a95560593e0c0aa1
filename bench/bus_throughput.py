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
[--proxy-in process|receiver] [--profile]``. ``--profile`` times the publish and receive
paths piece by piece in one process and prints a cProfile of the Sunlit receiver.
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

#: A small housekeeping packet: ~100 bytes once msgpacked (the envelope adds ~25).
PAYLOAD: dict[str, Any] = {
    "mode": "NOMINAL",
    "uptime_s": 1234.567,
    "cpu_percent": 12.5,
    "load_1m": 0.42,
    "mem_percent": 37.1,
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
def _start_proxy(kind: str, ctx: Any, front: str, back: str) -> Any:
    """Start the XSUB/XPUB forwarder for ``kind`` in a thread of this process; return stop()."""
    import zmq

    if kind.startswith("sunlit"):
        from flight.bus import BusProxy

        proxy = BusProxy(ctx, front, back, hwm=HWM)
        proxy.start()
        return proxy.stop
    # The same libzmq forwarding loop BusProxy runs, built from plain pyzmq.
    xsub, xpub = ctx.socket(zmq.XSUB), ctx.socket(zmq.XPUB)
    for sock in (xsub, xpub):
        sock.setsockopt(zmq.SNDHWM, HWM)
        sock.setsockopt(zmq.RCVHWM, HWM)
        sock.setsockopt(zmq.LINGER, 0)
    xsub.bind(front)
    xpub.bind(back)
    control = ctx.socket(zmq.PAIR)
    control.bind(f"inproc://raw-proxy-{os.getpid()}")

    def forward() -> None:
        peer = ctx.socket(zmq.PAIR)
        peer.connect(f"inproc://raw-proxy-{os.getpid()}")
        try:
            zmq.proxy_steerable(xsub, xpub, None, peer)
        finally:
            peer.close(linger=0)
            xsub.close()
            xpub.close()

    thread = threading.Thread(target=forward, daemon=True)
    thread.start()

    def stop() -> None:
        control.send(b"TERMINATE")
        thread.join(5)
        control.close(linger=0)

    return stop


def _guarded(role: str, fn: Any, args: tuple[Any, ...]) -> None:
    """Run a child's body; if it fails, tell the parent at once instead of letting it wait."""
    try:
        fn(*args)
    except BaseException as exc:
        results = next(a for a in args if hasattr(a, "put") and hasattr(a, "get"))
        results.put({"role": role, "error": f"{type(exc).__name__}: {exc}"})
        raise


def _proxy_main(kind: str, front: str, back: str, ready: Any, joined: Any, stop: Any,
                results: Any) -> None:
    import zmq

    ctx = zmq.Context()
    stopper = _start_proxy(kind, ctx, front, back)
    ready.set()
    joined.wait(60)
    cpu0 = time.process_time()
    stop.wait(120)
    results.put({"role": "proxy", "cpu_s": time.process_time() - cpu0})
    stopper()
    ctx.term()


def _sender_main(*args: Any) -> None:
    _guarded("sender", _sender, args)


def _sender(kind: str, endpoint: str, total: int, joined: Any, stop: Any,
            results: Any) -> None:
    import msgpack
    import zmq

    ctx = zmq.Context()
    dropped: int | None = None
    if kind.startswith("raw"):
        sock = ctx.socket(zmq.PUB)
        sock.setsockopt(zmq.SNDHWM, HWM)
        sock.setsockopt(zmq.LINGER, 1000)
        sock.connect(endpoint)
        topic_b, probe_b = TOPIC.encode(), PROBE_TOPIC.encode()
        packb = msgpack.packb
        while not joined.is_set():
            sock.send_multipart((probe_b, packb({}, use_bin_type=True)))
            time.sleep(0.005)
        cpu0, t0 = time.process_time(), time.perf_counter()
        send = sock.send_multipart
        payload = PAYLOAD
        for _ in range(total):
            send((topic_b, packb(payload, use_bin_type=True)))
        t1 = time.perf_counter()
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
        cpu0, t0 = time.process_time(), time.perf_counter()
        for _ in range(total):
            publish(TOPIC, payload)
        t1 = time.perf_counter()
        dropped = pub.counters.tx_dropped
    stop.wait(120)  # keep the socket open (and count its I/O thread) until the receiver is done
    results.put({"role": "sender", "send_rate": total / (t1 - t0), "tx_dropped": dropped,
                 "cpu_s": time.process_time() - cpu0})
    sock.close(linger=0)
    ctx.term()


def _receiver_main(*args: Any) -> None:
    _guarded("receiver", _receiver, args)


def _receiver(kind: str, endpoint: str, bind: bool, warmup: int, total: int,
              proxy_at: tuple[str, str] | None, ready: Any, joined: Any, results: Any,
              profile_to: str | None) -> None:
    import zmq

    ctx = zmq.Context()
    stop_proxy = _start_proxy(kind, ctx, *proxy_at) if proxy_at else None
    profiler = None
    if profile_to:
        import cProfile

        profiler = cProfile.Profile()
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
        cpu0 = time.process_time()
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
        cpu0 = time.process_time()
        if profiler:
            profiler.enable()
        loop = _sunlit_recv_loop if kind == "sunlit-recv" else _sunlit_drain_loop
        out = loop(sub, warmup, total)
        c = sub.counters
        extra = {"rx_gaps": c.rx_gaps, "rx_malformed": c.rx_malformed}
    cpu = time.process_time() - cpu0
    if profiler:
        profiler.disable()
        profiler.dump_stats(profile_to)
    results.put({"role": "receiver", "cpu_s": cpu, **out, **extra})
    sock.close(linger=0)
    if stop_proxy:
        stop_proxy()
    ctx.term()


def _raw_join(sock: Any, joined: Any) -> None:
    import zmq

    probe_b = PROBE_TOPIC.encode()
    deadline = time.monotonic() + 5 * IDLE_TIMEOUT_MS / 1000
    while True:
        try:
            topic, _body = sock.recv_multipart()
        except zmq.Again:  # RCVTIMEO
            if time.monotonic() > deadline:
                raise TimeoutError("no probe arrived") from None
            continue
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
    idle = 0.0
    while count < total:
        try:
            topic, body = recv()
        except zmq.Again:  # RCVTIMEO: messages were lost; the clock stopped at the last one
            idle = IDLE_TIMEOUT_MS / 1000
            break
        if topic != topic_b:
            continue
        unpackb(body, raw=False)
        count += 1
        if count == warmup:
            t0, c0 = time.perf_counter(), count
    t1 = time.perf_counter() - idle
    return {"received": count, "measured": count - c0, "seconds": t1 - t0}


def _sunlit_drain_loop(sub: Any, warmup: int, total: int) -> dict[str, Any]:
    poll, drain = sub.socket.poll, sub.drain
    count = 0
    t0: float | None = None
    c0 = 0
    idle = 0.0
    while count < total:
        if not poll(IDLE_TIMEOUT_MS):
            idle = IDLE_TIMEOUT_MS / 1000  # messages were lost; the clock stopped at the last
            break
        for envelope in drain():
            if envelope.topic == TOPIC:
                count += 1
        if t0 is None and count >= warmup:
            t0, c0 = time.perf_counter(), count
    t1 = time.perf_counter() - idle
    if t0 is None:
        t0 = t1
    return {"received": count, "measured": count - c0, "seconds": t1 - t0}


def _sunlit_recv_loop(sub: Any, warmup: int, total: int) -> dict[str, Any]:
    recv = sub.recv
    count = 0
    t0 = t1 = time.perf_counter()
    c0 = 0
    idle = 0.0
    while count < total:
        envelope = recv(timeout_ms=IDLE_TIMEOUT_MS)
        if envelope is None:
            idle = IDLE_TIMEOUT_MS / 1000  # messages were lost; the clock stopped at the last
            break
        if envelope.topic != TOPIC:
            continue
        count += 1
        if count == warmup:
            t0, c0 = time.perf_counter(), count
    t1 = time.perf_counter() - idle
    return {"received": count, "measured": count - c0, "seconds": t1 - t0}


# ---------------------------------------------------------------------- orchestration
def measure(kind: str, count: int, warmup: int, proxy_in: str = "process",
            profile_to: str | None = None) -> dict[str, Any]:
    """Run one sender/receiver pair (and proxy) for ``kind``; return rates, losses, CPU."""
    spawn = mp.get_context("spawn")
    total = warmup + count
    got: dict[str, dict[str, Any]] = {}
    with short_tmp_dir("sbt") as tmp:
        front, back = f"ipc://{tmp}/pub", f"ipc://{tmp}/sub"
        ready_p, ready_r, joined, stop = (spawn.Event() for _ in range(4))
        results = spawn.Queue()
        procs = []

        def collect(*roles: str) -> None:
            deadline = time.monotonic() + 60
            while not all(r in got for r in roles):
                try:
                    item = results.get(timeout=max(0.1, deadline - time.monotonic()))
                except queue.Empty:
                    raise RuntimeError(f"{kind}: no {roles} result in time") from None
                if "error" in item:
                    raise RuntimeError(f"{kind} {item['role']} failed: {item['error']}")
                got[item.pop("role")] = item

        try:
            proxy_at = None
            if kind == "raw-direct":
                tx_endpoint, bind = back, True
            else:
                tx_endpoint, bind = front, False
                if proxy_in == "receiver":
                    proxy_at = (front, back)
                else:
                    proxy = spawn.Process(target=_proxy_main, name=f"{kind}-proxy",
                                          args=(kind, front, back, ready_p, joined, stop,
                                                results))
                    proxy.start()
                    procs.append(proxy)
                    if not ready_p.wait(30):
                        raise RuntimeError("proxy did not start")
            rx = spawn.Process(target=_receiver_main, name=f"{kind}-rx",
                               args=(kind, back, bind, warmup, total, proxy_at, ready_r,
                                     joined, results, profile_to))
            rx.start()
            procs.append(rx)
            if not ready_r.wait(30):
                raise RuntimeError("receiver did not start")
            tx = spawn.Process(target=_sender_main, name=f"{kind}-tx",
                               args=(kind, tx_endpoint, total, joined, stop, results))
            tx.start()
            procs.append(tx)
            collect("receiver")
            stop.set()
            collect("sender", *(["proxy"] if len(procs) == 3 else []))
        finally:
            stop.set()
            for p in procs:
                p.join(10)
                if p.is_alive():
                    p.terminate()
                    p.join(5)
    rx_out, tx_out = got["receiver"], got["sender"]
    cpu = {role: got[role]["cpu_s"] * 1e6 / total for role in got}
    return {
        "kind": kind,
        "rate": rx_out["measured"] / rx_out["seconds"] if rx_out["seconds"] > 0 else 0.0,
        "lost": total - rx_out["received"],
        "send_rate": tx_out["send_rate"],
        "rx_gaps": rx_out.get("rx_gaps"),
        "tx_dropped": tx_out.get("tx_dropped"),
        "cpu_us": cpu,  # CPU µs per message, per process (all its threads)
    }


def run(count: int = DEFAULT_COUNT, warmup: int = DEFAULT_WARMUP, repeats: int = DEFAULT_REPEATS,
        with_recv: bool = False, proxy_in: str = "process", verbose: bool = True
        ) -> BenchResult:
    started = time.monotonic()
    kinds = ["raw-direct", "raw-proxy", "sunlit"] + (["sunlit-recv"] if with_recv else [])
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in kinds}
    for rep in range(repeats):
        for kind in kinds:  # interleaved, so drift on a shared machine hits every variant
            r = measure(kind, count, warmup, proxy_in)
            runs[kind].append(r)
            if verbose:
                print(f"  [{NAME}] round {rep + 1}/{repeats} {kind:<11} "
                      f"{r['rate']:>10,.0f} msg/s  lost {r['lost']}", file=sys.stderr)
    base = median([r["rate"] for r in runs["raw-direct"]])

    def total_cpu(kind: str) -> float:
        return median([sum(r["cpu_us"].values()) for r in runs[kind]])

    rows = []
    for kind in kinds:
        rates = [r["rate"] for r in runs[kind]]
        med = median(rates)
        lost = sum(r["lost"] for r in runs[kind])

        def cpu(role: str, kind: str = kind) -> str:
            values = [r["cpu_us"][role] for r in runs[kind] if role in r["cpu_us"]]
            return f"{median(values):.2f}" if values else "-"

        rows.append([
            kind, _describe(kind, proxy_in), fmt_int(med),
            " / ".join(fmt_int(x) for x in rates),
            fmt_int(median([r["send_rate"] for r in runs[kind]])),
            str(lost), cpu("sender"), cpu("proxy"), cpu("receiver"),
            f"{total_cpu(kind):.2f}",
            fmt_ratio(med / base) if base else "-",
        ])
    table = md_table(
        ["variant", "path", "median msg/s", "runs msg/s", "sender msg/s",
         f"lost ({repeats} runs)",
         "CPU µs/msg tx", "proxy", "rx", "total", "vs raw-direct"], rows)
    sunlit = median([r["rate"] for r in runs["sunlit"]])
    via_proxy = median([r["rate"] for r in runs["raw-proxy"]])
    ratio = sunlit / base if base else 0.0
    cpu_direct, cpu_proxy = total_cpu("raw-direct"), total_cpu("raw-proxy")
    cpu_sunlit = total_cpu("sunlit")
    lost_sunlit = sum(r["lost"] for r in runs["sunlit"])
    lost_base = sum(r["lost"] for r in runs["raw-direct"])
    checks = [
        Check(NAME, "telemetry msg/s, Sunlit vs raw-direct", fmt_int(sunlit), fmt_int(base),
              fmt_ratio(ratio), f"≥ {TARGET:.2f}", ratio >= TARGET),
        Check(NAME, "telemetry msg/s, Sunlit vs raw-proxy (info)", fmt_int(sunlit),
              fmt_int(via_proxy), fmt_ratio(sunlit / via_proxy if via_proxy else 0), "-",
              True),
        Check(NAME, f"messages lost in {repeats} run{'s' if repeats != 1 else ''}, "
              "Sunlit (raw-direct)", str(lost_sunlit), str(lost_base), "-", "0",
              lost_sunlit == 0),
    ]
    where = ("a thread of the receiver process" if proxy_in == "receiver"
             else "its own (third) process, as the executive hosts it")
    notes = [
        f"{count:,} messages timed after {warmup:,} warm-up, {repeats} interleaved rounds, "
        f"median; payload {_payload_size()} B msgpack; HWM {HWM:,} on every socket; "
        f"ipc:// transport; proxy in {where}; {os.cpu_count()} CPUs.",
        "CPU µs/msg: CPU time of each process (all threads, libzmq I/O included) over the "
        "whole burst divided by the messages sent; 'rx' includes the proxy when it runs in "
        "the receiver.",
        f"Sunlit vs raw-proxy (same topology; isolates the Python cost of Publisher, "
        f"Subscriber and the envelope): {fmt_ratio(sunlit / via_proxy if via_proxy else 0)}.",
        f"CPU cost, raw-direct ÷ Sunlit total CPU µs/msg (less sensitive to scheduling "
        f"than msg/s on a shared machine): {fmt_ratio(cpu_direct / cpu_sunlit)}; "
        f"raw-proxy ÷ Sunlit: {fmt_ratio(cpu_proxy / cpu_sunlit)}.",
        f"Sunlit vs raw-direct: {fmt_ratio(ratio)} → "
        f"{'PASS' if ratio >= TARGET else 'FAIL'} (target ≥ {TARGET}).",
    ]
    markdown = "\n".join([
        f"### Bus throughput ({NAME})", "", table, "", *[f"- {n}" for n in notes]])
    return BenchResult(NAME, "Telemetry throughput", markdown, checks, notes,
                       time.monotonic() - started)


def _describe(kind: str, proxy_in: str) -> str:
    text = VARIANTS[kind]
    return text.replace("3rd process", "rx thread") if proxy_in == "receiver" else text


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


def hot_path_breakdown(n: int = 100_000, rounds: int = 5) -> str:
    """Per-message CPU cost of the publish and receive paths, in one process, no contention.

    The whole loops (raw vs Sunlit) run over an inproc PUB/SUB pair (the receive loops over a
    pre-filled queue); the pieces are timed in isolation. Minimum and median over ``rounds``,
    in µs of CPU per message.
    """
    import msgpack
    import zmq

    from flight.app.clock import MissionClock
    from flight.bus import Publisher, Subscriber
    from flight.bus.envelope import Envelope, decode, pack

    ctx = zmq.Context()
    body = pack("bench-tx", 12345, time.time(), PAYLOAD)
    raw_body = msgpack.packb(PAYLOAD, use_bin_type=True)
    topic_b = TOPIC.encode()
    results: dict[str, list[float]] = {}
    counter = iter(range(1_000_000))

    def record(label: str, seconds: float, count: int) -> None:
        results.setdefault(label, []).append(seconds / count * 1e6)

    def cpu_of(fn: Any) -> float:
        t0 = time.process_time()
        fn()
        return time.process_time() - t0

    def pair() -> tuple[Any, Any, str]:
        """A bound PUB and a connected raw SUB (unbounded queues)."""
        endpoint = f"inproc://breakdown-{next(counter)}"
        pub = ctx.socket(zmq.PUB)
        pub.setsockopt(zmq.SNDHWM, 0)
        pub.bind(endpoint)
        sub = ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.RCVHWM, 0)
        sub.setsockopt(zmq.SUBSCRIBE, SUBSCRIPTION.encode())
        sub.connect(endpoint)
        time.sleep(0.05)
        return pub, sub, endpoint

    def sunlit_publisher(sock: Any) -> Any:
        publisher = Publisher(ctx, "inproc://breakdown-unused", "bench-tx", MissionClock(),
                              hwm=0)
        publisher.socket.close(linger=0)
        publisher.socket = sock
        return publisher

    def fill(sock: Any) -> None:
        publish = sunlit_publisher(sock).publish
        for _ in range(n):
            publish(TOPIC, PAYLOAD)
        time.sleep(0.1)

    has_accept_frames = hasattr(Subscriber, "_accept_frames")
    for _ in range(rounds):
        # ---- publish side
        pub, sub, _ = pair()
        send, packb = pub.send_multipart, msgpack.packb

        def raw_send(send: Any = send, packb: Any = packb) -> None:
            for _ in range(n):
                send((topic_b, packb(PAYLOAD, use_bin_type=True)))

        record("P1. raw: send_multipart((topic, packb(payload))) (whole)", cpu_of(raw_send), n)
        pub.close(linger=0)
        sub.close(linger=0)
        pub, sub, _ = pair()
        publish = sunlit_publisher(pub).publish

        def sunlit_send(publish: Any = publish) -> None:
            for _ in range(n):
                publish(TOPIC, PAYLOAD)

        record("P2. Sunlit: Publisher.publish(topic, payload) (whole)", cpu_of(sunlit_send), n)
        pub.close(linger=0)
        sub.close(linger=0)

        # ---- receive side, whole loops
        pub, sock, _ = pair()
        fill(pub)
        recv, unpackb = sock.recv_multipart, msgpack.unpackb

        def raw_loop(recv: Any = recv, unpackb: Any = unpackb) -> None:
            for _ in range(n):
                topic, b = recv()
                if topic == topic_b:
                    unpackb(b, raw=False)

        record("R1. raw: recv_multipart() + unpackb (whole)", cpu_of(raw_loop), n)
        pub.close(linger=0)
        sock.close(linger=0)

        endpoint = f"inproc://breakdown-{next(counter)}"
        pub = ctx.socket(zmq.PUB)
        pub.setsockopt(zmq.SNDHWM, 0)
        pub.bind(endpoint)
        subscriber = Subscriber(ctx, endpoint, [SUBSCRIPTION], hwm=0)
        time.sleep(0.05)
        fill(pub)

        def drain_loop(subscriber: Any = subscriber) -> None:
            got = 0
            while got < n:
                got += sum(1 for e in subscriber.drain() if e.topic == TOPIC)

        record("R2. Sunlit: Subscriber.drain() (whole)", cpu_of(drain_loop), n)
        pub.close(linger=0)
        subscriber.close()

        # ---- receive side, pieces
        half = n // 2
        pub, sock, _ = pair()
        fill(pub)
        record("  recv_multipart() (2 frames; raw, Subscriber.recv)", cpu_of(
            lambda sock=sock, half=half: [sock.recv_multipart() for _ in range(half)]), half)

        def frames(sock: Any = sock, half: int = half) -> None:
            recv = sock.recv
            for _ in range(half):
                a = recv(zmq.NOBLOCK, copy=False)
                b = recv(zmq.NOBLOCK, copy=False)
                _ = (a.more, b.more, a.bytes, b.bytes)

        record("  recv(copy=False) x2 + .more x2 + .bytes x2", cpu_of(frames), half)
        pub.close(linger=0)
        sock.close(linger=0)
        pub, sock, _ = pair()
        fill(pub)
        record("  recv() x2, no more-flag check", cpu_of(
            lambda sock=sock: [(sock.recv(), sock.recv()) for _ in range(n)]), n)
        pub.close(linger=0)
        sock.close(linger=0)
        pub, sock, _ = pair()
        pub.send(b"tlm.x", zmq.SNDMORE)
        pub.send(b"x")
        time.sleep(0.05)
        sock.recv()
        record("  socket.getsockopt(zmq.RCVMORE)", cpu_of(
            lambda sock=sock: [sock.getsockopt(zmq.RCVMORE) for _ in range(n)]), n)
        pub.close(linger=0)
        sock.close(linger=0)

        record("  msgpack.unpackb(payload) (raw)", cpu_of(
            lambda half=half: [msgpack.unpackb(raw_body, raw=False) for _ in range(half)]),
            half)
        record("  envelope.decode(topic, body) (bounded unpack + checks + Envelope)", cpu_of(
            lambda half=half: [decode(topic_b, body) for _ in range(half)]), half)
        record("  Envelope(...) construction", cpu_of(
            lambda half=half: [Envelope(TOPIC, "x", 1, 1.0, None) for _ in range(half)]), half)
        lone = Subscriber(ctx, f"inproc://breakdown-{next(counter)}", [SUBSCRIPTION])
        if has_accept_frames:
            record("  Subscriber._accept_frames (decode + counters + gap check)", cpu_of(
                lambda lone=lone, half=half: [lone._accept_frames(topic_b, body)
                                              for _ in range(half)]), half)
        else:
            record("  Subscriber._accept (decode + counters + gap check)", cpu_of(
                lambda lone=lone, half=half: [lone._accept([topic_b, body])
                                              for _ in range(half)]), half)
        lone.close()
    ctx.term()
    rows = [[label, f"{min(v):.2f}", f"{median(v):.2f}"] for label, v in results.items()]
    return md_table(["hot-path piece (1 process, inproc, no contention)", "min µs/msg",
                     "median µs/msg"], rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.bus_throughput", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT)
    parser.add_argument("--warmup", type=int, default=DEFAULT_WARMUP)
    parser.add_argument("--repeats", type=int, default=DEFAULT_REPEATS)
    parser.add_argument("--recv", action="store_true",
                        help="also measure Subscriber.recv() (one call per message)")
    parser.add_argument("--proxy-in", choices=("process", "receiver"), default="process",
                        help="host the proxy in its own process (default, as on a flatsat) "
                             "or in a thread of the receiver process")
    parser.add_argument("--profile", action="store_true",
                        help="instead: time the publish/receive paths piece by piece and "
                             "cProfile the Sunlit receiver")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)
    if args.profile:
        print(hot_path_breakdown())
        print()
        print(profile(args.count, args.warmup))
        return 0
    result = run(args.count, args.warmup, args.repeats, args.recv, args.proxy_in)
    print(result.markdown)
    return 1 if args.strict and not result.passed else 0


if __name__ == "__main__":
    sys.exit(main())
