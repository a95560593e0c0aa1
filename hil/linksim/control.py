"""The control channel: JSON over UDP, one request datagram → one reply datagram.

A request is a JSON object with a ``cmd`` and, optionally, an ``id`` that the reply echoes (so a
client can match replies to requests and retry safely: every command is idempotent except
``reset_stats``). A reply is a JSON object with ``"ok": true`` and the command's result, or
``"ok": false`` and an ``error`` string. Commands:

``ping``
    → ``{"ok": true, "pong": true, "uptime_s": ...}``
``stats``
    → ``{"ok": true, "stats": {"uplink": {...}, "downlink": {...}}, "uptime_s": ...}``
``get``
    → ``{"ok": true, "impairments": {"uplink": {...}, "downlink": {...}},
    "outage": {"uplink": false, "downlink": false}, "seed": N, "addresses": {...}}``
``set``
    ``{"cmd": "set", "direction": "uplink"|"downlink"|"both", "replace": false, "loss": 0.1,
    "delay_ms": 50, ...}``: every other key is an impairment field. ``direction`` defaults to
    ``both``; ``replace: true`` resets the fields not given to their defaults. All-or-nothing: an
    invalid value changes nothing. → ``{"ok": true, "impairments": {...}}``
``outage``
    ``{"cmd": "outage", "on": true, "direction": "both"}`` → ``{"ok": true, "outage": {...}}``
``reset_stats``
    → ``{"ok": true}``

The port is unauthenticated: bind it to loopback (the default in the CLI examples) or a lab network.
"""

from __future__ import annotations

import json
import os
import socket
import time
from typing import TYPE_CHECKING, Any

from hil.linksim.impair import Impairments

if TYPE_CHECKING:
    from hil.linksim.proxy import Address, LinkSim

MAX_REQUEST = 8192
_RESERVED = ("id", "cmd", "direction", "replace", "on")


class ControlError(RuntimeError):
    """The proxy answered ``ok: false`` (``.reply`` has the whole reply), or never answered."""

    def __init__(self, message: str, reply: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.reply = reply


def _impairments_json(sim: LinkSim) -> dict[str, Any]:
    return {name: imp.as_dict() for name, imp in sim.impairments().items()}


def _execute(sim: LinkSim, req: dict[str, Any]) -> dict[str, Any]:
    cmd = req.get("cmd")
    if cmd == "ping":
        return {"pong": True, "uptime_s": round(sim.uptime_s, 3)}
    if cmd == "stats":
        return {"stats": sim.stats(), "uptime_s": round(sim.uptime_s, 3)}
    if cmd == "get":
        return {"impairments": _impairments_json(sim), "outage": sim.outages(),
                "seed": sim.seed, "addresses": sim.addresses()}
    if cmd == "set":
        fields = {k: v for k, v in req.items() if k not in _RESERVED}
        replace = req.get("replace", False)
        if not isinstance(replace, bool):
            raise ValueError("replace must be true or false")
        sim.set(str(req.get("direction", "both")), replace=replace, **fields)
        return {"impairments": _impairments_json(sim)}
    if cmd == "outage":
        on = req.get("on")
        if not isinstance(on, bool):
            raise ValueError('outage needs "on": true or false')
        sim.outage(on, str(req.get("direction", "both")))
        return {"outage": sim.outages()}
    if cmd == "reset_stats":
        sim.reset_stats()
        return {}
    raise ValueError(f"unknown cmd {cmd!r} (ping, stats, get, set, outage, reset_stats)")


def handle_request(sim: LinkSim, data: bytes) -> bytes:
    """One request datagram → its reply datagram. Never raises on bad input."""
    req_id: Any = None
    try:
        if len(data) > MAX_REQUEST:
            raise ValueError(f"request too long ({len(data)} bytes > {MAX_REQUEST})")
        req = json.loads(data.decode("utf-8"))
        if not isinstance(req, dict):
            raise ValueError("request must be a JSON object")
        req_id = req.get("id")
        reply = {"ok": True, **_execute(sim, req)}
    except (ValueError, TypeError, UnicodeDecodeError, RecursionError) as exc:
        reply = {"ok": False, "error": str(exc)[:500]}
    except Exception as exc:              # whatever a hostile datagram provokes, answer it
        reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:500]}
    if req_id is not None:
        reply["id"] = req_id
    try:
        return json.dumps(reply, separators=(",", ":")).encode()
    except (TypeError, ValueError):        # an id that does not serialise back
        return json.dumps({"ok": False, "error": "bad id"}).encode()


class ControlClient:
    """Talks to a proxy's control port from another thread or process.

    >>> ctl = ControlClient("127.0.0.1:52010")
    >>> ctl.set("uplink", loss=0.1, delay_ms=50)      # doctest: +SKIP
    >>> ctl.stats()["uplink"]["dropped_loss"]         # doctest: +SKIP
    """

    def __init__(self, address: Address, timeout: float = 1.0, retries: int = 2) -> None:
        from hil.linksim.proxy import resolve

        family, self.address = resolve(address)
        self.timeout = timeout
        self.retries = retries
        self._sock = socket.socket(family, socket.SOCK_DGRAM)

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, cmd: str, **fields: Any) -> dict[str, Any]:
        """Send one request, wait for its reply (retrying on timeout); ``ok: false`` → raise."""
        req_id = os.urandom(6).hex()
        payload = json.dumps({"cmd": cmd, "id": req_id, **fields}).encode()
        for _ in range(self.retries + 1):
            self._sock.sendto(payload, self.address)
            deadline = time.monotonic() + self.timeout
            while (left := deadline - time.monotonic()) > 0:
                self._sock.settimeout(left)
                try:
                    data, _ = self._sock.recvfrom(65535)
                except TimeoutError:
                    break
                try:
                    reply = json.loads(data)
                except ValueError:
                    continue
                if not isinstance(reply, dict) or reply.get("id") != req_id:
                    continue                      # a late reply to an earlier attempt
                if not reply.get("ok"):
                    raise ControlError(str(reply.get("error", "request failed")), reply)
                return reply
        raise ControlError(f"no reply from linksim control port {self.address} to {cmd!r}")

    def ping(self) -> dict[str, Any]:
        return self.request("ping")

    def stats(self) -> dict[str, dict[str, int]]:
        return self.request("stats")["stats"]

    def get(self) -> dict[str, Any]:
        return self.request("get")

    def set(self, direction: str = "both", *, replace: bool = False,
            **impairments: Any) -> dict[str, dict[str, Any]]:
        unknown = set(impairments) - set(Impairments.fields())
        if unknown:                                  # before they clash with reserved keys
            raise ValueError(f"unknown impairment(s) {', '.join(sorted(unknown))}")
        return self.request("set", direction=direction, replace=replace,
                            **impairments)["impairments"]

    def outage(self, on: bool, direction: str = "both") -> dict[str, bool]:
        return self.request("outage", on=bool(on), direction=direction)["outage"]

    def reset_stats(self) -> None:
        self.request("reset_stats")
