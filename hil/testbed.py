"""A flatsat on this machine with everything a harness needs around it.

:func:`start_flatsat` brings up the onboard stack (real processes, a fresh short run directory,
comms on a free UDP port). :func:`start_testbed` adds what fault injection, scenarios, campaigns
and the demo mission need on top: a link-impairment proxy between comms and the ground (so link
faults are real dropped, delayed and corrupted datagrams), a ground station talking through it
with an archive, and a tap on the onboard bus for the harness's own observations.
:func:`attach_testbed` wraps a flatsat that another process started (``sunlit-flight run``,
``sunlit-hil flatsat``) in the same :class:`Testbed`, so ``sunlit-hil inject`` can break it.
"""

from __future__ import annotations

import contextlib
import functools
import json
import shutil
import socket
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hil.stack import BusTap, LocalStack, StackError

if TYPE_CHECKING:
    from ground.station import GroundStation
    from hil.linksim import LinkSim
    from hil.linksim.control import ControlClient

#: Fast supervision and telemetry, always in contact, mission time 60x the wall clock (the
#: power app's first state of charge comes after one 10 s control period: 1/6 s here).
FLATSAT_OVERRIDES: tuple[str, ...] = (
    "executive.heartbeat_period_s=0.2", "executive.hang_misses=10",
    "executive.backoff_initial_s=0.1", "executive.backoff_max_s=0.4",
    "executive.stop_grace_s=0.5", "executive.housekeeping_period_s=0.3",
    "apps.health.housekeeping_period_s=0.3", "apps.power.housekeeping_period_s=0.2",
    "apps.thermal.housekeeping_period_s=0.2", "apps.world.housekeeping_period_s=0.2",
    "apps.comms.housekeeping_period_s=0.3", "apps.comms.contact=always", "time.speed=60",
)


def free_udp_port(host: str = "127.0.0.1") -> int:
    """A UDP port nobody listens on right now (a small race, acceptable on a test machine)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def short_run_dir(prefix: str = "sl-") -> Path:
    """A fresh run directory under /tmp: ``ipc://`` paths must stay under 107 bytes."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


@dataclass
class Flatsat:
    """A running local stack, and what a ground needs to reach it."""

    stack: LocalStack
    run_dir: Path
    address: tuple[str, int]  #: where comms listens
    ground_address: tuple[str, int]  #: a ground port comms always sends telemetry to

    @property
    def key_file(self) -> Path:
        """The link key comms uses: the configured ``key_file``, else the run directory's."""
        configured = self.config.get("apps", {}).get("comms", {}).get("key_file")
        return Path(configured) if configured else self.run_dir / "keys" / "link.key"

    @functools.cached_property
    def config(self) -> dict[str, Any]:
        """The resolved configuration the stack runs with (written once, when it started)."""
        return dict(json.loads((self.run_dir / "config.json").read_text(encoding="utf-8")))

    def dictionary(self) -> dict[str, Any]:
        """The flight dictionary of exactly this stack's configuration."""
        from flight.dictionary import build_dictionary

        return build_dictionary(self.config)

    def connect(self, **kwargs: Any) -> GroundStation:
        """A new :class:`~ground.station.GroundStation` to this flatsat (any free port)."""
        from ground.station import GroundStation

        options: dict[str, Any] = {"key_file": self.key_file, "dictionary": self.dictionary(),
                                   "state_dir": self.run_dir / "ground"}
        options.update(kwargs)
        return GroundStation.connect(self.address, **options)

    def command(self, app: str, name: str, args: dict[str, Any] | None = None) -> Any:
        """A command over the onboard bus, bypassing the space link (for test set-up)."""
        return self.stack.command(app, name, args)

    def pid(self, app: str) -> int | None:
        """The pid of ``app``'s process now (``executive``: the executive's own), or None."""
        if app == "executive":
            process = self.stack.process
            if process is None:  # attached: whoever holds the run directory's pid file
                from flight.cli import running_pid

                return running_pid(self.stack.run_dir)
            return None if process.poll() is not None else process.pid
        pid = self.stack.process_row(app).get("pid")
        return int(pid) if pid else None


