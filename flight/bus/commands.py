"""Commands over ROUTER/DEALER: ACCEPTED, then COMPLETED or FAILED, each retried command run once.

A request is the usual envelope ``[src, seq, t, body]`` whose body is
``{"id": cmd_id, "cmd": name, "args": {...}, "exp": expires_at}`` (``exp`` in wall-clock epoch
seconds, or None). The server answers with envelopes whose body is
``{"id", "status", "reason", "msg", "data"}``.

The server keeps a bounded reply cache keyed by ``(src, cmd_id)``: a sender that timed out and
retries with the same id gets the first execution's final answer instead of a second execution.
"""

from __future__ import annotations

import itertools
import os
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import zmq

from flight.bus.counters import BusCounters
from flight.bus.envelope import DecodeError, pack, unpack_bounded
from flight.bus.limits import DEFAULT_LIMITS, DecodeLimits
from flight.bus.pubsub import DEFAULT_HWM, DEFAULT_LINGER_MS, Clock
from flight.bus.reasons import Reason, Status

REPLY_CACHE_SIZE = 1024
#: How often a client retries while its DEALER is not yet connected to the app.
CONNECT_POLL_S = 0.01


@dataclass(frozen=True)
class Request:
    """A decoded, well-formed command request."""

    src: str
    cmd_id: str
    name: str
    args: dict[str, Any]
    expires_at: float | None


@dataclass(frozen=True)
class Outcome:
    """What executing a command produced: the final stage and its payload."""

    status: Status
    reason: Reason = Reason.OK
    message: str = ""
    data: Any = None

    @classmethod
    def completed(cls, data: Any = None, message: str = "") -> Outcome:
        return cls(Status.COMPLETED, Reason.OK, message, data)

    @classmethod
    def failed(cls, reason: Reason, message: str) -> Outcome:
        return cls(Status.FAILED, reason, message)


@dataclass(frozen=True)
class Reply:
    """One reply as a sender sees it."""

    cmd_id: str
    status: Status
    reason: Reason
    message: str = ""
    data: Any = None
    src: str = ""
    t: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status is Status.COMPLETED


class CommandError(RuntimeError):
    """A command ended FAILED or got no final reply; carries the reply."""

    def __init__(self, reply: Reply):
        super().__init__(f"{reply.status.value} {reply.reason.name}: {reply.message}")
        self.reply = reply


#: Checks a request before it is accepted; returns a failure Outcome to refuse it.
Validator = Callable[[Request], "Outcome | None"]
#: Executes an accepted request.
Executor = Callable[[Request], Outcome]


