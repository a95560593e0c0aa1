"""Playing a scenario against a fresh testbed, step by step, and saying what happened.

Steps run in order. The first step that fails fails the scenario and the rest are reported as
skipped; whatever happens — a failed step, an injector's bug, Ctrl-C — every lasting fault is
cleared and the testbed is stopped. Each step is reported with its outcome, duration and a
message saying what was awaited and what was last seen, and a readable line goes to the live
log as each step starts and ends.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ground.station import resolve_channel
from hil.faults import Fault, FaultError, Injection, get_fault
from hil.scenario.buswatch import BusWatch, Seen
from hil.scenario.model import (
    AwaitEventStep,
    AwaitTelemetryStep,
    ClearStep,
    CommandStep,
    InjectStep,
    NoEventStep,
    Scenario,
    Step,
    WaitStep,
)
from hil.scenario.predicate import Predicate
from hil.scenario.template import TemplateError, substitute

if TYPE_CHECKING:
    from hil.testbed import Testbed

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"
#: Verification stage -> the report a failure came in, as operators say it.
_REPORT = {"accepted": "acceptance", "started": "start", "progress": "progress",
           "completed": "completion", "routed": "routing"}


class StepFailed(Exception):
    """A step did not do what it had to; the message says what was awaited and what was seen."""


class _Unanswered(Exception):
    """A command got no final report in time (a failure, unless ``expect = "unanswered"``)."""


@dataclass
class StepResult:
    """One step's outcome."""

    index: int
    name: str
    action: str
    status: str  #: passed, failed or skipped
    duration_s: float = 0.0
    message: str = ""
    output: str = ""  #: evidence: what was injected, what was saved, a traceback
    started_s: float = 0.0  #: seconds after the first step began


@dataclass
class ScenarioResult:
    """One scenario's outcome: its steps, and any trouble around them."""

    scenario: Scenario
    steps: list[StepResult] = field(default_factory=list)
    setup_error: str | None = None  #: the testbed did not come up
    teardown_errors: list[str] = field(default_factory=list)  #: a lasting fault not cleared
    started_wall: float = field(default_factory=time.time)
    setup_s: float = 0.0
    duration_s: float = 0.0  #: from the first step to the last one's end
    wall_s: float = 0.0  #: everything: bring-up, steps, clearing faults, stopping the testbed
    run_dir: Path | None = None

    @property
    def passed(self) -> bool:
        return self.setup_error is None and not self.teardown_errors and \
            all(s.status == PASSED for s in self.steps)

    @property
    def counts(self) -> dict[str, int]:
        out = {PASSED: 0, FAILED: 0, SKIPPED: 0}
        for step in self.steps:
            out[step.status] += 1
        return out


Log = Callable[[str], None]


def _print(line: str) -> None:
    print(line, flush=True)


def run_scenario(scenario: Scenario, *, keep: bool = False, run_dir: Path | None = None,
                 log: Log = _print, start_timeout: float = 60.0) -> ScenarioResult:
    """Bring up a testbed for ``scenario`` (already validated), play it, tear it down."""
    result = ScenarioResult(scenario)
    log(f"scenario {scenario.name!r} ({scenario.label}): {len(scenario.steps)} steps, "
        f"seed {scenario.seed}")
    t0 = time.monotonic()
    try:
        with _testbed(scenario, keep, run_dir, start_timeout, log) as bed:
            play = _Run(scenario, bed, result, log)
            result.setup_s = time.monotonic() - t0
            result.run_dir = bed.run_dir
            log(f"  testbed up in {result.setup_s:.1f} s, run directory {bed.run_dir}")
            play.play()
    except Exception as exc:  # the testbed did not come up, or did not go down cleanly
        if result.run_dir is None:
            result.setup_s = time.monotonic() - t0
            result.setup_error = f"the testbed did not come up: {type(exc).__name__}: {exc}"
            result.steps = [StepResult(s.index, s.name, s.action, SKIPPED,
                                       message="skipped: the testbed did not come up")
                            for s in scenario.steps]
            log(f"  ERROR {result.setup_error}")
        else:
            result.teardown_errors.append(f"stopping the testbed: {type(exc).__name__}: {exc}")
            log(f"  ERROR {result.teardown_errors[-1]}")
    result.wall_s = time.monotonic() - t0
    _summary(result, log)
    return result


