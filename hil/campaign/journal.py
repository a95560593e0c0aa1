"""A campaign's durable state: the journal of finished runs, progress, atomic files.

The journal is what makes a campaign resumable: one JSON line per finished run, written with
flush and fsync before the run counts as done. A campaign killed at any moment leaves at worst
one torn last line, which is cut off when the journal is next opened; every complete line is a
run that is never flown again. ``progress.json`` is for whoever watches (a monitoring exporter
reads it): rewritten atomically after every change, so a reader never sees half a file.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

#: The outcome classes, in the order every table shows them.
CLASSES: tuple[str, ...] = ("masked", "detected_recovered", "sdc", "due", "data_lost")


class CampaignFileError(ValueError):
    """A campaign file that cannot be read as what it should be."""


def fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable (best effort where directories cannot be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_atomic(path: Path, data: str | bytes, *, durable: bool = True) -> None:
    """Write ``path`` as a whole or not at all: temporary file, fsync, rename, fsync dir."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), 0o644)  # mkstemp's 0600 would hide it from a monitor
            fh.write(raw)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        fsync_dir(path.parent)


def read_json(path: Path, what: str) -> Any:
    """The JSON document in ``path``; :class:`CampaignFileError` naming it if it is not one."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CampaignFileError(f"cannot read {what} {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise CampaignFileError(f"{what} {path} is not valid JSON: {exc}") from None


class Journal:
    """``journal.jsonl``: one line per finished run, appended durably."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[int, dict[str, Any]]:
        """Every complete record by run id (the first of any duplicate wins); a torn last
        line is ignored, a malformed complete line is an error naming its line number."""
        records: dict[int, dict[str, Any]] = {}
        if not self.path.exists():
            return records
        raw = self.path.read_bytes()
        lines = raw.split(b"\n")
        if not raw.endswith(b"\n"):
            lines = lines[:-1]  # torn by a kill mid-write: that run was never done
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                run_id = int(record["id"])
                if not isinstance(record.get("spec"), dict) or \
                        not isinstance(record.get("verdict"), dict):
                    raise TypeError("no spec or verdict")
            except (ValueError, KeyError, TypeError, AttributeError):
                raise CampaignFileError(f"{self.path}:{number}: not a run record") from None
            records.setdefault(run_id, record)
        return records

    def repair(self) -> None:
        """Cut a torn last line off, so the next append starts on a line of its own."""
        if not self.path.exists():
            return
        raw = self.path.read_bytes()
        if raw and not raw.endswith(b"\n"):
            keep = raw.rfind(b"\n") + 1
            with open(self.path, "r+b") as fh:
                fh.truncate(keep)
                os.fsync(fh.fileno())

    def append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, separators=(",", ":"), allow_nan=False, default=str) + "\n"
        with open(self.path, "ab") as fh:
            fh.write(line.encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())


class Progress:
    """``progress.json``, exactly the shape the monitoring exporter reads."""

    def __init__(self, path: Path, name: str, planned: int, started_unix: float) -> None:
        self.path = path
        self.doc: dict[str, Any] = {
            "name": name, "planned": planned, "done": 0, "running": 0,
            "by_class": dict.fromkeys(CLASSES, 0), "started_unix": started_unix,
            "updated_unix": started_unix, "finished": False}

    def update(self, records: dict[int, dict[str, Any]], running: int,
               finished: bool = False) -> None:
        by_class = dict.fromkeys(CLASSES, 0)
        for record in records.values():
            cls = (record.get("verdict") or {}).get("class")
            if cls in by_class:
                by_class[cls] += 1
        self.doc.update(done=len(records), running=running, by_class=by_class,
                        updated_unix=time.time(), finished=finished)
        write_atomic(self.path, json.dumps(self.doc, indent=1), durable=False)
