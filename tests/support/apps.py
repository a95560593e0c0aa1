"""Apps that exist only to be misbehaved with in tests."""

from __future__ import annotations

from flight.app import App


class CrashAtStart(App):
    """Raises during start-up, every time: drives the backoff and flapping logic."""

    app_id = 90

    def on_start(self) -> None:
        raise RuntimeError("this app always crashes at start")
