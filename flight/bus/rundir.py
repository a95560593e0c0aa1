"""The run directory: where one flatsat keeps its sockets, state, checkpoints and logs.

Everything onboard that is not a network port lives here, in a directory only its owner can
enter (mode 0700), so another local user cannot talk to the bus or read the checkpoints.
All Sunlit commands share one default so ``sunlit-flight status`` finds the stack that
``sunlit-flight run`` started without being told where.
"""

from __future__ import annotations

import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

#: The longest ``ipc://`` path Linux accepts (sizeof(sun_path) - 1).
MAX_IPC_PATH = 107
#: The longest app name a configuration may use (see ``flight.config.schema.APP_NAME_RE``);
#: ``prepare`` checks that the command socket of an app with such a name still fits.
MAX_APP_NAME = 24


def default_run_dir() -> Path:
    """``$SUNLIT_RUN_DIR``, else ``$XDG_RUNTIME_DIR/sunlit``, else ``/tmp/sunlit-<uid>``."""
    explicit = os.environ.get("SUNLIT_RUN_DIR")
    if explicit:
        return Path(explicit)
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / "sunlit"
    return Path(tempfile.gettempdir()) / f"sunlit-{os.getuid()}"


class RunDirError(RuntimeError):
    """The run directory cannot be used safely."""


@dataclass(frozen=True)
class RunDir:
    """Names of everything inside one run directory."""

    root: Path

    @property
    def bus_dir(self) -> Path:
        return self.root / "bus"

    @property
    def pub_endpoint(self) -> str:
        """Where publishers connect (the proxy's XSUB side)."""
        return f"ipc://{self.bus_dir / 'pub'}"

    @property
    def sub_endpoint(self) -> str:
        """Where subscribers connect (the proxy's XPUB side)."""
        return f"ipc://{self.bus_dir / 'sub'}"

    def command_endpoint(self, app: str) -> str:
        """The ROUTER socket an app serves its commands on."""
        return f"ipc://{self.bus_dir / ('cmd-' + app)}"

    @property
    def state_dir(self) -> Path:
        """Per-app persisted state (parameters, queues) through the checkpoint store."""
        return self.root / "state"

    @property
    def results_dir(self) -> Path:
        """Finished job results awaiting downlink (see :mod:`flight.results`)."""
        return self.root / "results"

    @property
    def log_dir(self) -> Path:
        return self.root / "logs"

    @property
    def config_file(self) -> Path:
        """The resolved configuration the executive hands to its children."""
        return self.root / "config.json"

    @property
    def clock_file(self) -> Path:
        """This boot's mission-clock anchor (see :mod:`flight.app.clock`)."""
        return self.root / "clock.json"

    @property
    def pid_file(self) -> Path:
        return self.root / "executive.pid"

    def prepare(self) -> None:
        """Create the tree with mode 0700 and refuse a directory others could enter."""
        for path in (self.root, self.bus_dir, self.state_dir, self.log_dir):
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = self.root.stat()
        if info.st_uid != os.getuid():
            raise RunDirError(f"{self.root} belongs to uid {info.st_uid}, not to us")
        if stat.S_IMODE(info.st_mode) & 0o077:
            os.chmod(self.root, 0o700)
        longest = self.command_endpoint("x" * MAX_APP_NAME)[len("ipc://") :]
        if len(longest) > MAX_IPC_PATH:
            raise RunDirError(
                f"run directory {self.root} is too long for ipc sockets "
                f"({len(longest)} > {MAX_IPC_PATH} characters); choose a shorter --run-dir"
            )
