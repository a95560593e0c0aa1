"""The numbers a campaign report stands on: intervals, sample sizes, throughput.

* **Wilson score interval** for a proportion k/n: unlike the normal approximation it stays
  inside [0, 1] and is sensible at k = 0 — exactly the case a campaign hopes for (zero SDC).
* **Leveugle et al. (DATE 2009)** statistical fault injection: the runs needed so that a
  proportion estimated from a sample of a finite population of N fault sites is within ±e at
  confidence t: n = N / (1 + e²(N-1) / (t²·p(1-p))), p = 0.5 in the worst case. For large N
  that is 385 runs for ±5 % and 1068 for ±3 % at 95 %. The inverse gives the margin a campaign
  of n runs actually reached.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from statistics import NormalDist
from typing import Any


def z_value(confidence: float = 0.95) -> float:
    """Two-sided standard normal quantile: 1.96 for 95 %."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), not {confidence}")
    return NormalDist().inv_cdf(1.0 - (1.0 - confidence) / 2.0)


def wilson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of the proportion k/n; (0, 1) when n is 0."""
    if n < 0 or not 0 <= k <= max(n, 0):
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return 0.0, 1.0
    z = z_value(confidence)
    p = k / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = 0.0 if k == 0 else max(0.0, centre - half)
    hi = 1.0 if k == n else min(1.0, centre + half)
    return lo, hi


def leveugle(population: int | None, margin: float, confidence: float = 0.95,
             p: float = 0.5) -> int:
    """Runs needed for ±``margin`` at ``confidence`` over ``population`` fault sites (None:
    unbounded)."""
    if not 0.0 < margin < 1.0:
        raise ValueError(f"margin must be in (0, 1), not {margin}")
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), not {p}")
    t = z_value(confidence)
    infinite = t * t * p * (1 - p) / (margin * margin)
    if population is None:
        return math.ceil(infinite - 1e-9)
    if population < 1:
        raise ValueError(f"population must be at least 1, not {population}")
    n = population / (1.0 + margin * margin * (population - 1) / (t * t * p * (1 - p)))
    return min(population, math.ceil(n - 1e-9))


def margin_reached(runs: int, population: int | None, confidence: float = 0.95,
                   p: float = 0.5) -> float | None:
    """The ±margin ``runs`` samples give (the inverse of :func:`leveugle`); None for 0 runs."""
    if runs <= 0:
        return None
    t = z_value(confidence)
    fpc = 1.0 if population is None or population <= 1 else \
        max(0.0, (population - runs) / (population - 1))
    return t * math.sqrt(p * (1 - p) / runs * fpc)


def throughput(records: Iterable[dict[str, Any]], sessions: list[dict[str, Any]]
               ) -> dict[str, Any]:
    """Runs per minute over the time the campaign was running (all its sessions), and per
    session; a session is one invocation (``started_unix``, ``workers``, ``executor``)."""
    runs = list(records)
    out_sessions = []
    busy = 0.0
    for index, session in enumerate(sessions):
        start = float(session["started_unix"])
        end = float(sessions[index + 1]["started_unix"]) if index + 1 < len(sessions) \
            else math.inf
        mine = [r for r in runs if start <= float(r.get("finished_unix", 0)) < end]
        if not mine:
            continue
        span = max(float(r["finished_unix"]) for r in mine) - start
        busy += span
        out_sessions.append({**session, "runs": len(mine), "span_s": round(span, 1),
                             "runs_per_min": round(60.0 * len(mine) / span, 3) if span > 0
                             else None})
    total = sum(s["runs"] for s in out_sessions)
    return {"runs": total, "busy_s": round(busy, 1),
            "runs_per_min": round(60.0 * total / busy, 3) if busy > 0 else None,
            "sessions": out_sessions}
