"""The registered job kinds: ``KINDS`` maps a kind's name to its class.

Adding a kind is one new file in this package (a :class:`~flight.jobs.kind.JobKind` subclass,
see docs/jobs-kinds.md) and one line in ``_BUILT_IN`` below.
"""

from __future__ import annotations

import inspect

from flight.app.model import NAME_RE
from flight.jobs.kind import JobKind
from flight.jobs.kinds.inference import Inference
from flight.jobs.kinds.matmul import Matmul
from flight.jobs.kinds.mlp_train import MlpTrain

#: Every kind the runner can run, by name.
KINDS: dict[str, type[JobKind]] = {}


def register(kind: type[JobKind]) -> type[JobKind]:
    """Add ``kind`` to :data:`KINDS` (usable as a class decorator); refuses a clash or a bad name.

    The parameters' defaults were already checked by their :class:`~flight.app.model.Field`
    declarations; here the defaults must also pass the kind's cross-field ``validate``.
    """
    name = getattr(kind, "name", None)
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise TypeError(f"{kind.__name__}: a kind needs a lower_snake_case name, not {name!r}")
    if name in KINDS and KINDS[name] is not kind:
        raise TypeError(f"kind {name!r} is already registered by {KINDS[name].__name__}")
    if not getattr(kind, "doc", ""):
        raise TypeError(f"kind {name!r} needs a one-line doc")
    names = [p.name for p in kind.params]
    if len(set(names)) != len(names):
        raise TypeError(f"kind {name!r} declares a parameter twice")
    for method in ("state", "result"):  # the runner calls both with scrubbed=True
        if "scrubbed" not in inspect.signature(getattr(kind, method)).parameters:
            raise TypeError(f"kind {name!r}: {method}() must take the keyword 'scrubbed'")
    if all(not p.required for p in kind.params):
        kind.bind({})  # the defaults must make a valid job
    KINDS[name] = kind
    return kind


_BUILT_IN: tuple[type[JobKind], ...] = (Matmul, MlpTrain, Inference)
for _kind in _BUILT_IN:
    register(_kind)

__all__ = ["KINDS", "Inference", "Matmul", "MlpTrain", "register"]
