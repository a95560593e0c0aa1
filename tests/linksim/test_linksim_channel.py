"""The decision engine without sockets: settings validation, statistics on large samples,
independent random streams, and reproducibility for a seed."""

from __future__ import annotations

import math
import random

import pytest

from hil.linksim.impair import Channel, Impairments, directions, flip_bits, parse_value


def _admit_many(ch: Channel, n: int, size: int = 100, dt: float = 1e-4) -> list[list[tuple]]:
    return [ch.admit(i.to_bytes(4, "big") + bytes(size - 4), i * dt) for i in range(n)]


def test_defaults_are_transparent() -> None:
    ch = Channel("uplink", 1)
    out = _admit_many(ch, 1000)
    assert all(len(o) == 1 and o[0][0] == i * 1e-4 for i, o in enumerate(out))
    assert ch.stats["received"] == 1000
    assert sum(v for k, v in ch.stats.items() if k != "received" and k != "bytes_received") == 0


@pytest.mark.parametrize("p", [0.01, 0.1, 0.5])
def test_loss_rate_large_sample(p) -> None:
    ch = Channel("uplink", 42, Impairments(loss=p))
    n = 50_000
    _admit_many(ch, n)
    sd = math.sqrt(n * p * (1 - p))
    assert abs(ch.stats["dropped_loss"] - n * p) < 5 * sd


def test_streams_are_independent() -> None:
    """Adding corruption or duplication does not change which datagrams are lost."""
    def lost(imp: Impairments) -> list[int]:
        ch = Channel("downlink", 9, imp)
        return [i for i, o in enumerate(_admit_many(ch, 3000)) if not o]

    base = lost(Impairments(loss=0.1))
    assert base == lost(Impairments(loss=0.1, corrupt=0.5, duplicate=0.3, jitter_ms=5))


def test_directions_draw_from_different_streams() -> None:
    up = Channel("uplink", 9, Impairments(loss=0.5))
    down = Channel("downlink", 9, Impairments(loss=0.5))
    a = [bool(o) for o in _admit_many(up, 200)]
    b = [bool(o) for o in _admit_many(down, 200)]
    assert a != b


def test_same_seed_same_decisions_with_everything_on() -> None:
    imp = Impairments(delay_ms=20, jitter_ms=15, jitter_dist="normal", loss=0.1, duplicate=0.1,
                      reorder=0.1, corrupt=0.1, corrupt_bits=5, bandwidth=200_000)
    runs = [_admit_many(Channel("uplink", seed, imp), 2000) for seed in (3, 3, 4)]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_jitter_never_gives_negative_delay() -> None:
    ch = Channel("uplink", 1, Impairments(delay_ms=1, jitter_ms=50, jitter_dist="normal",
                                          preserve_order=False))
    for i, out in enumerate(_admit_many(ch, 5000)):
        for due, _ in out:
            assert due >= i * 1e-4


def test_preserve_order_never_reorders_with_jitter() -> None:
    ch = Channel("uplink", 1, Impairments(delay_ms=10, jitter_ms=10))
    dues = [o[0][0] for o in _admit_many(ch, 3000)]
    assert dues == sorted(dues)


def test_reordered_datagrams_are_held_by_the_extra_delay() -> None:
    ch = Channel("uplink", 2, Impairments(delay_ms=5, reorder=0.3, reorder_delay_ms=25))
    out = _admit_many(ch, 2000)
    held = [(i, o[0][0]) for i, o in enumerate(out) if o[0][0] - i * 1e-4 > 0.006]
    assert len(held) == ch.stats["reordered"]
    assert all(abs(due - i * 1e-4 - 0.030) < 1e-9 for i, due in held)
    in_order = [o[0][0] for i, o in enumerate(out) if (i, o[0][0]) not in held]
    assert in_order == sorted(in_order)         # reordering does not hold the others back


def test_bandwidth_serialises() -> None:
    ch = Channel("uplink", 1, Impairments(bandwidth=1000))
    dues = [o[0][0] for o in _admit_many(ch, 10, size=100, dt=0.0)]
    assert dues == pytest.approx([0.1 * (k + 1) for k in range(10)])


