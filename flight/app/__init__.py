"""The app framework: declare commands, telemetry, events and parameters; get the machinery."""

from flight.app.base import App, AppContext, CommandFailed
from flight.app.model import (
    AppModel,
    Arg,
    Channel,
    Command,
    Event,
    Field,
    InvalidValue,
    Limits,
    Param,
    Severity,
    ValueType,
)

__all__ = [
    "App",
    "AppContext",
    "AppModel",
    "Arg",
    "Channel",
    "Command",
    "CommandFailed",
    "Event",
    "Field",
    "InvalidValue",
    "Limits",
    "Param",
    "Severity",
    "ValueType",
]
