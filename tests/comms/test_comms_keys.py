"""How comms comes by its link key: generated on first start (and said where), refused when
others may read it, or authentication switched off for a lab bench, loudly."""

from __future__ import annotations

import os
from pathlib import Path

from flight.link import load_key
from hil.stack import LocalStack, wait_until
from tests.conftest import FAST


def _log(run_dir: Path) -> str:
    """What comms has printed (the executive gives each app its own stderr file)."""
    path = run_dir / "logs" / "comms.stderr"
    return path.read_text(errors="replace") if path.exists() else ""


def test_a_key_is_generated_on_first_start_and_its_path_printed(run_dir: Path) -> None:
    with LocalStack(run_dir, overrides=FAST, log_to=run_dir / "stack.out") as stack:
        key = run_dir / "keys" / "link.key"
        wait_until(lambda: f"generated the link key {key}" in _log(run_dir), 10,
                   "comms to say where its key is")
        assert len(load_key(key)) == 32 and key.stat().st_mode & 0o077 == 0
        assert stack.command("comms", "status").data["auth"] == "hmac-sha256"


def test_a_key_file_others_may_read_is_refused(run_dir: Path, tmp_path: Path) -> None:
    key = tmp_path / "shared.key"
    key.write_text(os.urandom(32).hex() + "\n")
    key.chmod(0o644)
    stack = LocalStack(run_dir, overrides=(*FAST, f"apps.comms.key_file={key}"),
                       log_to=run_dir / "stack.out")
    with stack.start(wait_mode=False):
        wait_until(lambda: f"key file {key} has mode 0644: group or others may access it"
                   in _log(run_dir), 15, "comms to refuse the key file")
        assert stack.process_row("comms")["state"] != "RUNNING"  # it never serves with it


def test_no_authentication_is_announced_loudly(run_dir: Path) -> None:
    with LocalStack(run_dir, overrides=(*FAST, "apps.comms.auth=none"),
                    log_to=run_dir / "stack.out") as stack:
        wait_until(lambda: "TELECOMMAND AUTHENTICATION IS OFF" in _log(run_dir), 10,
                   "the warning")
        assert stack.command("comms", "status").data["auth"] == "none"
