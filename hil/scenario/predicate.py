"""The comparisons ``await_telemetry`` makes: ``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``,
``in`` and ``changes``.

A comparison that cannot be made (a number against a missing value, text against a number) is
simply false: telemetry that is not there yet must make an await keep waiting, not crash it.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
    ">": operator.gt, ">=": operator.ge, "in": lambda v, ref: v in ref,
}

_UNSET: Any = object()


class Predicate:
    """``value op reference``; for ``changes`` the reference is the value when the step began
    (or, when none had been seen yet, the first value seen)."""

    def __init__(self, op: str, reference: Any = None, baseline: Any = _UNSET) -> None:
        if op not in (*_COMPARE, "changes"):
            raise ValueError(f"unknown op {op!r}")
        self.op = op
        self.reference = reference
        self.baseline = baseline

    def __call__(self, value: Any) -> bool:
        if self.op == "changes":
            if self.baseline is _UNSET:
                self.baseline = value
                return False
            return bool(value != self.baseline)
        if isinstance(value, bool) != isinstance(self.reference, bool) and self.op != "in":
            return False  # true == 1 in Python, never in telemetry
        try:
            return bool(_COMPARE[self.op](value, self.reference))
        except TypeError:
            return False

    def describe(self) -> str:
        if self.op == "changes":
            base = "" if self.baseline is _UNSET else f" from {self.baseline!r}"
            return f"changes{base}"
        return f"{self.op} {self.reference!r}"
