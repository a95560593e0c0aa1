"""Plain ``ssh`` to a board: one remote command per call, errors turned into sentences.

Sunlit talks to a board only through the ``ssh`` client the engineer already uses, so their
``~/.ssh/config``, agent, jump hosts and keys all work unchanged. Every call runs with
``BatchMode=yes`` (a password prompt would hang a script forever) and a connect timeout; a
failure of ssh itself (exit status 255) becomes a :class:`BoardError` that says whether the
board could not be reached, refused the login, or has an unknown host key.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: Prefix of the one line of JSON that each board-side script prints; anything a login shell
#: prints around it (a banner from ``~/.bashrc``) is ignored.
JSON_MARK = "SUNLIT-JSON "
#: ``ssh`` exits with this status when ssh itself failed (not the remote command).
SSH_FAILED = 255


class BoardError(RuntimeError):
    """The board cannot be used: unreachable, refused, no Python, install or start failed."""


@dataclass(frozen=True)
class Endpoint:
    """Where ``ssh`` really goes for a target, after the engineer's ssh configuration."""

    user: str
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.user}@{self.host}" + (f" port {self.port}" if self.port != 22 else "")


def ssh_client() -> str:
    """The ``ssh`` program, or a BoardError saying how to get one."""
    path = shutil.which("ssh")
    if path is None:
        raise BoardError("no ssh client on this machine (install openssh-client)")
    return path


def _tail(text: str, lines: int = 12) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


class Ssh:
    """Runs commands on one board over ``ssh`` and explains what went wrong."""

    def __init__(self, target: str, options: Sequence[str] = (), *,
                 connect_timeout: float = 10.0):
        if not target or target.startswith("-") or any(c.isspace() for c in target):
            raise BoardError(f"not an ssh target: {target!r} (expected user@host or an ssh "
                             "host alias)")
        self.target = target
        self.options = tuple(options)
        self.connect_timeout = connect_timeout
        self._endpoint: Endpoint | None = None

    # ------------------------------------------------------------------ the command line
    def argv(self, remote: str) -> list[str]:
        """``ssh`` with our fixed options, the caller's, then our defaults, then the target.

        ssh keeps the first value it sees for an option: BatchMode comes first so nothing can
        turn password prompts back on; the connect timeout and keep-alives come after the
        caller's options so those can change them.
        """
        return [ssh_client(), "-o", "BatchMode=yes", *self.options,
                "-o", f"ConnectTimeout={max(1, round(self.connect_timeout))}",
                "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3",
                "-T", self.target, "--", remote]

    @property
    def endpoint(self) -> Endpoint:
        """User, host name and port as ``ssh -G`` resolves them (aliases, Port options ...)."""
        if self._endpoint is None:
            self._endpoint = self._resolve()
        return self._endpoint

    def _resolve(self) -> Endpoint:
        argv = [ssh_client(), *self.options, "-G", self.target]
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=30,
                                 stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise BoardError(f"ssh -G {self.target} did not answer in 30 s") from None
        if out.returncode != 0:
            raise BoardError(f"ssh cannot use the target {self.target!r} with the given "
                             f"options: {_tail(out.stderr, 3) or 'no reason given'}")
        values: dict[str, str] = {}
        for line in out.stdout.splitlines():
            key, _, value = line.partition(" ")
            values.setdefault(key.lower(), value.strip())
        try:
            port = int(values.get("port", "22"))
        except ValueError:
            raise BoardError(f"ssh -G {self.target}: not a port: {values['port']!r}") from None
        return Endpoint(values.get("user", ""), values.get("hostname", self.target), port)

    # ------------------------------------------------------------------ running
    def run(self, script: str, *, stdin: bytes | None = None, timeout: float = 120.0,
            what: str = "the command") -> subprocess.CompletedProcess[bytes]:
        """Run ``script`` with ``sh`` on the board; raise BoardError if ssh itself failed."""
        argv = self.argv("sh -c " + shlex.quote(script))
        try:
            out = subprocess.run(argv, input=stdin if stdin is not None else b"",
                                 capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise BoardError(f"{what} on board {self.endpoint} did not finish within "
                             f"{timeout:.0f} s") from None
        if out.returncode == SSH_FAILED:
            raise self.explain(out.stderr.decode(errors="replace"), what)
        return out

    def popen(self, script: str) -> subprocess.Popen[bytes]:
        """Start ``script`` on the board with a pipe to its standard input (for uploads)."""
        return subprocess.Popen(self.argv("sh -c " + shlex.quote(script)),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)

    def finish(self, proc: subprocess.Popen[bytes], *, timeout: float,
               what: str) -> subprocess.CompletedProcess[bytes]:
        """Wait for a :meth:`popen` process whose input is written; same errors as run."""
        if proc.stdin is not None and proc.stdin.closed:
            proc.stdin = None  # communicate() would flush it
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise BoardError(f"{what} on board {self.endpoint} did not finish within "
                             f"{timeout:.0f} s") from None
        if proc.returncode == SSH_FAILED:
            raise self.explain(stderr.decode(errors="replace"), what)
        return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)

    def explain(self, stderr: str, what: str) -> BoardError:
        """Turn ssh's own failure output into a BoardError naming the board and the cause."""
        board = self.endpoint
        said = _tail(stderr, 3) or "ssh exited with status 255 and said nothing"
        if "Permission denied" in stderr or "Too many authentication failures" in stderr:
            return BoardError(
                f"board {board.host} refused the ssh login as {board.user!r} ({said}). Sunlit "
                f"logs in non-interactively (BatchMode): the board must accept your key "
                f"without a password (ssh-copy-id {self.target})")
        if "Host key verification failed" in stderr or "REMOTE HOST IDENTIFICATION" in stderr:
            return BoardError(
                f"ssh does not trust the host key of board {board.host}: log in once by hand "
                f"(ssh {self.target}) to check and record it ({said})")
        if "Could not resolve hostname" in stderr:
            return BoardError(f"cannot resolve the board's host name {board.host!r} ({said})")
        unreachable = ("Connection refused", "timed out", "No route to host",
                       "Network is unreachable", "Connection closed", "Connection reset")
        if any(text in stderr for text in unreachable):
            return BoardError(f"cannot reach board {board.host} port {board.port} over ssh "
                              f"({said})")
        return BoardError(f"ssh to board {board.host} failed during {what}: {said}")


def parse_json_line(out: subprocess.CompletedProcess[bytes], what: str,
                    board: Endpoint) -> dict[str, Any]:
    """The marked JSON line a board-side script printed, or a BoardError with its output."""
    text = out.stdout.decode(errors="replace")
    for line in reversed(text.splitlines()):
        if line.startswith(JSON_MARK):
            try:
                value = json.loads(line[len(JSON_MARK):])
            except ValueError:
                break
            if isinstance(value, dict):
                return value
            break
    stderr = _tail(out.stderr.decode(errors="replace"))
    raise BoardError(f"{what} on board {board.host} gave no answer (exit status "
                     f"{out.returncode}): {stderr or _tail(text) or 'no output'}")

