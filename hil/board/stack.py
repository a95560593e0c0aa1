"""A flatsat on a real board, brought up from the lab machine over plain ssh.

:class:`BoardStack` is what ``sunlit-hil flatsat --board user@host`` drives::

    with BoardStack("pi@flatsat.lab", hal="auto") as board:   # deploy(), then start()
        ground = board.link.connect()                         # a GroundStation over UDP
        ground.command("health", "noop")

* ``deploy()`` asks the board which Python and platform it has, prepares the matching
  wheelhouse here (cached: :mod:`hil.board.wheelhouse`), uploads only the wheels the board does
  not hold yet, and installs into ``INSTALL_DIR/venv`` with no package index. A deploy of an
  unchanged tree uploads nothing and installs nothing.
* ``start()`` runs ``sunlit-flight run`` detached on the board (the world runs there too, as an
  app under the executive, feeding the co-simulated HAL), waits on the board until it is up,
  and returns a :class:`BoardLink`: where comms listens, the link key and dictionary copied
  here, and a ground state directory whose ARSN is already past the board's highest.
* ``status()``, ``stop()``; ``attach()`` returns the link of a stack left running.

Everything the board says is checked: an unreachable board, a refused login, no Python, a
Python older than 3.10, a failed install or a stack that does not come up each raise a
:class:`BoardError` naming the board and the cause.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import tarfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flight.config.schema import SECTIONS
from hil.board.ssh import BoardError, Ssh, parse_json_line
from hil.board.wheelhouse import Target, WheelCache, Wheelhouse

if TYPE_CHECKING:
    from ground.station import GroundStation

#: The HAL backends a flight config accepts (hal.backend in flight/config/schema.py).
HAL_CHOICES: tuple[str, ...] = tuple(next(
    f for f in SECTIONS["hal"] if f.name == "backend").choices or ())
MIN_PYTHON = (3, 10)
NO_PYTHON = "SUNLIT-NO-PYTHON"
#: Install rounds: the first, plus fetching dependencies the board found missing.
INSTALL_ROUNDS = 4
HERE = Path(__file__).resolve().parent


class _Refused(BoardError):
    """The board-side agent answered with an error (as opposed to ssh failing)."""


def default_local_dir(endpoint: str) -> Path:
    """Where the link key, dictionary and ground counters of one board are kept here."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(base) / "sunlit-hil" / "boards" / re.sub(r"[^A-Za-z0-9@._-]+", "_", endpoint)


# ---------------------------------------------------------------------- what the board is
@dataclass(frozen=True)
class BoardInfo:
    """The board's answer to the probe: interpreter, platform and install state."""

    version: tuple[int, int, int]
    executable: str
    machine: str
    glibc: tuple[int, int]
    home: str
    install_dir: str
    run_dir: str
    wheelhouse: dict[str, int]
    installed: dict[str, Any] | None

    @property
    def target(self) -> Target:
        return Target((self.version[0], self.version[1]), self.machine, self.glibc)

    @property
    def python_id(self) -> str:
        """How :mod:`hil.board.install` names the interpreter the venv was made with."""
        return f"{self.executable} {'.'.join(map(str, self.version))}"

    @property
    def venv_python(self) -> str:
        return f"{self.install_dir}/venv/bin/python"

    def describe(self) -> str:
        return (f"Python {'.'.join(map(str, self.version))} ({self.executable}) on "
                f"{self.machine}, glibc {self.glibc[0]}.{self.glibc[1]}")


