"""What a fault injector is: a named, documented, parameterised way to break a running testbed.

Scenarios, campaigns and ``sunlit-hil inject`` all use injectors through this one interface, so
a new fault written once is at once usable from all three. An injector:

* belongs to a :class:`FaultClass` (what a campaign samples over);
* lists the ``targets`` it can hit on a given testbed (apps, sensors, files, link directions);
* declares its parameters (:class:`Param`), checked before anything is done;
* ``inject`` does it — for real: a signal to a real process, a flipped bit in a real file or a
  real process's memory, a real datagram — and returns an :class:`Injection` saying exactly what
  was done (the evidence a campaign keeps);
* optionally ``clear`` ends a lasting fault (a link outage, a stuck sensor).

Detection is never told about an injection: the stack must find it from the data.
"""

from __future__ import annotations

import contextlib
import difflib
import enum
import math
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from hil.testbed import Testbed


class FaultClass(str, enum.Enum):
    """The kinds of trouble a campaign samples over."""

    PROCESS = "process"        # crash, hang
    MEMORY = "memory"          # bit flips in a live process's memory
    DATA = "data"              # bit flips in job data and protected tables
    STORAGE = "storage"        # corrupted checkpoints, telemetry store; a full disk
    LINK = "link"              # loss, delay, corruption, outage
    TELECOMMAND = "telecommand"  # forged, replayed, malformed telecommands
    SENSOR = "sensor"          # stuck, noisy, offline sensors
    POWER = "power"            # solar string loss, battery fade
    THERMAL = "thermal"        # radiator degradation


class FaultError(ValueError):
    """A fault cannot be injected as asked: unknown name, bad parameter, no such target."""


