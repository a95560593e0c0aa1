"""The onboard bus: publish/subscribe through the executive's proxy, and commands over ROUTER."""

from flight.bus.commands import (
    CommandClient,
    CommandError,
    CommandServer,
    Outcome,
    Reply,
    Request,
)
from flight.bus.counters import BusCounters
from flight.bus.envelope import DecodeError, Envelope
from flight.bus.limits import DEFAULT_LIMITS, DecodeLimits
from flight.bus.proxy import BusProxy
from flight.bus.pubsub import Publisher, Subscriber
from flight.bus.reasons import Reason, Status
from flight.bus.rundir import RunDir, RunDirError, default_run_dir

__all__ = [
    "DEFAULT_LIMITS",
    "BusCounters",
    "BusProxy",
    "CommandClient",
    "CommandError",
    "CommandServer",
    "DecodeError",
    "DecodeLimits",
    "Envelope",
    "Outcome",
    "Publisher",
    "Reason",
    "Reply",
    "Request",
    "RunDir",
    "RunDirError",
    "Status",
    "Subscriber",
    "default_run_dir",
]
