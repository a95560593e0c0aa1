"""Storage faults: damaged checkpoints and a damaged on-board telemetry store.

Flash and SD cards lose bits and tear writes; a brown-out in the middle of a write leaves a short
file. These injectors damage the real files in the run directory:

* ``checkpoint_corrupt`` — the newest generation of one app's checkpoint store
  (``state/APP/NAME.GENERATION.ckpt``): bits flipped or the file truncated. The store verifies
  every byte on load, so the owner must fall back to the previous generation when it next loads
  (``CHECKPOINT_FALLBACK``, ``QUEUE_RECOVERED`` ...), never use the damaged one, never crash.
* ``tmstore_corrupt`` — comms' SQLite store of telemetry kept for the next contact
  (``state/comms/tm-store.sqlite`` and its write-ahead log): bits flipped, files torn, or the
  headers garbled so it is no longer a database. Comms must keep the radio up: set an unreadable
  store aside (``STORE_RECOVERED``) and go on storing.

Both act on the files while the owner runs (it finds out at its next read). With ``restart`` the
owner is frozen first (so it cannot write while the harness does), damaged, and SIGKILLed: the
executive restarts it and the load happens at once, which is what a campaign usually wants.
"""

from __future__ import annotations

import os
import random
import re
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hil.faults.base import Fault, FaultClass, FaultError, Injection, Param, register
from hil.faults.onboard import flatsat_pid, frozen, is_running

if TYPE_CHECKING:
    from hil.testbed import Testbed

_CKPT = re.compile(r"(?P<name>[A-Za-z0-9_.-]+)\.(?P<generation>\d{10,20})\.ckpt")
TM_STORE = "tm-store.sqlite"
#: SQLite's database header and write-ahead-log header sizes: what ``garble`` overwrites.
SQLITE_HEADER = 100
WAL_HEADER = 32


def checkpoint_stores(run_dir: Path) -> dict[str, list[tuple[int, Path]]]:
    """``"app/name"`` → its generation files, newest first, for every store in the run dir."""
    stores: dict[str, list[tuple[int, Path]]] = {}
    state = run_dir / "state"
    for path in sorted(state.glob("*/*.ckpt")) if state.is_dir() else ():
        match = _CKPT.fullmatch(path.name)
        if match is None or not path.is_file():
            continue
        key = f"{path.parent.name}/{match['name']}"
        stores.setdefault(key, []).append((int(match["generation"]), path))
    for files in stores.values():
        files.sort(reverse=True)
    return stores


def flip_bits(path: Path, count: int, rng: random.Random) -> list[dict[str, Any]]:
    """Flip ``count`` random bits of ``path`` in place; what changed, byte by byte."""
    size = path.stat().st_size
    if size == 0:
        raise FaultError(f"{path} is empty: no bit to flip")
    flips = []
    fd = os.open(path, os.O_RDWR)
    try:
        for _ in range(count):
            offset, bit = rng.randrange(size), rng.randrange(8)
            old = os.pread(fd, 1, offset)[0]
            os.pwrite(fd, bytes([old ^ (1 << bit)]), offset)
            flips.append({"offset": offset, "bit": bit, "old": old, "new": old ^ (1 << bit)})
        os.fsync(fd)
    finally:
        os.close(fd)
    return flips


def truncate(path: Path, rng: random.Random) -> dict[str, int]:
    """Cut ``path`` to a random shorter length (a torn write); old and new sizes."""
    size = path.stat().st_size
    if size == 0:
        raise FaultError(f"{path} is already empty")
    new = rng.randrange(size)
    os.truncate(path, new)
    return {"old_size": size, "new_size": new}


def garble(path: Path, length: int, rng: random.Random) -> dict[str, Any]:
    """Overwrite the first ``length`` bytes of ``path`` with random bytes (a wrecked header)."""
    size = path.stat().st_size
    junk = bytes(rng.randrange(256) for _ in range(min(length, size)))
    with open(path, "r+b") as f:
        f.write(junk)
        f.flush()
        os.fsync(f.fileno())
    return {"offset": 0, "length": len(junk)}


def damage_then_restart(bed: Testbed, app: str, restart: bool,
                        damage: Any) -> dict[str, Any]:
    """Run ``damage()``; with ``restart`` freeze ``app`` around it and SIGKILL it after.

    Frozen, the owner cannot write the files between the damage and its death, so what it loads
    after the restart is exactly what the harness left. Returns ``damage()``'s evidence plus the
    pid killed.
    """
    if not restart:
        return dict(damage())
    pid = flatsat_pid(bed, app)
    with frozen(pid):
        evidence = dict(damage())
        os.kill(pid, signal.SIGKILL)  # SIGKILL works on a stopped process
    evidence["killed_pid"] = pid
    return evidence


def _owner_check(bed: Testbed, app: str, restart: bool) -> None:
    if restart and app == "executive":
        raise FaultError("restart=true cannot kill the executive: nothing would restart it")
    if restart and not is_running(bed, app):
        raise FaultError(f"restart=true: {app} is not running")


