"""Upset statistics: exposure accounting, the Gamma-Poisson estimator and its checkpoint state."""

from __future__ import annotations

import copy
import math
from statistics import NormalDist
from typing import Any

import msgpack
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flight.apps.radiation.stats import (
    SECONDS_PER_DAY,
    UpsetStats,
    chi2_quantile,
    gamma_cdf,
    gamma_quantile,
)

DAY = SECONDS_PER_DAY


# ------------------------------------------------------------------------------ the Gamma maths


@pytest.mark.parametrize(("p", "df", "expected"), [
    # Published chi-square table values (e.g. NIST/SEMATECH e-Handbook, table 1.3.6.7.4).
    (0.95, 1, 3.841458820694124),
    (0.975, 10, 20.483177350807388),
    (0.025, 10, 3.246972780236841),
    (0.95, 4, 9.487729036781154),
    (0.05, 30, 18.492660981953467),
    (0.99, 100, 135.80672317102676),
])
def test_chi2_quantile_matches_tables(p: float, df: float, expected: float) -> None:
    assert chi2_quantile(p, df) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("p", [1e-9, 0.025, 0.3, 0.5, 0.975, 1 - 1e-9])
def test_gamma_quantile_closed_forms(p: float) -> None:
    # Shape 1 is the exponential distribution; chi-square with 1 df is a squared normal.
    assert gamma_quantile(p, 1.0) == pytest.approx(-math.log1p(-p), rel=1e-10)
    assert gamma_quantile(p, 1.0, rate=4.0) == pytest.approx(-math.log1p(-p) / 4, rel=1e-10)
    z = NormalDist().inv_cdf((1 + p) / 2)
    assert chi2_quantile(p, 1.0) == pytest.approx(z * z, rel=1e-8)


def _poisson_tail_cdf(x: float, k: int) -> float:
    """P(Gamma(k, 1) <= x) for integer k: 1 - P(Poisson(x) < k)."""
    return 1.0 - sum(math.exp(-x) * x**i / math.factorial(i) for i in range(k))


@pytest.mark.parametrize("shape", [1, 2, 3, 7, 20, 60])
def test_gamma_cdf_and_quantile_agree_with_the_poisson_sum(shape: int) -> None:
    for p in (0.001, 0.025, 0.5, 0.975, 0.999):
        x = gamma_quantile(p, shape)
        assert _poisson_tail_cdf(x, shape) == pytest.approx(p, rel=1e-9)
        assert gamma_cdf(x, shape) == pytest.approx(p, rel=1e-12)


@settings(max_examples=200, deadline=None)
@given(shape=st.floats(1e-3, 1e5), p=st.floats(1e-6, 1 - 1e-6))
def test_gamma_quantile_inverts_the_cdf(shape: float, p: float) -> None:
    x = gamma_quantile(p, shape)
    assert math.isfinite(x) and x >= 0
    if x > 0:
        assert gamma_cdf(x, shape) == pytest.approx(p, rel=1e-8, abs=1e-14)


def test_large_shapes_are_fast_and_continuous() -> None:
    for p in (1e-6, 0.025, 0.5, 0.975, 1 - 1e-6):
        exact = gamma_quantile(p, 1e5)
        assert gamma_quantile(p, 1e5 * (1 + 1e-12)) == pytest.approx(exact, rel=1e-7)
        huge = gamma_quantile(p, 1e30, rate=1e25)
        assert math.isfinite(huge) and huge == pytest.approx(1e5, rel=1e-9)


def test_gamma_arguments_are_checked() -> None:
    for p in (0.0, 1.0, math.nan):
        with pytest.raises(ValueError):
            gamma_quantile(p, 1.0)
    with pytest.raises(ValueError):
        gamma_quantile(0.5, 0.0)
    with pytest.raises(ValueError):
        gamma_quantile(0.5, 1.0, rate=math.inf)
    assert gamma_cdf(0.0, 2.0) == 0.0 and gamma_cdf(math.inf, 2.0) == 1.0


