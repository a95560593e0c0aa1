"""Sequence counts and message type counters: wrap points, independence, saved state."""

from __future__ import annotations

import json

import pytest

from flight.link import MessageCounters, SequenceCounters


def test_sequence_counts_are_per_apid_and_wrap_at_14_bits() -> None:
    counters = SequenceCounters()
    assert [counters.next(0x10) for _ in range(3)] == [0, 1, 2]
    assert counters.next(0x11) == 0
    restored = SequenceCounters.from_dict({"16": 0x3FFE})
    assert [restored.next(0x10) for _ in range(3)] == [0x3FFE, 0x3FFF, 0]


def test_sequence_state_round_trips_through_json() -> None:
    counters = SequenceCounters()
    for apid in (0x10, 0x10, 0x13):
        counters.next(apid)
    state = json.loads(json.dumps(counters.to_dict()))
    again = SequenceCounters.from_dict(state)
    assert again.to_dict() == counters.to_dict() == {"16": 2, "19": 1}
    assert again.peek(0x10) == 2 and again.peek(0x7FE) == 0


@pytest.mark.parametrize("state", [
    {"16": 0x4000}, {"2048": 0}, {"-1": 0}, {"0x10": 1}, {"16": "1"}, {"16": True},
])
def test_sequence_state_rejects_malformed(state: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        SequenceCounters.from_dict(state)


def test_message_counters_are_per_destination_and_type_and_wrap_at_16_bits() -> None:
    counters = MessageCounters()
    assert [counters.next(1, 3, 25) for _ in range(2)] == [0, 1]
    assert counters.next(1, 5, 1) == 0  # another type to the same destination
    assert counters.next(2, 3, 25) == 0  # the same type to another destination
    restored = MessageCounters.from_dict({"1/3/25": 0xFFFF})
    assert [restored.next(1, 3, 25), restored.next(1, 3, 25)] == [0xFFFF, 0]


def test_message_state_round_trips() -> None:
    counters = MessageCounters()
    counters.next(1, 17, 2)
    counters.next(1, 1, 7)
    counters.next(1, 1, 7)
    state = counters.to_dict()
    assert state == {"1/1/7": 2, "1/17/2": 1}
    assert MessageCounters.from_dict(state).to_dict() == state
    assert MessageCounters.from_dict(state).peek(1, 1, 7) == 2


@pytest.mark.parametrize("state", [{"1/3": 0}, {"1/3/256": 0}, {"1/3/x": 0}, {"1/3/25": -1}])
def test_message_state_rejects_malformed(state: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        MessageCounters.from_dict(state)


def test_out_of_range_keys_are_refused() -> None:
    with pytest.raises(ValueError):
        SequenceCounters().next(0x800)
    with pytest.raises(ValueError):
        MessageCounters().next(0x10000, 1, 1)
