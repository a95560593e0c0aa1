"""Finished job results, kept on board with their digest until the ground has them.

The job runner puts a result here when a job is done; the comms app downlinks it in chunks
(PUS service 128) on request. A result is a file ``RUN_DIR/results/<id>`` written atomically
(temporary file, fsync, rename) next to ``<id>.sha256``; reading checks the digest, so a result
damaged on board (a radiation upset in storage) is reported as damaged, never sent as good.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from flight.checkpoint.store import fsync_directory, write_hashing

RESULT_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class ResultError(ValueError):
    """No such result, a bad id, or a result whose digest no longer matches."""


@dataclass(frozen=True)
class Result:
    result_id: str
    data: bytes
    sha256: str


class ResultStore:
    """The results directory of one run directory."""

    def __init__(self, root: Path):
        self.root = root

    def _paths(self, result_id: str) -> tuple[Path, Path]:
        if not RESULT_ID_RE.fullmatch(result_id):
            raise ResultError(f"bad result id {result_id!r}")
        return self.root / result_id, self.root / f"{result_id}.sha256"

    def put(self, result_id: str, data: bytes) -> str:
        """Store ``data`` under ``result_id``; returns its SHA-256 (hex)."""
        path, digest_path = self._paths(result_id)
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        digest = ""
        for target in (path, digest_path):
            tmp = target.with_name(f".{target.name}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                if target is path:  # the digest is taken while the result is written
                    digest = write_hashing(fd, memoryview(data).cast("B"))
                else:
                    write_hashing(fd, memoryview(digest.encode()))
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, target)
        fsync_directory(self.root)
        return digest

    def get(self, result_id: str) -> Result:
        path, digest_path = self._paths(result_id)
        try:
            data = path.read_bytes()
            digest = digest_path.read_text().strip()
        except OSError:
            raise ResultError(f"no result {result_id!r}") from None
        if hashlib.sha256(data).hexdigest() != digest:
            raise ResultError(f"result {result_id!r} is damaged: its digest does not match")
        return Result(result_id, data, digest)

    def list(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir()
                      if RESULT_ID_RE.fullmatch(p.name) and p.with_name(f"{p.name}.sha256")
                      .exists())
