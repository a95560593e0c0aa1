"""A flatsat on a "board" reached over real ssh: a local user behind a private sshd.

The session fixture creates the user ``sunlit-board`` (the board's login), an ed25519 key pair
for the lab side, and an ``sshd`` on a free 127.0.0.1 port with its own host key, pinned in a
known_hosts file, so every ssh call runs exactly as against a Raspberry Pi on the bench:
BatchMode, strict host key checking, key login into the user's ``~/.ssh/authorized_keys``.
The board user's Python is the system's ``python3``. It needs root (to add the user and run
sshd) and Debian's ``openssh-server``; without either the tests that need it are skipped.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from hil.board import BoardError, BoardStack, DeployReport
from hil.board.stack import check_probe
from hil.pytest_plugin import FLATSAT_OVERRIDES

BOARD_USER = "sunlit-board"
SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


@dataclass(frozen=True)
class LocalBoard:
    """The stand-in board: how to reach it, and where its files live."""

    target: str
    ssh_options: tuple[str, ...]
    home: Path
    work: Path  #: keys and sshd files, on the lab side

    def stack(self, **kwargs: object) -> BoardStack:
        options: dict[str, object] = {
            "ssh_options": self.ssh_options, "link_bind": "127.0.0.1", "link_port": 0,
            "local_dir": self.work / "lab",
            "overrides": FLATSAT_OVERRIDES}
        options.update(kwargs)
        return BoardStack(self.target, **options)  # type: ignore[arg-type]


def _free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ensure_user() -> pwd.struct_passwd:
    """The board's login user; '*' as password so sshd without PAM does not call it locked."""
    try:
        pwd.getpwnam(BOARD_USER)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", BOARD_USER],
                       check=True, capture_output=True)
    subprocess.run(["usermod", "-p", "*", BOARD_USER], check=True, capture_output=True)
    return pwd.getpwnam(BOARD_USER)


def _end_board_processes() -> None:
    """Kill what the board user still runs (a stack a crashed session left behind).

    Only processes of the dedicated test user: nothing else on the machine is touched.
    """
    board = [proc for proc in psutil.process_iter(["username"])
             if proc.info["username"] == BOARD_USER]
    for proc in board:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(board, timeout=5)


def _authorize(user: pwd.struct_passwd, public_key: str) -> None:
    """``~/.ssh/authorized_keys`` as ssh-copy-id leaves it (sshd's StrictModes checks it)."""
    ssh_dir = Path(user.pw_dir) / ".ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    keys = ssh_dir / "authorized_keys"
    keys.write_text(public_key, encoding="ascii")
    for path, mode in ((ssh_dir, 0o700), (keys, 0o600)):
        os.chown(path, user.pw_uid, user.pw_gid)
        os.chmod(path, mode)


def _keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "sunlit-test",
                    "-f", str(path)], check=True, capture_output=True)
    return path.with_suffix(".pub").read_text(encoding="ascii")


def _sshd_config(work: Path, port: int) -> Path:
    config = work / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {work / 'host_key'}\n"
        f"PidFile none\nAllowUsers {BOARD_USER}\nPermitRootLogin no\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PubkeyAuthentication yes\nUsePAM no\nStrictModes yes\nPrintMotd no\n"
        "LogLevel VERBOSE\n", encoding="ascii")
    return config


def _await_listening(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20.0
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"sshd exited with {proc.returncode}: {log.read_text(errors='replace')}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0):
                return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"sshd did not listen on 127.0.0.1:{port} within 20 s")


@pytest.fixture(scope="session")
def local_board() -> Iterator[LocalBoard]:
    """An sshd on 127.0.0.1 letting the lab's key in as the board user (see module docs)."""
    if os.geteuid() != 0:
        pytest.skip("needs root: adds a local user to stand in for the board and runs sshd")
    if not os.access(SSHD, os.X_OK) or shutil.which("ssh-keygen") is None \
            or shutil.which("ssh") is None:
        pytest.skip("needs Debian's openssh-server and openssh-client (apt-get install "
                    "openssh-server)")
    user = _ensure_user()
    _end_board_processes()
    home = Path(user.pw_dir)
    shutil.rmtree(home / ".sunlit", ignore_errors=True)  # every session deploys from scratch
    work = Path(tempfile.mkdtemp(prefix="sl-sshd-", dir="/tmp"))
    _keygen(work / "host_key")
    _authorize(user, _keygen(work / "lab_key"))
    port = _free_tcp_port()
    known_hosts = work / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{port} "
                           + (work / "host_key.pub").read_text(encoding="ascii"))
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation dir
    log = work / "sshd.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(_sshd_config(work, port))],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    try:
        _await_listening(port, proc, log)
        yield LocalBoard(
            f"{BOARD_USER}@127.0.0.1",
            ("-F", "/dev/null", "-p", str(port), "-i", str(work / "lab_key"),
             "-o", "IdentitiesOnly=yes", "-o", f"UserKnownHostsFile={known_hosts}",
             "-o", "StrictHostKeyChecking=yes"),
            home, work)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(work, ignore_errors=True)
        _end_board_processes()
        subprocess.run(["userdel", "--remove", BOARD_USER], capture_output=True)


