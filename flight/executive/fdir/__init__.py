"""Fault detection, isolation and recovery: the executive's data-driven rule table.

Operators describe faults as configuration (a monitor expression over telemetry, a persistence
and an action) instead of flight code, so the response to a newly understood failure can be
uplinked as a TOML change. ``expr`` is the safe expression language of the monitors, ``table``
the rules, their validation and the persistence state machine; see ``docs/fdir.md``.
"""

from flight.executive.fdir.expr import (
    MAX_DEPTH,
    MAX_LENGTH,
    UNKNOWN,
    ExprError,
    Expression,
    Unknown,
    Value,
    parse,
    resolve_path,
)
from flight.executive.fdir.table import (
    MODES,
    REARM_POLICIES,
    SEVERITIES,
    Action,
    ActionKind,
    FdirTable,
    Firing,
    Rule,
    parse_rules,
)

__all__ = [
    "MAX_DEPTH",
    "MAX_LENGTH",
    "MODES",
    "REARM_POLICIES",
    "SEVERITIES",
    "UNKNOWN",
    "Action",
    "ActionKind",
    "ExprError",
    "Expression",
    "FdirTable",
    "Firing",
    "Rule",
    "Unknown",
    "Value",
    "parse",
    "parse_rules",
    "resolve_path",
]