@contextlib.contextmanager
def start_flatsat(overrides: Iterable[str] = FLATSAT_OVERRIDES, *, config: str | None = None,
                  keep: bool = False, timeout: float = 30.0,
                  run_dir: Path | None = None) -> Iterator[Flatsat]:
    """Start a flatsat (see :data:`FLATSAT_OVERRIDES`), yield it, stop it and clean up.

    Without ``run_dir`` a fresh short one is made under /tmp and removed afterwards (unless
    ``keep``); a given ``run_dir`` is always kept.
    """
    owned = run_dir is None
    root = short_run_dir() if run_dir is None else run_dir
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    address = ("127.0.0.1", free_udp_port())
    ground_address = ("127.0.0.1", free_udp_port())
    sets = [*overrides, f"apps.comms.address={address[0]}:{address[1]}",
            f"apps.comms.ground={ground_address[0]}:{ground_address[1]}"]
    stack = LocalStack(root, config=config, overrides=sets, log_to=root / "stack.out")
    try:
        stack.start(timeout=timeout)
        yield Flatsat(stack, root, address, ground_address)
    finally:
        stack.stop()
        if owned and not keep:
            shutil.rmtree(root, ignore_errors=True)


@dataclass
class Testbed(Flatsat):
    """A flatsat with a link proxy in front of comms, a ground station and a bus tap.

    ``link`` is the in-process :class:`~hil.linksim.LinkSim`: ``link.set(loss=0.2)``,
    ``link.outage(True)``. ``ground`` talks to comms only through it and archives everything in
    ``run_dir/ground/archive.sqlite``. ``tap`` sees every ``evt.`` and ``tlm.`` message of the
    onboard bus, so the harness can await events without depending on the link it may be
    breaking.
    """

    __test__ = False  # not a pytest test class, despite its name

    link: LinkSim | None = None
    ground: GroundStation | None = None
    tap: BusTap | None = None
    #: A link proxy in another process, driven over its control port (attached testbeds).
    link_control: ControlClient | None = None
    #: Where the ground's ARSN counter lives: a frame the harness seals draws from it too, so
    #: it never collides with the ground station's own frames.
    ground_state: Path | None = None

    @property
    def ground_dir(self) -> Path:
        """Where the ground station keeps its ARSN state and archive."""
        return self.ground_state if self.ground_state is not None else self.run_dir / "ground"

    @property
    def archive_path(self) -> Path:
        return self.ground_dir / "archive.sqlite"

    def require_ground(self) -> GroundStation:
        if self.ground is None:
            raise RuntimeError("this testbed has no ground station")
        return self.ground

    def require_link(self) -> LinkSim:
        if self.link is None:
            raise RuntimeError("this testbed has no link proxy")
        return self.link


@contextlib.contextmanager
def start_testbed(overrides: Iterable[str] = FLATSAT_OVERRIDES, *, config: str | None = None,
                  keep: bool = False, timeout: float = 30.0, run_dir: Path | None = None,
                  link_seed: int | None = None,
                  ground_dir: Path | None = None) -> Iterator[Testbed]:
    """Start a flatsat, its link proxy, a ground station through it and a bus tap.

    The ground keeps its ARSN state and archive in ``ground_dir`` (default: ``RUN_DIR/ground``);
    give one elsewhere when the run directory is meant to fill up (a full-disk test), since the
    operator's machine is not the one whose disk is full.
    """
    from ground.station import GroundStation
    from hil.linksim import LinkSim

    # comms sends telemetry to the last accepted telecommand's source (the proxy) only: no
    # fixed ground address that would bypass the proxy.
    with start_flatsat(overrides, config=config, keep=keep, timeout=timeout,
                       run_dir=run_dir) as sat, \
            LinkSim(("127.0.0.1", 0), sat.address, seed=link_seed) as link:
        ground = ground_dir if ground_dir is not None else sat.run_dir / "ground"
        ground.mkdir(mode=0o700, parents=True, exist_ok=True)
        bed = Testbed(sat.stack, sat.run_dir, sat.address, sat.ground_address, link=link,
                      ground_state=ground)
        bed.tap = sat.stack.tap("evt.", "tlm.")
        _await_link_key(bed, timeout)
        station = GroundStation.connect(
            link.ground_address[:2], key_file=bed.key_file, dictionary=bed.dictionary(),
            archive=bed.archive_path, state_dir=ground)
        bed.ground = station
        try:
            station.ping(timeout=10.0)
            yield bed
        finally:
            station.close()