@dataclass(frozen=True)
class Deployed:
    board: LocalBoard
    stack: BoardStack
    first: DeployReport
    first_s: float


def _phases(report: DeployReport) -> str:
    return ", ".join(f"{name} {took:.1f} s" for name, took in report.phases.items())


@pytest.fixture(scope="session")
def deployed(local_board: LocalBoard) -> Iterator[Deployed]:
    """Sunlit deployed to the fresh board once for the session (the slow part: measured).

    The lab side uses its real cache (``~/.cache/sunlit/board``), as an engineer's second
    flatsat of the day would: wheels are built and downloaded only when that cache misses.
    """
    config = local_board.work / "bench.toml"
    config.write_text('[mission]\nname = "bench-board"\n', encoding="utf-8")
    stack = local_board.stack(config=config)
    started = time.monotonic()
    report = stack.deploy()
    took = time.monotonic() - started
    print(f"\nfirst deploy to the board: {took:.1f} s ({_phases(report)})")
    try:
        yield Deployed(local_board, stack, report, took)
    finally:
        stack.stop()  # whatever a failed test left running


# ---------------------------------------------------------------------- the happy path
def test_deploy_installs_and_a_second_deploy_changes_nothing(deployed: Deployed) -> None:
    first = deployed.first
    assert first.installed == ["dependencies", "sunlit"]
    assert any(name.startswith("numpy-") for name in first.uploaded)
    assert any(name.startswith("sunlit-") for name in first.uploaded)
    venv = deployed.board.home / ".sunlit" / "venv"
    assert (venv / "bin" / "sunlit-flight").exists()
    assert venv.stat().st_uid == pwd.getpwnam(BOARD_USER).pw_uid  # made by the board user

    stack = deployed.stack
    started = time.monotonic()
    again = stack.deploy()
    took = time.monotonic() - started
    print(f"\nsecond deploy: {took:.1f} s ({_phases(again)})")
    if again.sunlit_digest == first.sunlit_digest:
        assert again.uploaded == [] and again.installed == []
    else:  # someone edited the tree meanwhile: only Sunlit's own wheel goes again
        assert [name.split("/")[0][:7] for name in again.uploaded] == ["sunlit-"]
        assert again.installed == ["sunlit"]


def test_flatsat_on_the_board_talks_to_a_ground_over_udp(deployed: Deployed) -> None:
    stack = deployed.stack
    link = stack.start(timeout=60)
    try:
        assert link.host == "127.0.0.1" and link.port > 0
        assert link.hal == "linux"  # auto-detected: this machine is no Pi and no Jetson
        assert link.run_dir == str(deployed.board.home / ".sunlit" / "run")
        assert link.key_file is not None and link.key_file.stat().st_mode & 0o077 == 0
        status = stack.status()
        assert status["mission"] == "bench-board"  # the --config file went along
        processes = {row["name"]: row["state"] for row in status["processes"]}
        assert processes["world"] == "RUNNING" and processes["comms"] == "RUNNING"

        with pytest.raises(BoardError, match="already runs"):
            stack.start(timeout=10)

        ground = link.connect()
        try:
            ground.ping(timeout=10)
            handle = ground.send("health", "noop")
            handle.result(timeout=10)
            assert [s.name for s in handle.stages] == ["accepted", "started", "completed"]
            soc = ground.await_telemetry("power", "soc", timeout=20)
            assert 0 <= soc.value <= 1
            mode = ground.await_telemetry("executive", "mode", timeout=10)
            assert mode.value == "NOMINAL"
        finally:
            ground.close()
        # What an operator types, from what the link says (it shares the station's counters).
        cli = subprocess.run([sys.executable, "-m", "ground.cli", *link.ground_args(), "--json",
                              "ping", "--count", "2", "--timeout", "10"],
                             capture_output=True, text=True, timeout=60)
        assert cli.returncode == 0, cli.stdout + cli.stderr
        assert link.describe().startswith("Space link: comms on sunlit-board@127.0.0.1")
    finally:
        code = stack.stop()
    assert code == 0
    with pytest.raises(BoardError, match="no stack answering"):
        stack.status()
    assert stack.stop() == 3  # nothing left to stop


