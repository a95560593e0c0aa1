"""A testbed per test module: starting one costs seconds, and most faults leave it usable.

A module that needs other settings overrides ``testbed_overrides``. Tests that leave a lasting
fault behind clear it themselves (in ``finally``), so the next test starts from a sound testbed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from hil.testbed import FLATSAT_OVERRIDES, Testbed, start_testbed


@pytest.fixture(scope="module")
def testbed_overrides() -> tuple[str, ...]:
    return FLATSAT_OVERRIDES


@pytest.fixture(scope="module")
def bed(testbed_overrides: tuple[str, ...]) -> Iterator[Testbed]:
    with start_testbed(testbed_overrides, timeout=60.0) as testbed:
        yield testbed


@pytest.fixture
def rng() -> random.Random:
    return random.Random(20240607)
