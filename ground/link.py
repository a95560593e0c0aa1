"""The ground end of the space link: one UDP socket, sealed telecommands out, telemetry in.

:class:`GroundLink` is deliberately thin. It turns :class:`~flight.link.Telecommand` objects
into frames (authenticated unless the link is explicitly plain), sends them, and turns received
datagrams into :class:`Received` records: the decoded packet, or the reason it could not be
decoded. It counts what it sees (rejections by reason, sequence gaps per APID) because those
counters are how an operator notices a bad link. It knows nothing about the dictionary, apps or
verification: that is :mod:`ground.station`.

**Anti-replay state.** The flight side refuses any ARSN it has seen, and remembers the highest
one across reboots, so the ground must never reuse one, not even after a restart or when two
ground processes (a console and a script) share a key. :class:`SenderState` keeps the ARSN
counter and the telecommand sequence counters in a state directory and takes an exclusive file
lock around every draw, so concurrent ground processes interleave instead of colliding. The
sequence counters are kept for the same reason: a request id (APID + sequence count) must not
be reused while a time-tagged command from an earlier session still waits on board.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import selectors
import socket
import struct
import threading
import time
import weakref
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from flight.link import (
    DEFAULT_MAX_SIZE,
    GROUND_ID,
    Ack,
    ArsnCounter,
    Authenticator,
    FileArsnStore,
    LinkError,
    MemoryArsnStore,
    PlainLink,
    Telecommand,
    TelemetryPacket,
)
from flight.link.arsn import MAX_ARSN, ArsnExhaustedError
from flight.link.spacepacket import MAX_SEQ_COUNT

__all__ = [
    "DEFAULT_ADDRESS",
    "Address",
    "GapCounter",
    "GroundLink",
    "Link",
    "LinkStats",
    "Received",
    "SenderState",
    "default_state_dir",
    "format_address",
    "parse_address",
]

Address = tuple[str, int]
#: Where the comms app listens in simulation (docs/icd.md section 1).
DEFAULT_ADDRESS: Address = ("127.0.0.1", 52001)
#: Largest datagram read; anything above ``max_size`` is refused as ``oversized`` anyway.
_RECV_BUFFER = 65_535
_SEQ_MODULO = MAX_SEQ_COUNT + 1
#: A jump forward by less than half the sequence space is a gap; more is a late packet.
_HALF_SEQ = _SEQ_MODULO // 2


def parse_address(text: str) -> Address:
    """``"HOST:PORT"`` (``"[::1]:52001"`` for IPv6) to a tuple; ``ValueError`` when malformed."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"address {text!r} is not HOST:PORT")
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port)


