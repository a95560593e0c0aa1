"""Size limits for everything decoded from the bus.

Every byte string that arrives on a socket came from another process, and another process can be
wrong: a half-written message, a bit flip, a bug, a fuzzer. Decoding is therefore always bounded,
so a bad message costs a counter increment, never memory or a crash.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

#: Messages up to this size are decoded with every container capped at this many elements;
#: larger ones have their structure walked (without building anything) before decoding.
SMALL_MESSAGE_BYTES = 1024


@dataclass(frozen=True)
class DecodeLimits:
    """Upper bounds applied by msgpack while it decodes one bus message.

    msgpack allocates a container as soon as it reads its header, before the elements
    arrive, so the per-container caps alone do not bound memory: a short message of nested
    headers each claiming the maximum would allocate gigabytes before failing. Two rules
    close that: a small message gets caps no larger than itself, and a larger one is first
    skipped over by msgpack's C unpacker (which builds nothing) to prove every container it
    claims is really there.
    """

    max_message_bytes: int = 1024 * 1024
    max_str_len: int = 64 * 1024
    max_bin_len: int = 1024 * 1024
    max_array_len: int = 64 * 1024
    max_map_len: int = 16 * 1024
    max_ext_len: int = 0

    def _options(self, cap: int) -> dict[str, Any]:
        return {
            "raw": False,
            "strict_map_key": True,
            "max_str_len": min(self.max_str_len, cap),
            "max_bin_len": min(self.max_bin_len, cap),
            "max_array_len": min(self.max_array_len, cap),
            "max_map_len": min(self.max_map_len, cap),
            "max_ext_len": min(self.max_ext_len, cap),
        }

    @cached_property
    def unpack_options(self) -> dict[str, Any]:
        """Keyword arguments for ``msgpack.unpackb`` (computed once: decoding is a hot path)."""
        return self._options(self.max_message_bytes)

    @cached_property
    def small_unpack_options(self) -> dict[str, Any]:
        """The same for a message of at most :data:`SMALL_MESSAGE_BYTES`."""
        return self._options(SMALL_MESSAGE_BYTES)


DEFAULT_LIMITS = DecodeLimits()
