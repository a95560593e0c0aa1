"""Apps that exist only to be misbehaved with in tests."""

from __future__ import annotations

import time

from flight.app import App, AppModel, Arg, Command, Event, Severity, ValueType


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
