"""The space link's speed: telecommand round trip and telemetry downlink, against raw UDP.

Round trip. Baseline: a raw UDP echo — a separate Python process that sends every datagram
back — timed from this process with 100-byte datagrams. Sunlit: through the ground API
(``GroundStation``) to a running flatsat with authentication on, two figures:

* **ping** — TC[17,1] sealed (HMAC, ARSN), comms authenticates, decodes, answers with TM[1,1],
  TM[17,2] and TM[1,7]; timed like the echo, wire to wire: from just before the station's
  ``sendto`` (the handle's ``sent_mono``) until its receiving thread has the TM[1,7] datagram
  (the stage's ``t_mono``) — the target: p50 within 4x the raw echo. Reported beside it, the
  whole API call: from calling ``send_tc`` (drawing the ARSN and sequence count, sealing) until
  ``wait()`` returns in the caller (the report decoded, the caller's thread woken);
* **noop** — ``health.noop`` through TC[8,1]: the same plus the onboard bus round trip to the
  health app and its ACCEPTED/COMPLETED replies (reported).

Downlink. Baseline: a separate process sending 1 KiB datagrams as fast as it can to a socket
this process reads (received/s). Sunlit: a 4 MiB result downlinked as TM[128,6] chunks of
1 KiB (link rate 1 Gbit/s, so the software and not the pacing is measured), counted as
decoded by the ground station (packets/s).

Run: ``.venv/bin/python -m bench.link [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import BenchResult, Check, fmt_ratio, md_table

NAME = "link"
RTT_TARGET = 4.0

ECHO = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1], flush=True)
while True:
    data, addr = s.recvfrom(65535)
    if data == b"stop":
        break
    s.sendto(data, addr)
"""

