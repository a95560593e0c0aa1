"""Fixtures for the link-proxy tests (helpers live in ``linksim_helpers``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.linksim.linksim_helpers import Rig


@pytest.fixture
def make_rig() -> Iterator[Callable[..., Rig]]:
    rigs: list[Rig] = []

    def make(**kwargs: Any) -> Rig:
        rig = Rig(**kwargs)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        rig.close()
    assert [rig.sim.internal_errors for rig in rigs] == [0] * len(rigs)
