"""The plan: deterministic in its inputs, stratified over classes and faults."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hil.campaign.plan import (
    PlanError,
    RunSpec,
    catalog_from_targets,
    make_plan,
    population,
)

names = st.text(alphabet="abcdefgh_", min_size=1, max_size=6)
targets = st.lists(names, min_size=1, max_size=5, unique=True)
catalogs = st.dictionaries(names, st.dictionaries(names, targets, min_size=1, max_size=4),
                           min_size=1, max_size=6)


def _fault_names_unique(catalog: dict[str, dict[str, list[str]]]) -> bool:
    faults = [f for fs in catalog.values() for f in fs]
    return len(faults) == len(set(faults))


@settings(max_examples=60, deadline=None)
@given(catalog=catalogs, extra=st.integers(0, 60), seed=st.integers(0, 2**32),
       slots=st.integers(1, 30))
def test_plan_is_deterministic_and_stratified(catalog: dict[str, dict[str, list[str]]],
                                              extra: int, seed: int, slots: int) -> None:
    if not _fault_names_unique(catalog):
        return
    runs = len(catalog) + extra
    plan = make_plan(seed, runs, catalog, slots)
    assert plan == make_plan(seed, runs, catalog, slots)  # same inputs, same plan
    assert [s.id for s in plan] == list(range(runs))
    per_class = Counter(s.fault_class for s in plan)
    assert set(per_class) == set(catalog)  # every class gets runs
    assert max(per_class.values()) - min(per_class.values()) <= 1
    for cls, faults in catalog.items():
        per_fault = Counter(s.fault for s in plan if s.fault_class == cls)
        counts = [per_fault.get(f, 0) for f in faults]
        assert max(counts) - min(counts) <= 1  # faults within a class balanced too
    for spec in plan:
        assert spec.target in catalog[spec.fault_class][spec.fault]
        assert 0 <= spec.slot < slots
        assert spec.t_frac == pytest.approx((spec.slot + 0.5) / slots, abs=1e-6)
        assert 0.25 <= spec.hold_frac <= 1.0
        assert RunSpec.from_dict(spec.to_dict()) == spec


def test_a_different_seed_gives_a_different_plan() -> None:
    catalog = {"process": {"crash": ["a", "b", "c"], "hang": ["a", "b", "c"]},
               "link": {"link_loss": ["up", "down"]}}
    assert make_plan(1, 30, catalog) != make_plan(2, 30, catalog)


def test_interrupted_campaigns_cover_every_class_early() -> None:
    catalog = {c: {f"{c}_fault": ["t"]} for c in "abcdefghi"}
    plan = make_plan(7, 90, catalog)
    first = {s.fault_class for s in plan[:40]}
    assert len(first) >= 8  # shuffled: not class after class


def test_population_is_targets_times_slots() -> None:
    catalog = {"process": {"crash": ["a", "b", "c"], "hang": ["a", "b"]},
               "link": {"link_loss": ["up", "down", "both"]}}
    assert population(catalog, 20) == (3 + 2 + 3) * 20


def test_too_few_runs_or_nothing_to_hit_is_refused() -> None:
    catalog = {"process": {"crash": ["a"]}, "link": {"link_loss": ["up"]}}
    with pytest.raises(PlanError, match="cannot cover 2 fault classes"):
        make_plan(1, 1, catalog)
    with pytest.raises(PlanError, match="nothing to plan"):
        make_plan(1, 5, {"process": {"crash": []}})


def test_catalog_from_the_golden_probe_filters_and_says_what_it_left_out() -> None:
    probe = {"crash": {"class": "process", "targets": ["jobs", "comms"]},
             "hang": {"class": "process", "targets": []},
             "disk_full": {"class": "storage", "targets": [], "error": "FaultError: not small"},
             "link_loss": {"class": "link", "targets": ["up"]}}
    catalog, skipped = catalog_from_targets(probe)
    assert catalog == {"process": {"crash": ["jobs", "comms"]}, "link": {"link_loss": ["up"]}}
    assert skipped == {"hang": "nothing to hit on the testbed",
                       "disk_full": "FaultError: not small"}
    only, _ = catalog_from_targets(probe, classes=["link"])
    assert only == {"link": {"link_loss": ["up"]}}
    only, _ = catalog_from_targets(probe, faults=["crash"])
    assert only == {"process": {"crash": ["jobs", "comms"]}}
