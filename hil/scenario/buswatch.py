"""The onboard bus as a scenario sees it: every event and telemetry message, stamped on arrival.

``via = "bus"`` awaits need this while the space link itself is being broken. A thread drains
its own subscriber the whole time, so each message gets the monotonic time it really arrived
at: "since the step began" means the same for the bus as for the ground station's histories,
and nothing queues up unread in the socket while a step is busy elsewhere.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flight.bus import Envelope
    from hil.stack import LocalStack

#: Messages kept (a few minutes of a flatsat's events and fast housekeeping).
HISTORY = 100_000


@dataclass(frozen=True, slots=True)
class Seen:
    """One message off the bus and when it arrived (monotonic seconds)."""

    t_mono: float
    envelope: Envelope


class BusWatch:
    """A background reader of ``evt.`` and ``tlm.`` with a history that awaits look into."""

    def __init__(self, stack: LocalStack) -> None:
        self._tap = stack.tap("evt.", "tlm.")
        self._cond = threading.Condition()
        self._log: deque[Seen] = deque(maxlen=HISTORY)
        self._total = 0
        self._latest: dict[str, Seen] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scenario-bus", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        subscriber = self._tap.subscriber
        while not self._stop.is_set():
            envelope = subscriber.recv(timeout_ms=100)
            if envelope is None:
                continue
            seen = Seen(time.monotonic(), envelope)
            with self._cond:
                self._log.append(seen)
                self._total += 1
                if envelope.topic.startswith("tlm."):
                    self._latest[envelope.topic] = seen
                self._cond.notify_all()

    def close(self) -> None:
        """Stop reading (before the stack closes the socket under the thread)."""
        self._stop.set()
        self._thread.join(timeout=5.0)
        with self._cond:
            self._cond.notify_all()

    def latest(self, app: str) -> Seen | None:
        """The newest housekeeping message of ``app``."""
        with self._cond:
            return self._latest.get(f"tlm.{app}")

    def history(self, topic: str, since: float) -> list[Seen]:
        """Messages on ``topic`` that arrived at or after ``since``, oldest first."""
        with self._cond:
            return [s for s in self._log if s.t_mono >= since and s.envelope.topic == topic]

    def wait(self, topic: str, match: Callable[[Seen], bool], since: float,
             deadline: float) -> Seen | None:
        """The first message on ``topic`` since ``since`` that ``match``es, or None at the
        deadline (monotonic seconds)."""
        with self._cond:
            pending = [s for s in self._log if s.t_mono >= since]
            seen_total = self._total
            while True:
                for item in pending:
                    if item.envelope.topic == topic and match(item):
                        return item
                left = deadline - time.monotonic()
                if left <= 0 or self._stop.is_set():
                    return None
                self._cond.wait(left)
                fresh = min(self._total - seen_total, len(self._log))
                size = len(self._log)
                pending = [self._log[i] for i in range(size - fresh, size)]
                seen_total = self._total
