"""A whole campaign: the request, the golden run, the plan, the runs, the journal, the report.

Everything lives in the campaign directory, written in this order so that a campaign killed at
any point can be continued by running the same command again (or with ``--resume``):

``campaign.json``  the request (seed, runs, classes, faults) — what makes two invocations the
                   same campaign;
``golden.json``    the fault-free run: its duration (the runs' deadline is 10x it), its result
                   digests, the events it shows anyway, every fault's targets;
``plan.json``      every run's fault, target, time slot and seed;
``journal.jsonl``  one line per finished run (fsynced): a run in it is never flown again;
``progress.json``  for monitoring, rewritten atomically after every change;
``sessions.json``  when each invocation started and on what (for throughput);
``live/``          which run directories workers are flying (reaped if a worker died);
``report.*``       written at the end, or marked PARTIAL when the campaign was interrupted.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hil.campaign.executor import ExecutorError, Pool, make_pool
from hil.campaign.journal import CampaignFileError, Journal, Progress, read_json, write_atomic
from hil.campaign.plan import (
    PLAN_VERSION,
    TIME_SLOTS,
    PlanError,
    RunSpec,
    catalog_from_targets,
    make_plan,
    population,
)
from hil.campaign.reap import reap_orphans
from hil.campaign.run import execute_run, golden_summary, run_deadline

#: The request fields that make two invocations the same campaign.
IDENTITY = ("seed", "runs", "classes", "faults")
#: Beyond its deadline, what a run may take: bring-up, injector waits, teardown.
RUN_OVERHEAD_S = 150.0
#: A run whose worker died is flown again at most this many times.
MAX_ATTEMPTS = 2


class CampaignError(Exception):
    """Bad input or a campaign directory that does not fit the request: exit status 2."""


class GoldenError(RuntimeError):
    """The fault-free run failed: nothing can be judged against it (exit status 1)."""


@dataclass
class Options:
    out: Path
    runs: int | None = None
    seed: int = 1
    workers: int | None = None
    classes: list[str] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)
    executor: str = "local"
    scheduler: str | None = None
    resume: bool = False
    margin: float | None = None  #: None: the campaign's own (0.05 for a new one)
    keep_runs: bool = False
    name: str | None = None
    strict: bool = False


Log = Callable[[str], None]


def _stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------ input


def check_selection(classes: list[str], faults: list[str]) -> None:
    """Unknown class or fault names are a :class:`CampaignError` naming the known ones."""
    from hil.faults import FaultClass, FaultError, all_faults, get_fault

    known = [c.value for c in FaultClass]
    for cls in classes:
        if cls not in known:
            raise CampaignError(f"unknown fault class {cls!r}; known: {', '.join(known)}")
    for name in faults:
        try:
            get_fault(name)
        except FaultError as exc:
            raise CampaignError(str(exc)) from None
    if classes and faults:
        chosen = {n for n in faults if all_faults()[n].fault_class.value in classes}
        if not chosen:
            raise CampaignError(f"none of the faults {faults} is in the classes {classes}")


def _request(opts: Options) -> dict[str, Any]:
    return {"version": PLAN_VERSION, "name": opts.name or opts.out.resolve().name,
            "seed": opts.seed, "runs": opts.runs, "classes": sorted(opts.classes),
            "faults": sorted(opts.faults), "margin": opts.margin or 0.05,
            "created_unix": time.time()}


def _settle_request(opts: Options, log: Log) -> dict[str, Any]:
    """The campaign.json this invocation continues, or the new one (written by the caller
    once the executor is up, so a bad scheduler address leaves nothing behind)."""
    path = opts.out / "campaign.json"
    if path.exists():
        saved = read_json(path, "campaign request")
        if not isinstance(saved, dict) or any(k not in saved for k in IDENTITY):
            raise CampaignError(f"{path} is not a campaign request")
        if opts.runs is None:
            opts.runs = saved["runs"]
        wanted = _request(opts)
        differs = [k for k in IDENTITY if saved[k] != wanted[k]]
        theirs = ", ".join(f"{k}={saved[k]}" for k in differs)
        if differs and not opts.resume:
            raise CampaignError(f"{opts.out} holds a different campaign ({theirs}); choose "
                                f"another --out, or --resume to continue that one")
        if differs:
            log(f"resuming the campaign in {opts.out} as planned ({theirs}); the new options "
                f"are ignored")
        return dict(saved)
    if opts.resume:
        raise CampaignError(f"nothing to resume: {opts.out} holds no campaign")
    if opts.runs is None or opts.runs < 1:
        raise CampaignError("--runs N (at least 1) is needed to start a campaign")
    if opts.out.exists() and any(p.name != ".lock" for p in opts.out.iterdir()):
        raise CampaignError(f"{opts.out} is not empty and holds no campaign: choose an empty "
                            f"or new directory")
    return _request(opts)


@contextlib.contextmanager
def _locked(out: Path) -> Iterator[None]:
    """One campaign process per directory at a time."""
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(out / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "another process"
            raise CampaignError(f"{out} is in use by a running campaign (pid {holder})") \
                from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)


# ------------------------------------------------------------------------------ golden, plan


def _golden(out: Path, pool: Pool, context: dict[str, Any], log: Log) -> dict[str, Any]:
    path = out / "golden.json"
    if path.exists():
        doc = read_json(path, "golden run")
        if not isinstance(doc, dict) or "summary" not in doc:
            raise CampaignError(f"{path} is not a golden run")
        return dict(doc["summary"])
    log("golden run (no fault) ...")
    spec = {"id": -1, "fault": None, "fault_class": None, "target": None, "slot": 0,
            "t_frac": 0.0, "hold_frac": 0.0, "seed": 0}
    future = pool.executor.submit(execute_run, spec, context)
    try:
        record = future.result(timeout=300.0)
    except Exception as exc:
        raise GoldenError(f"the golden run did not come back: {type(exc).__name__}: {exc}") \
            from None
    try:
        summary = golden_summary(record)
    except RuntimeError as exc:
        raise GoldenError(str(exc)) from None
    write_atomic(path, json.dumps({"summary": summary, "record": record}, default=str))
    log(f"golden run: workload {summary['duration_s']:.2f} s (window {summary['window_s']:.2f}"
        f" s), run {summary['wall_s']:.1f} s; deadline per run {run_deadline(summary):.1f} s")
    return summary


def _plan(out: Path, request: dict[str, Any], golden: dict[str, Any], log: Log
          ) -> dict[str, Any]:
    path = out / "plan.json"
    if path.exists():
        doc = read_json(path, "plan")
        if not isinstance(doc, dict) or doc.get("version") != PLAN_VERSION:
            raise CampaignError(f"{path} is not a version {PLAN_VERSION} plan")
        doc["specs"] = [RunSpec.from_dict(r) for r in doc["runs"]]
        return doc
    catalog, skipped = catalog_from_targets(golden["targets"], request["classes"],
                                            request["faults"])
    for name, why in skipped.items():
        log(f"fault {name} left out of the plan: {why}")
    try:
        specs = make_plan(int(request["seed"]), int(request["runs"]), catalog)
    except PlanError as exc:
        raise CampaignError(str(exc)) from None
    doc = {"version": PLAN_VERSION, "name": request["name"], "seed": request["seed"],
           "time_slots": TIME_SLOTS, "catalog": catalog, "skipped": skipped,
           "population": population(catalog), "runs": [s.to_dict() for s in specs]}
    write_atomic(path, json.dumps(doc, indent=1))
    doc["specs"] = specs
    return doc


# ------------------------------------------------------------------------------ running


class Runner:
    """Keeps ``pool.slots`` runs in flight, journals each as it finishes."""

    def __init__(self, opts: Options, plan: dict[str, Any], golden: dict[str, Any],
                 pool: Pool, log: Log) -> None:
        self.opts, self.plan, self.golden, self.pool, self.log = opts, plan, golden, pool, log
        self.journal = Journal(opts.out / "journal.jsonl")
        self.journal.repair()
        self.records = self.journal.load()
        planned = {s.id for s in plan["specs"]}
        self.queue = deque(s for s in plan["specs"] if s.id not in self.records)
        stray = sorted(set(self.records) - planned)
        if stray:
            raise CampaignError(f"the journal has runs {stray[:5]} that the plan does not")
        self.context = {"campaign_dir": str(opts.out.resolve()), "keep_runs": opts.keep_runs,
                        "golden": golden}
        self.in_flight: dict[Future[Any], tuple[RunSpec, float]] = {}
        self.attempts: Counter[int] = Counter()
        self.limit_s = run_deadline(golden) + RUN_OVERHEAD_S
        sessions_path = opts.out / "sessions.json"
        self.sessions = read_json(sessions_path, "sessions") if sessions_path.exists() else []
        self.sessions.append({"started_unix": time.time(), "executor": pool.kind,
                              "slots": pool.slots, "describe": pool.describe,
                              "pid": os.getpid()})
        write_atomic(sessions_path, json.dumps(self.sessions, indent=1))
        self.progress = Progress(opts.out / "progress.json", plan["name"], len(plan["specs"]),
                                 float(self.sessions[0]["started_unix"]))

    def run(self) -> None:
        total = len(self.plan["specs"])
        self.log(f"{len(self.records)} of {total} runs already done; {len(self.queue)} to fly "
                 f"on {self.pool.describe}")
        while self.queue or self.in_flight:
            self._fill()
            self.progress.update(self.records, running=len(self.in_flight))
            done, _ = wait(list(self.in_flight), timeout=2.0, return_when=FIRST_COMPLETED)
            for future in done:
                if future in self.in_flight:  # not already handled with a broken pool
                    self._collect(future)
            self._overdue()
        self.progress.update(self.records, running=0, finished=True)

    def _fill(self) -> None:
        while self.queue and len(self.in_flight) < self.pool.slots:
            spec = self.queue.popleft()
            future = self.pool.executor.submit(execute_run, spec.to_dict(), self.context)
            self.in_flight[future] = (spec, time.monotonic())

    def _collect(self, future: Future[Any]) -> None:
        spec, _ = self.in_flight.pop(future)
        try:
            record = future.result()
        except BrokenProcessPool:
            self.in_flight[future] = (spec, 0.0)
            self._broken()
            return
        except Exception as exc:
            record = error_record(spec, f"the executor failed the run: "
                                        f"{type(exc).__name__}: {exc}")
        self._record(record)

    def _record(self, record: dict[str, Any]) -> None:
        self.journal.append(record)
        self.records[int(record["id"])] = record
        self.log(run_line(record, len(self.records), len(self.plan["specs"])))

    def _broken(self) -> None:
        """A local worker died: every run in flight is flown again (at most twice)."""
        self.log("a worker process died; restarting the workers")
        lost = [spec for spec, _ in self.in_flight.values()]
        self.in_flight.clear()
        self.pool.close(kill=True)
        for found in reap_orphans(self.opts.out, keep_dirs=self.opts.keep_runs):
            self.log(f"reaped run {found['run']}: {len(found['killed'])} process(es)")
        for spec in lost:
            self.attempts[spec.id] += 1
            if self.attempts[spec.id] >= MAX_ATTEMPTS:
                self._record(error_record(spec, "its worker process died twice"))
            else:
                self.queue.appendleft(spec)
        self.pool = make_pool(self.pool.kind, self.pool.slots, self.opts.scheduler,
                              _log_file(self.opts))

    def _overdue(self) -> None:
        """A run far past its deadline means a stuck worker: record it and replace the pool."""
        now = time.monotonic()
        late = [(f, s) for f, (s, t) in self.in_flight.items() if t and now - t > self.limit_s]
        if not late:
            return
        for future, spec in late:
            self.in_flight.pop(future)
            self._record(error_record(spec, f"no result after {self.limit_s:.0f} s: the "
                                            f"worker was stopped"))
        if self.pool.kind == "local":
            others = [spec for spec, _ in self.in_flight.values()]
            self.in_flight.clear()
            self.pool.close(kill=True)
            reap_orphans(self.opts.out, keep_dirs=self.opts.keep_runs)
            self.queue.extendleft(reversed(others))
            self.pool = make_pool("local", self.pool.slots, None, _log_file(self.opts))

    def interrupt(self) -> None:
        """Stop now: end the runs in flight (they are flown again on resume)."""
        self.in_flight.clear()
        self.pool.close(kill=True)
        reap_orphans(self.opts.out, keep_dirs=self.opts.keep_runs)
        self.progress.update(self.records, running=0, finished=False)


def error_record(spec: RunSpec, why: str) -> dict[str, Any]:
    """A run the bench could not fly: kept, counted apart from the outcome classes."""
    now = time.time()
    return {"id": spec.id, "spec": spec.to_dict(), "started_unix": now, "finished_unix": now,
            "wall_s": 0.0, "worker": None, "observation": {"error": why},
            "verdict": {"class": None, "reasons": [f"not flown: {why}"], "detections": [],
                        "recovered": None, "recovery_s": None}}


def run_line(record: dict[str, Any], done: int, total: int) -> str:
    spec, verdict = record["spec"], record["verdict"]
    cls = verdict.get("class") or "NOT FLOWN"
    extra = ""
    if cls == "due":
        extra = f" (recovered in {verdict['recovery_s']:.1f} s)" \
            if verdict.get("recovered") and verdict.get("recovery_s") is not None \
            else " (recovered)" if verdict.get("recovered") else " (NOT recovered)"
    if cls in ("sdc", "data_lost", "NOT FLOWN") or (cls == "due" and not verdict["recovered"]):
        extra += f": {'; '.join(verdict.get('reasons', []))[:200]}"
    return (f"[{done:>4}/{total}] #{spec['id']:<4} {spec['fault']:<20} {spec['target'][:24]:<24} "
            f"slot {spec['slot']:>2}  {cls}{extra}  {record.get('wall_s', 0):.1f} s")


# ------------------------------------------------------------------------------ entry point


def run_campaign(opts: Options, log: Log = _stderr) -> int:
    """Plan (or continue) and fly the campaign; write its report. The exit status."""
    from hil.campaign.report import write_report

    check_selection(opts.classes, opts.faults)
    if opts.margin is not None and not 0.0 < opts.margin < 1.0:
        raise CampaignError(f"--margin must be between 0 and 1 (0.05 is ±5 %), not "
                            f"{opts.margin}")
    if opts.workers is not None and opts.workers < 1:
        raise CampaignError(f"--workers must be at least 1, not {opts.workers}")
    with _locked(opts.out):
        request = _settle_request(opts, log)
        opts.margin = float(opts.margin or request.get("margin") or 0.05)
        for found in reap_orphans(opts.out, keep_dirs=opts.keep_runs):
            log(f"reaped run {found['run']} left by a dead worker: "
                f"{len(found['killed'])} process(es)")
        try:
            pool = make_pool(opts.executor, opts.workers, opts.scheduler, _log_file(opts))
        except ExecutorError as exc:
            raise CampaignError(str(exc)) from None
        if not (opts.out / "campaign.json").exists():
            write_atomic(opts.out / "campaign.json", json.dumps(request, indent=1))
        runner: Runner | None = None
        previous = signal.signal(signal.SIGTERM, _raise_interrupt)
        try:
            context = {"campaign_dir": str(opts.out.resolve()), "keep_runs": opts.keep_runs,
                       "golden": None}
            golden = _golden(opts.out, pool, context, log)
            plan = _plan(opts.out, request, golden, log)
            runner = Runner(opts, plan, golden, pool, log)
            runner.run()
        except KeyboardInterrupt:
            log("interrupted: stopping the runs in flight (they are flown again on resume)")
            if runner is not None:
                runner.interrupt()
            else:
                pool.close(kill=True)
            if (opts.out / "plan.json").exists():
                path = write_report(opts.out, margin=opts.margin)
                log(f"partial report: {path}")
            return 130
        finally:
            signal.signal(signal.SIGTERM, previous)
            if runner is not None:
                runner.pool.close()
            else:
                pool.close()
            reap_orphans(opts.out, keep_dirs=opts.keep_runs)
        path = write_report(opts.out, margin=opts.margin)
        log(f"report: {path} (and report.md, report.json)")
        return _exit_status(runner.records, opts.strict)


def _log_file(opts: Options) -> str:
    return str((opts.out / "workers.log").resolve())


def _raise_interrupt(signum: int, frame: Any) -> None:
    del signum, frame
    raise KeyboardInterrupt


def _exit_status(records: dict[int, dict[str, Any]], strict: bool) -> int:
    """0; with --strict, 1 when any run is SDC, data lost or an unrecovered DUE."""
    if not strict:
        return 0
    for record in records.values():
        verdict = record.get("verdict") or {}
        if verdict.get("class") in ("sdc", "data_lost") or (
                verdict.get("class") == "due" and not verdict.get("recovered")):
            return 1
    return 0


__all__ = ["CampaignError", "CampaignFileError", "GoldenError", "Options", "run_campaign"]
