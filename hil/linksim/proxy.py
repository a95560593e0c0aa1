"""The UDP proxy: two (or three) sockets, one selector thread, a timer heap.

::

    ground ──► [ground socket]  ──uplink impairments──►  [flight-side socket] ──► flight
    ground ◄── [ground socket]  ◄─downlink impairments──  [flight-side socket] ◄── flight

The ground sends to the ground socket's address; the proxy sends on to the flight address from its
flight-side socket. Whatever arrives on the flight-side socket goes back out of the ground socket to
the source address of the last datagram the ground socket received, and to any fixed ground peers.
So the ground sees the proxy's ground address as "the spacecraft", and flight sees the flight-side
socket as "the ground station" — exactly the routing rule of the space link (ARCHITECTURE §5).
"""

from __future__ import annotations

import contextlib
import errno
import heapq
import ipaddress
import itertools
import logging
import os
import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from hil.linksim.control import handle_request
from hil.linksim.impair import DIRECTIONS, Channel, Impairments, directions

log = logging.getLogger(__name__)

Address = str | tuple[str, int]
"""``"HOST:PORT"``, ``"[V6HOST]:PORT"`` or ``(host, port)``."""

UPLINK, DOWNLINK = 0, 1
MAX_DATAGRAM = 65535
_BATCH = 256          # datagrams drained per readiness event before looking at timers again
_RCVBUF = 4 << 20     # asked for; the kernel caps it at net.core.rmem_max
_SNDBUF = 4 << 20


def parse_address(address: Address) -> tuple[str, int]:
    """``"HOST:PORT"`` / ``"[V6]:PORT"`` / ``(host, port)`` → ``(host, port)``; empty host = any."""
    if isinstance(address, tuple):
        host, port = address[0], address[1]
    else:
        text = str(address).strip()
        if text.startswith("["):
            host, sep, rest = text[1:].partition("]")
            if not sep or not rest.startswith(":"):
                raise ValueError(f"address {address!r} is not [HOST]:PORT")
            port_text = rest[1:]
        else:
            host, sep, port_text = text.rpartition(":")
            if not sep:
                raise ValueError(f"address {address!r} is not HOST:PORT")
        try:
            port = int(port_text)
        except ValueError:
            raise ValueError(f"address {address!r}: port {port_text!r} is not a number") from None
    if not 0 <= int(port) <= 65535:
        raise ValueError(f"address {address!r}: port out of range")
    return str(host), int(port)


def resolve(address: Address, passive: bool = False) -> tuple[int, tuple[Any, ...]]:
    """→ ``(family, sockaddr)`` for a UDP socket."""
    host, port = parse_address(address)
    flags = socket.AI_PASSIVE if passive else 0
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_DGRAM, flags=flags)
    except socket.gaierror as exc:
        raise ValueError(f"cannot resolve {host}:{port}: {exc}") from None
    family, _, _, _, sockaddr = infos[0]
    return family, sockaddr


def format_address(sockaddr: tuple[Any, ...]) -> str:
    host, port = sockaddr[0], sockaddr[1]
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


def _is_loopback(sockaddr: tuple[Any, ...]) -> bool:
    try:
        return ipaddress.ip_address(str(sockaddr[0]).split("%")[0]).is_loopback
    except ValueError:
        return False


def _udp_socket(family: int, bind: tuple[Any, ...]) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        for opt, size in ((socket.SO_RCVBUF, _RCVBUF), (socket.SO_SNDBUF, _SNDBUF)):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, opt, size)
        sock.bind(bind)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _as_impairments(value: Impairments | Mapping[str, Any] | None) -> Impairments:
    if value is None:
        return Impairments()
    if isinstance(value, Impairments):
        return value
    return Impairments.from_dict(value)


