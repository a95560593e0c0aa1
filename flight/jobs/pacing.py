"""How hard the payload may run, and how often a job is checkpointed.

Duty: compute duty = min(thermal limit, power budget, ground cap), and 0 in SAFE. The runner
enforces it the way a governor on a real board would see it: after a step that computed for
``w`` seconds it rests ``w·(1 - d)/d`` seconds, so the share of wall time spent computing — and
the CPU share the board measures — follows ``d``.

Checkpoint interval: Young's first-order optimum τ = sqrt(2·δ·MTBF) (Daly's refinement changes
it little while δ ≪ MTBF) from the measured cost δ of a checkpoint and the mean time between
upsets the radiation monitor estimates; both in wall-clock seconds of compute.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field


def duty_allowed(thermal_limit: float, budget_w: float, compute_max_w: float,
                 ground_cap: float, safe: bool) -> float:
    """The compute duty the payload may run at now (0..1)."""
    if safe or compute_max_w <= 0:
        return 0.0
    power = budget_w / compute_max_w
    return max(0.0, min(1.0, thermal_limit, power, ground_cap))


def rest_after(compute_s: float, duty: float) -> float:
    """Seconds to rest after ``compute_s`` of work so the duty comes out at ``duty``."""
    if duty <= 0:
        return math.inf
    return compute_s * (1.0 - duty) / duty if duty < 1.0 else 0.0


@dataclass
class DutyMeter:
    """The duty really run: compute time over wall time, in a sliding window."""

    window_s: float = 5.0
    _spans: deque[tuple[float, float]] = field(default_factory=deque)

    def add(self, start: float, end: float) -> None:
        self._spans.append((start, end))

    def duty(self, now: float, running_since: float | None = None) -> float:
        """Fraction of the last ``window_s`` spent computing (a running step counts so far)."""
        lo = now - self.window_s
        while self._spans and self._spans[0][1] < lo:
            self._spans.popleft()
        busy = sum(min(end, now) - max(start, lo) for start, end in self._spans if end > lo)
        if running_since is not None:
            busy += now - max(running_since, lo)
        return max(0.0, min(1.0, busy / self.window_s))


def young_interval(checkpoint_s: float, mtbf_s: float, lo: float, hi: float) -> float:
    """τ = sqrt(2·δ·MTBF), kept within [lo, hi] seconds of compute."""
    if checkpoint_s <= 0 or not math.isfinite(mtbf_s) or mtbf_s <= 0:
        return hi if not math.isfinite(mtbf_s) else lo
    return max(lo, min(hi, math.sqrt(2.0 * checkpoint_s * mtbf_s)))
