"""Throughput benchmark of the link proxy: ``python -m hil.linksim.bench``.

Not a test. The proxy runs in its own process (the CLI, as a lab would run it); this process
sends 100-byte datagrams on the uplink at fixed rates and counts what arrives at a sink, then
compares with the same traffic sent straight to the sink (the baseline, measured in the same run).
It also floods the proxy with garbage and checks it still forwards and answers its control port.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from hil.linksim.control import ControlClient


def _sock(bind: tuple[str, int] = ("127.0.0.1", 0)) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
    s.bind(bind)
    return s


class Sink:
    """Counts datagrams equal to ``expect`` arriving on a socket, in a thread."""

    def __init__(self, expect: bytes) -> None:
        self.expect = expect
        self.sock = _sock()
        self.sock.settimeout(0.2)
        self.count = 0
        self.last = 0.0
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @property
    def address(self) -> tuple[str, int]:
        return self.sock.getsockname()

    def _run(self) -> None:
        recv = self.sock.recv
        expect = self.expect
        while not self._stop:
            try:
                data = recv(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            if data != expect:        # garbage from the flood test
                continue
            self.count += 1
            self.last = time.monotonic()

    def wait_quiet(self, expected: int, quiet_s: float = 0.5, limit_s: float = 10.0) -> int:
        deadline = time.monotonic() + limit_s
        seen, since = -1, time.monotonic()
        while time.monotonic() < deadline and self.count < expected:
            if self.count != seen:
                seen, since = self.count, time.monotonic()
            elif time.monotonic() - since > quiet_s:
                break
            time.sleep(0.01)
        return self.count

    def close(self) -> None:
        self._stop = True
        self._thread.join()
        self.sock.close()


def blast(dest: tuple[str, int], rate: float, seconds: float, size: int) -> tuple[int, float]:
    """Send ``rate`` datagrams/s for ``seconds``, paced per millisecond → (sent, elapsed)."""
    sock = _sock()
    payload = bytes(size)
    total = int(rate * seconds)
    sent = 0
    start = time.monotonic()
    sendto = sock.sendto
    while sent < total:
        due = min(total, int((time.monotonic() - start) * rate) + 1)
        while sent < due:
            try:
                sendto(payload, dest)
            except BlockingIOError:
                break
            sent += 1
        if sent < total:
            time.sleep(0.0005)
    elapsed = time.monotonic() - start
    sock.close()
    return sent, elapsed


def start_proxy(flight: tuple[str, int], extra: Sequence[str] = ()) -> tuple[subprocess.Popen[str],
                                                                             dict[str, Any]]:
    cmd = [sys.executable, "-m", "hil.linksim", "--ground", "127.0.0.1:0",
           "--flight", f"{flight[0]}:{flight[1]}", "--control", "127.0.0.1:0", "--json", *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stdout is not None
    started = json.loads(proc.stdout.readline())
    return proc, started


def _addr(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m hil.linksim.bench", description=__doc__)
    p.add_argument("--rates", default="5000,10000,20000,40000")
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--size", type=int, default=100)
    p.add_argument("--proxy-args", default="",
                   help='extra proxy flags, e.g. "--delay-ms 50 --jitter-ms 10" (loss, '
                        'duplication and the like make "delivered" differ by design)')
    args = p.parse_args(argv)
    rates = [float(r) for r in args.rates.split(",")]

    print(f"linksim throughput, {args.size}-byte datagrams, {args.seconds:g} s per rate, "
          f"{os.cpu_count()} CPUs; proxy flags: {args.proxy_args or '(none)'}")
    print(f"{'rate/s':>8} {'direct delivered':>17} {'via proxy delivered':>20} "
          f"{'proxy rx':>9} {'achieved/s':>11} {'ratio':>6}")
    sink = Sink(bytes(args.size))
    proc, started = start_proxy(sink.address, args.proxy_args.split())
    ground = _addr(started["addresses"]["ground"])
    ctl = ControlClient(started["addresses"]["control"])
    worst_ok_rate = 0.0
    try:
        for rate in rates:
            before = sink.count
            sent, _ = blast(sink.address, rate, args.seconds, args.size)
            direct = sink.wait_quiet(before + sent) - before
            ctl.reset_stats()
            before = sink.count
            sent, elapsed = blast(ground, rate, args.seconds, args.size)
            via = sink.wait_quiet(before + sent) - before
            up = ctl.stats()["uplink"]
            ratio = via / direct if direct else 0.0
            print(f"{rate:8.0f} {direct:>8d}/{sent:<8d} {via:>11d}/{sent:<8d} "
                  f"{up['received']:>9d} {via / elapsed:>11.0f} {ratio:>6.3f}")
            if via == sent:
                worst_ok_rate = max(worst_ok_rate, rate)

        # garbage flood: 10,000 datagrams/s of random sizes at the ground, flight-side and
        # control ports at once, then check the proxy still forwards and answers.
        flight_side = _addr(started["addresses"]["flight_side"])
        control = _addr(started["addresses"]["control"])
        flood = _sock()
        rnd = os.urandom(70000)
        start = time.monotonic()
        n = 0
        targets = (ground, flight_side, control)
        while n < 10_000 * args.seconds:
            due = int((time.monotonic() - start) * 10_000) + 1
            while n < due:
                size = (n * 7919) % 1500 if n % 97 else 65000
                with contextlib.suppress(OSError):
                    flood.sendto(rnd[n % 1000: n % 1000 + size], targets[n % 3])
                n += 1
            time.sleep(0.0005)
        flood.close()
        flooded_s = time.monotonic() - start
        before = sink.count
        sent, _ = blast(ground, 1000, 0.5, args.size)
        got = sink.wait_quiet(before + sent) - before
        pong = ctl.ping()
        print(f"garbage flood: {n} datagrams in {flooded_s:.2f} s "
              f"({n / flooded_s:.0f}/s, every 97th 65000 bytes); afterwards "
              f"{got}/{sent} forwarded, control ping ok={pong['ok']}, "
              f"proxy alive={proc.poll() is None}")
    finally:
        proc.terminate()
        proc.wait(5)
        sink.close()
        ctl.close()
    print(f"highest rate forwarded with zero loss: {worst_ok_rate:.0f}/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