class CommandServer:
    """Serves one app's commands on a ROUTER socket."""

    def __init__(
        self,
        ctx: zmq.Context[Any],
        endpoint: str,
        src: str,
        clock: Clock,
        validate: Validator,
        execute: Executor,
        *,
        limits: DecodeLimits = DEFAULT_LIMITS,
        counters: BusCounters | None = None,
    ):
        self.src = src
        self._clock = clock
        self._validate = validate
        self._execute = execute
        self._limits = limits
        self._seq = itertools.count(1)
        self._cache: OrderedDict[tuple[str, str], bytes] = OrderedDict()
        self.counters = counters if counters is not None else BusCounters()
        self.executed = 0
        self.duplicates = 0
        self.socket = ctx.socket(zmq.ROUTER)
        self.socket.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self.socket.setsockopt(zmq.SNDHWM, DEFAULT_HWM)
        self.socket.setsockopt(zmq.RCVHWM, DEFAULT_HWM)
        self.socket.setsockopt(zmq.LINGER, DEFAULT_LINGER_MS)
        self.socket.bind(endpoint)

    def handle_ready(self, budget: int = 100) -> None:
        """Serve every request already queued, at most ``budget`` of them."""
        for _ in range(budget):
            try:
                frames = self.socket.recv_multipart(flags=zmq.NOBLOCK)
            except zmq.Again:
                return
            self._serve(frames)

    def _serve(self, frames: list[bytes]) -> None:
        if len(frames) != 2:
            self.counters.rx_malformed += 1
            return
        identity, raw = frames
        try:
            request = self._decode(raw)
        except DecodeError as exc:
            self.counters.count_rejection(exc.kind)
            return
        self.counters.rx += 1
        key = (request.src, request.cmd_id)
        cached = self._cache.get(key)
        if cached is not None:
            self.duplicates += 1
            self._send(identity, cached)
            return
        final = self._run(identity, request)
        try:
            body = self._reply_body(request.cmd_id, final)
        except Exception as exc:  # a handler's data msgpack cannot carry (a set, a huge int)
            body = self._reply_body(request.cmd_id, Outcome.failed(
                Reason.EXECUTION_ERROR, f"reply cannot be encoded: {type(exc).__name__}: {exc}"))
        self._cache[key] = body
        if len(self._cache) > REPLY_CACHE_SIZE:
            self._cache.popitem(last=False)
        self._send(identity, body)

    def _run(self, identity: bytes, request: Request) -> Outcome:
        if request.expires_at is not None and time.time() > request.expires_at:
            return Outcome.failed(Reason.EXPIRED, "command expired before it was accepted")
        try:
            refusal = self._validate(request)
        except Exception as exc:  # a validator bug must refuse the command, not end the app
            return Outcome.failed(Reason.EXECUTION_ERROR, f"{type(exc).__name__}: {exc}")
        if refusal is not None:
            return refusal
        self._send(identity, self._reply_body(request.cmd_id, Outcome(Status.ACCEPTED)))
        self.executed += 1
        try:
            return self._execute(request)
        except Exception as exc:  # a handler bug must fail the command, not the app
            return Outcome.failed(Reason.EXECUTION_ERROR, f"{type(exc).__name__}: {exc}")

    def _decode(self, raw: bytes) -> Request:
        obj = unpack_bounded(raw, self._limits)
        if not isinstance(obj, (list, tuple)) or len(obj) != 4 or not isinstance(obj[3], dict):
            raise DecodeError("malformed", "request is not [src, seq, t, {body}]")
        src, _seq, _t, body = obj
        cmd_id, name = body.get("id"), body.get("cmd")
        args, exp = body.get("args", {}), body.get("exp")
        if not (isinstance(src, str) and isinstance(cmd_id, str) and isinstance(name, str)):
            raise DecodeError("malformed", "request src, id and cmd must be strings")
        if not isinstance(args, dict) or not all(isinstance(k, str) for k in args):
            raise DecodeError("malformed", "request args must be a map with string keys")
        if exp is not None and (isinstance(exp, bool) or not isinstance(exp, (int, float))):
            raise DecodeError("malformed", "request exp must be a number or nil")
        return Request(src, cmd_id, name, args, None if exp is None else float(exp))

    def _reply_body(self, cmd_id: str, outcome: Outcome) -> bytes:
        body = {
            "id": cmd_id,
            "status": outcome.status.value,
            "reason": int(outcome.reason),
            "msg": outcome.message,
            "data": outcome.data,
        }
        return pack(self.src, next(self._seq), self._clock(), body)

    def _send(self, identity: bytes, body: bytes) -> None:
        try:
            self.socket.send_multipart((identity, body), flags=zmq.NOBLOCK)
            self.counters.tx += 1
        except (zmq.Again, zmq.ZMQError):
            # The sender went away (ROUTER_MANDATORY) or is not reading: it will retry.
            self.counters.tx_dropped += 1

    def close(self) -> None:
        self.socket.close()


@dataclass
class _Call:
    """One command in flight from a client."""

    cmd_id: str
    raw: bytes
    deadline: float
    retry_interval: float
    on_reply: Callable[[Reply], None]
    next_send: float = 0.0
    accepted: bool = False
    on_accepted: Callable[[Reply], None] | None = None