def test_queue_bound_counts_pending() -> None:
    ch = Channel("uplink", 1, Impairments(delay_ms=100, max_queue=3))
    for i in range(5):
        for _, data in ch.admit(b"x", i * 1e-3):
            ch.hold(data)                         # the proxy's job
    assert ch.pending == 3
    assert ch.stats["dropped_queue"] == 2


def test_queue_bound_in_bytes() -> None:
    ch = Channel("uplink", 1, Impairments(delay_ms=100, max_queue_bytes=1000, duplicate=1.0))
    for i in range(5):
        for _, data in ch.admit(bytes(300), i * 1e-3):
            ch.hold(data)
    assert (ch.pending, ch.pending_bytes) == (3, 900)      # original + copy, then one more
    assert ch.stats["duplicated"] == 2
    assert ch.stats["dropped_queue"] == 1 + 3              # the second copy, then three
    received, queued = ch.stats["received"], ch.pending
    assert received + 2 == ch.stats["dropped_queue"] + queued


def test_outage_windows_are_relative_to_start() -> None:
    ch = Channel("uplink", 1, Impairments(outages=[(1.0, 2.0), "5:6"]))
    ch.t0 = 100.0
    assert [ch.in_outage(100.0 + t) for t in (0.5, 1.0, 1.99, 2.0, 5.5, 7)] == [
        False, True, True, False, True, False]
    ch.manual_outage = True
    assert ch.in_outage(100.0)


@pytest.mark.parametrize("bits", [1, 2, 7, 64])
def test_flip_bits_flips_exactly_the_count_drawn(bits) -> None:
    rng = random.Random(bits)
    seen = set()
    for _ in range(300):
        data = rng.randbytes(16)
        out = flip_bits(data, rng, bits)
        flipped = sum(bin(a ^ b).count("1") for a, b in zip(data, out, strict=True))
        assert 1 <= flipped <= bits
        assert len(out) == len(data)
        seen.add(flipped)
    assert seen == set(range(1, bits + 1)) or bits == 64


def test_flip_bits_caps_at_datagram_length() -> None:
    assert flip_bits(b"\x00", random.Random(0), 100) != b"\x00"
    assert bin(flip_bits(b"\x00", random.Random(0), 1000)[0]).count("1") <= 8


@pytest.mark.parametrize("bad", [
    {"loss": 1.5}, {"loss": -0.1}, {"delay_ms": -1}, {"jitter_ms": float("nan")},
    {"jitter_dist": "cauchy"}, {"corrupt_bits": 0}, {"max_queue": 0}, {"max_queue": 2.5},
    {"max_queue_bytes": -1},
    {"outages": [(5, 1)]}, {"outages": ["3"]}, {"loss": "0.1"}, {"preserve_order": "yes"},
    {"bandwidth": float("inf")}, {"nonsense": 1},
])
def test_invalid_settings_are_rejected(bad) -> None:
    with pytest.raises(ValueError):
        Impairments.from_dict(bad)


def test_from_dict_keeps_base_and_round_trips() -> None:
    base = Impairments(delay_ms=50, loss=0.1)
    new = Impairments.from_dict({"loss": 0.2, "max_queue": 7.0}, base)
    assert (new.delay_ms, new.loss, new.max_queue) == (50.0, 0.2, 7)
    assert Impairments.from_dict(new.as_dict()) == new


def test_parse_value_and_directions() -> None:
    assert parse_value("loss", "0.5") == 0.5
    assert parse_value("max_queue", "12") == 12
    assert parse_value("preserve_order", "off") is False
    assert parse_value("outages", "1:2,3:4") == ["1:2", "3:4"]
    with pytest.raises(ValueError):
        parse_value("bogus", "1")
    assert directions("both") == ("uplink", "downlink")
    assert directions("Down") == ("downlink",)
    with pytest.raises(ValueError):
        directions("sideways")