@dataclass(frozen=True)
class Param:
    """One parameter of an injector, with its type, default and bounds."""

    name: str
    type: type
    doc: str
    default: Any = None
    min: float | None = None
    max: float | None = None
    choices: tuple[Any, ...] = ()

    def check(self, value: Any) -> Any:
        """The value converted to ``type`` and checked, or :class:`FaultError` saying why."""
        if self.type is bool and not isinstance(value, bool):
            raise FaultError(f"parameter {self.name!r} must be true or false, not {value!r}")
        try:
            converted = self.type(value)
        except (TypeError, ValueError) as exc:
            raise FaultError(f"parameter {self.name!r} must be {self.type.__name__}, "
                             f"not {value!r}") from exc
        if isinstance(converted, float) and not math.isfinite(converted):
            raise FaultError(f"parameter {self.name!r} must be a finite number, not {value!r}")
        if self.type is int and isinstance(value, float) and not value.is_integer():
            raise FaultError(f"parameter {self.name!r} must be a whole number, not {value!r}")
        if self.choices and converted not in self.choices:
            raise FaultError(f"parameter {self.name!r} must be one of {list(self.choices)}, "
                             f"not {value!r}")
        if self.min is not None and converted < self.min:
            raise FaultError(f"parameter {self.name!r} must be ≥ {self.min}, not {value!r}")
        if self.max is not None and converted > self.max:
            raise FaultError(f"parameter {self.name!r} must be ≤ {self.max}, not {value!r}")
        return converted

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type.__name__,
                               "default": self.default, "doc": self.doc}
        for key in ("min", "max"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.choices:
            out["choices"] = list(self.choices)
        return out


@dataclass
class Injection:
    """What an injector did: kept as the evidence of a scenario step or a campaign run."""

    fault: str
    fault_class: str
    target: str
    params: dict[str, Any]
    detail: str  #: one line a test engineer reads, e.g. "SIGKILL jobs (pid 4242)"
    wall_time: float = field(default_factory=time.time)
    evidence: dict[str, Any] = field(default_factory=dict)  #: anything worth keeping
    lasting: bool = False  #: a ``clear`` ends it

    def to_dict(self) -> dict[str, Any]:
        return {"fault": self.fault, "class": self.fault_class, "target": self.target,
                "params": self.params, "detail": self.detail, "wall_time": self.wall_time,
                "evidence": self.evidence, "lasting": self.lasting}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Injection:
        """An injection read back from :meth:`to_dict`'s JSON (to clear it later, elsewhere)."""
        if not isinstance(data, Mapping):
            raise FaultError("an injection must be a JSON object")
        missing = sorted({"fault", "class", "target", "detail"} - set(data))
        if missing:
            raise FaultError(f"not an injection: no {missing[0]!r}")
        params, evidence = data.get("params") or {}, data.get("evidence") or {}
        if not isinstance(params, Mapping) or not isinstance(evidence, Mapping):
            raise FaultError("not an injection: 'params' and 'evidence' must be objects")
        try:
            wall_time = float(data.get("wall_time", time.time()))
        except (TypeError, ValueError):
            raise FaultError("not an injection: 'wall_time' is not a number") from None
        return cls(str(data["fault"]), str(data["class"]), str(data["target"]), dict(params),
                   str(data["detail"]), wall_time, dict(evidence), bool(data.get("lasting")))


class Fault(ABC):
    """An injector. Subclasses set the class attributes and implement ``targets``/``inject``."""

    name: ClassVar[str]
    fault_class: ClassVar[FaultClass]
    doc: ClassVar[str]
    params: ClassVar[tuple[Param, ...]] = ()
    #: What ``targets`` lists, in words (for ``--list`` and the docs).
    target_doc: ClassVar[str] = ""
    #: The fault stays until ``clear`` (a link impairment, a stuck sensor, a full disk).
    lasting: ClassVar[bool] = False

    @abstractmethod
    def targets(self, bed: Testbed) -> list[str]:
        """What this fault can hit on ``bed`` now (never empty where it applies at all)."""

    @abstractmethod
    def inject(self, bed: Testbed, target: str, params: Mapping[str, Any],
               rng: random.Random) -> Injection:
        """Do it; ``params`` are already checked and complete (defaults filled in)."""

    def clear(self, bed: Testbed, injection: Injection) -> None:
        """End a lasting fault (no-op for a one-shot one)."""
        del bed, injection

    def why_no_targets(self, bed: Testbed) -> str:
        """Why ``targets`` is empty on ``bed``, for the error message (override to say)."""
        del bed
        return ""

    # ------------------------------------------------------------------ machinery
    def check_params(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """``given`` checked and completed with defaults; unknown names are an error."""
        known = {p.name: p for p in self.params}
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise FaultError(f"fault {self.name!r} has no parameter {unknown[0]!r}"
                             f"{did_you_mean(unknown[0], known)}; it takes "
                             f"{sorted(known) or 'none'}")
        return {name: p.check(given[name]) if name in given else p.default
                for name, p in known.items()}

    def run(self, bed: Testbed, target: str | None = None,
            params: Mapping[str, Any] | None = None,
            rng: random.Random | None = None) -> Injection:
        """Check everything, pick a target if none is given, inject."""
        checked = self.check_params(params or {})
        rng = rng or random.Random()
        available = self.targets(bed)
        if not available:
            why = self.why_no_targets(bed)
            raise FaultError(f"fault {self.name!r} has nothing to hit on this flatsat"
                             f"{': ' + why if why else ''}")
        if target is None:
            target = rng.choice(available)
        elif target not in available:
            raise FaultError(f"fault {self.name!r} cannot hit {target!r}"
                             f"{did_you_mean(target, available)}; its targets here: "
                             f"{available}")
        injection = self.inject(bed, target, checked, rng)
        injection.lasting = self.lasting  # a clear must end it: the injector's nature decides
        return injection

    def run_dir_filesystem(self, run_dir: Path) -> contextlib.AbstractContextManager[Any]:
        """What a campaign mounts the run directory on before the stack starts, for faults
        that need a filesystem of their own (a full disk must be a small one); by default
        nothing: the run directory stays where it is."""
        return contextlib.nullcontext()

    def describe(self) -> dict[str, Any]:
        """For ``sunlit-hil inject --list`` and the docs."""
        return {"name": self.name, "class": self.fault_class.value, "doc": self.doc,
                "targets": self.target_doc, "lasting": self.lasting,
                "params": [p.describe() for p in self.params]}


def did_you_mean(name: str, known: Any) -> str:
    """`` (did you mean 'x'?)`` when ``name`` is close to one of ``known``, else ``""``."""
    close = difflib.get_close_matches(str(name), [str(k) for k in known], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


_REGISTRY: dict[str, Fault] = {}


def register(fault_type: type[Fault]) -> type[Fault]:
    """Class decorator: make an injector known by its ``name``."""
    if fault_type.name in _REGISTRY:
        raise ValueError(f"fault {fault_type.name!r} registered twice")
    _REGISTRY[fault_type.name] = fault_type()
    return fault_type


def get_fault(name: str) -> Fault:
    """The injector called ``name``, or :class:`FaultError` naming the known ones."""
    _load_all()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise FaultError(f"unknown fault {name!r}{did_you_mean(name, _REGISTRY)}; known: "
                         f"{sorted(_REGISTRY)}") from None


def all_faults() -> dict[str, Fault]:
    """Every registered injector by name."""
    _load_all()
    return dict(_REGISTRY)


def _load_all() -> None:
    import hil.faults.catalog  # noqa: F401  (registers every injector)
