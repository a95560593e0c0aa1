"""Impairment settings and the per-direction decision engine (no sockets, no wall clock).

:class:`Impairments` is the frozen, validated description of what one direction of the link does to
the datagrams crossing it. :class:`Channel` applies it: given a datagram and the time it arrived it
says whether it is dropped (and why) or when, and in which form(s), it leaves. The proxy
(:mod:`hil.linksim.proxy`) owns the sockets and the clock; this module is pure and seeded, so a run
is reproducible for a seed given the same arrival order (and arrival times, where a bandwidth limit
or a scheduled outage makes timing matter).

Each random impairment draws from its own stream (loss, duplicate, reorder, jitter, corrupt), so
turning corruption on does not change which datagrams are lost for the same seed. A stream is
consumed once per datagram that reaches its stage, and only while its knob is non-zero.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DIRECTIONS = ("uplink", "downlink")
_ALIASES = {"uplink": ("uplink",), "up": ("uplink",), "downlink": ("downlink",),
            "down": ("downlink",), "both": DIRECTIONS, "all": DIRECTIONS}

JITTER_DISTS = ("uniform", "normal")

#: Counter names, in the order :meth:`Channel.counters` reports them.
COUNTERS = ("received", "forwarded", "dropped_loss", "dropped_outage", "dropped_queue",
            "dropped_no_route", "send_errors", "duplicated", "reordered", "corrupted",
            "bytes", "bytes_received", "queued")


def directions(name: str) -> tuple[str, ...]:
    """``"uplink"``/``"up"``, ``"downlink"``/``"down"``, ``"both"``/``"all"`` → direction names."""
    try:
        return _ALIASES[str(name).lower()]
    except KeyError:
        raise ValueError(f"unknown direction {name!r} (uplink, downlink or both)") from None


def _prob(name: str, value: float) -> float:
    if not (isinstance(value, (int, float)) and not isinstance(value, bool)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    return float(value)


def _nonneg(name: str, value: float) -> float:
    if not (isinstance(value, (int, float)) and not isinstance(value, bool)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not (math.isfinite(float(value)) and float(value) >= 0.0):
        raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
    return float(value)


def _windows(value: Any) -> tuple[tuple[float, float], ...]:
    out: list[tuple[float, float]] = []
    for item in value or ():
        if isinstance(item, str):
            start_s, sep, end_s = item.partition(":")
            if not sep:
                raise ValueError(f"outage window {item!r} is not START:END (seconds)")
            item = (start_s, end_s)
        try:
            start, end = (float(x) for x in item)
        except (TypeError, ValueError):
            raise ValueError(f"outage window {item!r} is not a (start, end) pair") from None
        if not (math.isfinite(start) and start >= 0.0 and end > start):
            raise ValueError(f"outage window {item!r} needs 0 <= start < end (seconds)")
        out.append((start, end))
    return tuple(sorted(out))


@dataclass(frozen=True)
class Impairments:
    """What one direction of the link does. All defaults mean "transparent".

    Times are milliseconds except outage windows (seconds since the proxy started).
    """

    delay_ms: float = 0.0
    """Fixed one-way propagation delay."""
    jitter_ms: float = 0.0
    """Delay variation: ±jitter_ms (``uniform``) or sigma (``normal``); total delay never < 0."""
    jitter_dist: str = "uniform"
    preserve_order: bool = True
    """Jitter never reorders (a serial radio link): a datagram never leaves before an earlier one
    that was not picked for reordering. ``False`` gives netem-like jitter that can reorder."""
    loss: float = 0.0
    """Probability a datagram is dropped."""
    duplicate: float = 0.0
    """Probability a datagram is sent twice (the copy right after the original)."""
    reorder: float = 0.0
    """Probability a datagram is held back by ``reorder_delay_ms`` so later ones overtake it."""
    reorder_delay_ms: float = 10.0
    corrupt: float = 0.0
    """Probability a datagram has 1..``corrupt_bits`` distinct random bits flipped."""
    corrupt_bits: int = 1
    bandwidth: float = 0.0
    """Link rate in bytes/s (datagram payload bytes); 0 = unlimited. Excess waits in the queue."""
    max_queue: int = 10_000
    """Datagrams held (delayed, rate-limited or waiting for the socket) beyond this are dropped."""
    max_queue_bytes: int = 64 << 20
    """The same bound in payload bytes, so a flood of 64 KiB datagrams cannot eat the memory."""
    outages: tuple[tuple[float, float], ...] = field(default=())
    """Scheduled link-down windows ``(start_s, end_s)``, seconds since the proxy started."""

    def __post_init__(self) -> None:
        for name in ("delay_ms", "jitter_ms", "reorder_delay_ms", "bandwidth"):
            object.__setattr__(self, name, _nonneg(name, getattr(self, name)))
        for name in ("loss", "duplicate", "reorder", "corrupt"):
            object.__setattr__(self, name, _prob(name, getattr(self, name)))
        if self.jitter_dist not in JITTER_DISTS:
            raise ValueError(f"jitter_dist must be one of {JITTER_DISTS}, got {self.jitter_dist!r}")
        if not isinstance(self.preserve_order, bool):
            raise ValueError(f"preserve_order must be true or false, got {self.preserve_order!r}")
        for name in ("corrupt_bits", "max_queue", "max_queue_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        object.__setattr__(self, "outages", _windows(self.outages))

    @classmethod
    def fields(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], base: Impairments | None = None) -> Impairments:
        """``base`` (default: transparent) with ``values`` replaced; unknown key → ValueError."""
        unknown = sorted(set(values) - set(cls.fields()))
        if unknown:
            raise ValueError(f"unknown impairment(s) {', '.join(unknown)}; "
                             f"known: {', '.join(cls.fields())}")
        values = dict(values)
        for name in ("corrupt_bits", "max_queue", "max_queue_bytes"):   # JSON may say 3.0
            value = values.get(name)
            if isinstance(value, float) and value.is_integer():
                values[name] = int(value)
        return dataclasses.replace(base or cls(), **values)

    def as_dict(self) -> dict[str, Any]:
        """JSON-able (outage windows as lists)."""
        out = dataclasses.asdict(self)
        out["outages"] = [list(w) for w in self.outages]
        return out


def parse_value(name: str, text: str) -> Any:
    """A ``KEY=VALUE`` string value → the type :class:`Impairments` wants for ``name``."""
    if name == "outages":
        return [w for w in text.split(",") if w] if text else []
    if name == "jitter_dist":
        return text
    if name == "preserve_order":
        low = text.lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"preserve_order must be true or false, got {text!r}")
    if name in ("corrupt_bits", "max_queue", "max_queue_bytes"):
        return int(text)
    if name in Impairments.fields():
        return float(text)
    raise ValueError(f"unknown impairment {name!r}; known: {', '.join(Impairments.fields())}")


class Channel:
    """One direction of the link: its settings, random streams, queue state and counters.

    Not thread-safe by itself: the proxy calls it from its loop thread under its lock.
    """

    def __init__(self, name: str, seed: int, impairments: Impairments | None = None) -> None:
        self.name = name
        self.impairments = impairments or Impairments()
        self.manual_outage = False
        self.t0 = 0.0                 # monotonic time the proxy started (outage windows)
        self.pending = 0              # datagrams held by the proxy for this direction
        self.pending_bytes = 0        # ... and their payload bytes
        self._link_free_at = 0.0      # bandwidth model: when the transmitter is next idle
        self._last_due = 0.0          # preserve_order: latest departure of an in-order datagram
        streams = ("loss", "duplicate", "reorder", "jitter", "corrupt")
        self._rng = {s: random.Random(f"sunlit-linksim:{seed}:{name}:{s}") for s in streams}
        self.stats = dict.fromkeys(COUNTERS, 0)

    # -- state --------------------------------------------------------------------------------

    def in_outage(self, now: float) -> bool:
        if self.manual_outage:
            return True
        windows = self.impairments.outages
        if not windows:
            return False
        t = now - self.t0
        return any(start <= t < end for start, end in windows)

    def hold(self, data: bytes) -> None:
        """The proxy keeps ``data`` for later (timer heap or socket backlog)."""
        self.pending += 1
        self.pending_bytes += len(data)

    def release(self, data: bytes) -> None:
        """The proxy sent or dropped a datagram it held."""
        self.pending -= 1
        self.pending_bytes -= len(data)

    def _queue_full(self, extra: int, size: int) -> bool:
        imp = self.impairments
        return (self.pending + extra >= imp.max_queue
                or self.pending_bytes + extra * size + size > imp.max_queue_bytes)

    def counters(self) -> dict[str, int]:
        out = dict(self.stats)
        out["queued"] = self.pending
        return out

    def reset_counters(self) -> None:
        self.stats = dict.fromkeys(COUNTERS, 0)

    # -- the decision -------------------------------------------------------------------------

    def admit(self, data: bytes, now: float) -> list[tuple[float, bytes]]:
        """A datagram arrived at ``now``: ``(due, data)`` per copy that leaves (none: dropped).

        ``due`` is in the same clock as ``now`` (the proxy uses ``time.monotonic()``).

        Counts ``received``/``bytes_received`` and every drop or impairment it decides; the proxy
        counts ``forwarded``/``bytes`` when it actually sends, and calls :meth:`hold` for each
        departure it keeps for later.
        """
        imp = self.impairments
        stats = self.stats
        stats["received"] += 1
        stats["bytes_received"] += len(data)
        if self.in_outage(now):
            stats["dropped_outage"] += 1
            return []
        if imp.loss and self._rng["loss"].random() < imp.loss:
            stats["dropped_loss"] += 1
            return []
        if self._queue_full(0, len(data)):
            stats["dropped_queue"] += 1
            return []
        if imp.corrupt and data and self._rng["corrupt"].random() < imp.corrupt:
            data = flip_bits(data, self._rng["corrupt"], imp.corrupt_bits)
            stats["corrupted"] += 1
        copies = 1
        if imp.duplicate and self._rng["duplicate"].random() < imp.duplicate:
            stats["duplicated"] += 1
            if not self._queue_full(1, len(data)):
                copies = 2
            else:
                stats["dropped_queue"] += 1    # the copy found the queue full

        out: list[tuple[float, bytes]] = []
        for _ in range(copies):
            t = now
            if imp.bandwidth:
                start = max(now, self._link_free_at)
                self._link_free_at = start + len(data) / imp.bandwidth
                t = self._link_free_at
            delay = imp.delay_ms
            if imp.jitter_ms:
                rng = self._rng["jitter"]
                if imp.jitter_dist == "normal":
                    delay += rng.gauss(0.0, imp.jitter_ms)
                else:
                    delay += rng.uniform(-imp.jitter_ms, imp.jitter_ms)
            due = t + max(0.0, delay) / 1000.0
            held = bool(imp.reorder) and self._rng["reorder"].random() < imp.reorder
            if held:
                due += imp.reorder_delay_ms / 1000.0
                stats["reordered"] += 1
            elif imp.preserve_order:
                due = max(due, self._last_due)
                self._last_due = due
            out.append((due, data))
        return out


def flip_bits(data: bytes, rng: random.Random, max_bits: int) -> bytes:
    """``data`` with 1..``max_bits`` distinct random bits flipped (capped at its bit length)."""
    nbits = len(data) * 8
    count = min(rng.randint(1, max_bits), nbits)
    buf = bytearray(data)
    for pos in rng.sample(range(nbits), count):
        buf[pos >> 3] ^= 1 << (pos & 7)
    return bytes(buf)
