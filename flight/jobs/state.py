"""A job's checkpointable state as bytes: named numpy arrays and scalars, msgpack-framed.

The checkpoint store already guarantees that what it hands back is what was written (digest,
generations); this codec guarantees that what it decodes is a well-formed state and nothing else:
every array's dtype is one of a short list, its shape matches its byte count, and a damaged or
hostile payload raises :class:`StateError` instead of allocating or crashing.
"""

from __future__ import annotations

from typing import Any

import msgpack
import numpy as np

from flight.jobs.kind import State

#: Dtypes a job state may hold; anything else in a payload is refused.
DTYPES = frozenset({"float32", "float64", "int8", "int16", "int32", "int64",
                    "uint8", "uint16", "uint32", "uint64", "bool"})
_ARRAY = "__ndarray__"
_SCALARS = (bool, int, float, str, bytes, type(None))


class StateError(ValueError):
    """A payload that is not a job state this version can restore."""


def pack_state(state: State, meta: dict[str, Any] | None = None) -> bytes:
    """Encode ``state`` (and small ``meta`` such as the step index) for the checkpoint store."""
    out: dict[str, Any] = {}
    for name, value in state.items():
        if isinstance(value, np.ndarray):
            if value.dtype.name not in DTYPES:
                raise TypeError(f"state {name!r}: dtype {value.dtype} cannot be checkpointed")
            out[name] = {_ARRAY: value.dtype.name, "shape": list(value.shape),
                         "data": np.ascontiguousarray(value).data}
        elif isinstance(value, _SCALARS):
            out[name] = value
        else:
            raise TypeError(f"state {name!r}: {type(value).__name__} cannot be checkpointed")
    return msgpack.packb({"meta": meta or {}, "state": out}, use_bin_type=True)


def unpack_state(payload: bytes) -> tuple[State, dict[str, Any]]:
    """Decode what :func:`pack_state` wrote; :class:`StateError` for anything else."""
    try:
        doc = msgpack.unpackb(payload, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several types for damaged input
        raise StateError(f"not a job state: {exc}") from None
    if not (isinstance(doc, dict) and isinstance(doc.get("state"), dict)
            and isinstance(doc.get("meta"), dict)):
        raise StateError("not a job state: missing 'state' or 'meta'")
    state: State = {}
    for name, value in doc["state"].items():
        state[name] = _array(name, value) if isinstance(value, dict) else value
        if not isinstance(state[name], (np.ndarray, *_SCALARS)):
            raise StateError(f"state {name!r}: unexpected {type(value).__name__}")
    return state, doc["meta"]


def _array(name: str, value: dict[str, Any]) -> np.ndarray:
    dtype, shape, data = value.get(_ARRAY), value.get("shape"), value.get("data")
    if dtype not in DTYPES or not isinstance(data, bytes) or not isinstance(shape, list) \
            or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise StateError(f"state {name!r}: malformed array")
    array = np.frombuffer(data, dtype=np.dtype(dtype))
    if int(np.prod(shape, dtype=np.int64)) != array.size:
        raise StateError(f"state {name!r}: shape {shape} does not match {len(data)} bytes")
    return array.reshape(shape).copy()