def check_probe(answer: dict[str, Any], host: str, python: str) -> BoardInfo:
    """Turn the probe's JSON into a BoardInfo, or a BoardError saying why it cannot serve."""
    try:
        version = tuple(int(v) for v in answer["version"])
        libc, libc_version = answer["libc"]
        info = BoardInfo(
            version=(version[0], version[1], version[2]), executable=str(answer["executable"]),
            machine=str(answer["machine"]), glibc=(0, 0), home=str(answer["home"]),
            install_dir=str(answer["install_dir"]), run_dir=str(answer["run_dir"]),
            wheelhouse={str(k): int(v) for k, v in dict(answer["wheelhouse"]).items()},
            installed=answer.get("installed") if isinstance(answer.get("installed"), dict)
            else None)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise BoardError(f"board {host}: unexpected answer from the Python probe "
                         f"({type(exc).__name__}: {exc})") from None
    if answer.get("implementation") != "cpython" or info.version[:2] < MIN_PYTHON:
        raise BoardError(
            f"board {host}: {python} is {answer.get('implementation') or 'Python'} "
            f"{'.'.join(map(str, info.version))}; Sunlit needs CPython "
            f"{MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer (choose another with --python)")
    if answer.get("system") != "Linux":
        raise BoardError(f"board {host} runs {answer.get('system')!r}; a flatsat board runs "
                         "Linux")
    match = re.fullmatch(r"(\d+)\.(\d+).*", str(libc_version))
    if libc != "glibc" or match is None:
        raise BoardError(f"board {host}: the C library is not glibc ({libc or 'unknown'}); "
                         "the wheels Sunlit installs need a glibc Linux (Raspberry Pi OS, "
                         "Debian, Ubuntu, JetPack)")
    if not answer.get("has_venv"):
        raise BoardError(f"board {host}: {python} has no venv module (install python3-venv "
                         "or choose another Python with --python)")
    return replace(info, glibc=(int(match[1]), int(match[2])))


# ---------------------------------------------------------------------- results
@dataclass(frozen=True)
class DeployReport:
    """What a deploy did, and how long each part took (seconds)."""

    board: str
    sunlit_digest: str  #: of the Sunlit wheel now on the board (its source tree's digest)
    uploaded: list[str]
    uploaded_bytes: int
    installed: list[str]  #: "dependencies", "sunlit"; empty when nothing changed
    phases: dict[str, float] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return sum(self.phases.values())


@dataclass(frozen=True)
class BoardLink:
    """Where and how a ground reaches the flatsat on the board."""

    board: str
    host: str
    port: int
    key_file: Path | None  #: None when the board's comms runs without authentication
    dictionary_file: Path
    state_dir: Path
    spi: int
    run_dir: str  #: on the board
    pid: int  #: the executive's, on the board
    hal: str  #: the backend in use (detected when ``auto``)
    status: dict[str, Any]

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    def ground_args(self) -> list[str]:
        """Link options for ``sunlit-ground`` and ``python -m ground.console``."""
        key = ["--key", str(self.key_file)] if self.key_file is not None else ["--no-auth"]
        return ["--address", f"{self.host}:{self.port}", *key,
                "--dictionary", str(self.dictionary_file), "--state-dir", str(self.state_dir)]

    def describe(self) -> str:
        """Where the ground reaches this flatsat, as an operator reads it."""
        auth = "authenticated" if self.key_file is not None else "NOT authenticated"
        return (f"Space link: comms on {self.board} listens at {self.host}:{self.port} "
                f"({auth}), HAL {self.hal}, run directory {self.run_dir} (executive pid "
                f"{self.pid})\n  sunlit-ground {shlex.join(self.ground_args())} ping")

    def connect(self, **kwargs: Any) -> GroundStation:
        """A :class:`~ground.station.GroundStation` to the board; ``kwargs`` as for connect."""
        from ground.station import GroundStation

        options: dict[str, Any] = {
            "key_file": self.key_file, "dictionary": self.dictionary_file,
            "state_dir": self.state_dir, "spi": self.spi, "plain": self.key_file is None}
        options.update(kwargs)
        return GroundStation.connect(self.address, **options)


