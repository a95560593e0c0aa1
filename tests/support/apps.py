"""Apps that exist only to be misbehaved with in tests."""

from __future__ import annotations

import time

from flight.app import App, AppModel, Arg, Command, Event, Severity, ValueType
from flight.bus import Reply


class CrashAtStart(App):
    """Raises during start-up, every time: drives the backoff and flapping logic."""

    app_id = 90

    def on_start(self) -> None:
        raise RuntimeError("this app always crashes at start")


class Worker(App):
    """Does slow work, either offloaded (as apps should) or on the main loop (as they must not)."""

    app_id = 91
    work_timeout_s = 3.0
    model = AppModel(
        commands=(
            Command("work", "Sleep on the worker thread.",
                    args=(Arg("seconds", ValueType.FLOAT, "How long.", min=0, max=60),)),
            Command("block", "Sleep on the main loop.",
                    args=(Arg("seconds", ValueType.FLOAT, "How long.", min=0, max=60),)),
        ),
        events=(Event("WORK_DONE", Severity.INFO, "work of {seconds} s done"),),
    )

    def do_work(self, seconds: float) -> None:
        def finished(_future: object) -> None:
            self.emit("WORK_DONE", seconds=seconds)

        self.offload(time.sleep, seconds, on_done=finished)

    def do_block(self, seconds: float) -> None:
        time.sleep(seconds)


class Asker(App):
    """Commands another app from its handler, as apps do; the answer comes back later."""

    app_id = 92
    model = AppModel(
        commands=(
            Command("ask", "Send noop to another app and report the outcome as an event.",
                    args=(Arg("app", ValueType.STR, "Target app."),
                          Arg("timeout", ValueType.FLOAT, "Deadline.", min=0.1, max=60))),
        ),
        events=(Event("ANSWER", Severity.INFO, "{app} answered {status} {reason}"),),
    )

    def do_ask(self, app: str, timeout: float) -> None:
        def answered(reply: Reply) -> None:
            self.emit("ANSWER", app=app, status=reply.status.value, reason=reply.reason.name)

        self.send(app, "noop", on_reply=answered, timeout=timeout)