@contextlib.contextmanager
def _testbed(scenario: Scenario, keep: bool, run_dir: Path | None, start_timeout: float,
             log: Log) -> Iterator[Testbed]:
    """The scenario's testbed; with ``disk_mb``, its run directory on a tmpfs of that size and
    the ground's state outside it (the operator's disk is not the one that fills up)."""
    from hil.testbed import FLATSAT_OVERRIDES, start_testbed

    overrides = [*FLATSAT_OVERRIDES, *scenario.overrides]
    config = str(scenario.config) if scenario.config is not None else None
    with contextlib.ExitStack() as stack:
        ground_dir = None
        if scenario.disk_mb is not None:
            from hil.faults.disk import small_filesystem

            run_dir = stack.enter_context(small_filesystem(run_dir, scenario.disk_mb))
            ground_dir = Path(tempfile.mkdtemp(prefix="sl-gnd-", dir="/tmp"))
            if keep:
                log(f"  ground state and archive in {ground_dir} (the run directory's tmpfs "
                    "is unmounted at the end)")
            else:
                stack.callback(shutil.rmtree, ground_dir, ignore_errors=True)
        yield stack.enter_context(start_testbed(
            overrides, config=config, keep=keep, run_dir=run_dir, timeout=start_timeout,
            link_seed=scenario.seed, ground_dir=ground_dir))


def _summary(result: ScenarioResult, log: Log) -> None:
    counts = result.counts
    verdict = "PASSED" if result.passed else "FAILED"
    text = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
    log(f"{verdict} {result.scenario.name!r}: {text} in {result.duration_s:.1f} s "
        f"({result.wall_s:.1f} s with bring-up and shutdown)")


