"""A full disk: the filesystem that holds the run directory filled until ENOSPC.

On a board, logs, stored telemetry and checkpoints share one small flash filesystem, and one
runaway writer can fill it. Then every save fails: the checkpoint store must leave the previous
generation intact (it writes a temp file and renames), comms must keep the radio up when it
cannot store, the ARSN state must not block the uplink, and nothing may crash-loop the stack into
SAFE. ``clear`` deletes the filler and the stack must go back to saving.

Filling a real disk would hurt everything else on the machine, so the injector refuses unless
the filesystem is small (below :data:`MAX_FILESYSTEM_BYTES`). :func:`small_filesystem` gives a
campaign or a test such a filesystem: a tmpfs of the given size mounted for the duration (root
only), on which ``start_testbed(run_dir=...)`` puts the flatsat.
"""

from __future__ import annotations

import contextlib
import errno
import os
import random
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hil.faults.base import Fault, FaultClass, FaultError, Injection, Param, register

if TYPE_CHECKING:
    from hil.testbed import Testbed

#: The largest filesystem the injector agrees to fill.
MAX_FILESYSTEM_BYTES = 4 << 30
FILLER = "disk-filler.bin"
_CHUNK = 1 << 20


def filesystem(path: Path) -> dict[str, int | str]:
    """Size, free bytes and mount point of the filesystem holding ``path``."""
    st = os.statvfs(path)
    mount = Path(path).resolve()
    while not os.path.ismount(mount) and mount != mount.parent:
        mount = mount.parent
    return {"mount": str(mount), "size": st.f_blocks * st.f_frsize,
            "free": st.f_bavail * st.f_frsize}


def fill(path: Path, leave_bytes: int) -> int:
    """Write ``path`` until the filesystem is full (but ``leave_bytes``); bytes written.

    Chunks halve on ENOSPC down to one byte, so the filesystem ends up really full, not merely
    short of one megabyte.
    """
    written, chunk = 0, _CHUNK
    block = bytes(_CHUNK)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        while chunk >= 1:
            if leave_bytes:
                room = int(filesystem(path.parent)["free"]) - leave_bytes
                if room <= 0:
                    break
                chunk = min(chunk, room)
            try:
                written += os.write(fd, block[:chunk])
            except OSError as exc:
                if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                    raise
                chunk //= 2
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
    return written


@register
class DiskFull(Fault):
    name = "disk_full"
    fault_class = FaultClass.STORAGE
    lasting = True
    doc = ("Fill the filesystem holding the run dir until ENOSPC (only if it is small: < 4 "
           "GiB). Saves fail: checkpoints must keep their last good generation, comms must keep "
           "the radio up, nothing may crash-loop. clear() deletes the filler.")
    target_doc = "run_dir (the filesystem that holds it)"
    params = (Param("leave_bytes", int, "bytes left free (0: really full)", default=0, min=0,
                    max=MAX_FILESYSTEM_BYTES),)

    def run_dir_filesystem(self, run_dir: Path) -> contextlib.AbstractContextManager[Any]:
        return small_filesystem(run_dir)

    def targets(self, bed: Testbed) -> list[str]:
        return ["run_dir"]

    def inject(self, bed: Testbed, target: str, params: Mapping[str, Any],
               rng: random.Random) -> Injection:
        fs = filesystem(bed.run_dir)
        if int(fs["size"]) >= MAX_FILESYSTEM_BYTES:
            raise FaultError(
                f"refusing to fill {fs['mount']}: it holds {int(fs['size']) / 2**30:.1f} GiB, "
                f"not a small filesystem (< {MAX_FILESYSTEM_BYTES >> 30} GiB); put the run dir "
                f"on one, e.g. hil.faults.disk.small_filesystem()")
        path = bed.run_dir / FILLER
        try:
            written = fill(path, params["leave_bytes"])
        except FileExistsError:
            raise FaultError(f"{path} exists: the disk is already filled (clear that "
                             f"first)") from None
        except OSError as exc:
            path.unlink(missing_ok=True)
            raise FaultError(f"cannot fill {fs['mount']}: {exc}") from None
        after = filesystem(bed.run_dir)
        return Injection(self.name, self.fault_class.value, target, dict(params),
                         f"filled {fs['mount']} with {written} bytes: {after['free']} of "
                         f"{fs['size']} bytes free (until cleared)",
                         evidence={"filler": str(path), "written": written, **{
                             f"fs_{k}": v for k, v in fs.items()}, "free_after": after["free"]})

    def clear(self, bed: Testbed, injection: Injection) -> None:
        filler = Path(str(injection.evidence.get("filler") or bed.run_dir / FILLER))
        if filler.name != FILLER:
            raise FaultError(f"{filler} is not a filler this injector made")
        filler.unlink(missing_ok=True)
        injection.evidence["free_at_clear"] = filesystem(bed.run_dir)["free"]


@contextlib.contextmanager
def small_filesystem(path: Path | None = None, size_mb: int = 64) -> Iterator[Path]:
    """A tmpfs of ``size_mb`` MiB mounted at ``path`` (default: a new short dir under /tmp).

    Root only. The mount point is created if missing (and then removed again) and has mode
    0700, as a run directory must. :class:`FaultError` when it cannot be mounted.
    """
    if not 1 <= size_mb <= MAX_FILESYSTEM_BYTES >> 20:
        raise FaultError(f"size_mb must be 1..{MAX_FILESYSTEM_BYTES >> 20}, not {size_mb}")
    if shutil.which("mount") is None:
        raise FaultError("no mount command on this machine")
    made = path is None or not Path(path).exists()
    root = Path(tempfile.mkdtemp(prefix="sl-fs-", dir="/tmp")) if path is None else Path(path)
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0700",
                           "tmpfs", str(root)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        if made:
            root.rmdir()
        raise FaultError(f"cannot mount a {size_mb} MiB tmpfs at {root} (needs root): "
                         f"{done.stderr.strip() or done.returncode}")
    try:
        yield root
    finally:
        gone = subprocess.run(["umount", str(root)], capture_output=True, check=False)
        if gone.returncode != 0:  # something still has a file open there: detach it anyway
            subprocess.run(["umount", "-l", str(root)], capture_output=True, check=False)
        if made:
            with contextlib.suppress(OSError):
                root.rmdir()
