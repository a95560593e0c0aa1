"""The Clone pattern: a replica that sees updates lost, repeated and reordered still converges."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flight.bus import Envelope
from flight.bus.clone import STATE_TOPIC, SharedStateReplica, SharedStateServer


class RecordingPublisher:
    """Stands in for a Publisher: keeps what would have gone on the bus, as envelopes."""

    def __init__(self) -> None:
        self.sent: list[Envelope] = []
        self._seq = itertools.count(1)

    def publish(self, topic: str, data: Any) -> int:
        seq = next(self._seq)
        self.sent.append(Envelope(topic, "executive", seq, 0.0, data))
        return seq


def make_server() -> tuple[SharedStateServer, RecordingPublisher]:
    publisher = RecordingPublisher()
    return SharedStateServer(publisher), publisher  # type: ignore[arg-type]


class History:
    """A server that made ``changes``, with every intermediate state and snapshot kept."""

    def __init__(self, changes: list[tuple[str, Any]]):
        self.server, self.publisher = make_server()
        self.states: list[dict[str, Any]] = [{}]
        self.snapshots = [self.server.snapshot()]
        for key, value in changes:
            self.server.set(key, value)
            self.states.append(dict(self.server.values))
            self.snapshots.append(self.server.snapshot())

    @property
    def updates(self) -> list[Envelope]:
        return self.publisher.sent


keys = st.sampled_from(["mode", "fdir", "procs"])
state_values = st.one_of(st.none(), st.integers(0, 3), st.sampled_from(["SAFE", "NOMINAL"]))
changes_strategy = st.lists(st.tuples(keys, state_values), max_size=25)


def test_server_publishes_each_change_in_sequence() -> None:
    server, publisher = make_server()
    server.set("mode", "BOOT")
    server.set("mode", "NOMINAL")
    server.set("mode", "NOMINAL")  # unchanged values are published too
    assert [(e.topic, e.data) for e in publisher.sent] == [
        ("state.mode", {"seq": 1, "key": "mode", "value": "BOOT"}),
        ("state.mode", {"seq": 2, "key": "mode", "value": "NOMINAL"}),
        ("state.mode", {"seq": 3, "key": "mode", "value": "NOMINAL"}),
    ]
    assert server.snapshot() == {"seq": 3, "values": {"mode": "NOMINAL"}}
    snap = server.snapshot()
    snap["values"]["mode"] = "changed"
    assert server.values["mode"] == "NOMINAL"  # a snapshot is a copy
    assert STATE_TOPIC == "state."


@settings(deadline=None, max_examples=300)
@given(data=st.data(), changes=changes_strategy)
def test_replica_converges_whatever_the_network_does(data: st.DataObject,
                                                     changes: list[tuple[str, Any]]) -> None:
    """Lost, repeated and reordered updates and stale snapshots, then one fresh snapshot."""
    history = History(changes)
    n = len(history.updates)
    deliveries = data.draw(st.lists(
        st.one_of(st.tuples(st.just("update"), st.integers(0, max(0, n - 1))),
                  st.tuples(st.just("snapshot"), st.integers(0, n))),
        max_size=40).filter(lambda d: n > 0 or all(kind == "snapshot" for kind, _ in d)))
    replica = SharedStateReplica()
    for kind, index in deliveries:
        if kind == "update":
            ok = replica.on_update(history.updates[index])
            assert ok or not replica.synced  # False means "resync", and it is unsynced now
        else:
            replica.apply_snapshot(history.snapshots[index])
        # Whenever the replica claims to be synced, it holds exactly the server's state then.
        if replica.synced:
            assert replica.seq is not None
            assert replica.values == history.states[replica.seq]
    assert replica.apply_snapshot(history.server.snapshot())
    assert replica.synced and replica.seq == history.server.seq
    assert replica.values == history.server.values


@settings(deadline=None, max_examples=200)
@given(changes=changes_strategy, data=st.data())
def test_in_order_delivery_after_a_snapshot_tracks_the_server(
        changes: list[tuple[str, Any]], data: st.DataObject) -> None:
    history = History(changes)
    start = data.draw(st.integers(0, len(history.updates)))
    notified: list[tuple[str, Any, Any]] = []
    replica = SharedStateReplica(lambda k, old, new: notified.append((k, old, new)))
    assert replica.apply_snapshot(history.snapshots[start])
    for envelope in history.updates[start:]:
        assert replica.on_update(envelope)
        assert replica.values == history.states[replica.seq or 0]
    assert replica.values == history.server.values and replica.gaps == 0
    # The notifications replay into the same values, and each one is a real change.
    replayed: dict[str, Any] = {}
    for key, old, new in notified:
        assert replayed.get(key) == old and old != new
        replayed[key] = new
    assert {k: v for k, v in replayed.items() if v is not None} == {
        k: v for k, v in history.server.values.items() if v is not None}


def test_buffered_updates_are_applied_only_if_newer_than_the_snapshot() -> None:
    history = History([("a", 1), ("a", 2), ("b", 1), ("a", 3)])
    notified: list[tuple[str, Any, Any]] = []
    replica = SharedStateReplica(lambda k, old, new: notified.append((k, old, new)))
    for envelope in history.updates:  # all four arrive before the snapshot: buffered
        assert replica.on_update(envelope)
    assert not replica.synced and replica.values == {}
    assert replica.apply_snapshot(history.snapshots[2])  # {"a": 2} at seq 2
    assert replica.seq == 4 and replica.values == {"a": 3, "b": 1}
    # Updates 1 and 2 were not replayed on top of the snapshot (a never went back to 1).
    assert notified == [("a", None, 2), ("b", None, 1), ("a", 2, 3)]


def test_buffered_updates_older_than_the_snapshot_are_dropped() -> None:
    history = History([("a", 1), ("a", 2), ("a", 3)])
    replica = SharedStateReplica()
    replica.on_update(history.updates[0])  # a=1, stale by the time the snapshot arrives
    assert replica.apply_snapshot(history.snapshots[3])
    assert replica.values == {"a": 3} and replica.seq == 3


def test_gap_returns_false_and_needs_a_snapshot() -> None:
    history = History([("a", 1), ("a", 2), ("a", 3), ("a", 4)])
    replica = SharedStateReplica()
    replica.apply_snapshot(history.snapshots[1])
    assert replica.on_update(history.updates[1])  # seq 2: fine
    assert not replica.on_update(history.updates[3])  # seq 4: 3 was lost
    assert replica.gaps == 1 and not replica.synced
    # The update that revealed the gap is kept and replayed after the next snapshot.
    assert replica.apply_snapshot(history.snapshots[3])
    assert replica.seq == 4 and replica.values == {"a": 4}


def test_gap_among_buffered_updates_asks_for_another_snapshot() -> None:
    """Regression: replaying a buffer with a gap in it used to crash (assert on seq None)."""
    history = History([("a", i) for i in range(1, 9)])
    replica = SharedStateReplica()
    for i in (4, 6, 7):  # updates 5, 7, 8 (index = seq - 1); 6 is lost
        replica.on_update(history.updates[i])
    assert not replica.apply_snapshot(history.snapshots[4])  # replays 5, then sees the gap
    assert not replica.synced and replica.gaps == 1
    assert replica.apply_snapshot(history.snapshots[6])  # 7 and 8 were kept buffered
    assert replica.seq == 8 and replica.values == {"a": 8}


def test_duplicates_and_old_updates_are_ignored_when_synced() -> None:
    history = History([("a", 1), ("a", 2)])
    replica = SharedStateReplica()
    replica.apply_snapshot(history.snapshots[2])
    for envelope in history.updates + history.updates:
        assert replica.on_update(envelope)
    assert replica.seq == 2 and replica.values == {"a": 2} and replica.gaps == 0


@pytest.mark.parametrize("data", [None, "x", 3, [], {}, {"seq": 1}, {"seq": "1", "key": "a"},
                                  {"seq": True, "key": "a"}, {"seq": 1, "key": 5}])
def test_malformed_updates_are_ignored(data: Any) -> None:
    replica = SharedStateReplica()
    replica.apply_snapshot({"seq": 0, "values": {}})
    assert replica.on_update(Envelope("state.a", "executive", 1, 0.0, data))
    assert replica.seq == 0 and replica.values == {}


@pytest.mark.parametrize("snapshot", [None, [], {"seq": 1}, {"values": {}},
                                      {"seq": "1", "values": {}}, {"seq": 1.0, "values": {}},
                                      {"seq": True, "values": {}}, {"seq": 1, "values": []}])
def test_malformed_snapshots_are_refused(snapshot: Any) -> None:
    replica = SharedStateReplica()
    assert not replica.apply_snapshot(snapshot)
    assert not replica.synced and replica.values == {}


def test_update_without_a_value_sets_none() -> None:
    replica = SharedStateReplica()
    replica.apply_snapshot({"seq": 0, "values": {"a": 1}})
    assert replica.on_update(Envelope("state.a", "x", 1, 0.0, {"seq": 1, "key": "a"}))
    assert replica.values == {"a": None}
