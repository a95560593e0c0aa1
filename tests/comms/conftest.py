"""A running stack and a bare link client to its comms app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hil.stack import LocalStack
from tests.comms.client import LinkClient
from tests.conftest import FAST


@pytest.fixture
def linked(run_dir: Path) -> Iterator[tuple[LocalStack, LinkClient]]:
    with LocalStack(run_dir, overrides=FAST, log_to=run_dir / "stack.out") as stack:
        client = LinkClient(stack)
        yield stack, client
        client.close()