def _await_link_key(bed: Testbed, timeout: float) -> None:
    """Comms writes the link key on its first start; a ground cannot connect before that.

    A boot that timed out (a slow machine) can leave the executive up while comms is not:
    say so, rather than failing later on a missing key file.
    """
    from hil.stack import wait_until

    try:
        key = bed.key_file  # from the config: read once, not on every poll
        wait_until(lambda: key.exists() or None, timeout, "comms to write its link key")
    except StackError as exc:
        raise StackError(f"{exc} (executive mode {bed.stack.mode()}; see "
                         f"{bed.run_dir / 'stack.out'})") from None


class TestbedError(RuntimeError):
    """No flatsat to attach to at the given run directory (or its link proxy does not answer)."""

    __test__ = False


def _address(text: Any) -> tuple[str, int]:
    """``HOST:PORT`` from the resolved config (comms' own parser's rules), or ("", 0)."""
    host, _, port = str(text or "").split(",")[0].strip().rpartition(":")
    return (host or "127.0.0.1", int(port)) if port.isdigit() else ("", 0)


def _attached_config(root: Path) -> dict[str, Any]:
    if not root.is_dir():
        raise TestbedError(f"no flatsat at {root}: no such directory")
    path = root / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TestbedError(f"no flatsat at {root}: it has no config.json (not a run "
                           f"directory, or the stack never started there)") from None
    except (OSError, ValueError) as exc:
        raise TestbedError(f"no flatsat at {root}: {path} is unreadable ({exc})") from None
    if not isinstance(config, dict) or not isinstance(config.get("apps"), dict):
        raise TestbedError(f"no flatsat at {root}: {path} is not a resolved Sunlit config")
    return config


@contextlib.contextmanager
def attach_testbed(run_dir: Path, *, linksim_control: str | None = None,
                   ground_state: Path | None = None, timeout: float = 5.0) -> Iterator[Testbed]:
    """A :class:`Testbed` around the flatsat another process runs from ``run_dir``.

    Nothing is started or stopped: the stack's processes belong to whoever started them. The
    testbed has no in-process link proxy, ground station or bus tap; ``linksim_control``
    (``HOST:PORT`` of a ``sunlit-hil linksim --control`` proxy in front of comms) gives link
    faults a proxy to drive. ``ground_state`` is the ground's ARSN state directory (default:
    the operator's, :func:`ground.link.default_state_dir`). :class:`TestbedError` when no
    executive holds the run directory or it does not answer within ``timeout``.
    """
    from flight.cli import running_pid
    from ground.link import default_state_dir
    from hil.linksim.control import ControlClient, ControlError

    root = Path(run_dir).resolve()
    config = _attached_config(root)
    stack = LocalStack(root)
    control = None
    try:
        pid = running_pid(stack.run_dir)
        if pid is None:
            raise TestbedError(f"no flatsat at {root}: no executive holds its pid file")
        reply = stack.command("executive", "status", timeout=timeout)
        if not reply.ok:
            raise TestbedError(f"no flatsat at {root}: executive {pid} does not answer "
                               f"({reply.reason.name} {reply.message})".rstrip())
        comms = config["apps"].get("comms", {})
        if linksim_control is not None:
            try:
                control = ControlClient(linksim_control)
                control.ping()
            except (ValueError, OSError, ControlError) as exc:
                raise TestbedError(f"link proxy control port {linksim_control}: {exc}") from None
        yield Testbed(stack, root, _address(comms.get("address")), _address(comms.get("ground")),
                      link_control=control,
                      ground_state=ground_state if ground_state is not None
                      else default_state_dir())
    finally:
        if control is not None:
            control.close()
        stack.stop()