def format_address(address: Address) -> str:
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def default_state_dir() -> Path:
    """``$SUNLIT_GROUND_STATE``, else ``$XDG_STATE_HOME/sunlit-ground``, else ``~/.local/state``.

    The ground's ARSN counter must outlive any one run directory: the spacecraft remembers the
    highest ARSN it accepted, so a ground that forgot its counter would be refused as a replay.
    """
    explicit = os.environ.get("SUNLIT_GROUND_STATE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "sunlit-ground"


# ------------------------------------------------------------------------------ sender state


class SenderState:
    """The ground's ARSN and TC sequence counters: durable, and safe to share between processes.

    With a ``directory`` every draw takes an exclusive ``flock`` on ``ground.lock`` there and
    reads the last value handed out (by any process) from a small file beside it, so concurrent
    ground processes interleave strictly increasing values instead of colliding. Durability is
    bought in blocks: the *reserved* mark (checkpoint store: atomic, fsync'ed) is advanced
    ``RESERVE`` values ahead, and a draw only writes its value into the small file (no fsync)
    until it reaches the mark. A process's first ARSN is drawn above the durable mark, so a
    power cut that loses the small file can never make an ARSN come round twice; it costs at
    most ``RESERVE`` unused ARSNs per process start. (Sequence counts continue from the small
    file: after a power cut a few request ids might repeat, which only matters to a time-tagged
    command still waiting on board under the same id.) Without a directory the counters live in
    memory: only for tests and the plain lab link.
    """

    #: Values made durable at once; one fsync'ed write per block instead of one per TC.
    RESERVE = 1024

    def __init__(self, directory: str | os.PathLike[str] | None) -> None:
        self.directory = None if directory is None else Path(directory)
        self._thread_lock = threading.Lock()
        self._memory: dict[str, ArsnCounter] = {}
        self._shared: dict[str, _SharedCounter] = {}
        self._files = _OpenFiles(self.directory)
        if self.directory is not None:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)

    def next_arsn(self, spi: int) -> int:
        """The next anti-replay sequence number for ``spi`` (the first ever is 1)."""
        return self._draw(("arsn-tx", spi))[0]

    def next_seq(self, apid: int) -> int:
        """The next 14-bit packet sequence count for telecommands to ``apid``."""
        return self._draw(("tc-seq", apid))[0] % _SEQ_MODULO

    def next_ids(self, spi: int, apid: int) -> tuple[int, int]:
        """The next ARSN for ``spi`` and sequence count for ``apid``, drawn under one lock
        (half the locking of two draws, on every telecommand)."""
        arsn, seq = self._draw(("arsn-tx", spi), ("tc-seq", apid))
        return arsn, seq % _SEQ_MODULO

    def skip_arsn_to(self, spi: int, arsn: int) -> None:
        """Recovery after lost state: make the next ARSN at least ``arsn + 1``."""
        with self._locked():
            if self.directory is None:
                self._memory.setdefault("arsn-tx", ArsnCounter(MemoryArsnStore())).skip_to(
                    spi, arsn)
            else:
                self._counter("arsn-tx").skip_to(spi, arsn)

    def _draw(self, *wanted: tuple[str, int]) -> list[int]:
        """The next value of each (counter, key), all under one lock."""
        with self._locked():
            if self.directory is None:
                return [self._memory.setdefault(name, ArsnCounter(MemoryArsnStore())).next(key)
                        for name, key in wanted]
            return [self._counter(name).next(key) for name, key in wanted]

    def _counter(self, name: str) -> _SharedCounter:
        assert self.directory is not None
        if name not in self._shared:
            # An ARSN must never come round twice, even after a power cut took the unsynced
            # file with it: each process starts above the durable mark. A sequence count only
            # names a request; it continues from the file (from the mark if the file is gone),
            # so frequent short-lived CLI processes do not run through the 14-bit space.
            self._shared[name] = _SharedCounter(self._files, self.directory, name,
                                                self.RESERVE, jump=name == "arsn-tx")
        return self._shared[name]

    def close(self) -> None:
        """Let go of the state files (also done when the object is collected)."""
        with self._thread_lock:
            self._files.close()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._thread_lock:
            if self.directory is None:
                yield
                return
            fd = self._files.lock_fd()
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)


