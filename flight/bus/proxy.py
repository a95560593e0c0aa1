"""The XSUB/XPUB forwarder the executive hosts for the whole onboard bus.

It runs libzmq's C-level ``zmq_proxy_steerable`` in a thread of the executive, so forwarding
costs no Python time and keeps going while the executive's own loop is busy.
"""

from __future__ import annotations

import threading
from typing import Any

import zmq

from flight.bus.pubsub import DEFAULT_HWM


class BusProxy:
    """Binds the publish and subscribe endpoints and forwards between them until stopped."""

    def __init__(self, ctx: zmq.Context[Any], pub_endpoint: str, sub_endpoint: str, *,
                 hwm: int = DEFAULT_HWM):
        self._ctx = ctx
        self._control_endpoint = f"inproc://bus-proxy-control-{id(self)}"
        self._xsub = ctx.socket(zmq.XSUB)
        self._xpub = ctx.socket(zmq.XPUB)
        for sock in (self._xsub, self._xpub):
            sock.setsockopt(zmq.SNDHWM, hwm)
            sock.setsockopt(zmq.RCVHWM, hwm)
            sock.setsockopt(zmq.LINGER, 0)
        self._xsub.bind(pub_endpoint)
        self._xpub.bind(sub_endpoint)
        self._control = ctx.socket(zmq.PAIR)
        self._control.bind(self._control_endpoint)
        self._thread = threading.Thread(target=self._run, name="bus-proxy", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        control = self._ctx.socket(zmq.PAIR)
        control.connect(self._control_endpoint)
        try:
            zmq.proxy_steerable(self._xsub, self._xpub, None, control)
        except zmq.ContextTerminated:
            pass
        finally:
            control.close(linger=0)
            self._xsub.close()
            self._xpub.close()

    def stop(self, timeout: float = 2.0) -> None:
        """Tell the proxy to terminate and wait for its thread."""
        if self._thread.is_alive():
            self._control.send(b"TERMINATE")
            self._thread.join(timeout)
        self._control.close(linger=0)