class _Run:
    """One play of one scenario on one testbed."""

    def __init__(self, scenario: Scenario, bed: Testbed, result: ScenarioResult,
                 log: Log) -> None:
        self.scenario, self.bed, self.result, self.log = scenario, bed, result, log
        self.rng = random.Random(scenario.seed)
        self.saved: dict[str, Any] = {}
        self.injections: dict[str, tuple[Fault, Injection]] = {}
        self.lasting: list[str] = []  #: keys of ``injections`` that still need a clear
        self.watch = BusWatch(bed.stack)
        self.start = time.monotonic()
        self.deadline = self.start + scenario.timeout_s
        self.anchor = self.start  #: when the last step that was not an await began
        self.cursor = self.start  #: when what the previous step matched arrived (or it began)
        self.step_start = self.start

    # -------------------------------------------------------------- the timeline

    def play(self) -> None:
        self.start = time.monotonic()
        self.deadline = self.start + self.scenario.timeout_s
        self.anchor = self.cursor = self.start
        failed: Step | None = None
        try:
            for step in self.scenario.steps:
                if failed is not None:
                    self.result.steps.append(StepResult(
                        step.index, step.name, step.action, SKIPPED,
                        message=f"skipped: step {failed.index} failed"))
                    continue
                if not self._run_step(step):
                    failed = step
        finally:
            self.result.duration_s = time.monotonic() - self.start
            self._teardown()

    def _run_step(self, step: Step) -> bool:
        total = len(self.scenario.steps)
        self.step_start = time.monotonic()
        if not isinstance(step, (AwaitEventStep, AwaitTelemetryStep, NoEventStep)):
            self.anchor = self.cursor = self.step_start
        offset = self.step_start - self.start
        self.log(f"  [+{offset:6.1f} s] {step.index}/{total} {step.name} ...")
        record = StepResult(step.index, step.name, step.action, PASSED, started_s=offset)
        try:
            if time.monotonic() >= self.deadline:
                raise StepFailed(f"the scenario's timeout_s ({self.scenario.timeout_s:g} s) "
                                 "ran out before this step")
            record.message, record.output = self._HANDLERS[type(step)](self, step)
        except StepFailed as exc:
            record.status, record.message = FAILED, str(exc)
        except TemplateError as exc:
            record.status, record.message = FAILED, f"a reference cannot be resolved: {exc}"
        except Exception as exc:  # an injector's or the harness's bug: report, never crash
            record.status = FAILED
            record.message = f"{type(exc).__name__}: {exc}"
            record.output = traceback.format_exc()
        record.duration_s = time.monotonic() - self.step_start
        word = "PASS" if record.status == PASSED else "FAIL"
        self.log(f"  [+{time.monotonic() - self.start:6.1f} s] {step.index}/{total} {word} "
                 f"({record.duration_s:.2f} s) {record.message}")
        self.result.steps.append(record)
        return record.status == PASSED

    def _budget(self, within_s: float) -> tuple[float, str]:
        """Seconds this step may take, and how to say why it stopped waiting."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise StepFailed(f"the scenario's timeout_s ({self.scenario.timeout_s:g} s) ran "
                             "out before this step")
        if left < within_s:
            return left, f"{left:.1f} s (what was left of the scenario's timeout_s = " \
                         f"{self.scenario.timeout_s:g} s)"
        return within_s, f"{within_s:g} s"

    def _since(self, since: str) -> float:
        return {"previous": self.cursor, "action": self.anchor, "step": self.step_start,
                "start": self.start}[since]

    # -------------------------------------------------------------- commands

    def _command(self, step: CommandStep) -> tuple[str, str]:
        args = substitute(step.args, self.saved)
        budget, said = self._budget(step.within_s)
        label = f"{step.app}.{step.command}"
        try:
            if step.via == "bus":
                ok, stage, reason, text, data = self._command_bus(step, args, budget, said)
            else:
                ok, stage, reason, text, data = self._command_link(step, args, budget, said)
        except _Unanswered as exc:
            if step.expect == "unanswered":
                return f"{label}: no report within {said}, as expected (via {step.via})", ""
            raise StepFailed(str(exc)) from None
        if step.expect == "unanswered":
            got = "completed" if ok else f"failed ({_REPORT.get(stage, stage)}): {reason}"
            raise StepFailed(f"{label}: expected no answer, got {got}")
        got = "completed" if ok else f"failed ({_REPORT.get(stage, stage)}): {reason}" + (
            f" ({text})" if text else "")
        wanted_ok = step.expect == "completed"
        if ok != wanted_ok or (step.reason is not None and reason != step.reason):
            wanted = step.expect + (f":{step.reason}" if step.reason else "")
            raise StepFailed(f"{label}: expected {wanted}, got {got}")
        output = ""
        if step.save is not None:
            self.saved[step.save] = data
            output = f"saved {step.save} = {data!r}"
        return f"{label} {got}" + (f"; {output}" if output else ""), output

    def _command_link(self, step: CommandStep, args: dict[str, Any], budget: float,
                      said: str) -> tuple[bool, str, str | None, str, Any]:
        from ground.station import CommandTimeout, GroundError

        ground = self.bed.require_ground()
        try:
            handle = ground.send(step.app, step.command, arm=step.arm, args=args)
            final = handle.wait(budget)
        except CommandTimeout as exc:
            stages = exc.handle.stages
            if stages and step.expect == "unanswered":
                raise StepFailed(f"{step.app}.{step.command}: expected no answer, got "
                                 f"{stages[0].name}") from None
            raise _Unanswered(f"{step.app}.{step.command}: no final report within {said} "
                              f"(via link); last status: {exc.handle.status}") from None
        except GroundError as exc:  # not sent: the dictionary refused a referenced value ...
            raise StepFailed(f"{step.app}.{step.command} not sent: {exc}") from None
        return final.ok, final.name, final.reason, final.message, handle.data

    def _command_bus(self, step: CommandStep, args: dict[str, Any], budget: float,
                     said: str) -> tuple[bool, str, str | None, str, Any]:
        from flight.bus.reasons import Reason

        stack = self.bed.stack
        if step.arm:
            reply = stack.hazardous(step.app, step.command, args, timeout=budget)
        else:
            reply = stack.command(step.app, step.command, args, timeout=budget)
        if not reply.ok and reply.reason is Reason.TIMEOUT and not reply.src:
            raise _Unanswered(f"{step.app}.{step.command}: no final reply within {said} "
                              "(via bus)")
        return reply.ok, "completed", reply.reason.name, reply.message, reply.data

    # -------------------------------------------------------------- faults

    def _inject(self, step: InjectStep) -> tuple[str, str]:
        fault = get_fault(step.fault)
        target = substitute(step.target, self.saved)
        params = substitute(step.params, self.saved)
        try:
            injection = fault.run(self.bed, target, params, self.rng)
        except FaultError as exc:
            raise StepFailed(f"{step.fault}: {exc}") from None
        key = step.id or f"step {step.index}"
        self.injections[key] = (fault, injection)
        if injection.lasting:
            self.lasting.append(key)
        if step.id is not None:
            self.saved[step.id] = injection.to_dict()
        return injection.detail, f"injection: {injection.to_dict()!r}"

    def _clear(self, step: ClearStep) -> tuple[str, str]:
        key = step.injection
        if key not in self.injections:
            raise StepFailed(f"{key!r} was never injected")
        fault, injection = self.injections[key]
        if key not in self.lasting:
            what = "was already cleared" if injection.lasting else "is not a lasting fault"
            return f"{key} ({injection.fault}) {what}: nothing to clear", ""
        try:
            fault.clear(self.bed, injection)
        except FaultError as exc:
            raise StepFailed(f"clearing {key} ({injection.fault}): {exc}") from None
        self.lasting.remove(key)
        return f"cleared {key}: {injection.detail}", ""

    def _teardown(self) -> None:
        """Clear every lasting fault left (newest first), then stop reading the bus."""
        for key in reversed(list(self.lasting)):
            fault, injection = self.injections[key]
            try:
                fault.clear(self.bed, injection)
                self.log(f"  teardown: cleared {key} ({injection.detail})")
            except Exception as exc:
                text = f"clearing {key} ({injection.fault}): {type(exc).__name__}: {exc}"
                self.result.teardown_errors.append(text)
                self.log(f"  teardown ERROR {text}")
        self.lasting.clear()
        self.watch.close()

    def _wait(self, step: WaitStep) -> tuple[str, str]:
        left = self.deadline - time.monotonic()
        if left < step.seconds:
            time.sleep(max(left, 0.0))
            raise StepFailed(f"the scenario's timeout_s ({self.scenario.timeout_s:g} s) ran "
                             f"out during this {step.seconds:g} s wait")
        time.sleep(step.seconds)  # the one wall-clock wait: what the step asks for
        return f"waited {step.seconds:g} s", ""

    # -------------------------------------------------------------- awaits

    def _await_event(self, step: AwaitEventStep) -> tuple[str, str]:
        where = substitute(step.where, self.saved)
        budget, said = self._budget(step.within_s)
        since = self._since(step.since)
        found = self._find_event(step, where, since, time.monotonic() + budget)
        if found is None:
            others = self._events_seen(step, since)
            seen = (f"{len(others)} other {step.app}.{step.event} seen, last with "
                    f"{others[-1]!r}" if others else
                    f"no {step.app}.{step.event} at all since {self._since_text(step.since)}")
            raise StepFailed(f"no {_event_label(step, where)} within {said} (via {step.via}); "
                             f"{seen}")
        args, self.cursor = found
        output = self._save(step.save, args)
        return f"{step.app}.{step.event} {args!r}", output

    def _no_event(self, step: NoEventStep) -> tuple[str, str]:
        where = substitute(step.where, self.saved)
        since = self._since(step.since)
        left = self.deadline - time.monotonic()
        if left < step.for_s:
            raise StepFailed(f"the scenario's timeout_s ({self.scenario.timeout_s:g} s) leaves "
                             f"{max(left, 0):.1f} s, not the {step.for_s:g} s to watch")
        label = _event_label(step, where)
        found = self._find_event(step, where, since, time.monotonic() + step.for_s)
        if found is not None:
            raise StepFailed(f"{label} arrived {found[1] - since:.1f} s after "
                             f"{self._since_text(step.since)} (via {step.via}): {found[0]!r}")
        window = f" and {step.for_s:g} s more" if step.for_s else ""
        return f"no {label} since {self._since_text(step.since)}{window}", ""

    def _find_event(self, step: AwaitEventStep | NoEventStep, where: dict[str, Any],
                    since: float, deadline: float) -> tuple[dict[str, Any], float] | None:
        """The first matching event's arguments and arrival time, or None by the deadline."""

        def fits(args: Any) -> bool:
            args = args if isinstance(args, dict) else {}
            return all(k in args and args[k] == v for k, v in where.items())

        if step.via == "bus":
            hit = self.watch.wait(f"evt.{step.app}", lambda s: _event_name(s) == step.event
                                  and fits(_event_args(s)), since, deadline)
            return None if hit is None else (_event_args(hit), hit.t_mono)
        ground = self.bed.require_ground()
        try:
            event = ground.await_event(step.app, step.event, predicate=lambda e: fits(e.args),
                                       timeout=max(deadline - time.monotonic(), 0.0),
                                       since=since)
        except TimeoutError:
            return None
        return event.args, event.t_mono

    def _events_seen(self, step: AwaitEventStep, since: float) -> list[dict[str, Any]]:
        """The arguments of every ``app.EVENT`` received since ``since`` (for a message)."""
        if step.via == "bus":
            return [_event_args(s) for s in self.watch.history(f"evt.{step.app}", since)
                    if _event_name(s) == step.event]
        ground = self.bed.require_ground()
        return [e.args for e in ground.event_history(step.app, step.event, since=since)]

    def _await_telemetry(self, step: AwaitTelemetryStep) -> tuple[str, str]:
        reference = substitute(step.value, self.saved)
        budget, said = self._budget(step.within_s)
        since = self.step_start if step.op == "changes" else self._since(step.since)
        predicate = Predicate(step.op, reference)
        if step.op == "changes":
            latest = self._latest(step)
            if latest is not None:
                predicate.baseline = latest[0]
        label = f"{step.app}.{step.channel} {predicate.describe()}"
        if step.via == "bus":
            found = self._telemetry_bus(step, predicate, since, budget)
        else:
            found = self._telemetry_link(step, predicate, since, budget)
        if found is None:
            last = self._latest(step)
            seen = (f"last value seen: {last[0]!r}, {time.monotonic() - last[1]:.1f} s ago"
                    if last is not None else f"no {step.app}.{step.channel} value received")
            raise StepFailed(f"{label} not seen within {said} (via {step.via}); {seen}")
        self.cursor = found[1]
        output = self._save(step.save, found[0])
        return f"{step.app}.{step.channel} = {found[0]!r}", output

    def _telemetry_link(self, step: AwaitTelemetryStep, predicate: Predicate, since: float,
                        budget: float) -> tuple[Any, float] | None:
        ground = self.bed.require_ground()
        try:
            sample = ground.await_telemetry(step.app, step.channel, predicate, timeout=budget,
                                            since=since)
        except TimeoutError:
            return None
        return sample.value, sample.t_mono

    def _telemetry_bus(self, step: AwaitTelemetryStep, predicate: Predicate, since: float,
                       budget: float) -> tuple[Any, float] | None:
        def match(seen: Seen) -> bool:
            data = seen.envelope.data
            found, value = resolve_channel(data, step.channel) if isinstance(data, dict) \
                else (False, 0)
            return found and predicate(value)

        hit = self.watch.wait(f"tlm.{step.app}", match, since, time.monotonic() + budget)
        if hit is None:
            return None
        return resolve_channel(hit.envelope.data, step.channel)[1], hit.t_mono

    def _latest(self, step: AwaitTelemetryStep) -> tuple[Any, float] | None:
        """The newest value of the awaited channel and when it arrived, on the step's path."""
        if step.via == "bus":
            seen = self.watch.latest(step.app)
            if seen is None or not isinstance(seen.envelope.data, dict):
                return None
            found, value = resolve_channel(seen.envelope.data, step.channel)
            return (value, seen.t_mono) if found else None
        sample = self.bed.require_ground().latest(step.app, step.channel)
        return None if sample is None else (sample.value, sample.t_mono)

    def _since_text(self, since: str) -> str:
        return {"previous": "the previous step", "action": "the last action step began",
                "step": "this step began", "start": "the scenario began"}[since]

    def _save(self, name: str | None, value: Any) -> str:
        if name is None:
            return ""
        self.saved[name] = value
        return f"saved {name} = {value!r}"

    _HANDLERS: dict[type, Callable[[Any, Any], tuple[str, str]]] = {
        CommandStep: _command, InjectStep: _inject, ClearStep: _clear, WaitStep: _wait,
        AwaitEventStep: _await_event, AwaitTelemetryStep: _await_telemetry,
        NoEventStep: _no_event,
    }


def _event_label(step: AwaitEventStep | NoEventStep, where: dict[str, Any]) -> str:
    return f"{step.app}.{step.event}" + (
        " with " + ", ".join(f"{k} = {v!r}" for k, v in where.items()) if where else "")


def _event_name(seen: Seen) -> str | None:
    data = seen.envelope.data
    return data.get("name") if isinstance(data, dict) else None


def _event_args(seen: Seen) -> dict[str, Any]:
    data = seen.envelope.data
    args = data.get("args") if isinstance(data, dict) else None
    return args if isinstance(args, dict) else {}
