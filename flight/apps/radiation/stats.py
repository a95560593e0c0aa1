"""Upset statistics: exposure by orbit position, counts by evidence and outcome, rate estimates.

Operators want to know how often the payload is hit, whether the South Atlantic Anomaly is where
it happens, and what that means for the checkpoint interval (Young/Daly: τ ≈ sqrt(2·δ·MTBF)).
Upsets are rare — a handful per day at most on a well-shielded board, none for weeks on DRAM —
so the naive estimate count ÷ exposure is 0 (MTBF infinite) until the first one and then jumps
around wildly. The estimator therefore uses the conjugate prior of the Poisson rate, a Gamma
distribution stated as "``prior_rate_per_day``, believed as firmly as ``prior_days`` days of
observation": the posterior mean is

    (prior_rate_per_day · prior_days + upsets) / (prior_days + exposure_days)

which is the prior before anything is seen and converges to upsets ÷ exposure as exposure
grows. The 95 % interval is the equal-tailed interval of the Gamma posterior, computed from the
regularized incomplete gamma function with plain ``math`` (no scipy on the boards).

Exposure counts mission time between sensor samples, attributed to the SAA state of the sample
that opened the interval. Mission time going backwards (a clock reset, or a state restored
into another run) adds nothing and re-anchors; it is counted so the ground sees it.

The class is plain data plus arithmetic: the radiation app feeds it and checkpoints it with
:meth:`UpsetStats.to_state`; :meth:`UpsetStats.from_state` validates everything, because the
state it reads back may be from another version or damaged.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Final

__all__ = [
    "MAX_KINDS",
    "PRIOR_DAYS_MAX",
    "PRIOR_RATE_MAX",
    "REGIONS",
    "SECONDS_PER_DAY",
    "RateEstimate",
    "UpsetStats",
    "chi2_quantile",
    "gamma_cdf",
    "gamma_quantile",
]

SECONDS_PER_DAY: Final = 86400.0
#: ``rate(region)``: every sample, only those inside the SAA, only those outside it.
REGIONS: Final = ("all", "saa", "other")
#: Evidence and outcome names: short identifiers, so telemetry keys stay tidy and bounded.
_NAME: Final = re.compile(r"[a-z][a-z0-9_]{0,31}")
#: Distinct evidence (and outcome) names kept; protects memory against a runaway caller.
MAX_KINDS: Final = 64
_STATE_VERSION: Final = 1
_CONFIDENCE: Final = 0.95


# --------------------------------------------------------------------------------------------
# Gamma distribution, plain math
# --------------------------------------------------------------------------------------------

_TINY: Final = 1e-300
_EPS: Final = 1e-15
#: Above this shape the quantile comes from Wilson-Hilferty alone (see gamma_quantile).
_LARGE_SHAPE: Final = 1e5
#: Bounds on the prior: far beyond any real board, and they keep the arithmetic finite.
PRIOR_RATE_MAX: Final = 1e9
PRIOR_DAYS_MAX: Final = 1e6


def gamma_cdf(x: float, shape: float) -> float:
    """Regularized lower incomplete gamma P(shape, x): the CDF of Gamma(shape, rate 1) at x."""
    return _gamma_pq(x, shape)[0]


def _gamma_pq(x: float, shape: float) -> tuple[float, float]:
    """P(shape, x) and Q(shape, x) = 1 - P, each computed where it is accurate.

    Series for P below ``shape + 1``, Lentz's continued fraction for Q above (Numerical
    Recipes §6.2); the other one is the complement. Both converge to full double precision in
    well under 200 terms for the shapes used here. Returning Q directly keeps upper quantiles
    accurate far into the tail, where 1 - P would have lost every digit.
    """
    if not shape > 0:
        raise ValueError(f"shape must be > 0, got {shape!r}")
    if not x > 0:
        return 0.0, 1.0
    if math.isinf(x):
        return 1.0, 0.0
    log_front = shape * math.log(x) - x - math.lgamma(shape)
    if x < shape + 1.0:
        term = total = 1.0 / shape
        a = shape
        for _ in range(10_000):
            a += 1.0
            term *= x / a
            total += term
            if abs(term) < abs(total) * _EPS:
                break
        lower = min(1.0, total * math.exp(log_front))
        return lower, 1.0 - lower
    b = x + 1.0 - shape
    c = 1.0 / _TINY
    d = 1.0 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - shape)
        b += 2.0
        d = an * d + b
        d = _TINY if abs(d) < _TINY else d
        c = b + an / c
        c = _TINY if abs(c) < _TINY else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    upper = min(1.0, math.exp(log_front) * h)
    return 1.0 - upper, upper


def gamma_quantile(p: float, shape: float, rate: float = 1.0) -> float:
    """The x with P(X ≤ x) = p for X ~ Gamma(shape, rate), to about 1e-12 relative.

    Starts from the Wilson-Hilferty cube-root normal approximation (or, where that fails for
    small shapes, from the leading term of the series, x ≈ (p·Γ(shape+1))^(1/shape)), then
    Newton on log x, safeguarded by bisection so it cannot diverge.
    """
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p!r}")
    if not (shape > 0 and math.isfinite(shape)):
        raise ValueError(f"shape must be a finite number > 0, got {shape!r}")
    if not (rate > 0 and math.isfinite(rate)):
        raise ValueError(f"rate must be a finite number > 0, got {rate!r}")
    z = NormalDist().inv_cdf(p)
    cube = 1.0 - 1.0 / (9.0 * shape) + z * math.sqrt(1.0 / (9.0 * shape))
    if shape > _LARGE_SHAPE:
        # Wilson-Hilferty is then good to ~1e-8 relative, and the series would be slow.
        return shape * cube**3 / rate
    small = (math.log(p) + math.lgamma(shape + 1.0)) / shape
    y = math.log(shape * cube**3) if cube > 0 and shape >= 0.5 else min(small, 700.0)

    def f(y: float) -> float:  # increasing in y, zero at the quantile
        lower, upper = _gamma_pq(math.exp(y), shape)
        return lower - p if p <= 0.5 else (1.0 - p) - upper

    # Bracket the root in log space with steps that double, then refine.
    lo, hi = -math.inf, math.inf
    step = 1.0
    value = f(y)
    while True:
        if value < 0:
            lo = y
        else:
            hi = y
        if lo > -math.inf and hi < math.inf:
            break
        y = y + step if value < 0 else y - step
        step *= 2.0
        if y > 709.0:  # beyond the largest double
            return math.inf
        if y < -745.0:  # below the smallest subnormal
            return 0.0
        value = f(y)
    y = lo if abs(f(lo)) < abs(f(hi)) else hi
    for _ in range(200):
        value = f(y)
        if value == 0:
            break
        if value < 0:
            lo = max(lo, y)
        else:
            hi = min(hi, y)
        slope = math.exp(shape * y - math.exp(y) - math.lgamma(shape))  # dP/d(log x)
        candidate = y - value / slope if slope > 0 else math.nan
        if not lo < candidate < hi:
            candidate = 0.5 * (lo + hi)
        if abs(candidate - y) < 1e-13 * max(1.0, abs(y)) or hi - lo < 1e-14:
            y = candidate
            break
        y = candidate
    return math.exp(y) / rate


def chi2_quantile(p: float, df: float) -> float:
    """Quantile of the chi-square distribution with ``df`` degrees of freedom (df > 0)."""
    return 2.0 * gamma_quantile(p, df / 2.0)


# --------------------------------------------------------------------------------------------
# Estimates
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RateEstimate:
    """The posterior of one Poisson rate: mean and 95 % equal-tailed interval, per day."""

    upsets: int
    exposure_s: float
    per_day: float
    low_per_day: float
    high_per_day: float

    @property
    def mtbf_s(self) -> float:
        """Mean time between upsets in mission seconds (the reciprocal of the posterior mean)."""
        return SECONDS_PER_DAY / self.per_day

    def scaled(self, factor: float) -> RateEstimate:
        """The same estimate with every rate divided by ``factor`` (e.g. per watched bit)."""
        return RateEstimate(self.upsets, self.exposure_s, self.per_day / factor,
                            self.low_per_day / factor, self.high_per_day / factor)


def _positive(name: str, value: object, maximum: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not (math.isfinite(number) and 0 < number <= maximum):
        raise ValueError(f"{name} must be a finite number in (0, {maximum:g}], got {value!r}")
    return number


def _check_name(kind: str, name: object) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"{kind} must be a lowercase identifier of 1-32 characters, got {name!r}")
    return name


class UpsetStats:
    """Exposure and upset counts, and the rates they imply.

    ``max_gap_s``: an interval between two samples longer than this is not counted as exposure
    (the monitor was not watching, e.g. the app was down for long); it is counted in ``gaps``.
    None counts every interval.
    """

    def __init__(self, prior_rate_per_day: float = 1.0, prior_days: float = 1.0, *,
                 max_gap_s: float | None = None) -> None:
        self.prior_rate_per_day = _positive("prior_rate_per_day", prior_rate_per_day,
                                            PRIOR_RATE_MAX)
        self.prior_days = _positive("prior_days", prior_days, PRIOR_DAYS_MAX)
        self.max_gap_s = None if max_gap_s is None else _positive("max_gap_s", max_gap_s)
        self.reset()

    def reset(self) -> None:
        """Forget every count and all exposure (a ground command); the prior stays."""
        self.saa_exposure_s = 0.0
        self.other_exposure_s = 0.0
        self.last_t: float | None = None
        self.last_in_saa = False
        self.time_reversals = 0
        self.gaps = 0
        self.saa_upsets = 0
        self.other_upsets = 0
        self.last_upset_t: float | None = None
        self._by_evidence: dict[str, dict[str, int]] = {}

    # ------------------------------------------------------------------ feeding

    def observe(self, t: float, in_saa: bool) -> bool:
        """Account exposure up to mission time ``t``; False when the sample was not usable.

        The interval since the previous sample counts for the SAA state of that sample. A time
        that is not a finite number is ignored; a time earlier than the previous one adds
        nothing, is counted in ``time_reversals`` and becomes the new reference.
        """
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t):
            self.time_reversals += 1
            return False
        t = float(t)
        accepted = True
        if self.last_t is not None:
            dt = t - self.last_t
            if dt < 0:
                self.time_reversals += 1
                accepted = False
            elif self.max_gap_s is not None and dt > self.max_gap_s:
                self.gaps += 1
            elif self.last_in_saa:
                self.saa_exposure_s += dt
            else:
                self.other_exposure_s += dt
        self.last_t = t
        self.last_in_saa = bool(in_saa)
        return accepted

    def record(self, evidence: str, outcome: str, t: float, in_saa: bool) -> None:
        """Count one upset seen as ``evidence`` and handled with ``outcome`` at mission ``t``.

        Raises ValueError for a name that is not a short lowercase identifier, or a new name
        once MAX_KINDS distinct ones are known: both are mistakes of the caller.
        """
        _check_name("evidence", evidence)
        _check_name("outcome", outcome)
        outcomes = self._by_evidence.get(evidence)
        if outcomes is None and len(self._by_evidence) >= MAX_KINDS:
            raise ValueError(f"more than {MAX_KINDS} evidence kinds; {evidence!r} refused")
        if outcomes is None or outcome not in outcomes:
            known = self.by_outcome()
            if outcome not in known and len(known) >= MAX_KINDS:
                raise ValueError(f"more than {MAX_KINDS} outcome kinds; {outcome!r} refused")
        if outcomes is None:
            outcomes = self._by_evidence[evidence] = {}
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        if in_saa:
            self.saa_upsets += 1
        else:
            self.other_upsets += 1
        if isinstance(t, (int, float)) and not isinstance(t, bool) and math.isfinite(t):
            self.last_upset_t = float(t)

    # ------------------------------------------------------------------ counts

    @property
    def upsets(self) -> int:
        return self.saa_upsets + self.other_upsets

    @property
    def exposure_s(self) -> float:
        return self.saa_exposure_s + self.other_exposure_s

    def by_evidence(self) -> dict[str, int]:
        """Upsets per evidence kind."""
        return {name: sum(outcomes.values()) for name, outcomes in self._by_evidence.items()}

    def by_outcome(self) -> dict[str, int]:
        """Upsets per outcome."""
        totals: dict[str, int] = {}
        for outcomes in self._by_evidence.values():
            for name, n in outcomes.items():
                totals[name] = totals.get(name, 0) + n
        return totals

    def by_evidence_outcome(self) -> dict[str, dict[str, int]]:
        """Upsets per evidence kind and outcome (a copy)."""
        return {name: dict(outcomes) for name, outcomes in self._by_evidence.items()}

    # ------------------------------------------------------------------ estimates

    def rate(self, region: str = "all") -> RateEstimate:
        """Posterior upsets per day over all exposure, inside the SAA or outside it."""
        if region == "all":
            k, exposure = self.upsets, self.exposure_s
        elif region == "saa":
            k, exposure = self.saa_upsets, self.saa_exposure_s
        elif region == "other":
            k, exposure = self.other_upsets, self.other_exposure_s
        else:
            raise ValueError(f"region must be one of {REGIONS}, got {region!r}")
        shape = self.prior_rate_per_day * self.prior_days + k
        days = self.prior_days + exposure / SECONDS_PER_DAY
        tail = (1.0 - _CONFIDENCE) / 2.0
        return RateEstimate(k, exposure, shape / days, gamma_quantile(tail, shape, days),
                            gamma_quantile(1.0 - tail, shape, days))

    def rate_per_bit(self, watched_bits: int, region: str = "all") -> RateEstimate:
        """Upsets per bit per day, for ``watched_bits`` bits of memory the monitor can see."""
        if isinstance(watched_bits, bool) or not isinstance(watched_bits, int) \
                or watched_bits < 1:
            raise ValueError(f"watched_bits must be an int >= 1, got {watched_bits!r}")
        return self.rate(region).scaled(float(watched_bits))

    def mtbf_s(self) -> float:
        """Mean time between upsets, mission seconds, from the posterior mean rate."""
        return self.rate().mtbf_s

    def summary(self, watched_bits: int | None = None) -> dict[str, Any]:
        """Counts and estimates for housekeeping telemetry (plain, msgpack-able values).

        ``saa_ratio`` is the SAA rate over the rate outside it: 1 when nothing is known yet
        (both posteriors are the prior), the SAA's multiplier once upsets come in.
        """
        total, saa, other = self.rate("all"), self.rate("saa"), self.rate("other")
        out: dict[str, Any] = {
            "upsets": self.upsets,
            "upsets_saa": self.saa_upsets,
            "upsets_other": self.other_upsets,
            "exposure_s": self.exposure_s,
            "exposure_saa_s": self.saa_exposure_s,
            "by_evidence": self.by_evidence(),
            "by_outcome": self.by_outcome(),
            "rate_per_day": total.per_day,
            "rate_low_per_day": total.low_per_day,
            "rate_high_per_day": total.high_per_day,
            "rate_saa_per_day": saa.per_day,
            "rate_other_per_day": other.per_day,
            "saa_ratio": saa.per_day / other.per_day,
            "mtbf_s": total.mtbf_s,
            "mtbf_low_s": SECONDS_PER_DAY / total.high_per_day,
            "mtbf_high_s": (SECONDS_PER_DAY / total.low_per_day if total.low_per_day > 0
                            else math.inf),
            "last_upset_t": self.last_upset_t,
            "time_reversals": self.time_reversals,
            "gaps": self.gaps,
        }
        if watched_bits is not None:
            per_bit = total.scaled(float(watched_bits)) if watched_bits > 0 else None
            out["watched_bits"] = watched_bits
            out["rate_per_bit_per_day"] = None if per_bit is None else per_bit.per_day
        return out

    # ------------------------------------------------------------------ checkpointing

    def to_state(self) -> dict[str, Any]:
        """Everything needed to continue after a restart, as plain msgpack-able values."""
        return {
            "version": _STATE_VERSION,
            "prior_rate_per_day": self.prior_rate_per_day,
            "prior_days": self.prior_days,
            "max_gap_s": self.max_gap_s,
            "exposure_s": {"saa": self.saa_exposure_s, "other": self.other_exposure_s},
            "upsets": {"saa": self.saa_upsets, "other": self.other_upsets},
            "by_evidence": self.by_evidence_outcome(),
            "last_t": self.last_t,
            "last_in_saa": self.last_in_saa,
            "last_upset_t": self.last_upset_t,
            "time_reversals": self.time_reversals,
            "gaps": self.gaps,
        }

    @classmethod
    def from_state(cls, state: object, *, prior_rate_per_day: float | None = None,
                   prior_days: float | None = None) -> UpsetStats:
        """Rebuild from :meth:`to_state`; ValueError naming the field if anything is off.

        The prior comes from the state unless given here: the configuration may have changed
        since the checkpoint, and the configured prior then wins. ``max_gap_s`` is restored
        and is a plain attribute the caller may set afterwards.
        """
        if not isinstance(state, dict):
            raise ValueError("upset statistics state: not a map")
        if type(state.get("version")) is not int or state["version"] != _STATE_VERSION:
            raise ValueError(f"upset statistics state: version {state.get('version')!r} is not "
                             f"{_STATE_VERSION}")
        gap = state.get("max_gap_s")
        stats = cls(
            _positive("prior_rate_per_day", state.get("prior_rate_per_day"), PRIOR_RATE_MAX)
            if prior_rate_per_day is None else prior_rate_per_day,
            _positive("prior_days", state.get("prior_days"), PRIOR_DAYS_MAX)
            if prior_days is None
            else prior_days,
            max_gap_s=None if gap is None else _positive("max_gap_s", gap),
        )
        exposure = _pair(state, "exposure_s", _non_negative_float)
        upsets = _pair(state, "upsets", _count)
        stats.saa_exposure_s, stats.other_exposure_s = exposure
        stats.saa_upsets, stats.other_upsets = upsets
        stats._by_evidence = _by_evidence(state.get("by_evidence"))
        recorded = sum(sum(outcomes.values()) for outcomes in stats._by_evidence.values())
        if recorded != sum(upsets):
            raise ValueError(f"upset statistics state: by_evidence sums to {recorded}, "
                             f"upsets to {sum(upsets)}")
        if len(stats.by_outcome()) > MAX_KINDS:
            raise ValueError(f"upset statistics state: more than {MAX_KINDS} outcome kinds")
        stats.last_t = _optional_time(state, "last_t")
        stats.last_upset_t = _optional_time(state, "last_upset_t")
        last_in_saa = state.get("last_in_saa")
        if not isinstance(last_in_saa, bool):
            raise ValueError("upset statistics state: last_in_saa is not a bool")
        stats.last_in_saa = last_in_saa
        stats.time_reversals = _count("time_reversals", state.get("time_reversals"))
        stats.gaps = _count("gaps", state.get("gaps"))
        return stats


def _non_negative_float(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or value < 0:
        raise ValueError(f"upset statistics state: {name} is not a finite number >= 0")
    return float(value)


def _count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"upset statistics state: {name} is not an int >= 0")
    return value


def _pair(state: dict[Any, Any], key: str, check: Any) -> tuple[Any, Any]:
    value = state.get(key)
    if not isinstance(value, dict) or set(value) != {"saa", "other"}:
        raise ValueError(f"upset statistics state: {key} is not a map of saa and other")
    return check(f"{key}.saa", value["saa"]), check(f"{key}.other", value["other"])


def _optional_time(state: dict[Any, Any], key: str) -> float | None:
    value = state.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value):
        raise ValueError(f"upset statistics state: {key} is not a finite number or nil")
    return float(value)


def _by_evidence(value: object) -> dict[str, dict[str, int]]:
    if not isinstance(value, dict) or len(value) > MAX_KINDS:
        raise ValueError(f"upset statistics state: by_evidence is not a map of at most "
                         f"{MAX_KINDS} kinds")
    out: dict[str, dict[str, int]] = {}
    for evidence, outcomes in value.items():
        if not isinstance(evidence, str) or not _NAME.fullmatch(evidence):
            raise ValueError(f"upset statistics state: evidence name {evidence!r} is malformed")
        if not isinstance(outcomes, dict) or len(outcomes) > MAX_KINDS:
            raise ValueError(f"upset statistics state: by_evidence.{evidence} is not a map")
        counts: dict[str, int] = {}
        for outcome, n in outcomes.items():
            if not isinstance(outcome, str) or not _NAME.fullmatch(outcome):
                raise ValueError(f"upset statistics state: outcome name {outcome!r} "
                                 f"is malformed")
            counts[outcome] = _count(f"by_evidence.{evidence}.{outcome}", n)
        out[evidence] = counts
    return out
