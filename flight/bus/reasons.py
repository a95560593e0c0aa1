"""Why a command failed: reason codes shared by the bus, the apps and (later) PUS service 1.

The numbers are part of the dictionary and the ground's verification reports, so they only
ever grow; a code is never renumbered.
"""

from __future__ import annotations

import enum


class Reason(enum.IntEnum):
    OK = 0
    UNKNOWN_COMMAND = 1
    BAD_ARGUMENTS = 2
    EXPIRED = 3
    NOT_PERMITTED = 4
    EXECUTION_ERROR = 5
    BUSY = 6
    MALFORMED = 7
    TIMEOUT = 8
    UNAVAILABLE = 9
    NOT_ARMED = 10  # a hazardous command without a valid arm before it


class Status(str, enum.Enum):
    """The stages a command's replies go through."""

    ACCEPTED = "ACCEPTED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
