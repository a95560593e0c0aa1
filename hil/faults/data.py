"""Data faults: a radiation upset in the data the payload and the monitor protect.

The world already models upsets (:mod:`hil.world.radiation`) and publishes each on ``env.upset``;
the owner of the memory region lands it in real bytes: the jobs app in the running job's arrays
(``jobs``) or in its checkpoint files (``checkpoints``), the radiation monitor in its protected
tables (``tables``). This injector asks the world for one more upset, now, through its
``inject_upset`` command, so it reaches the stack exactly as a natural one does. Detection must
come from the normal checks: ABFT residuals and rollback for job data, checkpoint verification for
checkpoints, the scrubber (``table_repairs``) for tables.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hil.faults.base import Fault, FaultClass, Injection, Param, register
from hil.faults.onboard import call, fresh_housekeeping, is_running
from hil.world.radiation import DEFAULT_REGIONS

if TYPE_CHECKING:
    from hil.testbed import Testbed

#: The regions ``world.inject_upset`` accepts, with their sizes in bits.
REGION_BITS = dict(DEFAULT_REGIONS)
#: Who lands an upset of each region in real bytes (its counters are the evidence).
OWNER = {"jobs": "jobs", "checkpoints": "jobs", "tables": "radiation"}


def _owner_counters(bed: Testbed, region: str) -> dict[str, Any]:
    """The owner's counters that show an upset landed or was found (empty if it is not up)."""
    owner = OWNER[region]
    if not is_running(bed, owner):
        return {}
    if owner == "radiation":
        data = call(bed, owner, "status")
        keys: tuple[str, ...] = ("table_repairs", "scrubs", "decisions")
    else:  # the job runner reports its counters in housekeeping only
        data = fresh_housekeeping(bed, owner) or {}
        keys = ("sim_flips", "detections", "corrected", "rollbacks", "checkpoint_fallbacks")
    return {k: data[k] for k in keys if k in data}


@register
class Upset(Fault):
    name = "upset"
    fault_class = FaultClass.DATA
    doc = ("A single-event upset now in a protected memory region, through the world like a "
           "natural one: job arrays (ABFT must detect and correct or roll back), job "
           "checkpoint files (verification must reject them), the monitor's tables (the "
           "scrubber must repair them).")
    target_doc = "a memory region: jobs, checkpoints or tables (needs the world app)"
    params = (
        Param("bit", int, "bit index in the region (-1: a random one)", default=-1, min=-1,
              max=2**40),
    )

    def targets(self, bed: Testbed) -> list[str]:
        return list(REGION_BITS) if is_running(bed, "world") else []

    def why_no_targets(self, bed: Testbed) -> str:
        return "the world app is not running (upsets come from the world)"

    def inject(self, bed: Testbed, target: str, params: Mapping[str, Any],
               rng: random.Random) -> Injection:
        bit = params["bit"] if params["bit"] >= 0 else rng.randrange(REGION_BITS[target])
        before = _owner_counters(bed, target)
        landed = call(bed, "world", "inject_upset", {"region": target, "bit": bit})
        owner = OWNER[target]
        detail = (f"upset in {target}, bit {landed.get('bit', bit)} (byte "
                  f"{landed.get('bit', bit) // 8}, bit {landed.get('bit', bit) % 8}); "
                  f"{owner} lands it")
        return Injection(self.name, self.fault_class.value, target, dict(params), detail,
                         evidence={"region": target, "bit": landed.get("bit", bit),
                                   "owner": owner, "owner_counters_before": before})
