"""What a job kind is: the contract between the job runner and the compute it runs.

A kind is one class in one file under ``flight/jobs/kinds/``. It declares its parameters (the
same typed, ranged :class:`~flight.app.model.Field` records commands use, so bad submissions are
refused before anything runs), says how much memory a job would need, and then does its work in
*steps*: the runner calls :meth:`JobKind.step` once per step, between steps it may checkpoint
(:meth:`JobKind.state`), pause, or roll back (:meth:`JobKind.restore`), and it asks the kind to
check its own data (:meth:`JobKind.scrub`). A step must be deterministic given the state it starts
from, so that a rolled-back or resumed job ends with the result a fault-free run gives.

Faults are found from the data, never from the upset event: ABFT residuals on matrix products,
digests of inputs and weights. A kind reports what it found in a :class:`StepReport`; a step that
cannot be trusted says ``rollback`` and the runner restores the last good checkpoint.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from flight.app.model import Field, InvalidValue, bind_fields

#: A checkpointable state: named numpy arrays and msgpack-able scalars (int, float, str, bool).
State = dict[str, Any]


class Outcome(str, enum.Enum):
    """What a step or a scrub concluded, in the fault-injection vocabulary."""

    CLEAN = "clean"  # nothing seen
    MASKED = "masked"  # a stored bit changed but is within roundoff: result still right
    CORRECTED = "corrected"  # located and repaired by recomputation, re-verified
    ROLLBACK = "rollback"  # cannot be trusted: restore the last good checkpoint and recompute


@dataclass(frozen=True)
class Finding:
    """One piece of evidence: which check saw what, where. Feeds the radiation monitor."""

    check: str  # "abft" | "digest" | "nan"
    where: str  # e.g. "C[rows 256:512]", "weights.w1"
    outcome: Outcome
    detail: str = ""
    count: int = 1  # elements involved (1 = a single corrupted element)


@dataclass
class StepReport:
    """What one step (or one scrub) found. ``outcome`` is the worst of the findings."""

    findings: list[Finding] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)  # e.g. {"loss": 0.31}

    @property
    def outcome(self) -> Outcome:
        order = list(Outcome)
        return max((f.outcome for f in self.findings), key=order.index, default=Outcome.CLEAN)


class JobKind(ABC):
    """One registered kind of compute job. Subclass it in one file; see docs/jobs.md."""

    #: Registered name, used in submissions (``kind="matmul"``).
    name: ClassVar[str]
    #: One line for the dictionary and the operator.
    doc: ClassVar[str]
    #: The job's parameters; every one needs a default or must be given.
    params: ClassVar[tuple[Field, ...]]
    #: Steps recompute bit-for-bit from the same state (then rollback gives identical results).
    deterministic: ClassVar[bool] = True

    @classmethod
    def bind(cls, raw: dict[str, Any]) -> dict[str, Any]:
        """Typed, ranged parameters from a submission, or :class:`InvalidValue` saying why."""
        try:
            out = bind_fields(cls.params, raw, noun="parameter")
        except InvalidValue as exc:
            raise InvalidValue(f"{cls.name}: {exc}") from None
        problem = cls.validate(out)
        if problem:
            raise InvalidValue(f"{cls.name}: {problem}")
        return out

    @classmethod
    def validate(cls, params: dict[str, Any]) -> str | None:
        """Checks across parameters (one field against another); None when fine."""
        return None

    @classmethod
    @abstractmethod
    def memory_bytes(cls, params: dict[str, Any]) -> int:
        """Peak bytes a job with these parameters holds (inputs, outputs, work, checkpoint)."""

    def __init__(self, params: dict[str, Any]) -> None:
        """Build the job's inputs (deterministically, from its parameters and seed)."""
        self.p = params

    @property
    @abstractmethod
    def total_steps(self) -> int:
        """How many steps the whole job takes."""

    @abstractmethod
    def step(self, index: int) -> StepReport:
        """Compute step ``index`` (0-based, in order) and check what it produced."""

    @abstractmethod
    def state(self, *, scrubbed: bool = False) -> State:
        """Everything needed to continue after the last completed step (arrays are copied).

        Verifies everything at rest first, as :meth:`scrub` does, unless ``scrubbed``: the
        caller ran :meth:`scrub` on this instance just before, in the same call, and it did not
        ask for a rollback (the runner does; verifying again would pass over megabytes twice).
        """

    @abstractmethod
    def restore(self, state: State) -> None:
        """Return to a state :meth:`state` gave (after a rollback or a restart)."""

    @abstractmethod
    def regions(self) -> dict[str, npt.NDArray[Any]]:
        """The live arrays an upset can hit, by name (writable; the runner flips their bits)."""

    @abstractmethod
    def scrub(self) -> StepReport:
        """Check inputs and weights against their digests; repair what can be repaired."""

    @abstractmethod
    def result(self, *, scrubbed: bool = False) -> bytes:
        """The finished job's result, as the bytes stored and downlinked (``.npy``/``.npz``).

        Verified at rest first unless ``scrubbed`` (as for :meth:`state`); raises
        ``RuntimeError`` when that verification asks for a rollback.
        """

    def summary(self) -> dict[str, float]:
        """A few numbers about the job so far (loss, accuracy ...) for status and telemetry."""
        return {}


def npy_bytes(array: npt.NDArray[Any]) -> bytes:
    """A result array as the bytes of a ``.npy`` file (readable by any numpy on the ground)."""
    import io

    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()
