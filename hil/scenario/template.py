"""``${name.field}`` references: what one step produced, used by a later one.

A command's result (``save = "job"`` keeps ``{"job": 3, "params": {...}}``), an event's
arguments, a telemetry value or an injection's record can be named by a later step::

    args = { job = "${job.job}" }             # the whole text is a reference: the value itself (3)
    where = { app = "${boom.target}" }        # the app a randomly targeted fault hit
    value = "job ${job.job} done"             # inside other text: formatted as text

The loader checks that every name refers to an earlier step; the fields inside are known only
when the scenario runs, and a missing one fails that step with the fields there were.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_REF_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_-]*)((?:\.[A-Za-z0-9_-]+)*)\}")


class TemplateError(LookupError):
    """A reference names a field the saved value does not have."""


def references(value: Any) -> set[str]:
    """The saved names that ``value`` (text, or lists and tables of them) refers to."""
    if isinstance(value, str):
        return {m.group(1) for m in _REF_RE.finditer(value)}
    if isinstance(value, Mapping):
        return set().union(*(references(v) for v in value.values())) if value else set()
    if isinstance(value, (list, tuple)):
        return set().union(*(references(v) for v in value)) if value else set()
    return set()


def has_references(value: Any) -> bool:
    return bool(references(value))


def substitute(value: Any, saved: Mapping[str, Any]) -> Any:
    """``value`` with every reference replaced by what ``saved`` holds."""
    if isinstance(value, str):
        whole = _REF_RE.fullmatch(value)
        if whole is not None:
            return _lookup(saved, whole.group(1), whole.group(2))
        return _REF_RE.sub(lambda m: str(_lookup(saved, m.group(1), m.group(2))), value)
    if isinstance(value, Mapping):
        return {k: substitute(v, saved) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, saved) for v in value]
    return value


def _lookup(saved: Mapping[str, Any], name: str, path: str) -> Any:
    if name not in saved:
        raise TemplateError(f"${{{name}}}: nothing was saved under {name!r} (did its step "
                            "run?)")
    value = saved[name]
    walked = name
    for part in path.split(".")[1:]:
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            fields = sorted(map(str, value)) if isinstance(value, Mapping) else None
            raise TemplateError(f"${{{walked}.{part}}}: {walked} has no field {part!r}"
                                + (f"; it has {fields}" if fields is not None
                                   else f"; it is {value!r}"))
        walked += f".{part}"
    return value
