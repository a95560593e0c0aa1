"""Wilson intervals, Leveugle sample sizes and throughput against known values."""

from __future__ import annotations

import math

import pytest

from hil.campaign.stats import leveugle, margin_reached, throughput, wilson, z_value


def test_z_for_95_percent_is_1_96() -> None:
    assert z_value(0.95) == pytest.approx(1.959964, abs=1e-6)


@pytest.mark.parametrize(("k", "n", "lo", "hi"), [
    # Newcombe (1998), "Two-sided confidence intervals for the single proportion", table I,
    # method 3 (score interval without continuity correction), to four decimals.
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0, 0.1611),
    (1, 29, 0.0061, 0.1718),
    # The closed form at the edges.
    (0, 10, 0.0, 0.2775),
    (10, 10, 0.7225, 1.0),
    (5, 10, 0.2366, 0.7634),
])
def test_wilson_matches_known_intervals(k: int, n: int, lo: float, hi: float) -> None:
    got = wilson(k, n)
    assert got[0] == pytest.approx(lo, abs=6e-5)
    assert got[1] == pytest.approx(hi, abs=6e-5)


def test_wilson_without_runs_knows_nothing_and_refuses_nonsense() -> None:
    assert wilson(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson(3, 2)
    with pytest.raises(ValueError):
        wilson(-1, 2)


@pytest.mark.parametrize(("margin", "runs"), [(0.05, 385), (0.03, 1068), (0.01, 9604)])
def test_leveugle_for_a_large_population(margin: float, runs: int) -> None:
    assert leveugle(None, margin) == runs
    assert leveugle(10**12, margin) == runs


def test_leveugle_for_a_finite_population() -> None:
    # n = N / (1 + e^2 (N - 1) / (t^2 p (1 - p))): N = 1000, ±5 %, 95 % -> 277.7 -> 278.
    assert leveugle(1000, 0.05) == 278
    assert leveugle(10, 0.05) == 10  # a tiny population is simply sampled whole
    assert leveugle(1, 0.05) == 1
    with pytest.raises(ValueError):
        leveugle(100, 0.0)
    with pytest.raises(ValueError):
        leveugle(0, 0.05)


def test_margin_reached_is_the_inverse_of_the_sample_size() -> None:
    assert margin_reached(385, None) == pytest.approx(0.05, abs=2e-4)
    assert margin_reached(1068, None) == pytest.approx(0.03, abs=1e-4)
    assert margin_reached(1000, 1000) == 0.0  # the whole population: no sampling error
    assert margin_reached(0, 100) is None
    n = leveugle(5000, 0.04)
    assert margin_reached(n, 5000) <= 0.04 < margin_reached(n - 1, 5000) + 1e-4


def test_throughput_counts_each_session_from_its_start() -> None:
    sessions = [{"started_unix": 1000.0, "executor": "local"},
                {"started_unix": 2000.0, "executor": "local"}]
    records = [{"finished_unix": 1030.0}, {"finished_unix": 1060.0},  # 2 runs in 60 s
               {"finished_unix": 2015.0}, {"finished_unix": 2030.0},
               {"finished_unix": 2030.0}]  # 3 runs in 30 s
    out = throughput(records, sessions)
    assert [s["runs_per_min"] for s in out["sessions"]] == [2.0, 6.0]
    assert out["runs"] == 5 and out["busy_s"] == 90.0
    assert math.isclose(out["runs_per_min"], 5 * 60 / 90, rel_tol=1e-3)
    assert throughput([], [])["runs_per_min"] is None