def test_sunlit_hil_flatsat_board_deploys_checks_every_app_and_stops(
        deployed: Deployed) -> None:
    """What a flatsat engineer types: the whole bring-up through the CLI, over the real link."""
    from hil.testbed import free_udp_port

    board = deployed.board
    argv = [sys.executable, "-m", "hil.cli", "flatsat", "--board", board.target,
            *(f"--ssh-option={option}" for option in board.ssh_options), "--duration", "4",
            "--hal", "sim",  # forced: detection on this machine would pick linux
            "--set", f"apps.comms.address=127.0.0.1:{free_udp_port()}",
            *(f"--set={item}" for item in FLATSAT_OVERRIDES)]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=180)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text
    assert "ping over the link:" in text and ", HAL sim," in text
    for app in ("comms", "executive", "health", "jobs", "power", "thermal", "world"):
        assert f"{app}.noop: completed" in text, text
    assert "mode=NOMINAL" in text
    assert "Stack on the board stopped cleanly." in text


def test_a_stack_that_cannot_start_is_reported_with_its_output(deployed: Deployed) -> None:
    name = "r" * 90
    stack = deployed.board.stack(run_dir=f"~/{name}")  # too long for ipc:// sockets
    try:
        with pytest.raises(BoardError, match="too long for ipc sockets") as caught:
            stack.start(timeout=20)
        assert "sunlit-flight run exited with status 2" in str(caught.value)
    finally:
        shutil.rmtree(deployed.board.home / name, ignore_errors=True)


# ---------------------------------------------------------------------- bad boards
def test_an_unreachable_board_is_named() -> None:
    if shutil.which("ssh") is None:
        pytest.skip("no ssh client")
    port = _free_tcp_port()  # nothing listens there now
    stack = BoardStack("pi@127.0.0.1", ssh_options=("-F", "/dev/null", "-p", str(port)),
                       connect_timeout=5)
    with pytest.raises(BoardError, match=rf"cannot reach board 127\.0\.0\.1 port {port}"):
        stack.deploy()


def test_a_board_without_that_python_says_so(local_board: LocalBoard) -> None:
    stack = local_board.stack(python="/nonexistent/python3")
    with pytest.raises(BoardError, match=r"board 127\.0\.0\.1 has no Python: "
                                         r"'/nonexistent/python3' is not found"):
        stack.deploy()


def test_a_refused_login_is_explained(local_board: LocalBoard, tmp_path: Path) -> None:
    _keygen(tmp_path / "stranger")
    options = list(local_board.ssh_options)
    options[options.index("-i") + 1] = str(tmp_path / "stranger")
    stack = BoardStack(local_board.target, ssh_options=options)
    with pytest.raises(BoardError, match="refused the ssh login as 'sunlit-board'"):
        stack.probe()


def _probe_answer(**changes: object) -> dict[str, object]:
    """A probe answer as a Debian 12 board gives it (what probe.py prints there)."""
    answer: dict[str, object] = {
        "version": [3, 11, 2], "implementation": "cpython", "executable": "/usr/bin/python3.11",
        "system": "Linux", "machine": "aarch64", "libc": ["glibc", "2.36"],
        "home": "/home/pi", "install_dir": "/home/pi/.sunlit",
        "run_dir": "/home/pi/.sunlit/run", "has_venv": True, "wheelhouse": {},
        "installed": None}
    answer.update(changes)
    return answer


def test_probe_answers_are_checked() -> None:
    info = check_probe(_probe_answer(), "pi5", "python3")
    assert info.target.key == "cp311-aarch64-glibc2.36"
    assert "manylinux2014_aarch64" in info.target.platforms()
    with pytest.raises(BoardError, match=r"3\.8\.10; Sunlit needs CPython 3\.10 or newer"):
        check_probe(_probe_answer(version=[3, 8, 10]), "pi5", "python3")
    with pytest.raises(BoardError, match="not glibc"):
        check_probe(_probe_answer(libc=["", ""]), "pi5", "python3")
    with pytest.raises(BoardError, match="no venv module"):
        check_probe(_probe_answer(has_venv=False), "pi5", "python3")
    with pytest.raises(BoardError, match="unexpected answer"):
        check_probe(_probe_answer(version="3.11"), "pi5", "python3")


def test_bad_arguments_are_refused_before_any_ssh() -> None:
    with pytest.raises(BoardError, match="unknown HAL 'arduino'"):
        BoardStack("pi@flatsat", hal="arduino")
    with pytest.raises(BoardError, match="not an ssh target"):
        BoardStack("-oProxyCommand=evil")
    stack = BoardStack("pi@flatsat", overrides=["executive.hang_misses=three"])
    with pytest.raises(BoardError, match=r"configuration error: .*hang_misses"):
        stack.start()  # refused here: the board (which does not exist) is never contacted
