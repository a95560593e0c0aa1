"""Authentication key files: 32 random bytes as 64 hex digits on one line, readable by the owner.

A key that others can read is a key that others may have copied, so :func:`load_key` refuses a
file that is not a regular file owned by the effective user with no group/other permission bits
(``chmod 600``). Error messages name the file and the problem but never echo its content.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from pathlib import Path

from flight.checkpoint.store import fsync_directory

__all__ = ["KEY_SIZE", "KeyFileError", "generate_key", "load_key"]

KEY_SIZE = 32
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
#: Enough for 64 digits, a CRLF and some slack; anything longer is wrong anyway.
_READ_LIMIT = 256


class KeyFileError(ValueError):
    """A key file is missing, unsafe or malformed; the message says which and how to fix it."""


def load_key(path: str | os.PathLike[str]) -> bytes:
    """Read and check a key file; return the 32-byte key."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise KeyFileError(f"key file {path}: {exc.strerror or exc}") from exc
    try:
        # fstat on the descriptor we read from: checking the path first would be a race.
        _check_ownership(path, os.fstat(fd))
        raw = os.read(fd, _READ_LIMIT + 1)
    finally:
        os.close(fd)
    return _parse_key(path, raw)


def generate_key(path: str | os.PathLike[str]) -> bytes:
    """Create a new key file (mode 0600) atomically; refuses to replace an existing file.

    The key is written to a temporary file in the same directory, synced, then linked to its
    final name, so the file appears complete or not at all and an existing key (maybe the only
    copy of one in use) is never overwritten.
    """
    final = Path(path)
    key = secrets.token_bytes(KEY_SIZE)
    tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with open(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o600)  # the umask can only remove bits; be explicit anyway
            f.write(key.hex().encode("ascii") + b"\n")
            f.flush()
            os.fsync(f.fileno())
        _publish(tmp, final)
    finally:
        _unlink_if_present(tmp)
    fsync_directory(final.parent)
    return key


def _check_ownership(path: str | os.PathLike[str], st: os.stat_result) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise KeyFileError(f"key file {path} is not a regular file")
    if st.st_uid != os.geteuid():
        raise KeyFileError(f"key file {path} is owned by uid {st.st_uid}, not by this user "
                           f"(uid {os.geteuid()})")
    if st.st_mode & 0o077:
        raise KeyFileError(f"key file {path} has mode {stat.S_IMODE(st.st_mode):04o}: group or "
                           f"others may access it; run chmod 600 (and consider the key exposed)")


def _parse_key(path: str | os.PathLike[str], raw: bytes) -> bytes:
    if len(raw) > _READ_LIMIT:
        raise KeyFileError(f"key file {path} is longer than {_READ_LIMIT} bytes")
    text = raw.decode("ascii", errors="replace").strip()
    if len(text) != 2 * KEY_SIZE:
        raise KeyFileError(f"key file {path} holds {len(text)} characters, expected "
                           f"{2 * KEY_SIZE} hex digits ({KEY_SIZE} bytes) on one line")
    if not set(text) <= _HEX_DIGITS:
        raise KeyFileError(f"key file {path} contains characters that are not hex digits")
    return bytes.fromhex(text)


def _publish(tmp: Path, final: Path) -> None:
    """Give ``tmp`` its final name without ever replacing an existing file."""
    try:
        os.link(tmp, final)
    except FileExistsError:
        raise FileExistsError(errno.EEXIST, "key file exists; not overwriting it",
                              str(final)) from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        # A file system without hard links (FAT, some FUSE): check, then rename. The window
        # between the two is a same-user race only, and the result is still never torn.
        if final.exists():
            raise FileExistsError(errno.EEXIST, "key file exists; not overwriting it",
                                  str(final)) from None
        os.replace(tmp, final)


def _unlink_if_present(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