# ---------------------------------------------------------------------- the stack
class BoardStack:
    """The onboard stack on one board, deployed and driven over ssh."""

    def __init__(self, target: str, *, run_dir: str = "~/.sunlit/run",
                 install_dir: str = "~/.sunlit", hal: str | None = "auto",
                 link_port: int | None = 52001, link_bind: str = "0.0.0.0",
                 python: str = "python3",
                 ssh_options: Sequence[str] = (), overrides: Sequence[str] = (),
                 config: str | os.PathLike[str] | None = None,
                 wheel: str | os.PathLike[str] | None = None,
                 cache_dir: str | os.PathLike[str] | None = None,
                 local_dir: str | os.PathLike[str] | None = None,
                 connect_timeout: float = 10.0, log: Callable[[str], None] | None = None):
        if hal is not None and hal not in HAL_CHOICES:
            raise BoardError(f"unknown HAL {hal!r} (expected one of {', '.join(HAL_CHOICES)})")
        if link_port is not None and not 0 <= link_port <= 65535:
            raise BoardError(f"link port {link_port} is not in 0..65535")
        if not python or any(c.isspace() for c in python):
            raise BoardError(f"not a Python command for the board: {python!r}")
        self.ssh = Ssh(target, ssh_options, connect_timeout=connect_timeout)
        self.run_dir, self.install_dir, self.hal, self.python = run_dir, install_dir, hal, python
        self.link_port, self.link_bind = link_port, link_bind
        self.overrides = tuple(overrides)
        self.config = Path(config) if config is not None else None
        self.log = log or (lambda _: None)
        self.cache = WheelCache(Path(cache_dir) if cache_dir is not None else None,
                                wheel=Path(wheel) if wheel is not None else None, log=self.log)
        self._local_dir = Path(local_dir) if local_dir is not None else None
        self._info: BoardInfo | None = None
        self.link: BoardLink | None = None

    @property
    def board(self) -> str:
        return str(self.ssh.endpoint)

    @property
    def local_dir(self) -> Path:
        return self._local_dir or default_local_dir(self.board)

    def flight_overrides(self) -> list[str]:
        """``--set`` values of a board run: the HAL, the link on the network, the caller's.

        ``hal`` and ``link_port`` set to None leave those to the configuration file. The link
        is always in contact (a bench has a cable, not a pass schedule); the caller's
        overrides come last and win, ``apps.comms.contact=world`` included.
        """
        sets = ["mission.profile=flatsat", "apps.comms.contact=always"]
        if self.hal is not None:
            sets.append(f"hal.backend={self.hal}")
        if self.link_port is not None:
            sets.append(f"apps.comms.address={self.link_bind}:{self.link_port}")
        return [*sets, *self.overrides]

    # ------------------------------------------------------------------ probing
    def probe(self) -> BoardInfo:
        """Ask the board for its Python, platform and install state (one ssh round trip)."""
        code = (HERE / "probe.py").read_text(encoding="utf-8")
        py = shlex.quote(self.python)
        script = (f"command -v {py} >/dev/null 2>&1 || {{ echo {NO_PYTHON}; exit 0; }}\n"
                  f"exec {py} -c {shlex.quote(code)} {shlex.quote(self.install_dir)} "
                  f"{shlex.quote(self.run_dir)}")
        out = self.ssh.run(script, timeout=60, what="probing Python")
        host = self.ssh.endpoint.host
        if NO_PYTHON in out.stdout.decode(errors="replace"):
            raise BoardError(f"board {host} has no Python: {self.python!r} is not found there "
                             "(install python3, or give its path with --python)")
        try:
            answer = parse_json_line(out, "probing Python", self.ssh.endpoint)
        except BoardError as exc:
            raise BoardError(f"{exc} (is {self.python!r} a Python interpreter?)") from None
        self._info = check_probe(answer, host, self.python)
        return self._info

    def info(self) -> BoardInfo:
        return self._info or self.probe()

    # ------------------------------------------------------------------ deploying
    def deploy(self) -> DeployReport:
        """Install (or update) Sunlit on the board; a no-op when nothing changed."""
        phases: dict[str, float] = {}
        clock = time.monotonic()

        def lap(name: str) -> None:
            nonlocal clock
            now = time.monotonic()
            phases[name] = phases.get(name, 0.0) + now - clock
            clock = now

        info = self.probe()
        self.log(f"board {self.board}: {info.describe()}")
        lap("probe")
        house = self.cache.prepare(info.target)
        lap("wheelhouse")
        have = dict(info.wheelhouse)
        uploaded = self._upload(house, have)
        lap("upload")
        installed: list[str] = []
        marker = info.installed or {}
        if (marker.get("python"), marker.get("deps"), marker.get("sunlit")) != \
                (info.python_id, house.deps_key, house.sunlit_digest):
            installed, more = self._install(house, have)
            uploaded += more
        lap("install")
        self._info = replace(info, wheelhouse=have, installed={
            "python": info.python_id, "deps": house.deps_key, "sunlit": house.sunlit_digest})
        size = sum(house.files[name].stat().st_size for name in uploaded if name in house.files)
        return DeployReport(self.board, house.sunlit_digest, uploaded, size, installed,
                            phases)

    def _upload(self, house: Wheelhouse, have: dict[str, int]) -> list[str]:
        """Send the wheels the board lacks (by name and size) as one tar stream."""
        missing = {name: path for name, path in house.files.items()
                   if have.get(name) != path.stat().st_size}
        if not missing:
            return []
        size = sum(path.stat().st_size for path in missing.values())
        self.log(f"uploading {len(missing)} wheel(s), {size / 1e6:.1f} MB")
        info = self.info()
        code = (HERE / "unpack.py").read_text(encoding="utf-8")
        proc = self.ssh.popen(f"exec {shlex.quote(info.executable)} -c {shlex.quote(code)} "
                              f"{shlex.quote(info.install_dir + '/wheelhouse')}")
        # A board side that stops reading says why in its exit status and output.
        with contextlib.suppress(BrokenPipeError):
            try:
                with tarfile.open(fileobj=proc.stdin, mode="w|") as tar:
                    for name, path in sorted(missing.items()):
                        tar.add(path, arcname=name, recursive=False)
            finally:
                if proc.stdin is not None:
                    proc.stdin.close()
        out = self.ssh.finish(proc, timeout=900, what="uploading wheels")
        answer = parse_json_line(out, "uploading wheels", self.ssh.endpoint)
        have.update({name: path.stat().st_size for name, path in missing.items()
                     if name in answer.get("written", [])})
        if set(missing) - set(answer.get("written", [])):
            raise BoardError(f"board {self.ssh.endpoint.host} did not store every wheel sent")
        return sorted(missing)

    def _install(self, house: Wheelhouse, have: dict[str, int]) -> tuple[list[str], list[str]]:
        """Run the board-side install; fetch what it finds missing and try again."""
        info = self.info()
        code = (HERE / "install.py").read_text(encoding="utf-8")
        uploaded: list[str] = []
        for _ in range(INSTALL_ROUNDS):
            self.log(f"installing Sunlit in {info.install_dir}/venv")
            job = json.dumps({"install_dir": info.install_dir,
                              "sunlit_wheel": house.sunlit_wheel,
                              "sunlit_digest": house.sunlit_digest,
                              "deps_key": house.deps_key, "pip_wheel": house.pip_wheel,
                              "keep": sorted(name for name in house.files if "/" not in name)})
            out = self.ssh.run(f"exec {shlex.quote(info.executable)} -c {shlex.quote(code)} "
                               f"{shlex.quote(job)}", timeout=1800, what="installing Sunlit")
            answer = parse_json_line(out, "installing Sunlit", self.ssh.endpoint)
            if answer.get("ok"):
                return [str(step) for step in answer.get("done", [])], uploaded
            missing = [str(m) for m in answer.get("missing", [])]
            if not missing:
                break
            deps = self.cache.add(info.target, missing)
            digest, wheel = self.cache.sunlit()
            house = self.cache.assemble(digest, wheel, deps)
            uploaded += self._upload(house, have)
        raise BoardError(f"installing Sunlit on board {self.ssh.endpoint.host} failed:\n"
                         f"{answer.get('error') or 'no reason given'}")

    # ------------------------------------------------------------------ running
    def _agent(self, command: str, *args: str, stdin: bytes | None = None,
               timeout: float = 60.0) -> dict[str, Any]:
        """Run ``python -m hil.board.agent`` in the board's venv; its answer, or BoardError."""
        info = self.info()
        if not info.installed:
            raise BoardError(f"Sunlit is not installed on board {self.ssh.endpoint.host} "
                             f"(in {info.install_dir}): deploy first")
        argv = [info.venv_python, "-m", "hil.board.agent", command,
                "--run-dir", info.run_dir, *args]
        out = self.ssh.run("exec " + shlex.join(argv), stdin=stdin, timeout=timeout,
                           what=f"{command} of the flight stack")
        answer = parse_json_line(out, f"{command} of the flight stack", self.ssh.endpoint)
        if not answer.get("ok"):
            raise _Refused(f"board {self.ssh.endpoint.host}: {command} failed: "
                           f"{answer.get('error') or 'no reason given'}")
        return answer

    def start(self, timeout: float = 60.0) -> BoardLink:
        """Start the flight stack on the board and return the ground's way in.

        Waits (on the board) until the executive has left BOOT and comms is running. A stack
        that does not come up in ``timeout`` seconds is stopped before the error is raised.
        """
        sets = self.flight_overrides()
        self._check_config(sets)
        args = ["--timeout", str(timeout), "--install-dir", self.info().install_dir]
        for item in sets:
            args += ["--set", item]
        stdin = None
        if self.config is not None:
            args.append("--config-stdin")
            stdin = self.config.read_bytes()
        self.log(f"starting the flight stack on {self.board}")
        try:
            answer = self._agent("start", *args, stdin=stdin, timeout=timeout + 60.0)
            self.link = self._link(answer)
        except _Refused:
            raise  # the board answered, and has already stopped whatever it started
        except BaseException:
            # Interrupted, or the connection failed mid-way: the board may have started the
            # stack all the same, and nobody would stop it.
            with contextlib.suppress(Exception):
                self.stop()
            raise
        return self.link

    def attach(self) -> BoardLink:
        """The link to a stack already running on the board (one left with ``--keep``)."""
        self.link = self._link(self._agent("info"))
        return self.link

    def status(self) -> dict[str, Any]:
        """The executive's status on the board (processes, mode); BoardError if none runs."""
        return dict(self._agent("status")["status"])

    def stop(self, timeout: float = 20.0) -> int:
        """Stop the stack: 0 when it stopped cleanly, 1 when it had to be killed, 3 when
        nothing ran. Safe to call more than once and on a board never deployed to."""
        info = self.info()
        if not info.installed:
            return 3
        answer = self._agent("stop", "--timeout", str(timeout), timeout=timeout + 30.0)
        self.link = None
        return int(answer.get("code", 0))

    def __enter__(self) -> BoardStack:
        self.deploy()
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        try:
            self.stop()
        except BoardError as failure:
            if exc_type is None:
                raise
            self.log(f"stopping the flight stack on {self.board} failed too: {failure}")

    # ------------------------------------------------------------------ helpers
    def _check_config(self, sets: list[str]) -> None:
        """Refuse a bad configuration here, before anything happens on the board."""
        from flight.config.errors import ConfigError
        from flight.config.loader import load_config

        try:
            load_config(self.config, sets)
        except ConfigError as exc:
            raise BoardError(f"configuration error: {exc}") from None

    def _link(self, answer: dict[str, Any]) -> BoardLink:
        """Keep the key and dictionary here, and put the ground's ARSN past the board's."""
        from ground.link import SenderState

        comms = answer.get("comms")
        if not comms:
            raise BoardError(f"board {self.ssh.endpoint.host}: the comms app is not enabled, "
                             "so the flatsat has no space link")
        port = str(comms["address"]).rpartition(":")[2]
        if not port.isdigit():
            raise BoardError(f"board {self.ssh.endpoint.host}: comms reports the address "
                             f"{comms['address']!r}, which has no port")
        local = self.local_dir
        local.mkdir(mode=0o700, parents=True, exist_ok=True)
        key_file = self._save_key(local, answer.get("key")) if comms["auth"] != "none" else None
        dictionary = local / "dictionary.json"
        dictionary.write_text(json.dumps(answer["dictionary"]), encoding="utf-8")
        state_dir = local / "ground"
        if comms.get("highest_arsn") is not None:
            SenderState(state_dir).skip_arsn_to(int(comms["spi"]), int(comms["highest_arsn"]))
        return BoardLink(board=self.board, host=self.ssh.endpoint.host, port=int(port),
                         key_file=key_file, dictionary_file=dictionary, state_dir=state_dir,
                         spi=int(comms["spi"]), run_dir=str(answer["run_dir"]),
                         pid=int(answer["pid"]), hal=str(answer["hal"]["in_use"]),
                         status=dict(answer["status"]))

    def _save_key(self, local: Path, key: Any) -> Path:
        if not isinstance(key, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", key):
            raise BoardError(f"board {self.ssh.endpoint.host} sent no valid link key")
        path = local / "link.key"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(key + "\n")
        return path
