"""The authentication envelope: check order, the replay window, and ARSNs across restarts."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flight.link import (
    ArsnCounter,
    ArsnExhaustedError,
    ArsnStoreError,
    Authenticator,
    AuthError,
    FileArsnStore,
    LinkError,
    MemoryArsnStore,
    PlainLink,
    RejectReason,
    ReplayWindow,
    Telecommand,
)
from flight.link.replay import MAX_ARSN

KEY = bytes([0x01]) * 32
OTHER_KEY = bytes([0x02]) * 32
PACKET = Telecommand(apid=0x10, service=17, subtype=1, seq_count=1, source_id=1).encode()


def refusal(auth: Authenticator, frame: bytes) -> RejectReason:
    with pytest.raises(LinkError) as info:
        auth.open(frame)
    return info.value.reason


# ---------------------------------------------------------------------- the envelope


def test_seal_then_open() -> None:
    auth = Authenticator({1: KEY})
    frame = auth.seal(1, 7, PACKET)
    assert len(frame) == 6 + len(PACKET) + 16
    opened = auth.open(frame)
    assert (opened.spi, opened.arsn, opened.packet) == (1, 7, PACKET)
    assert auth.highest(1) == 7


def test_bad_mac_is_rejected_before_any_window_state_changes() -> None:
    store = MemoryArsnStore()
    auth = Authenticator({1: KEY}, store=store)
    forged = Authenticator({1: OTHER_KEY}).seal(1, 1000, PACKET)
    assert refusal(auth, forged) is RejectReason.BAD_MAC
    assert auth.highest(1) == 0 and store.saves == 0
    # Nothing moved: the genuine ARSN 1 is still fresh and 1000 was not burnt.
    assert auth.open(auth.seal(1, 1, PACKET)).arsn == 1
    assert auth.open(auth.seal(1, 1000, PACKET)).arsn == 1000


@pytest.mark.parametrize("where", [2, 5, 6, 12, -16, -1])
def test_any_flipped_bit_in_arsn_packet_or_mac_is_a_bad_mac(where: int) -> None:
    auth = Authenticator({1: KEY})
    frame = bytearray(auth.seal(1, 5, PACKET))
    frame[where] ^= 0x01
    assert refusal(auth, bytes(frame)) is RejectReason.BAD_MAC


def test_a_frame_under_another_spi_is_a_bad_mac() -> None:
    auth = Authenticator({1: KEY, 2: OTHER_KEY})
    frame = bytearray(auth.seal(1, 5, PACKET))
    frame[1] = 2
    assert refusal(auth, bytes(frame)) is RejectReason.BAD_MAC


def test_replay_rejected() -> None:
    auth = Authenticator({1: KEY})
    frame = auth.seal(1, 1, PACKET)
    auth.open(frame)
    assert refusal(auth, frame) is RejectReason.REPLAY


def test_far_below_the_window_rejected() -> None:
    auth = Authenticator({1: KEY}, window=64)
    auth.open(auth.seal(1, 100, PACKET))
    assert refusal(auth, auth.seal(1, 36, PACKET)) is RejectReason.ARSN_OUTSIDE_WINDOW
    assert auth.open(auth.seal(1, 37, PACKET)).arsn == 37  # 100 - 64 < 37: inside


def test_out_of_order_within_the_window_accepted_once() -> None:
    auth = Authenticator({1: KEY})
    for arsn in (10, 8, 9, 12, 11):
        assert auth.open(auth.seal(1, arsn, PACKET)).arsn == arsn
    for arsn in (8, 9, 10, 11, 12):
        assert refusal(auth, auth.seal(1, arsn, PACKET)) is RejectReason.REPLAY
    assert auth.highest(1) == 12


def test_arsn_zero_is_never_accepted() -> None:
    auth = Authenticator({1: KEY})
    assert refusal(auth, auth.seal(1, 0, PACKET)) is RejectReason.REPLAY


def test_unknown_spi() -> None:
    auth = Authenticator({1: KEY})
    frame = Authenticator({9: KEY}).seal(9, 1, PACKET)
    assert refusal(auth, frame) is RejectReason.UNKNOWN_SPI
    with pytest.raises(KeyError):
        auth.seal(9, 1, PACKET)


@pytest.mark.parametrize("size", [0, 5, 6 + 16, 6 + 16 + 6])
def test_truncated_frames(size: int) -> None:
    auth = Authenticator({1: KEY})
    assert refusal(auth, auth.seal(1, 1, PACKET)[:size]) is RejectReason.TRUNCATED


def test_oversized_frames() -> None:
    auth = Authenticator({1: KEY}, max_packet=100)
    assert auth.open(auth.seal(1, 1, bytes(100))).packet == bytes(100)
    assert refusal(auth, auth.seal(1, 2, bytes(101))) is RejectReason.OVERSIZED


def test_check_order_length_spi_mac_window() -> None:
    """Each check wins over every later one."""
    auth = Authenticator({1: KEY})
    auth.open(auth.seal(1, 5, PACKET))
    replayed_unknown_spi = Authenticator({3: KEY}).seal(3, 5, PACKET)
    assert refusal(auth, replayed_unknown_spi) is RejectReason.UNKNOWN_SPI
    replayed_forged = Authenticator({1: OTHER_KEY}).seal(1, 5, PACKET)
    assert refusal(auth, replayed_forged) is RejectReason.BAD_MAC
    assert refusal(auth, replayed_unknown_spi[:20]) is RejectReason.TRUNCATED


@given(st.binary(max_size=200))
def test_open_raises_only_link_errors(frame: bytes) -> None:
    auth = Authenticator({1: KEY, 0xFFFF: OTHER_KEY})
    with pytest.raises(AuthError if len(frame) >= 29 else LinkError):
        auth.open(frame)


def test_keys_are_checked() -> None:
    with pytest.raises(ValueError, match="reserved"):
        Authenticator({0: KEY})
    with pytest.raises(ValueError, match="32 bytes"):
        Authenticator({1: KEY[:16]})
    with pytest.raises(ValueError, match="PlainLink"):
        Authenticator({})
    with pytest.raises(ValueError):
        Authenticator({1: KEY}).seal(1, MAX_ARSN + 1, PACKET)


def test_plain_link_is_explicit_and_loud(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="sunlit.link"):
        plain = PlainLink(max_packet=64)
    assert "AUTHENTICATION IS OFF" in caplog.text
    assert tuple(plain.open(PACKET)) == (0, 0, PACKET)
    assert plain.seal(PACKET) == PACKET
    with pytest.raises(LinkError):
        plain.open(bytes(65))


# ---------------------------------------------------------------------- the window alone


@given(st.lists(st.integers(0, 300), max_size=200), st.integers(1, 80))
def test_window_matches_a_simple_model(arsns: list[int], size: int) -> None:
    """Against the definition: accept iff above highest - size and never accepted before."""
    window = ReplayWindow(size)
    accepted: set[int] = {0}
    highest = 0
    for arsn in arsns:
        expect_ok = arsn > highest - size and arsn not in accepted
        got = window.check(arsn)
        assert (got is None) == expect_ok, (arsn, highest)
        if got is None:
            window.record(arsn)
            accepted.add(arsn)
            highest = max(highest, arsn)
        elif arsn <= highest - size:
            assert got is RejectReason.ARSN_OUTSIDE_WINDOW
        else:
            assert got is RejectReason.REPLAY


def test_window_jump_larger_than_window() -> None:
    window = ReplayWindow(4)
    window.record(1)
    window.record(1000)
    assert window.check(999) is None and window.check(996) is RejectReason.ARSN_OUTSIDE_WINDOW


def test_window_size_checked() -> None:
    with pytest.raises(ValueError):
        ReplayWindow(0)


# ---------------------------------------------------------------------- persistence


def test_arsn_persisted_and_reloaded_no_reaccept_after_restart(tmp_path: Path) -> None:
    auth = Authenticator({1: KEY}, store=FileArsnStore(tmp_path, "arsn-rx"))
    old = [auth.seal(1, arsn, PACKET) for arsn in (1, 2, 3, 5)]
    for frame in old[:3]:
        auth.open(frame)
    del auth
    restarted = Authenticator({1: KEY}, store=FileArsnStore(tmp_path, "arsn-rx"))
    assert restarted.highest(1) == 3
    for frame in old[:3]:
        assert refusal(restarted, frame) is RejectReason.REPLAY
    assert restarted.open(old[3]).arsn == 5


def test_after_restart_everything_below_the_persisted_highest_counts_as_seen() -> None:
    """The bitmap is not persisted, so gaps below the highest are closed: safe, not lossy."""
    store = MemoryArsnStore()
    auth = Authenticator({1: KEY}, store=store)
    auth.open(auth.seal(1, 10, PACKET))  # 9 never arrived
    restarted = Authenticator({1: KEY}, store=store)
    assert refusal(restarted, restarted.seal(1, 9, PACKET)) is RejectReason.REPLAY


def test_every_accept_is_persisted_before_open_returns() -> None:
    store = MemoryArsnStore()
    auth = Authenticator({1: KEY, 2: OTHER_KEY}, store=store)
    auth.open(auth.seal(2, 4, PACKET))
    assert store.load() == {1: 0, 2: 4} and store.saves == 1
    refusal(auth, auth.seal(2, 4, PACKET))
    assert store.saves == 1  # a refused frame writes nothing


def test_state_of_an_spi_whose_key_is_not_loaded_survives() -> None:
    store = MemoryArsnStore({7: 500})
    auth = Authenticator({1: KEY}, store=store)
    auth.open(auth.seal(1, 1, PACKET))
    assert store.load() == {1: 1, 7: 500}
    again = Authenticator({1: KEY, 7: OTHER_KEY}, store=store)
    assert refusal(again, again.seal(7, 500, PACKET)) is RejectReason.REPLAY


class BrokenStore(MemoryArsnStore):
    def save(self, values: object) -> None:
        raise OSError(28, "No space left on device")


def test_a_failing_store_does_not_cut_the_command_link(caplog: pytest.LogCaptureFixture) -> None:
    auth = Authenticator({1: KEY}, store=BrokenStore())
    with caplog.at_level(logging.ERROR, logger="sunlit.link"):
        frame = auth.seal(1, 1, PACKET)
        assert auth.open(frame).packet == PACKET
    assert auth.persist_failures == 1 and isinstance(auth.last_persist_error, OSError)
    assert "not persisted" in caplog.text
    assert refusal(auth, frame) is RejectReason.REPLAY  # still recorded in memory


def test_damaged_state_fails_closed(tmp_path: Path) -> None:
    store = FileArsnStore(tmp_path, "arsn-rx")
    store.save({1: 5})
    for path in tmp_path.glob("arsn-rx.*.ckpt"):
        path.write_bytes(b"garbage")
    with pytest.raises(ArsnStoreError, match="no intact ARSN state"):
        Authenticator({1: KEY}, store=FileArsnStore(tmp_path, "arsn-rx"))


def test_damaged_newest_generation_falls_back(tmp_path: Path) -> None:
    store = FileArsnStore(tmp_path, "arsn-rx")
    store.save({1: 5})
    store.save({1: 6})
    newest = sorted(tmp_path.glob("arsn-rx.*.ckpt"))[-1]
    newest.write_bytes(newest.read_bytes()[:-1])
    assert FileArsnStore(tmp_path, "arsn-rx").load() == {1: 5}


def test_unknown_layout_is_refused(tmp_path: Path) -> None:
    from flight.checkpoint import CheckpointStore

    CheckpointStore(tmp_path, "arsn-rx").save_object({"format": 99})
    with pytest.raises(ArsnStoreError):
        FileArsnStore(tmp_path, "arsn-rx").load()
    CheckpointStore(tmp_path, "arsn-rx").save_object({"format": 1, "arsn": {"1": -4}})
    with pytest.raises(ArsnStoreError):
        FileArsnStore(tmp_path, "arsn-rx").load()


def test_empty_directory_is_a_first_boot(tmp_path: Path) -> None:
    assert FileArsnStore(tmp_path / "new", "arsn-rx").load() == {}


# ---------------------------------------------------------------------- the sender


def test_counter_starts_at_one_and_reserves_ahead() -> None:
    store = MemoryArsnStore()
    counter = ArsnCounter(store, reserve=4)
    assert [counter.next(1) for _ in range(5)] == [1, 2, 3, 4, 5]
    assert store.saves == 2 and store.load() == {1: 8}
    assert ArsnCounter(store).next(1) == 9  # a restart skips the unused block, never reuses


def test_counter_never_reuses_across_restarts_on_disk(tmp_path: Path) -> None:
    seen: list[int] = []
    for _ in range(3):
        counter = ArsnCounter(FileArsnStore(tmp_path, "arsn-tx"), reserve=3)
        seen += [counter.next(1), counter.next(1)]
    assert seen == sorted(set(seen))


def test_sender_and_receiver_agree_across_restarts(tmp_path: Path) -> None:
    rx = Authenticator({1: KEY}, store=FileArsnStore(tmp_path / "rx", "arsn-rx"))
    for _ in range(3):
        counter = ArsnCounter(FileArsnStore(tmp_path / "tx", "arsn-tx"))
        tx = Authenticator({1: KEY})
        assert rx.open(tx.seal(1, counter.next(1), PACKET)).packet == PACKET


def test_counter_refuses_to_issue_when_it_cannot_persist() -> None:
    with pytest.raises(OSError):
        ArsnCounter(BrokenStore()).next(1)


def test_counter_exhaustion_and_skip() -> None:
    store = MemoryArsnStore({1: MAX_ARSN - 1})
    counter = ArsnCounter(store)
    assert counter.next(1) == MAX_ARSN
    with pytest.raises(ArsnExhaustedError):
        counter.next(1)
    other = ArsnCounter(MemoryArsnStore())
    other.skip_to(2, 1000)
    assert other.next(2) == 1001
    other.skip_to(2, 10)  # never backwards
    assert other.next(2) == 1002
