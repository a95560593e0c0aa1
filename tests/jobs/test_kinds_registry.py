"""The registry and the contract every kind keeps with the runner."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest

from flight.app.model import Param, ValueType
from flight.jobs.kind import JobKind, Outcome, State, StepReport
from flight.jobs.kinds import KINDS, register

#: Small jobs of every kind, a few steps each.
SMALL: dict[str, dict[str, Any]] = {
    "matmul": {"n": 64, "panel_rows": 16, "seed": 1},
    "mlp_train": {"epochs": 3, "samples": 128, "hidden": 8},
    "inference": {"batches": 3, "batch_size": 16, "hidden": 8, "train_epochs": 1},
}


def test_the_built_in_kinds_are_registered() -> None:
    assert sorted(KINDS) == ["inference", "matmul", "mlp_train"]
    for name, cls in KINDS.items():
        assert cls.name == name and cls.doc and cls.deterministic
        defaults = cls.bind({})
        assert cls.memory_bytes(defaults) > 0
        for p in cls.params:
            assert p.describe()["doc"]


@pytest.mark.parametrize("name", sorted(SMALL))
def test_the_runner_contract(name: str) -> None:
    """Regions are C-contiguous and writable (the runner flips bytes in them); the state holds
    only arrays of checkpointable dtypes and scalars, and resumes a fresh instance."""
    cls = KINDS[name]
    params = cls.bind(SMALL[name])
    job = cls(params)
    for i in range(job.total_steps):
        for region in job.regions().values():
            assert region.flags.c_contiguous and region.flags.writeable
        report = job.step(i)
        assert isinstance(report, StepReport) and report.outcome is Outcome.CLEAN
        if i == 0:
            state = job.state()
    state_types = (np.ndarray, bool, int, float, str, bytes)
    assert all(isinstance(v, state_types) for v in state.values())
    assert all(
        v.dtype.name in {"float32", "float64", "int64", "uint32", "uint64"}
        for v in state.values()
        if isinstance(v, np.ndarray)
    )
    assert job.scrub().outcome is Outcome.CLEAN
    result = job.result()
    fresh = cls(params)
    fresh.restore(state)
    for i in range(1, fresh.total_steps):
        fresh.step(i)
    assert fresh.result() == result
    assert isinstance(job.summary(), dict)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_the_state_survives_the_checkpoint_codec(name: str) -> None:
    codec = pytest.importorskip("flight.jobs.state")
    cls = KINDS[name]
    job = cls(cls.bind(SMALL[name]))
    job.step(0)
    state, meta = codec.unpack_state(codec.pack_state(job.state(), {"step": 1}))
    fresh = cls(cls.bind(SMALL[name]))
    fresh.restore(state)
    assert meta == {"step": 1}
    for i in range(1, fresh.total_steps):
        fresh.step(i)
        job.step(i)
    assert fresh.result() == job.result()


class _Tiny(JobKind):
    name = "tiny"
    doc = "A kind for the registry's tests."
    params: ClassVar[tuple[Any, ...]] = (Param("size", ValueType.INT, 4, "Size.", min=1),)

    @classmethod
    def memory_bytes(cls, params: dict[str, Any]) -> int:
        return 0

    @property
    def total_steps(self) -> int:
        return 1

    def step(self, index: int) -> StepReport:
        return StepReport()

    def state(self, *, scrubbed: bool = False) -> State:
        return {}

    def restore(self, state: State) -> None:
        pass

    def regions(self) -> dict[str, Any]:
        return {}

    def scrub(self) -> StepReport:
        return StepReport()

    def result(self, *, scrubbed: bool = False) -> bytes:
        return b""


def test_register_adds_a_kind_and_refuses_clashes_and_bad_declarations() -> None:
    try:
        assert register(_Tiny) is _Tiny and KINDS["tiny"] is _Tiny
        assert register(_Tiny) is _Tiny  # the same class again is harmless
        clash = type("Other", (_Tiny,), {})
        with pytest.raises(TypeError, match="already registered"):
            register(clash)
        with pytest.raises(TypeError, match="lower_snake_case"):
            register(type("Bad", (_Tiny,), {"name": "Bad Name"}))
        with pytest.raises(TypeError, match="doc"):
            register(type("NoDoc", (_Tiny,), {"name": "no_doc", "doc": ""}))
        twice = (Param("a", ValueType.INT, 1, "A."), Param("a", ValueType.INT, 2, "A."))
        with pytest.raises(TypeError, match="twice"):
            register(type("Twice", (_Tiny,), {"name": "twice", "params": twice}))
        with pytest.raises(TypeError, match="scrubbed"):  # the runner would fail every save
            register(type("Old", (_Tiny,), {"name": "old", "state": lambda self: {}}))
    finally:
        KINDS.pop("tiny", None)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_after_a_scrub_state_and_result_skip_only_their_own_verification(
        name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The runner scrubs, then asks for state(scrubbed=True) or result(scrubbed=True): the
    same state and bytes as a verifying call, without passing over the data a second time."""
    cls = KINDS[name]
    job = cls(cls.bind(SMALL[name]))
    job.step(0)
    assert job.scrub().outcome is Outcome.CLEAN
    checked = job.state()
    for i in range(1, job.total_steps):
        job.step(i)
    assert job.scrub().outcome is Outcome.CLEAN
    verified = job.result()
    calls: list[str] = []
    for attr in dir(job):
        if attr.startswith("_verify"):
            original = getattr(job, attr)

            def spy(*args: Any, _name: str = attr, _fn: Any = original) -> Any:
                calls.append(_name)
                return _fn(*args)

            monkeypatch.setattr(job, attr, spy)
    assert job.result(scrubbed=True) == verified
    assert calls == []
    assert job.result() == verified
    assert calls  # the spies are in place: without the flag, result() verifies
    fresh = cls(cls.bind(SMALL[name]))
    fresh.step(0)
    fresh.scrub()
    same = fresh.state(scrubbed=True)
    assert same.keys() == checked.keys()
    for key, value in same.items():
        if isinstance(value, np.ndarray):
            assert np.array_equal(value, checked[key])
        else:
            assert value == checked[key]