# ------------------------------------------------------------------------------ exposure


def test_exposure_goes_to_the_saa_state_of_the_opening_sample() -> None:
    stats = UpsetStats()
    assert stats.observe(0.0, False)
    assert stats.observe(100.0, True)  # 0..100 outside
    assert stats.observe(130.0, True)  # 100..130 inside
    assert stats.observe(150.0, False)  # 130..150 inside
    assert stats.observe(150.0, False)  # equal time: nothing, but fine
    assert (stats.other_exposure_s, stats.saa_exposure_s) == (100.0, 50.0)
    assert stats.exposure_s == 150.0


def test_time_going_backwards_adds_nothing_and_is_counted() -> None:
    stats = UpsetStats()
    stats.observe(1000.0, False)
    assert not stats.observe(10.0, False)  # clock reset
    assert stats.observe(20.0, False)  # counts from the new reference
    assert not stats.observe(math.nan, True)
    assert not stats.observe("soon", True)  # type: ignore[arg-type]
    assert stats.exposure_s == 10.0
    assert stats.time_reversals == 3


def test_long_gaps_are_not_exposure_when_capped() -> None:
    stats = UpsetStats(max_gap_s=60.0)
    for t in (0.0, 30.0, 60.0, 5000.0, 5010.0):
        stats.observe(t, False)
    assert stats.exposure_s == 70.0 and stats.gaps == 1


# ------------------------------------------------------------------------------ counts


def test_counts_by_evidence_outcome_and_region() -> None:
    stats = UpsetStats()
    stats.record("abft", "corrected", 5.0, True)
    stats.record("abft", "rolled_back", 6.0, False)
    stats.record("table", "repaired", 7.0, True)
    assert stats.upsets == 3 and (stats.saa_upsets, stats.other_upsets) == (2, 1)
    assert stats.by_evidence() == {"abft": 2, "table": 1}
    assert stats.by_outcome() == {"corrected": 1, "rolled_back": 1, "repaired": 1}
    assert stats.by_evidence_outcome()["abft"] == {"corrected": 1, "rolled_back": 1}
    assert stats.last_upset_t == 7.0


def test_bad_names_are_refused() -> None:
    stats = UpsetStats()
    for evidence, outcome in (("", "masked"), ("ABFT", "masked"), ("abft", None),
                              ("x" * 40, "masked"), ("a b", "masked")):
        with pytest.raises(ValueError):
            stats.record(evidence, outcome, 0.0, False)  # type: ignore[arg-type]
    for i in range(64):
        stats.record(f"e{i}", f"o{i}", 0.0, False)
    with pytest.raises(ValueError, match="evidence kinds"):
        stats.record("e64", "o0", 0.0, False)
    with pytest.raises(ValueError, match="outcome kinds"):
        stats.record("e0", "o64", 0.0, False)
    assert stats.upsets == 64


# ------------------------------------------------------------------------------ estimates


def test_before_any_upset_the_estimate_is_the_prior() -> None:
    stats = UpsetStats(prior_rate_per_day=2.0, prior_days=0.5)
    rate = stats.rate()
    assert rate.per_day == 2.0 and rate.upsets == 0
    assert 0 < rate.low_per_day < 2.0 < rate.high_per_day
    assert stats.mtbf_s() == DAY / 2
    summary = stats.summary(watched_bits=1000)
    assert summary["saa_ratio"] == 1.0
    assert summary["rate_per_bit_per_day"] == pytest.approx(2.0 / 1000)
    assert math.isfinite(summary["mtbf_s"])


def test_nothing_seen_for_long_drives_the_rate_down_but_not_to_zero() -> None:
    stats = UpsetStats(prior_rate_per_day=5.0, prior_days=1.0)
    stats.observe(0.0, False)
    stats.observe(99 * DAY, False)
    assert stats.rate().per_day == pytest.approx(5.0 / 100)
    assert stats.rate().low_per_day > 0
    assert stats.mtbf_s() == pytest.approx(20 * DAY)


