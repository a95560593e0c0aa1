"""sunlit-ground against a real onboard stack (``hil.pytest_plugin``'s flatsat).

The CLI finds the key and the dictionary through ``--run-dir``, and shares the ARSN state
directory with the ``ground`` fixture's station: two grounds drawing ARSNs from separate
counters would replay each other's numbers, and comms would silently drop the later frames.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from ground.cli import main

if TYPE_CHECKING:  # importing it would defeat the plugin's assertion rewriting
    from hil.pytest_plugin import Flatsat



def cli(flatsat: Flatsat, *argv: str) -> list[str]:
    host, port = flatsat.address
    return [*argv, "--address", f"{host}:{port}", "--run-dir", str(flatsat.run_dir),
            "--state-dir", str(flatsat.run_dir / "ground")]


def run_while(argv: list[str], feed: Callable[[], None], timeout: float = 15.0) -> int:
    """Run the CLI in a thread, calling ``feed`` until it returns."""
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(main(argv)))
    thread.start()
    deadline = time.monotonic() + timeout
    while thread.is_alive() and time.monotonic() < deadline:
        feed()
        thread.join(0.1)
    thread.join(1.0)
    assert result, "the CLI did not finish"
    return result[0]


def test_send_exit_codes(flatsat: Flatsat, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(cli(flatsat, "send", "health.noop", "--wait", "--json")) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["status"] == "completed"
    assert [s["stage"] for s in doc["stages"]] == ["accepted", "started", "completed"]

    failing = cli(flatsat, "send", "executive.fdir_enable", "rule=nosuch", "enabled=true",
                  "--wait")
    assert main(failing) == 1
    assert "BAD_ARGUMENTS" in capsys.readouterr().out

    assert main(cli(flatsat, "send", "executive.exit_safe", "mode=NOMINAL", "--wait")) == 2
    assert "hazardous" in capsys.readouterr().err


def test_ping_and_tlm(flatsat: Flatsat, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(cli(flatsat, "ping", "--count", "3", "--json")) == 0
    assert len(json.loads(capsys.readouterr().out)["rtt_s"]) == 3
    assert main(cli(flatsat, "tlm", "power.soc", "--count", "2", "--json")) == 0
    values = [json.loads(line)["value"] for line in capsys.readouterr().out.splitlines()]
    assert len(values) == 2 and all(0.0 <= v <= 1.0 for v in values)


def test_events_and_watch(flatsat: Flatsat, capsys: pytest.CaptureFixture[str]) -> None:
    def noop() -> None:  # over the bus: the CLI must see the event come down the link
        flatsat.command("health", "noop")

    argv = cli(flatsat, "events", "--app", "health", "--name", "NOOP", "--json")
    assert run_while(argv, noop) == 0
    event = json.loads(capsys.readouterr().out)
    assert (event["app"], event["name"]) == ("health", "NOOP")
    assert run_while(cli(flatsat, "watch", "--duration", "0.6", "--json"), noop) == 0
    kinds = {json.loads(line)["kind"] for line in capsys.readouterr().out.splitlines()}
    assert kinds == {"tlm", "event"}
