"""The declarative model of an app: its commands, telemetry channels, events and parameters.

An app states *what* it offers with these small frozen records; the framework derives from them
the argument checking, the housekeeping packet, the limit checks, the parameter table and the
dictionary the ground loads. Nothing here does I/O.
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass
from typing import Any

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
EVENT_NAME_RE = re.compile(r"^[A-Z][A-Z0-9_]{0,47}$")


class Severity(enum.IntEnum):
    """Event severities; 1..4 line up with PUS service 5 report levels (informative .. high)."""

    DEBUG = 0
    INFO = 1
    WARNING = 2
    ERROR = 3
    CRITICAL = 4


class ValueType(str, enum.Enum):
    """The types a command argument, parameter or telemetry channel may have."""

    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    STR = "str"
    ENUM = "enum"
    ANY = "any"  # a scalar checked later by the command itself (e.g. a parameter's new value)
    MAP = "map"  # a table of scalars keyed by name (telemetry: per process, per load ...;
    #              a command argument: e.g. a job's parameters, checked by the command itself)


class InvalidValue(ValueError):
    """A value does not fit its declaration; the message says why in operator's words."""


_REQUIRED: Any = object()
#: Most entries a map argument may carry (a job's parameters need a handful).
MAP_MAX_ENTRIES = 64
#: The integers msgpack (the bus and the checkpoint store) can carry.
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1


@dataclass(frozen=True)
class Field:
    """A typed, ranged, documented value: shared by command arguments and parameters."""

    name: str
    type: ValueType
    doc: str
    default: Any = _REQUIRED
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()
    unit: str = ""
    max_len: int = 256

    def __post_init__(self) -> None:
        if not NAME_RE.match(self.name):
            raise TypeError(f"bad name {self.name!r}: lower_snake_case, at most 48 characters")
        if self.type is ValueType.ENUM and not self.choices:
            raise TypeError(f"{self.name}: an enum needs choices")
        if self.default is not _REQUIRED:
            self.check(self.default)

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED

    def check(self, value: Any) -> Any:
        """Return ``value`` converted to the declared type, or raise InvalidValue."""
        kind = self.type
        if kind is ValueType.ANY:
            if isinstance(value, (bool, int, float, str)) or value is None:
                return value
            raise InvalidValue(f"{self.name}: expected a scalar, got {type(value).__name__}")
        if kind is ValueType.BOOL:
            if isinstance(value, bool):
                return value
            raise InvalidValue(f"{self.name}: expected true or false, got {value!r}")
        if kind is ValueType.MAP:
            return self._check_map(value)
        if kind in (ValueType.STR, ValueType.ENUM):
            if not isinstance(value, str):
                raise InvalidValue(f"{self.name}: expected text, got {value!r}")
            if len(value) > self.max_len:
                raise InvalidValue(f"{self.name}: longer than {self.max_len} characters")
            if kind is ValueType.ENUM and value not in self.choices:
                raise InvalidValue(f"{self.name}: expected one of {', '.join(self.choices)}")
            return value
        return self._check_number(value)

    def _check_map(self, value: Any) -> dict[str, Any]:
        if value is None:  # the default of an optional map argument: an empty table
            return {}
        if not isinstance(value, dict):
            raise InvalidValue(f"{self.name}: expected a table of name = value, got {value!r}")
        if len(value) > MAP_MAX_ENTRIES:
            raise InvalidValue(f"{self.name}: more than {MAP_MAX_ENTRIES} entries")
        for key, item in value.items():
            if not isinstance(key, str) or not NAME_RE.match(key):
                raise InvalidValue(f"{self.name}: bad name {key!r}")
            if not (isinstance(item, (bool, int, float)) or item is None
                    or (isinstance(item, str) and len(item) <= self.max_len)):
                raise InvalidValue(f"{self.name}.{key}: expected a number, text or "
                                   f"true/false, got {item!r}")
        return dict(value)

    def _check_number(self, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidValue(f"{self.name}: expected a number, got {value!r}")
        if self.type is ValueType.INT:
            if isinstance(value, float):
                if not value.is_integer():
                    raise InvalidValue(f"{self.name}: expected an integer, got {value!r}")
                value = int(value)
            if not _INT_MIN <= value <= _INT_MAX:
                raise InvalidValue(f"{self.name}: {value} does not fit in 64 bits")
        else:
            try:
                value = float(value)
            except OverflowError:  # an int too large for a double (10**400)
                raise InvalidValue(f"{self.name}: expected a finite number, got an integer "
                                   f"too large for a float") from None
            if not math.isfinite(value):
                raise InvalidValue(f"{self.name}: expected a finite number, got {value!r}")
        if self.min is not None and value < self.min:
            raise InvalidValue(f"{self.name}: {value} is below the minimum {self.min}")
        if self.max is not None and value > self.max:
            raise InvalidValue(f"{self.name}: {value} is above the maximum {self.max}")
        return value

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type.value, "doc": self.doc}
        if not self.required:
            out["default"] = self.default
        for key in ("min", "max", "unit"):
            if getattr(self, key) not in (None, ""):
                out[key] = getattr(self, key)
        if self.choices:
            out["choices"] = list(self.choices)
        return out