class LinkSim:
    """A UDP link-impairment proxy between a ground station and a flight stack.

    ``ground``: where the proxy listens for the ground (port 0 = ephemeral; see
    :attr:`ground_address`). ``flight``: where flight listens. ``flight_bind``: the local address of
    the flight-side socket (default: an ephemeral port on loopback if flight is on loopback, else on
    all interfaces). ``ground_peers``: fixed ground addresses that get every downlink datagram too.
    ``uplink`` / ``downlink``: :class:`Impairments` or a dict of its fields. ``seed``: the random
    seed (``None``: drawn from the OS and reported as :attr:`seed`). ``control``: where to listen
    for JSON control requests (``None``: no control port; see :mod:`hil.linksim.control`).

    Use as a context manager, or :meth:`start` / :meth:`stop`. All public methods are thread-safe.
    """

    def __init__(self, ground: Address, flight: Address, *,
                 flight_bind: Address | None = None,
                 ground_peers: Iterable[Address] = (),
                 uplink: Impairments | Mapping[str, Any] | None = None,
                 downlink: Impairments | Mapping[str, Any] | None = None,
                 seed: int | None = None,
                 control: Address | None = None) -> None:
        self.seed = int.from_bytes(os.urandom(4), "big") if seed is None else int(seed)
        self._ground_req = resolve(ground, passive=True)
        self._flight_family, self._flight_addr = resolve(flight)
        if flight_bind is None:
            host = "::1" if self._flight_family == socket.AF_INET6 else "127.0.0.1"
            if not _is_loopback(self._flight_addr):
                host = "::" if self._flight_family == socket.AF_INET6 else "0.0.0.0"
            flight_bind = (host, 0)
        self._flight_bind = resolve(flight_bind, passive=True)
        self._fixed_peers = [resolve(p)[1] for p in ground_peers]
        self._control_req = None if control is None else resolve(control, passive=True)
        self._channels = (Channel("uplink", self.seed, _as_impairments(uplink)),
                          Channel("downlink", self.seed, _as_impairments(downlink)))

        self._lock = threading.RLock()
        self._heap: list[tuple[float, int, int, bytes]] = []
        self._seq = itertools.count()
        self._ground_peer: tuple[Any, ...] | None = None
        self._sel: selectors.BaseSelector | None = None
        self._gsock: socket.socket | None = None
        self._fsock: socket.socket | None = None
        self._csock: socket.socket | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._backlog: dict[socket.socket, deque[tuple[bytes, Any, int, bool]]] = {}
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._started_at = 0.0
        self._errors = 0

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> LinkSim:
        """Bind the sockets and start the loop thread. Returns ``self``."""
        if self._thread is not None or self._stopping:
            raise RuntimeError("LinkSim.start() may be called once")
        try:
            gfam, gaddr = self._ground_req
            self._gsock = _udp_socket(gfam, gaddr)
            ffam, faddr = self._flight_bind
            self._fsock = _udp_socket(ffam, faddr)
            if self._control_req is not None:
                cfam, caddr = self._control_req
                self._csock = _udp_socket(cfam, caddr)
            self._wake_r, self._wake_w = socket.socketpair()
            self._wake_r.setblocking(False)
            self._wake_w.setblocking(False)
            sel = selectors.DefaultSelector()
            self._sel = sel
            sel.register(self._gsock, selectors.EVENT_READ, (self._on_ground, self._on_writable))
            sel.register(self._fsock, selectors.EVENT_READ, (self._on_flight, self._on_writable))
            if self._csock is not None:
                sel.register(self._csock, selectors.EVENT_READ, (self._on_control, None))
            sel.register(self._wake_r, selectors.EVENT_READ, (self._on_wake, None))
            if self._gsock.getsockname() == self._flight_addr:
                raise ValueError("the flight address is the proxy's own ground address")
        except BaseException:
            self._close()
            raise
        self._backlog = {self._gsock: deque(), self._fsock: deque()}
        self._started_at = time.monotonic()
        for ch in self._channels:
            ch.t0 = self._started_at
        self._thread = threading.Thread(target=self._run, name="linksim", daemon=True)
        self._thread.start()
        log.info("linksim up: ground %s -> flight %s via %s, seed %d",
                 format_address(self.ground_address), format_address(self._flight_addr),
                 format_address(self.flight_side_address), self.seed)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loop and close every socket. Datagrams still held are discarded."""
        self._stopping = True
        thread = self._thread
        if thread is not None and thread.is_alive():
            with contextlib.suppress(OSError):
                assert self._wake_w is not None
                self._wake_w.send(b"x")
            thread.join(timeout)
            if thread.is_alive():
                log.warning("linksim loop did not stop within %.1f s", timeout)
                return
        self._close()

    def __enter__(self) -> LinkSim:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _close(self) -> None:
        if self._sel is not None:
            self._sel.close()
            self._sel = None
        for name in ("_gsock", "_fsock", "_csock", "_wake_r", "_wake_w"):
            sock = getattr(self, name)
            if sock is not None:
                sock.close()
                setattr(self, name, None)

    # -- addresses ----------------------------------------------------------------------------

    def _bound(self, sock: socket.socket | None, what: str) -> tuple[Any, ...]:
        if sock is None:
            raise RuntimeError(f"no {what} socket (not started, stopped, or not configured)")
        return sock.getsockname()

    @property
    def ground_address(self) -> tuple[Any, ...]:
        """Where the ground sends (the bound address, real port even if asked for port 0)."""
        return self._bound(self._gsock, "ground")

    @property
    def flight_side_address(self) -> tuple[Any, ...]:
        """The flight-side socket: flight sees datagrams come from here and replies to it."""
        return self._bound(self._fsock, "flight-side")

    @property
    def control_address(self) -> tuple[Any, ...]:
        return self._bound(self._csock, "control")

    @property
    def flight_address(self) -> tuple[Any, ...]:
        return self._flight_addr

    @property
    def ground_peer(self) -> tuple[Any, ...] | None:
        """The source of the last datagram the ground socket received (downlink goes there)."""
        return self._ground_peer

    def addresses(self) -> dict[str, str | list[str] | None]:
        """Every address, as strings (for logs and the control channel)."""
        with self._lock:
            return {
                "ground": format_address(self.ground_address) if self._gsock else None,
                "flight": format_address(self._flight_addr),
                "flight_side": format_address(self.flight_side_address) if self._fsock else None,
                "control": format_address(self.control_address) if self._csock else None,
                "ground_peer": format_address(self._ground_peer) if self._ground_peer else None,
                "ground_peers": [format_address(p) for p in self._fixed_peers],
            }

    # -- runtime control ----------------------------------------------------------------------

    def set(self, direction: str = "both", *, replace: bool = False,
            **impairments: Any) -> dict[str, Impairments]:
        """Change impairments of ``direction`` (``uplink``, ``downlink``, ``both``).

        Fields not given keep their value (``replace=True``: they go back to the defaults, so
        ``set("both", replace=True)`` makes the link transparent). Validated before anything
        changes; invalid → ``ValueError``. Datagrams already held keep their departure time.
        Returns the impairments now in force, per direction.
        """
        names = directions(direction)
        with self._lock:
            new = {n: Impairments.from_dict(impairments,
                                            None if replace else self._channel(n).impairments)
                   for n in names}
            for n, imp in new.items():
                self._channel(n).impairments = imp
            return self.impairments()

    def impairments(self) -> dict[str, Impairments]:
        with self._lock:
            return {ch.name: ch.impairments for ch in self._channels}

    def outage(self, on: bool, direction: str = "both") -> None:
        """Take the link down (``on=True``: everything crossing it is dropped) or bring it back.

        Independent of the scheduled outage windows: the link is down if either says so.
        """
        names = directions(direction)
        with self._lock:
            for n in names:
                self._channel(n).manual_outage = bool(on)

    def outages(self) -> dict[str, bool]:
        """Whether each direction is down right now (manual switch or a scheduled window)."""
        now = time.monotonic()
        with self._lock:
            return {ch.name: ch.in_outage(now) for ch in self._channels}

    def stats(self) -> dict[str, dict[str, int]]:
        """Counters per direction (a consistent snapshot): see :data:`impair.COUNTERS`.

        ``received + duplicated == forwarded + dropped_* + send_errors + queued`` holds (from
        the start, or from a :meth:`reset_stats` made while nothing was queued).
        """
        with self._lock:
            return {ch.name: ch.counters() for ch in self._channels}

    def reset_stats(self) -> None:
        with self._lock:
            for ch in self._channels:
                ch.reset_counters()

    @property
    def internal_errors(self) -> int:
        """Exceptions the loop caught and logged (a bug if ever non-zero); it keeps running."""
        return self._errors

    @property
    def uptime_s(self) -> float:
        return time.monotonic() - self._started_at if self._started_at else 0.0

    def _channel(self, name: str) -> Channel:
        return self._channels[DIRECTIONS.index(name)]

    # -- the loop -----------------------------------------------------------------------------

    def _run(self) -> None:
        sel = self._sel
        assert sel is not None
        heap = self._heap
        while not self._stopping:
            timeout = max(0.0, heap[0][0] - time.monotonic()) if heap else None
            try:
                events = sel.select(timeout)
            except OSError:           # EINTR is retried by Python; anything else: stop
                log.exception("linksim selector failed")
                break
            with self._lock:
                for key, mask in events:
                    on_read, on_write = key.data
                    try:
                        if mask & selectors.EVENT_READ:
                            on_read()
                        if mask & selectors.EVENT_WRITE and on_write is not None:
                            on_write(key.fileobj)
                    except Exception:
                        self._errors += 1
                        log.exception("linksim: error handling %s", key.fileobj)
                if heap and heap[0][0] <= time.monotonic():
                    try:
                        self._flush_due()
                    except Exception:
                        self._errors += 1
                        log.exception("linksim: error sending held datagrams")

    def _on_wake(self) -> None:
        assert self._wake_r is not None
        with contextlib.suppress(OSError):
            while self._wake_r.recv(4096):
                pass

    def _drain(self, sock: socket.socket, handle: Callable[[bytes, Any], None]) -> None:
        recvfrom = sock.recvfrom
        for _ in range(_BATCH):
            try:
                data, addr = recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:    # e.g. ECONNREFUSED from an ICMP error: not a datagram
                if exc.errno not in (errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH):
                    log.warning("linksim: recvfrom on %s: %s", sock.getsockname(), exc)
                continue
            handle(data, addr)

    def _on_ground(self) -> None:
        assert self._gsock is not None
        self._drain(self._gsock, self._from_ground)

    def _on_flight(self) -> None:
        assert self._fsock is not None
        self._drain(self._fsock, self._from_flight)

    def _from_ground(self, data: bytes, addr: Any) -> None:
        self._ground_peer = addr
        self._admit(UPLINK, data)

    def _from_flight(self, data: bytes, addr: Any) -> None:
        self._admit(DOWNLINK, data)

    def _admit(self, index: int, data: bytes) -> None:
        ch = self._channels[index]
        now = time.monotonic()
        for due, out in ch.admit(data, now):
            if due <= now and ch.pending == 0:
                self._emit(index, out, now)          # nothing ahead of it: straight through
            else:
                heapq.heappush(self._heap, (due, next(self._seq), index, out))
                ch.hold(out)

    def _flush_due(self) -> None:
        heap = self._heap
        now = time.monotonic()
        while heap and heap[0][0] <= now:
            _, _, index, data = heapq.heappop(heap)
            self._channels[index].release(data)
            self._emit(index, data, now)

    def _emit(self, index: int, data: bytes, now: float) -> None:
        """The datagram leaves the link now (unless the link went down meanwhile)."""
        ch = self._channels[index]
        if ch.in_outage(now):
            ch.stats["dropped_outage"] += 1
            return
        if index == UPLINK:
            sock = self._fsock
            dests: list[Any] = [self._flight_addr]
        else:
            sock = self._gsock
            dests = list(self._fixed_peers)
            if self._ground_peer is not None and self._ground_peer not in dests:
                dests.insert(0, self._ground_peer)
            if not dests:
                ch.stats["dropped_no_route"] += 1
                return
        assert sock is not None
        backlog = self._backlog[sock]
        for n, dest in enumerate(dests):
            counted = n == 0        # counters count datagrams, not destinations
            if backlog:
                self._defer(sock, backlog, data, dest, index, counted)
                continue
            try:
                sock.sendto(data, dest)
            except (BlockingIOError, InterruptedError):
                self._defer(sock, backlog, data, dest, index, counted)
                continue
            except OSError as exc:
                if counted:
                    ch.stats["send_errors"] += 1
                log.debug("linksim: sendto %s: %s", dest, exc)
                continue
            if counted:
                ch.stats["forwarded"] += 1
                ch.stats["bytes"] += len(data)

    def _defer(self, sock: socket.socket, backlog: deque[tuple[bytes, Any, int, bool]],
               data: bytes, dest: Any, index: int, counted: bool) -> None:
        """The socket's send buffer is full: keep the datagram until it is writable."""
        if not backlog:
            assert self._sel is not None
            key = self._sel.get_key(sock)
            self._sel.modify(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, key.data)
        backlog.append((data, dest, index, counted))
        if counted:
            self._channels[index].hold(data)

    def _on_writable(self, sock: Any) -> None:
        backlog = self._backlog[sock]
        while backlog:
            data, dest, index, counted = backlog[0]
            ch = self._channels[index]
            try:
                sock.sendto(data, dest)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                backlog.popleft()
                if counted:
                    ch.release(data)
                    ch.stats["send_errors"] += 1
                log.debug("linksim: sendto %s: %s", dest, exc)
                continue
            backlog.popleft()
            if counted:
                ch.release(data)
                ch.stats["forwarded"] += 1
                ch.stats["bytes"] += len(data)
        assert self._sel is not None
        key = self._sel.get_key(sock)
        self._sel.modify(sock, selectors.EVENT_READ, key.data)

    def _on_control(self) -> None:
        sock = self._csock
        assert sock is not None

        def reply(data: bytes, addr: Any) -> None:
            with contextlib.suppress(OSError):
                sock.sendto(handle_request(self, data), addr)

        self._drain(sock, reply)
