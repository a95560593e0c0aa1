"""Each impairment, over real sockets: loss, duplication, reordering, corruption, delay and jitter,
bandwidth, queue bound, outages, and determinism for a seed."""

from __future__ import annotations

import itertools
import math
import random
import struct
import time

from tests.linksim.linksim_helpers import (
    collect,
    drain_until,
    invariant_holds,
    seq_of,
    seq_payload,
    silence,
)


def _binomial_bounds(n: int, p: float, sigmas: float = 5.0) -> tuple[float, float]:
    sd = math.sqrt(n * p * (1 - p))
    return n * p - sigmas * sd, n * p + sigmas * sd


def _bit_distance(a: bytes, b: bytes) -> int:
    return sum(bin(x ^ y).count("1") for x, y in zip(a, b, strict=True))


def test_loss_rate_is_statistically_right(make_rig) -> None:
    rig = make_rig(uplink={"loss": 0.1}, seed=1234)
    payloads = [seq_payload(i) for i in range(2000)]
    got = rig.pump(payloads)
    s = rig.stats()
    low, high = _binomial_bounds(2000, 0.1)
    assert low <= s["dropped_loss"] <= high
    assert s["received"] == 2000
    assert s["forwarded"] == 2000 - s["dropped_loss"] == len(got)
    seqs = [seq_of(d) for d in got]
    assert seqs == sorted(set(seqs))               # no duplicates, order kept
    assert all(d == payloads[seq_of(d)] for d in got)
    assert invariant_holds(s)
    assert rig.stats("downlink")["received"] == 0  # the other direction is untouched


def test_duplication(make_rig) -> None:
    rig = make_rig(uplink={"duplicate": 0.2}, seed=5)
    payloads = [seq_payload(i) for i in range(500)]
    got = rig.pump(payloads)
    s = rig.stats()
    low, high = _binomial_bounds(500, 0.2)
    assert low <= s["duplicated"] <= high
    assert len(got) == 500 + s["duplicated"] == s["forwarded"]
    seqs = [seq_of(d) for d in got]
    assert sorted(set(seqs)) == list(range(500))
    assert seqs == sorted(seqs)                       # the copy follows its original
    assert sum(1 for a, b in itertools.pairwise(seqs) if a == b) == s["duplicated"]
    assert invariant_holds(s)


def test_reordering_reorders(make_rig) -> None:
    rig = make_rig(uplink={"reorder": 0.2, "reorder_delay_ms": 30}, seed=9)
    payloads = [seq_payload(i) for i in range(300)]
    got = rig.pump(payloads)
    seqs = [seq_of(d) for d in got]
    assert sorted(seqs) == list(range(300))           # nothing lost, nothing added
    inversions = sum(1 for a, b in itertools.pairwise(seqs) if b < a)
    assert inversions > 0
    s = rig.stats()
    assert 0 < s["reordered"] < 300
    assert inversions <= s["reordered"]


def test_corruption_flips_between_one_and_k_bits(make_rig) -> None:
    rig = make_rig(uplink={"corrupt": 1.0, "corrupt_bits": 3}, seed=3)
    rnd = random.Random(0)
    payloads = [struct.pack(">I", i) + rnd.randbytes(60) for i in range(300)]
    got = rig.pump(payloads)
    assert len(got) == 300 == rig.stats()["corrupted"]
    distances = [_bit_distance(sent, recv) for sent, recv in zip(payloads, got, strict=True)]
    assert all(len(r) == 64 for r in got)
    assert set(distances) == {1, 2, 3}


def test_corruption_probability_and_single_bit(make_rig) -> None:
    rig = make_rig(uplink={"corrupt": 0.3}, seed=4)
    payloads = [bytes(50) + struct.pack(">I", i) for i in range(600)]
    got = rig.pump(payloads)
    assert len(got) == 600
    distances = [_bit_distance(a, b) for a, b in zip(payloads, got, strict=True)]
    assert set(distances) <= {0, 1}                   # exactly one bit when corrupted
    low, high = _binomial_bounds(600, 0.3)
    assert sum(distances) == rig.stats()["corrupted"]
    assert low <= rig.stats()["corrupted"] <= high


def _timed(i: int) -> bytes:
    return struct.pack(">Id", i, time.monotonic()) + bytes(20)


def test_delay_is_at_least_the_configured(make_rig) -> None:
    rig = make_rig(uplink={"delay_ms": 50}, downlink={"delay_ms": 30})
    latencies = []
    for i in range(10):
        rig.up(_timed(i))
    for data in collect(rig.flight, 10):
        latencies.append(time.monotonic() - struct.unpack(">Id", data[:12])[1])
    assert len(latencies) == 10
    assert min(latencies) >= 0.050
    assert max(latencies) < 1.0
    rig.down(_timed(0))
    (data,) = collect(rig.ground, 1)
    assert time.monotonic() - struct.unpack(">Id", data[:12])[1] >= 0.030


