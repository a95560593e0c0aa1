"""Memory faults: bits flipped in a live onboard process's memory, through /proc/PID/mem.

This is what a radiation upset in unprotected RAM does to the flight software itself (not to the
job data the payload checks): a bit of the Python heap or an anonymous mapping changes under the
running process. Nothing tells the process; whether it crashes, hangs, computes something wrong
or never notices is what a campaign finds out. The executive must restart a process that dies
or stops heart-beating; the rest is for the campaign's classification (masked, SDC, DUE).

The flip is a read-modify-write of one byte through ``/proc/PID/mem`` (root, or the owner with
ptrace rights). The process is frozen (SIGSTOP) for the few microseconds it takes, so the old and
new values recorded are exactly what was there; a process already stopped stays stopped.
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hil.faults.base import Fault, FaultClass, FaultError, Injection, Param, register
from hil.faults.onboard import flatsat_pid, frozen, supervised_apps

if TYPE_CHECKING:
    from hil.testbed import Testbed

#: Which private writable mappings ``region`` selects.
REGIONS = ("any", "heap", "anonymous")


@dataclass(frozen=True)
class MemoryMapping:
    """One line of /proc/PID/maps."""

    start: int
    end: int
    perms: str
    path: str

    @property
    def size(self) -> int:
        return self.end - self.start

    @property
    def label(self) -> str:
        return f"{self.start:x}-{self.end:x} {self.perms} {self.path or '[anonymous]'}"


def parse_maps(text: str) -> list[MemoryMapping]:
    """/proc/PID/maps → mappings (lines that do not parse are skipped)."""
    out = []
    for line in text.splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) < 5:
            continue
        span, perms = fields[0], fields[1]
        low, _, high = span.partition("-")
        try:
            start, end = int(low, 16), int(high, 16)
        except ValueError:
            continue
        out.append(MemoryMapping(start, end, perms, fields[5].strip() if len(fields) > 5 else ""))
    return out


def candidates(mappings: list[MemoryMapping], region: str) -> list[MemoryMapping]:
    """Private writable mappings of the heap and/or anonymous memory (never files, stacks,
    vdso/vvar: a flip there is not a RAM upset of the process's data)."""
    def wanted(m: MemoryMapping) -> bool:
        if len(m.perms) < 4 or m.perms[:2] != "rw" or m.perms[3] != "p" or m.size <= 0:
            return False
        if m.path == "[heap]":
            return region in ("any", "heap")
        return m.path == "" and region in ("any", "anonymous")
    return [m for m in mappings if wanted(m)]


def flip_byte(pid: int, address: int, bit: int) -> tuple[int, int]:
    """Flip ``bit`` of the byte at ``address`` in ``pid``'s memory; (old, new) as read back."""
    fd = os.open(f"/proc/{pid}/mem", os.O_RDWR)
    try:
        old = os.pread(fd, 1, address)
        if len(old) != 1:
            raise FaultError(f"cannot read pid {pid}'s memory at {address:#x}")
        os.pwrite(fd, bytes([old[0] ^ (1 << bit)]), address)
        new = os.pread(fd, 1, address)
    finally:
        os.close(fd)
    return old[0], new[0]


def _pick(mappings: list[MemoryMapping], rng: random.Random) -> tuple[MemoryMapping, int]:
    """A mapping and an offset in it, uniformly over all their bytes (as an upset would)."""
    total = sum(m.size for m in mappings)
    position = rng.randrange(total)
    for m in mappings:
        if position < m.size:
            return m, position
        position -= m.size
    raise AssertionError("position beyond the mappings")  # pragma: no cover


@register
class MemFlip(Fault):
    name = "memflip"
    fault_class = FaultClass.MEMORY
    doc = ("Flip random bits in a live app's heap or anonymous memory through /proc/PID/mem: "
           "a RAM upset in the flight software. Masked, a crash or hang the executive must "
           "restart, or silently wrong output: the campaign tells which.")
    target_doc = "an app the executive runs"
    params = (
        Param("region", str, "which private writable memory: heap, anonymous or any",
              default="any", choices=REGIONS),
        Param("flips", int, "bits flipped (each at its own random address)", default=1,
              min=1, max=64),
    )

    def targets(self, bed: Testbed) -> list[str]:
        return supervised_apps(bed)

    def inject(self, bed: Testbed, target: str, params: Mapping[str, Any],
               rng: random.Random) -> Injection:
        pid = flatsat_pid(bed, target)
        try:
            with frozen(pid) as was_stopped:
                with open(f"/proc/{pid}/maps", encoding="ascii", errors="replace") as f:
                    mappings = candidates(parse_maps(f.read()), params["region"])
                if not mappings:
                    raise FaultError(f"{target} (pid {pid}) has no {params['region']} "
                                     f"private writable memory")
                flips = [self._flip(pid, mappings, rng) for _ in range(params["flips"])]
        except (ProcessLookupError, FileNotFoundError):
            raise FaultError(f"{target} (pid {pid}) exited during the flip") from None
        except PermissionError as exc:
            raise FaultError(f"no access to pid {pid}'s memory ({exc.strerror}): memory "
                             f"faults need root or ptrace rights over the flatsat") from None
        first = flips[0]
        more = f" and {len(flips) - 1} more" if len(flips) > 1 else ""
        detail = (f"flipped bit {first['bit']} at {first['address']} ({first['mapping_path']} "
                  f"+{first['offset']:#x}) of {target} (pid {pid}): {first['old']:#04x} → "
                  f"{first['new']:#04x}{more}")
        return Injection(self.name, self.fault_class.value, target, dict(params), detail,
                         evidence={"pid": pid, "was_stopped": was_stopped, "flips": flips})

    @staticmethod
    def _flip(pid: int, mappings: list[MemoryMapping], rng: random.Random) -> dict[str, Any]:
        mapping, offset = _pick(mappings, rng)
        bit = rng.randrange(8)
        address = mapping.start + offset
        try:
            old, new = flip_byte(pid, address, bit)
        except OSError as exc:
            if isinstance(exc, (PermissionError, ProcessLookupError, FileNotFoundError)):
                raise
            raise FaultError(f"cannot write pid {pid}'s memory at {address:#x} "
                             f"({exc.strerror or exc})") from None
        return {"address": f"{address:#x}", "address_int": address, "mapping": mapping.label,
                "mapping_path": mapping.path or "[anonymous]", "offset": offset, "bit": bit,
                "old": old, "new": new}
