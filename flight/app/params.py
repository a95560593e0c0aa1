"""An app's parameter table: typed, ranged, persisted, changed by load → validate → activate.

Like a cFS table, a change never lands half-way: ``load`` stages checked values in an inactive
copy, ``activate`` runs the app's cross-checks on the whole staged table, writes it through the
checkpoint store (fsync'd) and only then makes it the active table. A process killed at any
point restarts with either the old or the new table, never a mix, and a change the ground was
told COMPLETED is on disk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from flight.app.model import Field, InvalidValue
from flight.checkpoint import CheckpointStore, MirroredStore, Rejection

#: An app's whole-table check; returns a reason to refuse, or None.
TableCheck = Callable[[dict[str, Any]], "str | None"]


@dataclass
class RestoreReport:
    """What happened while the persisted table was read back at start."""

    generation: int | None = None
    fallbacks: tuple[Rejection, ...] = ()
    dropped: list[str] = field(default_factory=list)  # stored entries that no longer validate


class ParameterTable:
    """Active and staged parameter values for one app."""

    def __init__(self, specs: Iterable[Field], store: CheckpointStore | MirroredStore):
        self.specs = {spec.name: spec for spec in specs}
        self._store = store
        self.active: dict[str, Any] = {name: spec.default for name, spec in self.specs.items()}
        self.staged: dict[str, Any] = {}

    def restore(self) -> RestoreReport:
        """Load the newest intact persisted table, keeping defaults for anything invalid."""
        report = RestoreReport()
        loaded = self._store.load_object() if self.specs else None
        if loaded is None:
            report.fallbacks = self._store.last_rejections if self.specs else ()
            return report
        obj, result = loaded
        report.generation = result.info.generation
        report.fallbacks = self._store.last_rejections  # either copy of a mirrored store
        if not isinstance(obj, dict):
            report.dropped.append("<table is not a map>")
            return report
        for name, value in obj.items():
            spec = self.specs.get(name) if isinstance(name, str) else None
            try:
                if spec is None:
                    raise InvalidValue(f"{name}: no such parameter")
                self.active[name] = spec.check(value)
            except InvalidValue as exc:
                report.dropped.append(str(exc))
        return report

    def __getitem__(self, name: str) -> Any:
        return self.active[name]

    def load(self, name: str, value: Any) -> Any:
        """Stage one new value after checking it against its declaration."""
        spec = self.specs.get(name)
        if spec is None:
            raise InvalidValue(f"no parameter named {name!r}")
        checked = spec.check(value)
        self.staged[name] = checked
        return checked

    def abort(self) -> None:
        self.staged.clear()

    def validate(self, table_check: TableCheck | None = None) -> dict[str, Any]:
        """Check the staged table as a whole without activating it; return the candidate."""
        if not self.staged:
            raise InvalidValue("nothing staged: load a parameter first")
        candidate = {**self.active, **self.staged}
        if table_check is not None:
            reason = table_check(candidate)
            if reason:
                raise InvalidValue(reason)
        return candidate

    def activate(self, table_check: TableCheck | None = None) -> dict[str, Any]:
        """Validate the staged table, persist it, make it active; return the changes."""
        candidate = self.validate(table_check)
        self._store.save_object(candidate)
        changes = {k: v for k, v in self.staged.items() if self.active.get(k) != v}
        self.active = candidate
        self.staged = {}
        return changes

    def report(self) -> dict[str, Any]:
        return {"active": dict(self.active), "staged": dict(self.staged)}
