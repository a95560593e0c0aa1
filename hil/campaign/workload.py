"""What every campaign run flies: the same small stack configuration and the same two jobs.

A run must be short (a campaign is hundreds of them) yet give every fault something to hit:
a job computing (live arrays for memory and data upsets), checkpoints on disk while it does
(for checkpoint corruption), a second job waiting in the queue (an entry that must survive),
results stored for downlink and telemetry flowing to the ground. The duty cap halves the CPU a
run needs without shortening the window in which faults land, so two runs share two cores.

Every job kind is deterministic, so the right answer is known without trusting the stack: the
ground recomputes each job here, with the same single BLAS thread the stack is told to use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hil import flatsat_jobs
from hil.testbed import FLATSAT_OVERRIDES


@dataclass(frozen=True)
class Job:
    """One job of the workload, as the ground uplinks it."""

    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    priority: int = 5


#: The running job (a 12-panel ABFT product) and, behind it in the queue, a short training run.
WORKLOAD: tuple[Job, ...] = (
    Job("matmul", {"n": 384, "dtype": "float64", "seed": 11, "panel_rows": 32}, priority=5),
    Job("mlp_train", {"seed": 12, "epochs": 24, "samples": 1024, "features": 16,
                      "hidden": 64}, priority=3),
)

#: Parameters set before the workload (over the bus: the bench's own door). The job runner
#: checkpoints every few steps and runs at a fifth of the duty (the window stretches, the CPU
#: does not); the radiation monitor scrubs every minute of mission time (1 s of wall time), so
#: an upset in a protected table is found within the run instead of lying latent past its end.
STACK_PARAMS: dict[str, dict[str, float]] = {
    "jobs": {"checkpoint_min_s": 0.02, "checkpoint_max_s": 0.08, "duty_cap": 0.2},
    "radiation": {"scrub_period_s": 60.0},
}

#: The testbed's configuration: the flatsat's fast supervision, no background radiation (the
#: only upsets are the injected ones), world samples stale only after 3 s of wall time (180
#: mission s at 60x: two busy workers on a loaded machine must not starve the world into
#: false sensor faults), a boot that may take a minute on such a machine (rather than boot
#: into SAFE), one BLAS thread (bit-exact results the ground can
#: recompute anywhere), a fast downlink so results come down in a fraction of a second, and
#: telemetry from the job runner and radiation monitor five times a second.
CAMPAIGN_OVERRIDES: tuple[str, ...] = (
    *FLATSAT_OVERRIDES,
    "apps.world.upset_rate_per_bit_day=1e-11",
    "hal.stale_s=180",
    "executive.boot_timeout_s=60",
    "apps.jobs.blas_threads=1",
    "apps.comms.link_rate_bps=200000000",
    "apps.jobs.housekeeping_period_s=0.2",
    "apps.radiation.housekeeping_period_s=0.2",
)

#: Chunk size for result downloads: as large as one datagram allows (comms: max - 200).
CHUNK_SIZE = 3800


def golden_digest(job: Job) -> str:
    """SHA-256 of a fault-free computation of ``job`` done here, on the ground (one BLAS
    thread, as the campaign's job runner computes it)."""
    return flatsat_jobs.golden_digest(job.kind, dict(job.params), threads=1)


def golden_digests() -> list[str]:
    """The reference digest of every workload job, in workload order."""
    return [golden_digest(job) for job in WORKLOAD]
