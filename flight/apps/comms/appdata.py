"""Application data of the services comms serves (docs/icd.md section 9.1): parse and build.

Every parser raises :class:`BadAppData` with an operator-readable reason; the comms app turns
it into an acceptance failure report (``BAD_APP_DATA``).
"""

from __future__ import annotations

from typing import Any

import msgpack

from flight.bus import DecodeLimits
from flight.link import CdsTime, LinkError, Telecommand

FUNCTION_ID_SIZE = 2
STRUCTURE_ID_SIZE = 2
CDS_SIZE = 7


class BadAppData(ValueError):
    """Application data that does not follow the ICD."""


def unpack(data: bytes, limits: DecodeLimits) -> Any:
    """Bounded msgpack; integer map keys are allowed (TC[3,31] maps structure ids)."""
    n = len(data)
    if n > limits.max_message_bytes:
        raise BadAppData(f"application data of {n} bytes is too large")
    try:
        return msgpack.unpackb(data, raw=False, strict_map_key=False, max_str_len=n,
                               max_bin_len=n, max_array_len=n, max_map_len=n, max_ext_len=0)
    except Exception as exc:  # msgpack raises several unrelated types for bad input
        raise BadAppData(f"application data is not valid msgpack: "
                         f"{type(exc).__name__}") from None


def function_call(data: bytes, limits: DecodeLimits) -> tuple[int, dict[str, Any]]:
    """TC[8,1]: function id and argument map."""
    if len(data) < FUNCTION_ID_SIZE:
        raise BadAppData("TC[8,1] needs a 2-byte function id")
    opcode = int.from_bytes(data[:FUNCTION_ID_SIZE], "big")
    args = unpack(data[FUNCTION_ID_SIZE:], limits) if len(data) > FUNCTION_ID_SIZE else {}
    if not isinstance(args, dict) or not all(isinstance(k, str) for k in args):
        raise BadAppData("TC[8,1] arguments must be a msgpack map with text keys")
    return opcode, args


def typed(data: bytes, limits: DecodeLimits, kind: type, what: str) -> Any:
    """A msgpack value of one type (list of ids, map of intervals ...); empty data is empty."""
    value = unpack(data, limits) if data else kind()
    if not isinstance(value, kind):
        raise BadAppData(f"{what}: expected a msgpack {kind.__name__}")
    return value


def activity(data: bytes) -> tuple[float, Telecommand, bytes]:
    """TC[11,4]: release time and the embedded telecommand."""
    if len(data) <= CDS_SIZE:
        raise BadAppData("TC[11,4] needs a CDS release time and an embedded telecommand")
    try:
        release = CdsTime.decode(data[:CDS_SIZE]).to_unix()
        embedded = bytes(data[CDS_SIZE:])
        return release, Telecommand.decode(embedded), embedded
    except LinkError as exc:
        raise BadAppData(f"TC[11,4]: {exc.reason.value}: {exc}") from None


def housekeeping(structure_id: int, values: dict[str, Any]) -> bytes:
    return structure_id.to_bytes(STRUCTURE_ID_SIZE, "big") + msgpack.packb(values)


def pack(value: Any) -> bytes:
    return bytes(msgpack.packb(value))