def bind_fields(fields: tuple[Field, ...], raw: dict[str, Any],
                noun: str = "argument") -> dict[str, Any]:
    """``raw`` checked against ``fields``: typed values, defaults filled in, or InvalidValue
    naming the unknown, missing or wrong one (a command's arguments, a job's parameters)."""
    unknown = set(raw) - {f.name for f in fields}
    if unknown:
        raise InvalidValue(f"unknown {noun}(s): {', '.join(sorted(unknown))}")
    out: dict[str, Any] = {}
    for field in fields:
        if field.name in raw:
            out[field.name] = field.check(raw[field.name])
        elif field.required:
            raise InvalidValue(f"missing {noun}: {field.name}")
        else:
            out[field.name] = field.default
    return out


def Arg(name: str, type: ValueType, doc: str, **kw: Any) -> Field:
    """A command argument (a :class:`Field`)."""
    return Field(name, type, doc, **kw)


def Param(name: str, type: ValueType, default: Any, doc: str, **kw: Any) -> Field:
    """A parameter: a :class:`Field` that must have a default."""
    return Field(name, type, doc, default=default, **kw)


@dataclass(frozen=True)
class Command:
    """A command an app serves."""

    name: str
    doc: str
    args: tuple[Field, ...] = ()
    hazardous: bool = False

    def __post_init__(self) -> None:
        if not NAME_RE.match(self.name):
            raise TypeError(f"bad command name {self.name!r}")
        names = [a.name for a in self.args]
        if len(set(names)) != len(names):
            raise TypeError(f"{self.name}: duplicate argument names")

    def bind(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Check raw arguments against the declaration; return the typed keyword arguments."""
        return bind_fields(self.args, raw)

    def describe(self, opcode: int) -> dict[str, Any]:
        return {
            "name": self.name,
            "opcode": opcode,
            "doc": self.doc,
            "hazardous": self.hazardous,
            "args": [a.describe() for a in self.args],
        }


@dataclass(frozen=True)
class Limits:
    """Yellow (caution) and red (alarm) bands; None on a side means unbounded there."""

    yellow_low: float | None = None
    yellow_high: float | None = None
    red_low: float | None = None
    red_high: float | None = None

    def state(self, value: float) -> str:
        """``"nominal"``, ``"yellow"`` or ``"red"`` for a numeric value (NaN is red)."""
        if math.isnan(value):
            return "red"
        if (self.red_low is not None and value < self.red_low) or (
            self.red_high is not None and value > self.red_high
        ):
            return "red"
        if (self.yellow_low is not None and value < self.yellow_low) or (
            self.yellow_high is not None and value > self.yellow_high
        ):
            return "yellow"
        return "nominal"

    def describe(self) -> dict[str, float]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class Channel:
    """A telemetry channel reported in the app's housekeeping packet."""

    name: str
    type: ValueType
    doc: str
    unit: str = ""
    limits: Limits | None = None

    def __post_init__(self) -> None:
        if not NAME_RE.match(self.name):
            raise TypeError(f"bad channel name {self.name!r}")

    def describe(self, channel_id: int) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "id": channel_id, "type": self.type.value,
                               "unit": self.unit, "doc": self.doc}
        if self.limits is not None:
            out["limits"] = self.limits.describe()
        return out


@dataclass(frozen=True)
class Event:
    """An event an app may emit; ``text`` is a ``str.format`` template over its arguments."""

    name: str
    severity: Severity
    text: str
    doc: str = ""

    def __post_init__(self) -> None:
        if not EVENT_NAME_RE.match(self.name):
            raise TypeError(f"bad event name {self.name!r}: UPPER_SNAKE_CASE")

    def describe(self, event_id: int) -> dict[str, Any]:
        return {"name": self.name, "id": event_id, "severity": self.severity.name,
                "text": self.text, "doc": self.doc}


@dataclass(frozen=True)
class AppModel:
    """Everything one app declares; the framework prepends its own common entries."""

    commands: tuple[Command, ...] = ()
    telemetry: tuple[Channel, ...] = ()
    events: tuple[Event, ...] = ()
    parameters: tuple[Field, ...] = ()

    def __post_init__(self) -> None:
        for kind, items in (("command", self.commands), ("channel", self.telemetry),
                            ("event", self.events), ("parameter", self.parameters)):
            names = [item.name for item in items]
            dupes = {n for n in names if names.count(n) > 1}
            if dupes:
                raise TypeError(f"duplicate {kind} name(s): {', '.join(sorted(dupes))}")

    def merged(self, base: AppModel) -> AppModel:
        """``base`` (the framework's common entries) followed by this app's own."""
        return AppModel(
            commands=base.commands + self.commands,
            telemetry=base.telemetry + self.telemetry,
            events=base.events + self.events,
            parameters=base.parameters + self.parameters,
        )

    def command(self, name: str) -> Command | None:
        for cmd in self.commands:
            if cmd.name == name:
                return cmd
        return None

    def event(self, name: str) -> Event:
        for event in self.events:
            if event.name == name:
                return event
        raise KeyError(name)
