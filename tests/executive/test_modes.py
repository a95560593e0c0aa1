"""The mode machine as a state machine under random requests: SAFE is sticky, BOOT is once."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from flight.executive.modes import Mode, ModeMachine, ModeRefused, Transition

#: Written out independently of the implementation's table.
REQUESTABLE = {
    (Mode.BOOT, Mode.NOMINAL), (Mode.BOOT, Mode.SAFE),
    (Mode.NOMINAL, Mode.POWER_SAVE), (Mode.NOMINAL, Mode.SAFE),
    (Mode.POWER_SAVE, Mode.NOMINAL), (Mode.POWER_SAVE, Mode.SAFE),
}
SAFE_EXITS = {(Mode.SAFE, Mode.NOMINAL), (Mode.SAFE, Mode.POWER_SAVE)}

modes = st.sampled_from(list(Mode))
reasons = st.text(max_size=10)


class ModeMachineModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.machine = ModeMachine()
        self.expected = Mode.BOOT
        self.transitions = 0
        self.left_boot = False

    @rule(mode=modes, why=reasons)
    def request(self, mode: Mode, why: str) -> None:
        before = self.machine.mode
        try:
            result = self.machine.request(mode, why)
        except ModeRefused as exc:
            assert (before, mode) not in REQUESTABLE and mode is not before
            if before is Mode.SAFE:
                assert "exit_safe" in str(exc)
            assert self.machine.mode is before
            return
        assert before is not Mode.SAFE or self.machine.mode is Mode.SAFE  # only exit_safe
        if mode is before:
            assert result is None
        else:
            assert (before, mode) in REQUESTABLE
            assert result == Transition(before, mode, why)
            self.expected = mode
            self.transitions += 1

    @rule(mode=modes, why=reasons)
    def exit_safe(self, mode: Mode, why: str) -> None:
        before = self.machine.mode
        try:
            result = self.machine.exit_safe(mode, why)
        except ModeRefused:
            assert (before, mode) not in SAFE_EXITS
            assert self.machine.mode is before
            return
        assert (before, mode) in SAFE_EXITS
        assert result == Transition(before, mode, why)
        self.expected = mode
        self.transitions += 1

    @invariant()
    def mode_is_as_expected(self) -> None:
        assert self.machine.mode is self.expected
        assert isinstance(self.machine.mode, Mode)

    @invariant()
    def boot_is_never_reentered(self) -> None:
        if self.machine.mode is not Mode.BOOT:
            self.left_boot = True
        assert not (self.left_boot and self.machine.mode is Mode.BOOT)

    @invariant()
    def history_is_a_chain_of_allowed_transitions(self) -> None:
        history = self.machine.history
        assert len(history) == min(self.transitions, 100)
        for t in history:
            assert (t.old, t.new) in REQUESTABLE | SAFE_EXITS
            assert t.new is not Mode.BOOT
        for a, b in itertools.pairwise(history):
            assert a.new is b.old
        if history:
            assert history[-1].new is self.machine.mode
            if self.transitions <= 100:
                assert history[0].old is Mode.BOOT


ModeMachineModel.TestCase.settings = settings(max_examples=100, stateful_step_count=50,
                                              deadline=None)
TestModeMachine = ModeMachineModel.TestCase


def test_safe_is_left_only_by_exit_safe() -> None:
    machine = ModeMachine()
    machine.request(Mode.NOMINAL, "boot done")
    machine.request(Mode.SAFE, "battery low")
    for target in (Mode.NOMINAL, Mode.POWER_SAVE, Mode.BOOT):
        with pytest.raises(ModeRefused, match="exit_safe"):
            machine.request(target, "an app's wish")
    assert machine.request(Mode.SAFE, "again") is None
    with pytest.raises(ModeRefused):
        machine.exit_safe(Mode.BOOT, "ground")
    with pytest.raises(ModeRefused):
        machine.exit_safe(Mode.SAFE, "ground")
    assert machine.exit_safe(Mode.POWER_SAVE, "ground") == Transition(Mode.SAFE,
                                                                      Mode.POWER_SAVE, "ground")
    with pytest.raises(ModeRefused, match="not in SAFE"):
        machine.exit_safe(Mode.NOMINAL, "ground")
    assert [(t.old, t.new) for t in machine.history] == [
        (Mode.BOOT, Mode.NOMINAL), (Mode.NOMINAL, Mode.SAFE), (Mode.SAFE, Mode.POWER_SAVE)]


def test_history_keeps_the_last_hundred() -> None:
    machine = ModeMachine(Mode.NOMINAL)
    for i in range(150):
        machine.request(Mode.POWER_SAVE if i % 2 == 0 else Mode.NOMINAL, str(i))
    assert len(machine.history) == 100
    assert machine.history[0].why == "50" and machine.history[-1].why == "149"


def test_start_in_safe_after_a_reboot_into_safe() -> None:
    machine = ModeMachine(Mode.SAFE)
    with pytest.raises(ModeRefused):
        machine.request(Mode.NOMINAL, "x")
    assert machine.exit_safe(Mode.NOMINAL, "ground").new is Mode.NOMINAL
