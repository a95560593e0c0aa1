"""Upsets: Poisson statistics, SAA multiplier, regions, step-size independence."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from hil.world.constants import BITS_PER_KIB, BITS_PER_MIB
from hil.world.model import World, WorldConfig
from hil.world.radiation import RadiationConfig, RadiationModel
from tests.world.world_helpers import unix

BITS = 16 * BITS_PER_MIB + 64 * BITS_PER_KIB


def count(rate: float, days: float, in_saa: bool, mult: float = 50.0, seed: int = 1,
          step_s: float = 3600.0) -> list:
    model = RadiationModel(RadiationConfig(upset_rate_per_bit_day=rate, saa_multiplier=mult),
                           np.random.default_rng(seed))
    upsets = []
    t = 0.0
    for _ in range(round(days * 86400 / step_s)):
        upsets += model.step(t, step_s, in_saa, 0.0, 0.0)
        t += step_s
    return upsets


def test_default_regions() -> None:
    model = RadiationModel(RadiationConfig(), np.random.default_rng(0))
    assert model.total_bits == BITS
    assert model.names == ("jobs", "checkpoints", "tables")


def test_mean_count_is_rate_times_bits_times_days() -> None:
    rate, days = 1e-6, 100.0
    expected = rate * BITS * days  # ≈ 13,474
    got = len(count(rate, days, in_saa=False))
    assert abs(got - expected) < 4 * math.sqrt(expected)


def test_saa_multiplier() -> None:
    rate, days, mult = 1e-7, 10.0, 50.0
    expected = rate * BITS * days * mult  # ≈ 6,737
    got = len(count(rate, days, in_saa=True, mult=mult))
    assert abs(got - expected) < 4 * math.sqrt(expected)


def test_regions_get_upsets_in_proportion_and_bits_in_range() -> None:
    upsets = count(1e-6, 50.0, in_saa=False)
    sizes = dict(RadiationConfig().regions)
    by_region = Counter(u.region for u in upsets)
    n = len(upsets)
    for name, bits in sizes.items():
        p = bits / BITS
        assert abs(by_region[name] - n * p) < 5 * math.sqrt(n * p * (1 - p)) + 1
    assert all(0 <= u.bit < sizes[u.region] for u in upsets)
    times = [u.t for u in upsets]
    assert times == sorted(times) and times[-1] <= 50 * 86400


def test_same_upsets_however_time_is_cut() -> None:
    """The exposure-spending sampler is independent of the step partition."""
    cfg = RadiationConfig(upset_rate_per_bit_day=1e-6)
    a = RadiationModel(cfg, np.random.default_rng(7))
    b = RadiationModel(cfg, np.random.default_rng(7))
    one = a.step(0.0, 7200.0, False, 0.0, 0.0)
    many = []
    for k in range(7200):
        many += b.step(float(k), 1.0, False, 0.0, 0.0)
    assert len(one) == len(many) > 0
    for u, v in zip(one, many, strict=True):
        assert (u.region, u.bit) == (v.region, v.bit)
        assert u.t == pytest.approx(v.t, abs=1e-6)


def test_zero_rate_never_upsets() -> None:
    assert count(0.0, 10.0, in_saa=True) == []


def test_world_upsets_concentrate_in_the_saa() -> None:
    """Over two days of the default orbit the SAA rate per second is ~50x the outside rate."""
    cfg = WorldConfig.from_flat({"upset_rate_per_bit_day": 1e-6, "step_s": 10.0, "seed": 3})
    world = World(cfg, unix(2025, 2, 1))
    saa_s = 0.0
    upsets = []
    for _ in range(2 * 8640):
        upsets += world.step(10.0)
        saa_s += 10.0 * world.sensors()["in_saa"]
    inside = [u for u in upsets if u.in_saa]
    outside = len(upsets) - len(inside)
    assert 0.02 < saa_s / (2 * 86400) < 0.15  # the SAA takes a few % of a polar orbit
    ratio = (len(inside) / saa_s) / (outside / (2 * 86400 - saa_s))
    assert 35.0 < ratio < 70.0
    assert all(cfg.saa.contains(u.lat, u.lon) for u in inside)
    assert world.sensors()["upsets_total"] == len(upsets)
    assert world.sensors()["upsets_saa"] == len(inside)