def test_jitter_spreads_delay_never_negative_and_keeps_order(make_rig) -> None:
    rig = make_rig(uplink={"delay_ms": 15, "jitter_ms": 10}, seed=11)
    for i in range(60):
        rig.up(_timed(i))
    got = collect(rig.flight, 60)
    assert [struct.unpack(">I", d[:4])[0] for d in got] == list(range(60))
    latencies = [time.monotonic() - struct.unpack(">Id", d[:12])[1] for d in got]
    assert min(latencies) >= 0.005


def test_normal_jitter_can_reorder_when_allowed(make_rig) -> None:
    rig = make_rig(uplink={"delay_ms": 5, "jitter_ms": 20, "jitter_dist": "normal",
                           "preserve_order": False}, seed=12)
    got = rig.pump([seq_payload(i) for i in range(100)])
    seqs = [seq_of(d) for d in got]
    assert sorted(seqs) == list(range(100))
    assert seqs != sorted(seqs)


def test_bandwidth_limit_paces_datagrams(make_rig) -> None:
    rig = make_rig(uplink={"bandwidth": 50_000})      # 500 B → 10 ms each
    t0 = time.monotonic()
    for i in range(20):
        rig.up(seq_payload(i, 500))
    got = collect(rig.flight, 20)
    elapsed = time.monotonic() - t0
    assert [seq_of(d) for d in got] == list(range(20))
    assert elapsed >= 0.2 - 0.002


def test_queue_bound_drops_and_counts(make_rig) -> None:
    rig = make_rig(uplink={"delay_ms": 500, "max_queue": 10})
    for i in range(30):
        rig.up(seq_payload(i))
    drain_until(rig.flight, lambda _: rig.stats()["received"] == 30)
    s = rig.stats()
    assert (s["queued"], s["dropped_queue"]) == (10, 20)
    got = collect(rig.flight, 10)
    assert [seq_of(d) for d in got] == list(range(10))
    assert invariant_holds(rig.stats())


def test_queue_bound_with_bandwidth(make_rig) -> None:
    rig = make_rig(uplink={"bandwidth": 10_000, "max_queue": 5})
    for i in range(50):
        rig.up(seq_payload(i))
    got = drain_until(rig.flight, lambda got: rig.stats()["received"] == 50
                      and rig.stats()["queued"] == 0 and len(got) == rig.stats()["forwarded"])
    s = rig.stats()
    assert s["received"] == 50
    assert s["dropped_queue"] >= 30
    assert s["forwarded"] == 50 - s["dropped_queue"] == len(got)


def test_outage_drops_everything_then_recovers(make_rig) -> None:
    rig = make_rig()
    rig.up(b"hello")
    collect(rig.flight, 1)
    rig.sim.outage(True)
    assert rig.sim.outages() == {"uplink": True, "downlink": True}
    for i in range(50):
        rig.up(seq_payload(i))
        rig.down(seq_payload(i))
    assert silence(rig.flight, 0.15) == []
    assert silence(rig.ground, 0.0) == []
    assert rig.stats()["dropped_outage"] == 50
    assert rig.stats("downlink")["dropped_outage"] == 50
    rig.sim.outage(False)
    assert [seq_of(d) for d in rig.pump([seq_payload(i) for i in range(10)])] == list(range(10))


def test_one_direction_outage(make_rig) -> None:
    rig = make_rig()
    rig.sim.outage(True, "downlink")
    rig.up(b"tc")
    assert collect(rig.flight, 1) == [b"tc"]
    rig.down(b"tm")
    assert silence(rig.ground, 0.1) == []
    assert rig.stats("downlink")["dropped_outage"] == 1


def test_outage_catches_datagrams_in_flight(make_rig) -> None:
    rig = make_rig(uplink={"delay_ms": 200})
    for i in range(5):
        rig.up(seq_payload(i))
    drain_until(rig.flight, lambda _: rig.stats()["queued"] == 5)
    rig.sim.outage(True)
    drain_until(rig.flight, lambda got: not got and rig.stats()["queued"] == 0)
    assert rig.stats()["dropped_outage"] == 5


def test_scheduled_outage_window(make_rig) -> None:
    rig = make_rig(uplink={"outages": [(0.0, 0.3)]})
    rig.up(b"early")
    assert silence(rig.flight, 0.05) == []
    assert rig.stats()["dropped_outage"] == 1
    # probe every 20 ms until one gets through: must be after the window, within a deadline
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        rig.up(b"probe")
        if collect(rig.flight, 1, 0.02):
            break
    else:
        raise AssertionError("the link never came back")
    assert rig.sim.uptime_s >= 0.3
    assert rig.sim.outages() == {"uplink": False, "downlink": False}


def _run_once(make_rig, seed: int) -> tuple[list[bytes], dict[str, int]]:
    rig = make_rig(uplink={"loss": 0.2, "duplicate": 0.1, "corrupt": 0.1, "corrupt_bits": 4},
                   seed=seed)
    got = rig.pump([seq_payload(i) for i in range(500)])
    return got, rig.stats()


def test_same_seed_same_run(make_rig) -> None:
    a, stats_a = _run_once(make_rig, 77)
    b, stats_b = _run_once(make_rig, 77)
    c, _ = _run_once(make_rig, 78)
    assert a == b
    assert stats_a == stats_b
    assert a != c