@register
class CheckpointCorrupt(Fault):
    name = "checkpoint_corrupt"
    fault_class = FaultClass.STORAGE
    doc = ("Damage the newest checkpoint generation of an app's store (flipped bits or a "
           "truncated file): on its next load the app must reject it and fall back to the "
           "previous generation (CHECKPOINT_FALLBACK / QUEUE_RECOVERED), never crash.")
    target_doc = "a checkpoint store in the run dir, as APP/NAME (e.g. world/world)"
    params = (
        Param("how", str, "flip bits, or truncate the file", default="flip",
              choices=("flip", "truncate")),
        Param("bits", int, "bits flipped (how=flip)", default=1, min=1, max=4096),
        Param("restart", bool, "SIGKILL the owner right after, so it loads now", default=False),
    )

    def targets(self, bed: Testbed) -> list[str]:
        return sorted(checkpoint_stores(bed.run_dir))

    def why_no_targets(self, bed: Testbed) -> str:
        return f"no checkpoint files under {bed.run_dir / 'state'}"

    def inject(self, bed: Testbed, target: str, params: Mapping[str, Any],
               rng: random.Random) -> Injection:
        app = target.split("/", 1)[0]
        _owner_check(bed, app, params["restart"])
        files = checkpoint_stores(bed.run_dir).get(target)
        if not files:
            raise FaultError(f"{target} has no checkpoint file any more")

        def damage() -> dict[str, Any]:
            now = checkpoint_stores(bed.run_dir).get(target)
            if not now:
                raise FaultError(f"{target} has no checkpoint file any more")
            generation, path = now[0]
            done: dict[str, Any] = {"path": str(path), "generation": generation,
                                    "generations": [g for g, _ in files]}
            try:
                if params["how"] == "flip":
                    done["flips"] = flip_bits(path, params["bits"], rng)
                else:
                    done.update(truncate(path, rng))
            except FileNotFoundError:
                raise FaultError(f"{path.name} vanished (pruned by its owner)") from None
            return done

        evidence = damage_then_restart(bed, app, params["restart"], damage)
        what = (f"{len(evidence['flips'])} bit(s) flipped" if params["how"] == "flip"
                else f"truncated {evidence['old_size']} → {evidence['new_size']} bytes")
        restarted = f"; {app} killed (pid {evidence['killed_pid']})" \
            if params["restart"] else ""
        detail = (f"checkpoint {target} generation {evidence['generation']}: {what} in "
                  f"{Path(evidence['path']).name}{restarted}")
        return Injection(self.name, self.fault_class.value, target, dict(params), detail,
                         evidence=evidence)


def tm_stores(run_dir: Path) -> dict[str, Path]:
    """App → its telemetry store file, for every app with one in the run dir."""
    state = run_dir / "state"
    return {path.parent.name: path for path in sorted(state.glob(f"*/{TM_STORE}"))} \
        if state.is_dir() else {}


@register
class TmStoreCorrupt(Fault):
    name = "tmstore_corrupt"
    fault_class = FaultClass.STORAGE
    doc = ("Damage comms' on-board telemetry store (SQLite file and write-ahead log): flipped "
           "bits, torn files, or garbled headers. Comms must keep the radio up: set an "
           "unreadable store aside (STORE_RECOVERED) and keep storing; packets stored before "
           "may be lost, and a campaign counts them.")
    target_doc = "an app with a telemetry store in the run dir (comms)"
    params = (
        Param("how", str, "flip bits, truncate (torn write) or garble the headers",
              default="flip", choices=("flip", "truncate", "garble")),
        Param("bits", int, "bits flipped (how=flip)", default=8, min=1, max=4096),
        Param("restart", bool, "SIGKILL the owner right after, so it reopens the store now",
              default=False),
    )

    def targets(self, bed: Testbed) -> list[str]:
        return sorted(tm_stores(bed.run_dir))

    def why_no_targets(self, bed: Testbed) -> str:
        return f"no {TM_STORE} under {bed.run_dir / 'state'} (comms not started?)"

    def inject(self, bed: Testbed, target: str, params: Mapping[str, Any],
               rng: random.Random) -> Injection:
        _owner_check(bed, target, params["restart"])
        path = tm_stores(bed.run_dir)[target]

        def damage() -> dict[str, Any]:
            files = [p for p in (path, path.with_name(path.name + "-wal")) if p.is_file()]
            done: dict[str, Any] = {"path": str(path), "sizes": {
                p.name: p.stat().st_size for p in files}, "damage": {}}
            for p in files:
                if params["how"] == "garble":
                    header = SQLITE_HEADER if p == path else WAL_HEADER
                    done["damage"][p.name] = garble(p, header, rng)
                elif params["how"] == "truncate" and p.stat().st_size:
                    done["damage"][p.name] = truncate(p, rng)
            if params["how"] == "flip":
                weights = [p.stat().st_size for p in files]
                if not sum(weights):
                    raise FaultError(f"{path.name} is empty: no bit to flip")
                for _ in range(params["bits"]):
                    p = rng.choices(files, weights)[0]
                    done["damage"].setdefault(p.name, []).extend(flip_bits(p, 1, rng))
            return done

        evidence = damage_then_restart(bed, target, params["restart"], damage)
        restarted = f"; {target} killed (pid {evidence['killed_pid']})" \
            if params["restart"] else ""
        detail = (f"telemetry store of {target}: {params['how']} "
                  f"({', '.join(sorted(evidence['damage'])) or 'nothing to damage'})"
                  f"{restarted}")
        return Injection(self.name, self.fault_class.value, target, dict(params), detail,
                         evidence=evidence)