def test_the_estimate_converges_to_count_over_exposure() -> None:
    stats = UpsetStats(prior_rate_per_day=100.0, prior_days=1.0)  # a badly wrong prior
    stats.observe(0.0, False)
    stats.observe(1000 * DAY, False)
    for _ in range(3000):
        stats.record("edac_ce", "corrected", 1.0, False)
    rate = stats.rate()
    assert rate.per_day == pytest.approx(3.0, rel=0.04)
    assert rate.low_per_day < 3.0 < rate.high_per_day
    assert rate.high_per_day - rate.low_per_day < 0.3
    assert stats.rate_per_bit(1 << 20).per_day == pytest.approx(rate.per_day / (1 << 20))
    with pytest.raises(ValueError):
        stats.rate_per_bit(0)
    with pytest.raises(ValueError):
        stats.rate("south")


def test_interval_covers_the_true_rate_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(20240611)
    true_rate, days, trials = 0.7, 20.0, 500
    covered = 0
    for _ in range(trials):
        stats = UpsetStats(prior_rate_per_day=1.0, prior_days=1e-3)
        stats.observe(0.0, False)
        stats.observe(days * DAY, False)
        for _ in range(int(rng.poisson(true_rate * days))):
            stats.record("abft", "corrected", 1.0, False)
        rate = stats.rate()
        covered += rate.low_per_day <= true_rate <= rate.high_per_day
    assert 0.91 <= covered / trials <= 0.99


def test_saa_ratio_finds_the_anomaly() -> None:
    rng = np.random.default_rng(7)
    stats = UpsetStats(prior_rate_per_day=1.0, prior_days=0.1)
    t = 0.0
    for _ in range(2000):  # 10 % of the time in the SAA, where the rate is 20x
        in_saa = rng.random() < 0.1
        stats.observe(t, in_saa)
        dt = 600.0
        rate = (20.0 if in_saa else 1.0) / DAY
        for _ in range(int(rng.poisson(rate * dt))):
            stats.record("table", "repaired", t, in_saa)
        t += dt
    stats.observe(t, False)
    summary = stats.summary()
    assert 12.0 < summary["saa_ratio"] < 30.0
    assert summary["upsets"] == summary["upsets_saa"] + summary["upsets_other"]
    assert summary["mtbf_low_s"] <= summary["mtbf_s"] <= summary["mtbf_high_s"]


