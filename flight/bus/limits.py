"""Size limits for everything decoded from the bus.

Every byte string that arrives on a socket came from another process, and another process can be
wrong: a half-written message, a bit flip, a bug, a fuzzer. Decoding is therefore always bounded,
so a bad message costs a counter increment, never memory or a crash.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any


@dataclass(frozen=True)
class DecodeLimits:
    """Upper bounds applied by msgpack while it decodes one bus message."""

    max_message_bytes: int = 1024 * 1024
    max_str_len: int = 64 * 1024
    max_bin_len: int = 1024 * 1024
    max_array_len: int = 64 * 1024
    max_map_len: int = 16 * 1024
    max_ext_len: int = 0

    @cached_property
    def unpack_options(self) -> dict[str, Any]:
        """Keyword arguments for ``msgpack.unpackb`` (computed once: decoding is a hot path)."""
        return {
            "raw": False,
            "strict_map_key": True,
            "max_str_len": self.max_str_len,
            "max_bin_len": self.max_bin_len,
            "max_array_len": self.max_array_len,
            "max_map_len": self.max_map_len,
            "max_ext_len": self.max_ext_len,
        }


DEFAULT_LIMITS = DecodeLimits()