class CommandClient:
    """Sends commands to one app's ROUTER and follows each to its final reply.

    Two ways to use it: :meth:`call` blocks until the final reply (CLIs, tests, scripts);
    :meth:`submit` returns at once and calls back with the final reply, for a main loop that
    must keep heartbeating — it registers :attr:`socket` in its poller, calls
    :meth:`service` when the socket is readable or :meth:`next_deadline` has come.

    Until the app has ACCEPTED, the same request (same id) is re-sent every
    ``retry_interval`` seconds, so a restarting app or a lost message costs a retry, never a
    second execution (the app's reply cache answers a duplicate with the first answer).
    """

    def __init__(
        self,
        ctx: zmq.Context[Any],
        endpoint: str,
        src: str,
        clock: Clock,
        *,
        limits: DecodeLimits = DEFAULT_LIMITS,
        counters: BusCounters | None = None,
    ):
        self.src = src
        self._clock = clock
        self._limits = limits
        self._seq = itertools.count(1)
        self._prefix = f"{src}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._ids = itertools.count(1)
        self._calls: dict[str, _Call] = {}
        self.counters = counters if counters is not None else BusCounters()
        self.unconnected_sends = 0
        self.socket = ctx.socket(zmq.DEALER)
        self.socket.setsockopt(zmq.IMMEDIATE, 1)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.SNDHWM, DEFAULT_HWM)
        self.socket.connect(endpoint)

    def new_id(self) -> str:
        return f"{self._prefix}-{next(self._ids)}"

    @property
    def pending(self) -> int:
        """Commands sent and not yet finished."""
        return len(self._calls)

    def submit(
        self,
        name: str,
        args: dict[str, Any] | None = None,
        *,
        on_reply: Callable[[Reply], None],
        timeout: float = 5.0,
        retry_interval: float = 0.5,
        expires_in: float | None = None,
        cmd_id: str | None = None,
        on_accepted: Callable[[Reply], None] | None = None,
    ) -> str:
        """Send ``name(args)`` now; ``on_reply`` gets the final reply (or a TIMEOUT) later.

        ``on_accepted``, if given, is called once when the app has accepted the command
        (the "start of execution" a verification report tells the ground about).
        """
        cmd_id = cmd_id or self.new_id()
        exp = time.time() + (expires_in if expires_in is not None else timeout)
        body = {"id": cmd_id, "cmd": name, "args": args or {}, "exp": exp}
        raw = pack(self.src, next(self._seq), self._clock(), body)
        self._calls[cmd_id] = _Call(cmd_id, raw, time.monotonic() + timeout, retry_interval,
                                    on_reply, on_accepted=on_accepted)
        self.service()
        return cmd_id

    def service(self) -> None:
        """Read replies, re-send what is due, time out what is late; never blocks."""
        self._read_replies()
        now = time.monotonic()
        for call in list(self._calls.values()):
            if now >= call.deadline:
                del self._calls[call.cmd_id]
                call.on_reply(Reply(call.cmd_id, Status.FAILED, Reason.TIMEOUT,
                                    "no final reply before the deadline"))
            elif not call.accepted and now >= call.next_send:
                # Not connected yet (IMMEDIATE): try again soon; sent: give the app time.
                sent = self._try_send(call.raw)
                call.next_send = now + (call.retry_interval if sent else CONNECT_POLL_S)

    def next_deadline(self) -> float | None:
        """When :meth:`service` next has something to do without a reply arriving."""
        due = [min(c.deadline, c.deadline if c.accepted else c.next_send)
               for c in self._calls.values()]
        return min(due) if due else None

    def call(
        self,
        name: str,
        args: dict[str, Any] | None = None,
        *,
        timeout: float = 5.0,
        retry_interval: float = 0.5,
        expires_in: float | None = None,
        cmd_id: str | None = None,
        check: bool = False,
    ) -> Reply:
        """Send ``name(args)`` and wait for its final reply (COMPLETED, FAILED or TIMEOUT).

        With ``check`` a reply other than COMPLETED raises :class:`CommandError`.
        """
        replies: list[Reply] = []
        cmd_id = self.submit(name, args, on_reply=replies.append, timeout=timeout,
                             retry_interval=retry_interval, expires_in=expires_in,
                             cmd_id=cmd_id)
        while not replies:
            due = self.next_deadline()
            wait = 0.0 if due is None else due - time.monotonic()
            self.socket.poll(max(1, int(wait * 1000) + 1))
            self.service()
        if check and not replies[0].ok:
            raise CommandError(replies[0])
        return replies[0]

    def _try_send(self, raw: bytes) -> bool:
        try:
            self.socket.send(raw, flags=zmq.NOBLOCK)
        except zmq.Again:
            self.unconnected_sends += 1  # no connected server yet; retried shortly
            return False
        self.counters.tx += 1
        return True

    def _read_replies(self) -> None:
        while True:
            try:
                raw = self.socket.recv(flags=zmq.NOBLOCK)
            except zmq.Again:
                return
            reply = self._decode_reply(raw)
            call = self._calls.get(reply.cmd_id) if reply is not None else None
            if reply is None or call is None:
                continue  # malformed (counted), or a stale answer to an abandoned call
            if reply.status is Status.ACCEPTED:
                if not call.accepted and call.on_accepted is not None:
                    call.on_accepted(reply)
                call.accepted = True
                continue
            del self._calls[reply.cmd_id]
            call.on_reply(reply)

    def _decode_reply(self, raw: bytes) -> Reply | None:
        try:
            obj = unpack_bounded(raw, self._limits)
            src, _seq, t, body = obj
            reply = Reply(
                cmd_id=str(body["id"]),
                status=Status(body["status"]),
                reason=Reason(body["reason"]),
                message=str(body.get("msg", "")),
                data=body.get("data"),
                src=str(src),
                t=float(t),
            )
        except DecodeError as exc:
            self.counters.count_rejection(exc.kind)
            return None
        except (TypeError, ValueError, KeyError, AttributeError):
            self.counters.rx_malformed += 1
            return None
        self.counters.rx += 1
        return reply

    def close(self) -> None:
        self.socket.close()