def test_prior_must_be_positive_and_finite() -> None:
    for bad in (0.0, -1.0, math.inf, math.nan, True, "1", 1e10, 10**400):
        with pytest.raises(ValueError):
            UpsetStats(prior_rate_per_day=bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            UpsetStats(prior_days=bad)  # type: ignore[arg-type]


def test_reset_keeps_the_prior() -> None:
    stats = UpsetStats(prior_rate_per_day=3.0)
    stats.observe(0.0, True)
    stats.observe(50.0, True)
    stats.record("crash", "restarted", 10.0, True)
    stats.reset()
    assert stats.upsets == 0 and stats.exposure_s == 0 and stats.rate().per_day == 3.0


# ------------------------------------------------------------------------------ state

_ops = st.lists(st.one_of(
    st.tuples(st.just("observe"), st.floats(-50, 5000, allow_nan=False), st.booleans()),
    st.tuples(st.sampled_from(["abft", "digest", "edac_ce", "crash"]),
              st.sampled_from(["masked", "corrected", "rolled_back", "safe"]), st.booleans()),
), max_size=40)


def _apply(stats: UpsetStats, ops: list[tuple[Any, ...]]) -> None:
    t = 0.0
    for op in ops:
        if op[0] == "observe":
            t += op[1]
            stats.observe(t, op[2])
        else:
            stats.record(op[0], op[1], t, op[2])


@settings(max_examples=100, deadline=None)
@given(ops=_ops)
def test_state_round_trips_through_msgpack(ops: list[tuple[Any, ...]]) -> None:
    stats = UpsetStats(prior_rate_per_day=0.5, prior_days=2.0, max_gap_s=4000.0)
    _apply(stats, ops)
    state = msgpack.unpackb(msgpack.packb(stats.to_state()), raw=False)
    back = UpsetStats.from_state(state)
    assert back.to_state() == stats.to_state()
    assert back.summary(watched_bits=8) == stats.summary(watched_bits=8)
    more = [("observe", 10.0, True), ("abft", "masked", False), ("observe", 7.0, False)]
    _apply(back, more)
    _apply(stats, more)
    assert back.to_state() == stats.to_state()


def test_configured_prior_wins_over_the_stored_one() -> None:
    state = UpsetStats(prior_rate_per_day=0.5, prior_days=2.0).to_state()
    back = UpsetStats.from_state(state, prior_rate_per_day=4.0)
    assert (back.prior_rate_per_day, back.prior_days) == (4.0, 2.0)


def _valid_state() -> dict[str, Any]:
    stats = UpsetStats()
    stats.observe(0.0, False)
    stats.observe(100.0, True)
    stats.record("abft", "corrected", 50.0, False)
    return stats.to_state()


@pytest.mark.parametrize("mutate", [
    lambda s: [1, 2],
    lambda s: None,
    lambda s: s.update(version=0) or s,
    lambda s: s.pop("upsets") and s,
    lambda s: s.update(upsets={"saa": 0}) or s,
    lambda s: s.update(upsets={"saa": 0, "other": -1}) or s,
    lambda s: s.update(upsets={"saa": True, "other": 1}) or s,
    lambda s: s.update(upsets={"saa": 5, "other": 1}) or s,  # disagrees with by_evidence
    lambda s: s.update(exposure_s={"saa": math.nan, "other": 1.0}) or s,
    lambda s: s.update(exposure_s={"saa": -1.0, "other": 1.0}) or s,
    lambda s: s.update(exposure_s="lots") or s,
    lambda s: s.update(by_evidence={"abft": {"corrected": 1.5}}) or s,
    lambda s: s.update(by_evidence={"ABFT": {"corrected": 1}}) or s,
    lambda s: s.update(by_evidence={"abft": {"": 1}}) or s,
    lambda s: s.update(by_evidence={"abft": [1]}) or s,
    lambda s: s.update(by_evidence={f"e{i}": {} for i in range(65)}) or s,
    lambda s: s.update(last_t=math.inf) or s,
    lambda s: s.update(last_t="now") or s,
    lambda s: s.update(last_in_saa=1) or s,
    lambda s: s.update(time_reversals=-1) or s,
    lambda s: s.update(gaps=None) or s,
    lambda s: s.update(prior_days=0.0) or s,
    lambda s: s.update(prior_rate_per_day="1") or s,
    lambda s: s.update(max_gap_s=-5.0) or s,
])
def test_corrupt_state_is_rejected(mutate) -> None:  # type: ignore[no-untyped-def]
    state = _valid_state()
    with pytest.raises(ValueError):
        UpsetStats.from_state(mutate(state))


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict) and value:
        return [p for k, v in value.items() for p in _leaves(v, (*path, k))]
    return [path]


@settings(max_examples=300, deadline=None)
@given(data=st.data(), junk=st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=5),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(),
                                                         max_size=3)))
def test_any_damaged_field_gives_valueerror_or_a_usable_object(data: st.DataObject,
                                                               junk: object) -> None:
    state = _valid_state()
    path = data.draw(st.sampled_from(_leaves(state)))
    damaged = copy.deepcopy(state)
    target = damaged
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = junk
    try:
        stats = UpsetStats.from_state(damaged)
    except ValueError:
        return
    stats.summary(watched_bits=64)  # whatever was accepted must be usable
    stats.observe(1e6, True)
    stats.record("abft", "corrected", 1e6, True)