class _OpenFiles:
    """The state directory's file descriptors, opened once and kept: a draw costs a lock, a
    read and a write, not three opens and closes.

    ``flock`` belongs to the open file description, which a forked child shares with its
    parent, so a child reopens everything on first use instead of sharing the parent's lock.
    """

    def __init__(self, directory: Path | None) -> None:
        self._directory = directory
        self._fds: dict[str, int] = {}
        self._pid = os.getpid()
        self._finalizer = weakref.finalize(self, _close_all, self._fds)

    def lock_fd(self) -> int:
        return self.fd("ground.lock")

    def fd(self, name: str) -> int:
        if self._pid != os.getpid():
            self._fds.clear()  # the parent's descriptors: leave them to the parent
            self._pid = os.getpid()
        fd = self._fds.get(name)
        if fd is None:
            assert self._directory is not None
            fd = os.open(self._directory / name, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._fds[name] = fd
        return fd

    def close(self) -> None:
        _close_all(self._fds)


def _close_all(fds: dict[str, int]) -> None:
    for fd in fds.values():
        with contextlib.suppress(OSError):
            os.close(fd)
    fds.clear()


class _SharedCounter:
    """One strictly increasing counter per key, shared by the processes that hold the lock.

    ``<name>.issued`` holds the last value handed out per key (rewritten in place, CRC-checked,
    never fsync'ed); the checkpoint store ``<name>`` holds the durable reserved mark. Call only
    under the state directory's lock.
    """

    def __init__(self, files: _OpenFiles, directory: Path, name: str, reserve: int, *,
                 jump: bool) -> None:
        self._durable = FileArsnStore(directory, name)
        self._files = files
        self._issued_name = f"{name}.issued"
        self._reserve = reserve
        self._jump = jump
        self._reserved: dict[int, int] | None = None  # loaded on this process's first draw

    def next(self, key: int) -> int:
        issued = self._read_issued()
        if self._reserved is None:
            self._reserved = self._durable.load()
            if self._jump or not issued:  # start above everything ever reserved
                issued = {**issued, **{k: max(v, issued.get(k, 0))
                                       for k, v in self._reserved.items()}}
        value = issued.get(key, 0) + 1
        if value > MAX_ARSN:
            raise ArsnExhaustedError(f"key {key} has used all 2**32 - 1 values; change the key")
        if value > self._reserved.get(key, 0):
            self._reserved = self._durable.load()  # another process may have reserved more
            if value > self._reserved.get(key, 0):
                self._reserved = {**self._reserved,
                                  key: min(value + self._reserve - 1, MAX_ARSN)}
                self._durable.save(self._reserved)  # raises before the value is handed out
        issued[key] = value
        self._write_issued(issued)
        return value

    def skip_to(self, key: int, value: int) -> None:
        issued = self._read_issued()
        if value > issued.get(key, 0):
            self._reserved = {**self._durable.load(), key: value}
            self._durable.save(self._reserved)
            issued[key] = value
            self._write_issued(issued)

    def _read_issued(self) -> dict[int, int]:
        """Last values handed out; {} when the file is missing or damaged (the durable
        reserved mark, taken on each process's first draw, covers that)."""
        fd = self._files.fd(self._issued_name)
        raw = os.pread(fd, 4096, 0)  # a few hundred keys; read more only when the head says so
        if len(raw) == 4096:
            raw = os.pread(fd, issued_size(raw), 0)
        return decode_issued(raw)

    def _write_issued(self, values: dict[int, int]) -> None:
        os.pwrite(self._files.fd(self._issued_name), encode_issued(values), 0)


#: ``.issued`` record: magic, count, (key, value) pairs as big-endian u32, CRC-32 of all
#: before it. Bytes after the record (a longer one written earlier) are ignored.
_ISSUED_MAGIC = b"SLI1"
_ISSUED_HEAD = struct.Struct(">4sI")
_ISSUED_PAIR = struct.Struct(">II")
_ISSUED_MAX_KEYS = 0x10000


def issued_size(head: bytes) -> int:
    """The length of the record whose first bytes are ``head`` (bounded, for a damaged head)."""
    count = _ISSUED_HEAD.unpack_from(head)[1] if len(head) >= _ISSUED_HEAD.size else 0
    return _ISSUED_HEAD.size + min(count, _ISSUED_MAX_KEYS) * _ISSUED_PAIR.size + 4


def encode_issued(values: dict[int, int]) -> bytes:
    """The binary ``.issued`` record for ``values`` (key -> last value handed out)."""
    body = _ISSUED_HEAD.pack(_ISSUED_MAGIC, len(values)) + b"".join(
        _ISSUED_PAIR.pack(k, v) for k, v in sorted(values.items()))
    return body + zlib.crc32(body).to_bytes(4, "big")


def decode_issued(raw: bytes) -> dict[int, int]:
    """Inverse of :func:`encode_issued`; {} for anything that is not an intact record."""
    if len(raw) < _ISSUED_HEAD.size + 4:
        return {}
    magic, count = _ISSUED_HEAD.unpack_from(raw)
    end = _ISSUED_HEAD.size + count * _ISSUED_PAIR.size
    if magic != _ISSUED_MAGIC or count > _ISSUED_MAX_KEYS or len(raw) < end + 4:
        return {}
    if zlib.crc32(raw[:end]).to_bytes(4, "big") != raw[end:end + 4]:
        return {}
    return dict(_ISSUED_PAIR.iter_unpack(raw[_ISSUED_HEAD.size:end]))


# ------------------------------------------------------------------------------ receiving


@dataclass(frozen=True, slots=True)
class Received:
    """One datagram from the link: the packet, or why it could not be decoded."""

    raw: bytes
    source: Address
    t_ground: float  #: wall clock (UNIX seconds) at receipt
    t_mono: float  #: ``time.monotonic()`` at receipt: what deadlines are measured against
    packet: TelemetryPacket | None
    error: LinkError | None = None
    gap: int = 0  #: packets of this APID missed just before this one (sequence count jump)

    @property
    def reason(self) -> str | None:
        """The stable rejection reason (``"bad_crc"``, ...) when the datagram was refused."""
        return None if self.error is None else self.error.reason.value


@dataclass(frozen=True)
class LinkStats:
    """A snapshot of the link's counters."""

    sent: int
    received: int
    decoded: int
    rejected: dict[str, int] = field(default_factory=dict)
    gaps: dict[int, int] = field(default_factory=dict)  #: APID -> packets missed
    duplicates: dict[int, int] = field(default_factory=dict)  #: APID -> repeated counts
    late: dict[int, int] = field(default_factory=dict)  #: APID -> out-of-order packets


class GapCounter:
    """Missed packets per APID, from the 14-bit packet sequence count (wrapping at 16384).

    A forward jump of less than half the sequence space counts the packets in between as
    missed; the same count again is a duplicate; a jump backwards is a late (reordered)
    packet, which neither counts as a gap nor moves the reference.
    """

    def __init__(self) -> None:
        self._last: dict[int, int] = {}
        self.gaps: Counter[int] = Counter()
        self.duplicates: Counter[int] = Counter()
        self.late: Counter[int] = Counter()

    def observe(self, apid: int, seq: int) -> int:
        """Record one packet; return how many packets of ``apid`` were missed before it."""
        last = self._last.get(apid)
        if last is None:
            self._last[apid] = seq
            return 0
        step = (seq - last) % _SEQ_MODULO
        if step == 0:
            self.duplicates[apid] += 1
            return 0
        if step >= _HALF_SEQ:
            self.late[apid] += 1
            return 0
        self._last[apid] = seq
        if step > 1:
            self.gaps[apid] += step - 1
        return step - 1


# ------------------------------------------------------------------------------ the link


class Link(Protocol):
    """What :class:`ground.station.GroundStation` needs from a link: :class:`GroundLink`, or a
    stand-in such as a replay of an archive (whose sending methods raise)."""

    max_size: int

    @property
    def local_address(self) -> Address: ...

    @property
    def closed(self) -> bool: ...

    def receive(self, timeout: float | None = None) -> Received | None: ...

    def make_tc(self, apid: int, service: int, subtype: int, app_data: bytes = b"", *,
                ack: Ack = Ack.ALL) -> Telecommand: ...

    def send_tc(self, tc: Telecommand,
                before_send: Callable[[bytes], None] | None = None) -> bytes: ...

    def send_new(self, apid: int, service: int, subtype: int, app_data: bytes = b"", *,
                 ack: Ack = Ack.ALL,
                 before_send: Callable[[Telecommand, bytes], None] | None = None
                 ) -> tuple[Telecommand, bytes]: ...

    def stats(self) -> LinkStats: ...

    def close(self) -> None: ...


class GroundLink:
    """A UDP socket that sends sealed telecommands to ``address`` and receives telemetry.

    ``key`` is the 32-byte link key (see :func:`flight.link.load_key`); ``plain=True`` sends
    bare packets instead, for a flight side configured with ``link.auth = "none"``. ``local``
    is the address to bind (port 0: any free port); telemetry comes back to it because the
    spacecraft answers the source address of the last telecommand it accepted.

    Sending is thread-safe. :meth:`receive` is meant for one receiving thread; :meth:`close`
    may be called from any thread and wakes a blocked :meth:`receive`.
    """

    def __init__(self, address: Address = DEFAULT_ADDRESS, *, key: bytes | None = None,
                 spi: int = 1, plain: bool = False, state: SenderState | None = None,
                 local: Address | None = None, source_id: int = GROUND_ID,
                 max_size: int = DEFAULT_MAX_SIZE) -> None:
        if not plain and key is None:
            raise ValueError("no link key: give key=..., or plain=True for a lab link "
                             "without authentication")
        self.address = address
        self.spi = spi
        self.plain = plain
        self.source_id = source_id
        self.max_size = max_size
        self.state = state if state is not None else SenderState(None)
        self._sealer: Authenticator | PlainLink = (
            PlainLink(max_packet=max_size) if plain
            else Authenticator({spi: key or b""}, max_packet=max_size))
        self._sock = self._open_socket(address, local)
        self._wake_r, self._wake_w = socket.socketpair()
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._sock, selectors.EVENT_READ)
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._tx_lock = threading.Lock()
        self._rx_lock = threading.Lock()
        self._closed = False
        self._sent = self._received = self._decoded = 0
        self._rejected: Counter[str] = Counter()
        self._gaps = GapCounter()

    @staticmethod
    def _open_socket(address: Address, local: Address | None) -> socket.socket:
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        with contextlib.suppress(OSError):  # a big buffer absorbs a stored-telemetry dump
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        try:
            sock.bind(local or ("", 0))
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)  # receive() waits in select(), never in recvfrom()
        return sock

    @property
    def local_address(self) -> Address:
        """Where this link receives telemetry."""
        host, port = self._sock.getsockname()[:2]
        return str(host), int(port)

    @property
    def closed(self) -> bool:
        return self._closed

    # -------------------------------------------------------------- sending

    def make_tc(self, apid: int, service: int, subtype: int, app_data: bytes = b"", *,
                ack: Ack = Ack.ALL) -> Telecommand:
        """A telecommand from this ground with a fresh sequence count for ``apid``."""
        return Telecommand(apid, service, subtype, app_data, seq_count=self.state.next_seq(apid),
                           source_id=self.source_id, ack=ack)

    def seal(self, tc: Telecommand) -> bytes:
        """The frame for ``tc``: authenticated with a fresh ARSN, or the bare packet if plain."""
        arsn = 0 if self.plain else self.state.next_arsn(self.spi)
        return self._frame(tc, arsn)

    def _frame(self, tc: Telecommand, arsn: int) -> bytes:
        packet = tc.encode(self.max_size)
        if isinstance(self._sealer, PlainLink):
            return self._sealer.seal(packet)
        return self._sealer.seal(self.spi, arsn, packet)

    def send_tc(self, tc: Telecommand,
                before_send: Callable[[bytes], None] | None = None) -> bytes:
        """Seal and send ``tc``; return the frame exactly as it went out.

        ``before_send(frame)`` runs after sealing and before the datagram leaves: the place
        to register what the answer will refer to, so that no answer can outrun it.
        """
        with self._tx_lock:  # ARSNs leave in the order they were drawn
            frame = self.seal(tc)
            if before_send is not None:
                before_send(frame)
            self.send_raw(frame)
        return frame

    def send_new(self, apid: int, service: int, subtype: int, app_data: bytes = b"", *,
                 ack: Ack = Ack.ALL,
                 before_send: Callable[[Telecommand, bytes], None] | None = None
                 ) -> tuple[Telecommand, bytes]:
        """Make, seal and send a telecommand in one go: :meth:`make_tc` and :meth:`send_tc`
        with its sequence count and ARSN drawn together (one lock, not two).

        ``before_send(tc, frame)`` runs after sealing and before the datagram leaves.
        """
        with self._tx_lock:  # ARSNs leave in the order they were drawn
            if self.plain:
                arsn, seq = 0, self.state.next_seq(apid)
            else:
                arsn, seq = self.state.next_ids(self.spi, apid)
            tc = Telecommand(apid, service, subtype, app_data, seq_count=seq,
                             source_id=self.source_id, ack=ack)
            frame = self._frame(tc, arsn)
            if before_send is not None:
                before_send(tc, frame)
            self.send_raw(frame)
        return tc, frame

    def send_raw(self, frame: bytes) -> None:
        """Send bytes as they are (tests, replays of captured frames)."""
        if self._closed:
            raise OSError("the link is closed")
        self._sock.sendto(frame, self.address)
        self._sent += 1

    # -------------------------------------------------------------- receiving

    def receive(self, timeout: float | None = None) -> Received | None:
        """The next datagram, decoded; ``None`` after ``timeout`` seconds or once closed."""
        with self._rx_lock:
            if self._closed:
                return None
            ready = self._selector.select(timeout)
            if self._closed or not ready or any(k.fileobj is self._wake_r for k, _ in ready):
                return None
            try:
                data, source = self._sock.recvfrom(_RECV_BUFFER)
            except (BlockingIOError, InterruptedError, TimeoutError):
                return None
            return self.decode(data, (str(source[0]), int(source[1])))

    def decode(self, data: bytes, source: Address = ("", 0)) -> Received:
        """Decode one datagram and count it (also used to feed recorded datagrams through)."""
        t_ground, t_mono = time.time(), time.monotonic()
        self._received += 1
        try:
            packet = TelemetryPacket.decode(data, self.max_size)
        except LinkError as exc:
            self._rejected[exc.reason.value] += 1
            return Received(data, source, t_ground, t_mono, None, exc)
        self._decoded += 1
        gap = self._gaps.observe(packet.apid, packet.seq_count)
        return Received(data, source, t_ground, t_mono, packet, None, gap)

    def stats(self) -> LinkStats:
        g = self._gaps
        return LinkStats(self._sent, self._received, self._decoded, dict(self._rejected),
                         dict(g.gaps), dict(g.duplicates), dict(g.late))

    # -------------------------------------------------------------- closing

    def close(self) -> None:
        """Close the socket; a thread blocked in :meth:`receive` returns ``None``."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        with self._rx_lock:  # wait for a receive in progress to let go of the socket
            self._selector.close()
            for sock in (self._sock, self._wake_r, self._wake_w):
                sock.close()

    def __enter__(self) -> GroundLink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