BLAST = """
import socket, sys, time
port, count, size = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
payload = bytes(size)
for i in range(count):
    s.sendto(payload, ("127.0.0.1", port))
    if i % 64 == 63:
        time.sleep(0.0002)  # a sender that would not overrun the receiver's buffer
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def raw_echo(calls: int) -> list[float]:
    proc = subprocess.Popen([sys.executable, "-c", ECHO], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(2)
    payload, times = bytes(100), []
    try:
        for _ in range(calls):
            t0 = time.perf_counter()
            sock.sendto(payload, ("127.0.0.1", port))
            sock.recvfrom(65535)
            times.append(time.perf_counter() - t0)
    finally:
        sock.sendto(b"stop", ("127.0.0.1", port))
        proc.wait(5)
        sock.close()
    return times


def raw_downlink(count: int, size: int = 1024) -> float:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(1.0)
    proc = subprocess.Popen([sys.executable, "-c", BLAST, str(sock.getsockname()[1]),
                             str(count), str(size)])
    got, first, last = 0, None, 0.0
    try:
        while got < count:
            sock.recvfrom(65535)
            last = time.perf_counter()
            first = first or last
            got += 1
    except TimeoutError:
        pass
    finally:
        proc.wait(10)
        sock.close()
    return got / (last - first) if first and last > first else 0.0


def sunlit(calls: int, result_bytes: int) -> dict[str, Any]:
    from flight.results import ResultStore
    from ground.results import download_result
    from ground.station import GroundStation
    from hil.pytest_plugin import start_flatsat

    # The sim profile as an operator runs it (housekeeping every second), always in contact.
    overrides = ("apps.comms.contact=always", "apps.comms.link_rate_bps=1000000000")
    with start_flatsat(overrides) as flatsat:
        run_dir = Path(flatsat.run_dir)
        with GroundStation.connect(flatsat.address, key_file=run_dir / "keys" / "link.key",
                                   dictionary=_dictionary(run_dir),
                                   state_dir=run_dir / "ground") as station:
            station.ping()
            ping, api = [], []
            for _ in range(calls):
                t0 = time.perf_counter()
                handle = station.send_tc(0x10, 17, 1, app="comms", name="ping")
                ping.append(_timed(handle))
                api.append(time.perf_counter() - t0)
            noop = [_timed(station.send("health", "noop")) for _ in range(calls)]
            data = os.urandom(result_bytes)
            ResultStore(run_dir / "results").put("bench", data)
            started = time.perf_counter()
            got = download_result(station, "bench", timeout=120)
            elapsed = time.perf_counter() - started
            assert got == data
    return {"ping": ping, "api": api, "noop": noop, "chunks": -(-result_bytes // 1024),
            "seconds": elapsed}


def _timed(handle: Any) -> float:
    stage = handle.wait(5.0)
    assert stage.ok, stage
    return float(handle.round_trip)


def _dictionary(run_dir: Path) -> dict[str, Any]:
    import json

    from flight.dictionary import build_dictionary

    return build_dictionary(json.loads((run_dir / "config.json").read_text()))


def run(calls: int = 1000, result_bytes: int = 4 * 1024 * 1024, verbose: bool = True
        ) -> BenchResult:
    started = time.monotonic()
    echo = raw_echo(calls)
    s = sunlit(calls, result_bytes)
    raw_rate = raw_downlink(s["chunks"])
    rate = s["chunks"] / s["seconds"]
    rows, checks = [], []
    base50, base99 = percentile(echo, 0.5), percentile(echo, 0.99)
    for name, times in (("ping (TC[17,1] → TM[1,7])", s["ping"]),
                        ("ping, whole API call (send_tc → wait returns)", s["api"]),
                        ("health.noop (TC[8,1] → TM[1,7])", s["noop"])):
        p50, p99 = percentile(times, 0.5), percentile(times, 0.99)
        rows.append([name, f"{p50 * 1e6:.0f}", f"{p99 * 1e6:.0f}", f"{base50 * 1e6:.0f}",
                     f"{base99 * 1e6:.0f}", fmt_ratio(p50 / base50)])
        if verbose:
            print(f"  [{NAME}] {name}: p50 {p50 * 1e6:.0f} µs p99 {p99 * 1e6:.0f} µs "
                  f"(raw echo {base50 * 1e6:.0f}/{base99 * 1e6:.0f})", file=sys.stderr)
    p50 = percentile(s["ping"], 0.5)
    checks.append(Check(NAME, "TC round trip p50, ground API → TM[1,7] (ping, auth on) vs "
                        "raw UDP echo", f"{p50 * 1e6:.0f} µs", f"{base50 * 1e6:.0f} µs",
                        fmt_ratio(p50 / base50), f"≤ {RTT_TARGET:g}x", p50 / base50 <= RTT_TARGET))
    api50 = percentile(s["api"], 0.5)
    checks.append(Check(NAME, "TC round trip p50, ping as the whole API call (info)",
                        f"{api50 * 1e6:.0f} µs", f"{base50 * 1e6:.0f} µs",
                        fmt_ratio(api50 / base50), "- (info)", True))
    noop50 = percentile(s["noop"], 0.5)
    checks.append(Check(NAME, "TC round trip p50, health.noop through the bus (info)",
                        f"{noop50 * 1e6:.0f} µs", f"{base50 * 1e6:.0f} µs",
                        fmt_ratio(noop50 / base50), "- (info)", True))
    checks.append(Check(NAME, "telemetry downlink packets/s (1 KiB result chunks) vs raw UDP",
                        f"{rate:,.0f}", f"{raw_rate:,.0f}", fmt_ratio(rate / raw_rate),
                        "- (info)", True))
    lines = [f"## Space link ({NAME})", "",
             md_table(["round trip", "p50 µs", "p99 µs", "raw echo p50 µs", "raw echo p99 µs",
                       "p50 ratio"], rows), "",
             f"Downlink: {s['chunks']} result chunks of 1 KiB in {s['seconds']:.2f} s = "
             f"{rate:,.0f} packets/s through comms and the ground station (decoded, digest "
             f"checked), against {raw_rate:,.0f} datagrams/s raw UDP between two processes "
             f"({statistics.fmean([rate / raw_rate]):.2f}x)."]
    return BenchResult(NAME, "Space link", "\n".join(lines), checks,
                       seconds=time.monotonic() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.link", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    result = run(200, 512 * 1024) if args.quick else run()
    print(result.markdown)
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
