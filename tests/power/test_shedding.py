"""Load shedding and mode advice: hysteresis holds under noise, thresholds in order."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from flight.apps.power.loads import SHEDDABLE
from flight.apps.power.shedding import (
    NOMINAL,
    POWER_SAVE,
    SAFE,
    LoadShedder,
    advise_mode,
    compute_budget,
)

THRESHOLDS = {load.name: (load.shed_soc, load.restore_soc) for load in SHEDDABLE}


def test_sheds_in_priority_order_and_restores_in_reverse() -> None:
    shedder = LoadShedder()
    order = []
    for soc in np.linspace(0.95, 0.30, 66):
        order += [s.load for s in shedder.update(float(soc), THRESHOLDS) if not s.on]
    assert order == ["compute", "heater_noncritical", "radio"]
    back = []
    for soc in np.linspace(0.30, 0.95, 66):
        back += [s.load for s in shedder.update(float(soc), THRESHOLDS) if s.on]
    assert back == ["radio", "heater_noncritical", "compute"]


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), noise=st.floats(0.0, 0.04),
       cycles=st.integers(1, 4))
def test_noisy_soc_at_a_threshold_switches_once_per_hysteresis_cycle(
        seed: int, noise: float, cycles: int) -> None:
    """SoC swings slowly through the compute band, with noise up to the band's half-width."""
    rng = np.random.default_rng(seed)
    shed, restore = THRESHOLDS["compute"]
    t = np.linspace(0, cycles * 2 * np.pi, 400 * cycles)
    mid, swing = (shed + restore) / 2, (restore - shed) / 2 + 0.06
    soc = mid + swing * np.cos(t) + rng.uniform(-noise, noise, t.size)
    shedder = LoadShedder()
    switches = [s for x in soc for s in shedder.update(float(x), THRESHOLDS)
                if s.load == "compute"]
    assert len(switches) <= 2 * cycles  # at most one shed and one restore per cycle
    assert all(a.on != b.on for a, b in itertools.pairwise(switches))


@given(st.floats(0.7001, 0.7999), st.booleans())
def test_inside_the_band_nothing_changes(soc: float, on: bool) -> None:
    shedder = LoadShedder()
    shedder.on["compute"] = on
    assert [s for s in shedder.update(soc, THRESHOLDS) if s.load == "compute"] == []


def test_unknown_soc_sheds_compute_only() -> None:
    shedder = LoadShedder()
    switches = shedder.update(None, THRESHOLDS)
    assert [(s.load, s.on) for s in switches] == [("compute", False)]
    assert shedder.on["radio"] and shedder.on["heater_noncritical"]


@given(st.lists(st.one_of(st.none(), st.floats(0.9, 1.0)), min_size=1, max_size=200))
def test_an_intermittent_soc_sensor_cannot_make_compute_flap(readings: list[float | None]) -> None:
    """Compute, once shed for an unknown SoC, needs three plausible samples in a row back."""
    shedder = LoadShedder()
    run = 0
    for soc in readings:
        was_on = shedder.on["compute"]
        shedder.update(soc, THRESHOLDS)
        run = 0 if soc is None else run + 1
        if not was_on and shedder.on["compute"]:
            assert run >= shedder.trust_after


def test_compute_returns_after_three_plausible_samples() -> None:
    shedder = LoadShedder()
    shedder.update(None, THRESHOLDS)
    assert [shedder.update(0.95, THRESHOLDS) for _ in range(2)] == [[], []]
    assert [(s.load, s.on) for s in shedder.update(0.95, THRESHOLDS)] == [("compute", True)]


def test_safe_mode_sheds_compute() -> None:
    shedder = LoadShedder()
    assert [s.load for s in shedder.update(0.95, THRESHOLDS, safe_mode=True)] == ["compute"]


def test_mode_advice() -> None:
    args = dict(safe_soc=0.5, save_soc=0.6, save_exit_soc=0.75)
    assert advise_mode(0.45, NOMINAL, **args, requested_save=False) == SAFE
    assert advise_mode(0.45, SAFE, **args, requested_save=False) is None
    assert advise_mode(0.55, NOMINAL, **args, requested_save=False) == POWER_SAVE
    assert advise_mode(0.70, POWER_SAVE, **args, requested_save=True) is None
    assert advise_mode(0.80, POWER_SAVE, **args, requested_save=True) == NOMINAL
    assert advise_mode(0.80, POWER_SAVE, **args, requested_save=False) is None  # operator's
    assert advise_mode(0.99, SAFE, **args, requested_save=True) is None  # ground only
    assert advise_mode(None, NOMINAL, **args, requested_save=False) is None


def test_budget_ramps_down_towards_the_shed_threshold() -> None:
    def budget(soc: float | None, mode: str = NOMINAL, on: bool = True) -> float:
        return compute_budget(soc, 1000.0, 100.0, on, mode, 900.0, 600.0, 0.7, 0.1)
    assert budget(0.9) == 900.0  # 900 surplus + 600 battery, capped at the payload's max
    assert budget(0.75) == 900.0
    assert compute_budget(0.75, 0.0, 100.0, True, NOMINAL, 900.0, 600.0, 0.7, 0.1) == 200.0
    assert compute_budget(0.70, 0.0, 100.0, True, NOMINAL, 900.0, 600.0, 0.7, 0.1) == 0.0
    assert budget(0.9, POWER_SAVE) == 900.0 and \
        compute_budget(0.9, 300.0, 100.0, True, POWER_SAVE, 900.0, 600.0, 0.7, 0.1) == 200.0
    assert budget(0.9, SAFE) == 0.0 and budget(0.9, on=False) == 0.0 and budget(None) == 0.0
