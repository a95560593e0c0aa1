"""The plan: which fault, on which target, at which moment, for every run of a campaign.

Seeded and deterministic: the same seed, run count and catalog (the faults with the targets the
golden run found) always give the same plan, so a campaign can be re-run and compared. It is
stratified, so a short campaign does not leave a class unsampled:

1. runs are shared out over the fault **classes** as evenly as possible (the remainder goes to
   classes drawn by the seed);
2. within a class, over its **faults** the same way;
3. each run then draws a **target** of its fault uniformly, a **time slot** of the workload's
   window uniformly (the fault lands at the slot's centre), a hold for a lasting fault (a
   fraction of the window) and the seed of the injector's own random choices (bits, bytes);
4. the whole list is shuffled, so the first runs of an interrupted campaign already cover every
   class.

The population the sample is drawn from — what Leveugle's formula calls N — is the grid of
fault sites: the sum over the planned faults of (targets x time slots).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

#: The workload's window is cut into this many injection times.
TIME_SLOTS = 20
#: Plan files this code reads and writes.
PLAN_VERSION = 1

#: class -> fault -> the targets it can hit.
Catalog = Mapping[str, Mapping[str, Sequence[str]]]


class PlanError(ValueError):
    """A plan cannot be made as asked (no faults, fewer runs than classes ...)."""


@dataclass(frozen=True)
class RunSpec:
    """One planned run: plain data, picklable, the same in the plan file and the journal."""

    id: int
    fault: str
    fault_class: str
    target: str
    slot: int
    t_frac: float  #: the injection time as a fraction of the golden window (slot centre)
    hold_frac: float  #: a lasting fault's hold as a fraction of the golden window
    seed: int  #: the injector's random choices, and the link proxy's

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunSpec:
        try:
            return cls(int(data["id"]), str(data["fault"]), str(data["fault_class"]),
                       str(data["target"]), int(data["slot"]), float(data["t_frac"]),
                       float(data["hold_frac"]), int(data["seed"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise PlanError(f"not a planned run: {exc}") from None


def _share(count: int, names: Sequence[str], rng: random.Random) -> dict[str, int]:
    """``count`` split over ``names`` as evenly as possible; the remainder to drawn names."""
    base, extra = divmod(count, len(names))
    lucky = set(rng.sample(list(names), extra))
    return {name: base + (name in lucky) for name in names}


def make_plan(seed: int, runs: int, catalog: Catalog,
              time_slots: int = TIME_SLOTS) -> list[RunSpec]:
    """``runs`` run specs over ``catalog`` (see the module docs); deterministic in its inputs."""
    classes = sorted(c for c, faults in catalog.items()
                     if any(targets for targets in faults.values()))
    if not classes:
        raise PlanError("no fault with anything to hit: nothing to plan")
    if runs < len(classes):
        raise PlanError(f"{runs} run(s) cannot cover {len(classes)} fault classes "
                        f"({', '.join(classes)}): plan at least {len(classes)} or choose "
                        f"classes with --classes")
    if time_slots < 1:
        raise PlanError("time_slots must be at least 1")
    rng = random.Random(seed)
    drafts: list[tuple[str, str, str, int, float, int]] = []
    for cls, n_class in _share(runs, classes, rng).items():
        faults = sorted(f for f, targets in catalog[cls].items() if targets)
        for fault, n_fault in _share(n_class, faults, rng).items():
            targets = sorted(catalog[cls][fault])
            for _ in range(n_fault):
                drafts.append((fault, cls, rng.choice(targets), rng.randrange(time_slots),
                               round(rng.uniform(0.25, 1.0), 4), rng.getrandbits(63)))
    rng.shuffle(drafts)
    return [RunSpec(i, fault, cls, target, slot, round((slot + 0.5) / time_slots, 6), hold,
                    run_seed)
            for i, (fault, cls, target, slot, hold, run_seed) in enumerate(drafts)]


def population(catalog: Catalog, time_slots: int = TIME_SLOTS) -> int:
    """N: the fault sites the plan samples from, sum of targets x time slots over faults."""
    return sum(len(targets) for faults in catalog.values() for targets in faults.values()) \
        * time_slots


def catalog_from_targets(targets: Mapping[str, Mapping[str, Any]],
                         classes: Sequence[str] = (), faults: Sequence[str] = ()
                         ) -> tuple[dict[str, dict[str, list[str]]], dict[str, str]]:
    """The catalog from the golden run's probe (fault -> {class, targets}), restricted to
    ``classes``/``faults`` when given; and the faults left out, with why."""
    catalog: dict[str, dict[str, list[str]]] = {}
    skipped: dict[str, str] = {}
    for name, entry in sorted(targets.items()):
        cls = str(entry.get("class"))
        if (classes and cls not in classes) or (faults and name not in faults):
            continue
        found = [str(t) for t in entry.get("targets") or []]
        if not found:
            skipped[name] = entry.get("error") or "nothing to hit on the testbed"
            continue
        catalog.setdefault(cls, {})[name] = found
    return catalog, skipped
