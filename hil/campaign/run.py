"""One campaign run: a fresh testbed, the workload, one fault, observation, a verdict.

:func:`execute_run` is what an executor calls (in a local worker process or on a Dask worker):
a module-level function of plain, picklable data returning a plain dict. It never raises for
anything that goes wrong in the run — a bench failure before the fault took effect comes back as
``error`` (not an outcome), anything after it is the stack's outcome — and it always tears the
stack down and reaps whatever is left under the run directory.

The timeline (seconds from the workload's submission; see docs/campaigns.md):

1. bring-up: a testbed in its own run directory, the job runner's parameters set over the bus;
2. ``t = 0``: the workload uplinked through the ground link;
3. ``t = slot centre x golden window``: a snapshot of what has been accepted (queue, stored
   results, archived telemetry), then the injection; a lasting fault is cleared after its
   sampled hold;
4. until every end condition holds (jobs terminal, results downloaded and checked, stack
   nominal, fresh telemetry at the ground) — but at least ``SETTLE_S`` after the injection, so a
   hang has time to be noticed — or until the deadline, 10 x the golden run's duration;
5. a final snapshot, the verdict, teardown.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import random
import shutil
import signal
import threading
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hil.campaign import observe
from hil.campaign.classify import classify, event_key, safe_requested
from hil.campaign.reap import RUN_DIR_PREFIX, LiveFile, reap_run_dir
from hil.campaign.workload import (
    CAMPAIGN_OVERRIDES,
    CHUNK_SIZE,
    STACK_PARAMS,
    WORKLOAD,
    golden_digests,
)

#: The least time a run watches after the injection: the executive's hang detection
#: (hang_misses x heartbeat period = 10 x 0.2 s) and a restart, with a margin.
SETTLE_S = 3.0
#: A golden run has no golden to take its deadline from.
GOLDEN_DEADLINE_S = 120.0
#: The longest an injector or a clear may take before the run stops waiting for it.
INJECT_TIMEOUT_S = 20.0
#: Deadline multiple of the golden run's duration (the usual DUE threshold, FIELD_NOTES).
TIMEOUT_FACTOR = 10.0
#: ... but never shorter than this: noticing a hang (2 s) and starting a fresh Python app on a
#: busy two-core machine (up to ~5 s), with room to spare. A quiet machine can run the workload
#: in about a second, and ten of those would call a normal restart a timeout.
MIN_DEADLINE_S = 15.0
#: Pause between checks of the end conditions.
POLL_S = 0.15
#: Bring-ups tried before a run counts as not flown.
BRINGUP_ATTEMPTS = 2
#: The longest a fresh stack may take to be nominal (every app running, mode NOMINAL).
NOMINAL_TIMEOUT_S = 60.0


class Terminated(BaseException):
    """The worker was told to stop (SIGTERM, or its parent died): clean up, then exit."""


# ------------------------------------------------------------------------------ worker side

_IN_RUN = threading.Event()
_TERMINATE = threading.Event()
_LOCAL_WORKER = False


def worker_init(log_file: str | None = None) -> None:
    """Initializer of local worker processes.

    Library logging goes to ``log_file`` (the campaign's ``workers.log``). The worker gets
    SIGTERM when its parent (the campaign) dies (PR_SET_PDEATHSIG) and on
    shutdown; mid-run that unwinds the run (stack stopped, processes reaped, run dir removed)
    and then ends the process; between runs it ends it at once. Ctrl-C belongs to the campaign
    process, which shuts workers down itself.
    """
    global _LOCAL_WORKER
    _LOCAL_WORKER = True
    if log_file:  # what the stack's and ground's libraries log goes here, not to the terminal
        logging.basicConfig(filename=log_file, level=logging.WARNING,
                            format="%(asctime)s worker %(process)d %(name)s: %(message)s")
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_sigterm)
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() == 1:  # the parent died before we could ask
            os._exit(143)


def _on_sigterm(signum: int, frame: Any) -> None:
    del signum, frame
    if not _IN_RUN.is_set():
        os._exit(143)
    if not _TERMINATE.is_set():  # once: a second signal must not cut the unwinding short
        _TERMINATE.set()
        raise Terminated()


def execute_run(spec: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """Fly one run (``spec['fault']`` None: the golden run); the run's record.

    A stack that does not come up is tried again in a fresh run directory (a bench problem,
    not the fault's doing: nothing has been injected yet), at most ``BRINGUP_ATTEMPTS`` times.
    """
    started, t_start = time.time(), time.monotonic()
    record: dict[str, Any] = {"id": spec["id"], "spec": spec, "started_unix": started,
                              "worker": f"{os.uname().nodename}:{os.getpid()}"}
    failures: list[str] = []
    for attempt in range(1, BRINGUP_ATTEMPTS + 1):
        obs = _attempt(spec, context)
        if "t_submit" in obs or not obs.get("error") or attempt == BRINGUP_ATTEMPTS:
            break
        failures.append(str(obs["error"]))
    if failures:
        obs["bringup_failures"] = failures
    record.update(finished_unix=time.time(), wall_s=round(time.monotonic() - t_start, 3))
    record["observation"] = obs
    background = (context.get("golden") or {}).get("background", [])
    record["verdict"] = classify(obs, background) if spec.get("fault") else \
        {"class": None, "reasons": ["golden run"], "detections": [], "recovered": None,
         "recovery_s": None}
    return record


def _attempt(spec: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """One bring-up and flight in a fresh run directory, always cleaned up after.

    A stop request (SIGTERM in a local worker) at any point of it unwinds the flight; the clean-up
    itself runs with SIGTERM blocked, so nothing is left half done, and the worker exits after.
    """
    t0 = time.monotonic()
    obs: dict[str, Any] = {}
    run_dir: Path | None = None
    live: LiveFile | None = None
    _IN_RUN.set()
    try:
        run_dir = Path(_mkdtemp())
        obs["run_dir"] = str(run_dir)
        live = LiveFile(context.get("campaign_dir"), int(spec["id"]), run_dir)
        _fly(spec, context, run_dir, t0, obs)
    except Terminated:
        obs.setdefault("error", "the worker was told to stop")
    except Exception as exc:
        _fail(obs, exc)
    finally:
        blocked = _block_sigterm()
        try:
            if run_dir is not None:
                obs["reaped"] = reap_run_dir(run_dir)
                kept = _keep_or_remove(run_dir, context, int(spec["id"]))
                if kept:
                    obs["kept_run_dir"] = kept
            if live is not None:
                live.remove()
        finally:
            _IN_RUN.clear()
            if _TERMINATE.is_set() and _LOCAL_WORKER:
                os._exit(143)
            _unblock_sigterm(blocked)
    return obs


def _block_sigterm() -> bool:
    if threading.current_thread() is not threading.main_thread():
        return False
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    return True


def _unblock_sigterm(blocked: bool) -> None:
    """Unblock; a SIGTERM that came meanwhile is handled now (outside a run: exit)."""
    if blocked:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})


def _mkdtemp() -> str:
    import tempfile

    return tempfile.mkdtemp(prefix=RUN_DIR_PREFIX, dir="/tmp")


def _fail(obs: dict[str, Any], exc: BaseException) -> None:
    """An exception out of the run: before the injection took effect it voids the run."""
    text = f"{type(exc).__name__}: {exc}"
    obs["exception"] = text
    obs["traceback"] = traceback.format_exc(limit=8)[-3000:]
    if not obs.get("injected"):
        obs["error"] = text
    else:
        obs.setdefault("completed", False)
        obs.setdefault("pending", ["the bench's observation (it failed)"])


def _keep_or_remove(run_dir: Path, context: dict[str, Any], run_id: int) -> str | None:
    """Remove the run dir, or move it into ``<campaign>/runs/<id>`` with --keep-runs."""
    ground = run_dir.with_name(run_dir.name + "-ground")
    if ground.is_dir():  # the ground's side goes with it: inside the run dir from now on
        with contextlib.suppress(OSError, shutil.Error):
            shutil.move(str(ground), str(run_dir / "ground-side"))
        shutil.rmtree(ground, ignore_errors=True)
    campaign = context.get("campaign_dir")
    if context.get("keep_runs") and campaign and Path(campaign).is_dir():
        dest = Path(campaign) / "runs" / ("golden" if run_id < 0 else f"{run_id:05d}")
        dest.parent.mkdir(exist_ok=True)
        shutil.rmtree(dest, ignore_errors=True)
        with contextlib.suppress(OSError, shutil.Error):
            shutil.move(str(run_dir), str(dest))
            return str(dest)
    shutil.rmtree(run_dir, ignore_errors=True)
    return None


# ------------------------------------------------------------------------------ the flight

#: Parameters a campaign draws for a fault (the rest keep their defaults). A damaged file is
#: read back within the run (``restart``: its owner is killed and restarted) wherever the owner
#: is an app the executive restarts: a corruption nobody reads before the run ends would be
#: counted masked while it still lies in wait. The executive's own files are read at its next
#: start, which a run does not reach.
SAMPLED_PARAMS: dict[str, dict[str, tuple[Any, ...]]] = {
    "checkpoint_corrupt": {"how": ("flip", "truncate"), "restart": (True,)},
    "tmstore_corrupt": {"how": ("flip", "truncate", "garble"), "restart": (True,)},
}


def sampled_params(fault: str, target: str, rng: random.Random) -> dict[str, Any]:
    """This run's draw of the fault's sampled parameters (see :data:`SAMPLED_PARAMS`)."""
    params = {name: rng.choice(choices)
              for name, choices in SAMPLED_PARAMS.get(fault, {}).items()}
    if target.split("/")[0] == "executive":
        params.pop("restart", None)
    return params



@contextlib.contextmanager
def _run_dir_filesystem(fault_name: str | None, run_dir: Path) -> Iterator[None]:
    """The run dir on the filesystem its fault needs (:meth:`Fault.run_dir_filesystem`)."""
    if not fault_name:
        yield
        return
    from hil.faults import get_fault

    with get_fault(fault_name).run_dir_filesystem(run_dir) as mounted:
        if mounted is not None:
            run_dir.chmod(0o700)
        yield


def _fly(spec: dict[str, Any], context: dict[str, Any], run_dir: Path, t0: float,
         obs: dict[str, Any]) -> None:
    from hil.testbed import start_testbed

    timings: dict[str, float] = {}
    obs["timings"] = timings
    # The ground's archive and ARSN state live beside the run dir, not on it: a full disk
    # (its own small filesystem) is the spacecraft's, not the ground's.
    ground_dir = run_dir.with_name(run_dir.name + "-ground")
    with _run_dir_filesystem(spec.get("fault"), run_dir), \
            start_testbed(CAMPAIGN_OVERRIDES, run_dir=run_dir, timeout=NOMINAL_TIMEOUT_S,
                          link_seed=int(spec["seed"]) & 0xFFFFFFFF,
                          ground_dir=ground_dir) as bed:
        bus = observe.BusLog(bed, t0)
        try:
            _wait_nominal(bed)
            timings["bringup_s"] = round(time.monotonic() - t0, 3)
            _set_params(bed)
            Flight(spec, context, bed, bus, t0, obs).fly()
        finally:
            bus.stop()
            obs["events_dropped"] = bus.dropped_events
            timings["teardown_from"] = round(time.monotonic() - t0, 3)
    timings["total_s"] = round(time.monotonic() - t0, 3)


def _wait_nominal(bed: Any) -> None:
    """Every app running and the mode NOMINAL before the workload: the precondition."""
    end = time.monotonic() + NOMINAL_TIMEOUT_S
    table = None
    while time.monotonic() < end:
        table = observe.process_table(bed)
        if table and table["mode"] == "NOMINAL" and observe.is_nominal(table, False):
            return
        time.sleep(0.1)
    raise RuntimeError(f"the fresh stack was not nominal within {NOMINAL_TIMEOUT_S:g} s: "
                       f"{table}")


def _set_params(bed: Any) -> None:
    for app, values in STACK_PARAMS.items():
        for name, value in values.items():
            reply = bed.stack.command(app, "param_load", {"name": name, "value": value})
            if not reply.ok:
                raise RuntimeError(f"{app}.param_load {name}: {reply.message}")
        reply = bed.stack.command(app, "param_activate")
        if not reply.ok:
            raise RuntimeError(f"{app}.param_activate: {reply.message}")


class Flight:
    """The part of a run between bring-up and teardown."""

    def __init__(self, spec: dict[str, Any], context: dict[str, Any], bed: Any,
                 bus: observe.BusLog, t0: float, obs: dict[str, Any]) -> None:
        self.spec, self.bed, self.bus, self.t0, self.obs = spec, bed, bus, t0, obs
        self.golden: dict[str, Any] | None = context.get("golden")
        self.rng = random.Random(int(spec["seed"]))
        self.digests = self.golden["digests"] if self.golden else golden_digests()
        self.jobs: list[dict[str, Any]] = []
        self.injection: Any = None
        self.fault: Any = None
        self.t_clear: float | None = None
        self.clear_at: float | None = None
        self.t_inject_start = self.t_inject_end = 0.0

    def now(self) -> float:
        return time.monotonic() - self.t0

    # -------------------------------------------------------------- phases
    def fly(self) -> None:
        from ground.jobs import submit_job

        for job, digest in zip(WORKLOAD, self.digests, strict=True):
            job_id = submit_job(self.bed.require_ground(), job.kind, dict(job.params),
                                priority=job.priority, timeout=10.0)
            self.jobs.append({"id": job_id, "kind": job.kind, "golden_sha256": digest,
                              "state": None})
        self.t_submit = self.now()
        self.obs["t_submit"] = round(self.t_submit, 3)
        if self.golden is None:
            self._golden_flight()
            return
        self.deadline = self.t_submit + run_deadline(self.golden)
        self.obs["deadline_s"] = round(self.deadline - self.t_submit, 3)
        self._wait_until(self.t_submit + float(self.spec["t_frac"]) * self.golden["window_s"])
        self._inject()
        self._watch()
        self._final_snapshot()

    def _golden_flight(self) -> None:
        """No fault: measure the window, probe every fault's targets mid-way, see it end."""
        self.deadline = self.t_submit + GOLDEN_DEADLINE_S
        self.obs["t_inject"] = self.t_submit
        self.obs["injected"] = True  # from here on a failure is the stack's, not the bench's
        self._wait_for(lambda: self._event_time("jobs", "JOB_STARTED"), 30.0)
        with contextlib.suppress(TimeoutError):  # checkpoint files are targets too
            self._wait_for(lambda: (self.bus.telemetry("jobs").get("checkpoints") or 0) > 0
                           or None, 10.0)
        self.obs["targets"] = probe_targets(self.bed)
        self._watch(settle=0.0)
        self.obs["jobs"] = self.jobs
        dones = [e["t"] for e in self.bus.events_since(0.0)
                 if e["app"] == "jobs" and e["name"] == "JOB_DONE"]
        self.obs["window_s"] = round(max(dones, default=self.now()) - self.t_submit, 3)
        self.obs["duration_s"] = round((self.obs.get("t_complete") or self.now())
                                       - self.t_submit, 3)
        self.obs["params_end"] = observe.parameters(self.bed, self._apps())
        self.obs["events"] = self.bus.events_since(0.0)

    def _inject(self) -> None:
        from hil.faults import get_fault

        bed = self.bed
        self.fault = get_fault(self.spec["fault"])
        self.obs["queue_before"] = observe.jobs_table(bed) or {}
        self.obs["results_before"] = observe.stored_results(bed)
        self.obs["archive_before"] = observe.archived_downlink(bed.archive_path, time.time())
        comms = self.bus.telemetry("comms")
        self.obs["store"] = {"dropped_before": comms.get("store_dropped"),
                             "packets_before": comms.get("store_packets")}
        self.process_before = observe.process_table(bed)
        target = self.spec["target"]
        available = sorted(self.fault.targets(bed))
        if target not in available and available:
            self.obs["target_substituted"] = {"planned": target, "available": available}
            target = self.rng.choice(available)
        self.obs["target"] = target
        self.t_inject_start = self.now()
        params = sampled_params(self.spec["fault"], target, self.rng)
        self.obs["fault_params"] = params
        injection = _bounded(lambda: self.fault.run(bed, target, params, self.rng),
                             INJECT_TIMEOUT_S, "the injector")
        self.injection = injection
        self.t_inject_end = self.now()
        self.obs["t_inject"] = round(self.t_inject_start, 3)
        self.obs["inject_s"] = round(self.t_inject_end - self.t_inject_start, 3)
        self.obs["t_inject_wall"] = time.time()
        self.obs["injected"] = True
        self.obs["injection"] = _safe_dict(injection)
        hold = float(self.spec.get("hold_frac", 0.5)) * float(self.golden["window_s"])
        self.clear_at = self.now() + max(0.5, hold) if injection.lasting else None
        self.obs["hold_s"] = round(max(0.5, hold), 3) if injection.lasting else None

    def _clear(self) -> None:
        if self.clear_at is None or self.t_clear is not None:
            return
        if self.now() < self.clear_at:
            return
        try:
            _bounded(lambda: self.fault.clear(self.bed, self.injection), INJECT_TIMEOUT_S,
                     "the fault's clear")
        except Exception as exc:
            self.obs["clear_error"] = f"{type(exc).__name__}: {exc}"
        self.t_clear = self.now()
        self.obs["t_clear"] = round(self.t_clear, 3)

    # -------------------------------------------------------------- watching
    def _watch(self, settle: float = SETTLE_S) -> None:
        """Check the end conditions in order until all hold (after ``settle``) or the deadline."""
        t_inject = float(self.obs["t_inject"])
        steps = (("jobs finished", self._jobs_final), ("results downloaded", self._results),
                 ("stack nominal", self._nominal), ("telemetry at the ground", self._telemetry))
        done: set[str] = set()
        last_bad, back_at = None, None
        while True:
            self._clear()
            table = observe.process_table(self.bed)
            if observe.is_nominal(table, self._safe_allowed()):
                back_at = back_at if back_at is not None else self.now()
            else:
                last_bad, back_at = self.now(), None
            cleared = self.clear_at is None or self.t_clear is not None
            for name, check in steps:
                if name in done:
                    continue
                if not cleared or not self._guarded(check, name):
                    break
                done.add(name)
                self.obs["timings"].setdefault(name.replace(" ", "_"), round(self.now(), 3))
            if len(done) == len(steps) and self.now() >= t_inject + settle \
                    and observe.is_nominal(observe.process_table(self.bed), self._safe_allowed()):
                self.obs["completed"] = True
                self.obs["t_complete"] = round(self.now(), 3)
                break
            if len(done) == len(steps):
                done.discard("stack nominal")  # to be seen again after the settling time
            if self.now() >= self.deadline:
                self.obs["completed"] = False
                self.obs["pending"] = [n for n, _ in steps if n not in done] or \
                    ["the settling time"]
                break
            time.sleep(POLL_S)
        self._clear_anyway()
        events = self.bus.events_since(t_inject)
        recovery_events = [e["t"] for e in events if e["name"] in RECOVERY_EVENTS]
        marks = [t for t in (back_at if last_bad is not None else None, *recovery_events)
                 if t is not None]
        self.obs["recovery_s"] = round(max(marks) - t_inject, 3) if marks else None

    def _clear_anyway(self) -> None:
        if self.clear_at is not None and self.t_clear is None:
            self.clear_at = self.now()
            self._clear()

    def _guarded(self, check: Any, name: str) -> bool:
        try:
            return bool(check())
        except Exception as exc:
            self.obs.setdefault("check_errors", {})[name] = f"{type(exc).__name__}: {exc}"[:300]
            return False

    def _jobs_final(self) -> bool:
        from ground.jobs import JobError, job_status

        for job in self.jobs:
            if job["state"] in ("done", "failed", "cancelled", "gone"):
                continue
            left = self.deadline - self.now()
            try:
                record = job_status(self.bed.require_ground(), job["id"],
                                    timeout=max(0.2, min(2.0, left)))
            except JobError as exc:
                if f"no job {job['id']}" not in str(exc):
                    job["last_error"] = str(exc)[:300]
                    return False  # lost on the link, comms or the runner restarting: ask again
                job["state"], job["error"] = "gone", str(exc)[:300]  # the runner has no such job
                continue
            job["state"] = record.get("state")
            job["reported_sha256"] = record.get("sha256") or None
            job["result"] = record.get("result") or None
            job["error"] = record.get("error") or ""
            job["rollbacks"], job["corrected"] = record.get("rollbacks"), record.get("corrected")
            if job["state"] not in ("done", "failed", "cancelled"):
                return False
        return True

    def _results(self) -> bool:
        from ground.results import DownloadError, download_result

        for job in self.jobs:
            if job["state"] != "done" or job.get("download") in ("ok", "refused", "corrupt"):
                continue
            left = self.deadline - self.now()
            try:
                data = download_result(self.bed.require_ground(), str(job["result"]),
                                       timeout=max(0.5, min(5.0, left)),
                                       request_timeout=1.0, chunk_size=CHUNK_SIZE)
            except DownloadError as exc:
                text = str(exc)
                if "refused" in text:
                    job["download"], job["download_error"] = "refused", text[:300]
                    continue
                if "does not match" in text:
                    job["download"], job["download_error"] = "corrupt", text[:300]
                    continue
                job["download"], job["download_error"] = "failed", text[:300]
                return False
            job["download"] = "ok"
            job["downloaded_sha256"] = hashlib.sha256(data).hexdigest()
        return True

    def _nominal(self) -> bool:
        return observe.is_nominal(observe.process_table(self.bed), self._safe_allowed())

    def _telemetry(self) -> bool:
        ground = self.bed.require_ground()
        since = self.t0 + max(self.t_clear or 0.0, float(self.obs["t_inject"]))
        return bool(ground.reports(since=since)) or bool(
            ground.await_telemetry(timeout=max(0.2, min(1.0, self.deadline - self.now())),
                                   since=since, history=True))

    def _safe_allowed(self) -> bool:
        return safe_requested(self.bus.events_since(float(self.obs.get("t_inject", 0.0))))

    # -------------------------------------------------------------- the end
    def _final_snapshot(self) -> None:
        bed, obs = self.bed, self.obs
        obs["jobs"] = self.jobs
        obs["queue_after"] = observe.jobs_table(bed)
        obs["results_after"] = observe.stored_results(bed)
        with contextlib.suppress(Exception):
            bed.require_ground().archive.flush()
        obs["archive_after"] = observe.archived_downlink(bed.archive_path,
                                                         float(obs["t_inject_wall"]))
        obs["store"]["dropped_after"] = self.bus.telemetry("comms").get("store_dropped")
        obs["counters"] = {app: {k: self.bus.telemetry(app).get(k) for k in keys}
                           for app, keys in COUNTERS.items()}
        table = observe.process_table(bed)
        obs["process_end"] = table
        obs["mode_end"] = table["mode"] if table else None
        obs["restarts"] = _restart_deltas(self.process_before, table)
        obs["params_diff"] = _params_diff(self.golden.get("params_end") or {},
                                          observe.parameters(bed, self._apps()))
        obs["events"] = self.bus.events_since(float(obs["t_inject"]))
        obs["events_before"] = len(self.bus.events_since(0.0)) - len(obs["events"])
        obs["ground_commands_after"] = self._ground_commands()

    def _ground_commands(self) -> dict[str, int]:
        """Telecommands the ground sent after the injection, outside the fault's own span."""
        start = self.t0 + float(self.obs["t_inject"])
        fault_until = self.t0 + max(self.t_inject_end, self.t_clear or 0.0)
        names: Counter[str] = Counter()
        for handle in self.bed.require_ground().commands():
            sent = getattr(handle, "sent_mono", float("nan"))
            if sent >= start and not (self.t0 + self.t_inject_start <= sent <= fault_until):
                names[str(handle.command)] += 1
        return dict(names)

    def _apps(self) -> list[str]:
        table = observe.process_table(self.bed) or {"apps": {}}
        return sorted(table["apps"])

    # -------------------------------------------------------------- helpers
    def _wait_until(self, t: float) -> None:
        while (left := t - self.now()) > 0:
            time.sleep(min(left, 0.05))

    def _wait_for(self, check: Any, timeout: float) -> Any:
        end = self.now() + timeout
        while self.now() < end:
            value = check()
            if value is not None:
                return value
            time.sleep(0.02)
        raise TimeoutError(f"gave up after {timeout:g} s")

    def _event_time(self, app: str, name: str) -> float | None:
        for e in self.bus.events_since(self.t_submit):
            if e["app"] == app and e["name"] == name:
                return float(e["t"])
        return None


#: Telemetry kept as evidence at the end of a run (the latest values; a restarted app's
#: counters start again from zero).
COUNTERS = {
    "jobs": ("detections", "corrected", "masked", "rollbacks", "checkpoints",
             "checkpoint_fallbacks", "done", "failed", "sim_flips"),
    "radiation": ("upsets", "by_evidence", "by_outcome", "scrubs", "table_repairs",
                  "jobs_crashes"),
    "comms": ("tc_accepted", "tc_rejected", "tm_sent", "tm_stored", "store_packets",
              "store_dropped", "send_errors"),
    "executive": ("restarts", "fdir_trips", "apps_down"),
    "power": ("sensor_faults", "shed_count", "mode_requests"),
    "thermal": ("sensor_faults", "survival_trips", "duty_limit"),
}

#: Events that mark the stack coming back (for the recovery time).
RECOVERY_EVENTS = frozenset({"APP_RUNNING", "ROLLED_BACK", "CHECKPOINT_FALLBACK",
                             "QUEUE_RECOVERED", "MODE_CHANGED", "TABLE_REPAIRED"})


def run_deadline(golden: dict[str, Any]) -> float:
    """Seconds from the workload's submission until a run is a timeout."""
    return max(TIMEOUT_FACTOR * float(golden["duration_s"]), MIN_DEADLINE_S)


def probe_targets(bed: Any) -> dict[str, Any]:
    """Every injector's class and targets on this testbed, now (mid-workload)."""
    from hil.faults import all_faults

    out: dict[str, Any] = {}
    for name, fault in sorted(all_faults().items()):
        entry: dict[str, Any] = {"class": fault.fault_class.value}
        try:
            entry["targets"] = sorted(str(t) for t in _bounded(lambda f=fault: f.targets(bed),
                                                                 10.0, f"{name}.targets"))
        except Exception as exc:
            entry["targets"], entry["error"] = [], f"{type(exc).__name__}: {exc}"[:300]
        out[name] = entry
    return out


def _bounded(call: Any, timeout: float, what: str) -> Any:
    """``call()`` on a helper thread, waited for at most ``timeout`` seconds."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name="campaign-bounded", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"{what} did not return within {timeout:g} s")
    if "error" in box:
        raise box["error"]
    return box.get("value")


def _safe_dict(injection: Any) -> dict[str, Any]:
    try:
        return observe._plain(injection.to_dict())
    except Exception as exc:
        return {"repr": repr(injection)[:500], "to_dict_error": str(exc)}


def _restart_deltas(before: dict[str, Any] | None, after: dict[str, Any] | None
                    ) -> dict[str, int]:
    if not before or not after:
        return {}
    out = {}
    for app, row in after["apps"].items():
        delta = int(row.get("restarts") or 0) - int(
            (before["apps"].get(app) or {}).get("restarts") or 0)
        if delta:
            out[app] = delta
    return out


def _params_diff(golden: dict[str, Any], now: dict[str, Any]) -> dict[str, Any]:
    """Parameters whose value differs from the fault-free run's (apps that answered)."""
    out: dict[str, Any] = {}
    for app, active in now.items():
        want = golden.get(app)
        if not isinstance(active, dict) or not isinstance(want, dict):
            continue
        diffs = {k: [want.get(k), active.get(k)] for k in sorted(set(want) | set(active))
                 if want.get(k) != active.get(k)}
        if diffs:
            out[app] = diffs
    return out


def golden_summary(record: dict[str, Any]) -> dict[str, Any]:
    """What the campaign keeps of its golden run: the reference every run is judged by."""
    obs = record.get("observation") or {}
    if obs.get("error") or obs.get("exception"):
        raise RuntimeError(f"the golden run failed: {obs.get('exception') or obs['error']}")
    if not obs.get("completed"):
        raise RuntimeError(f"the golden run did not finish: still waiting for "
                           f"{', '.join(obs.get('pending') or [])}")
    jobs = obs.get("jobs") or []
    for job in jobs:
        if job.get("downloaded_sha256") != job.get("golden_sha256"):
            raise RuntimeError(f"the golden run's {job.get('kind')} result differs from the "
                               f"ground's recomputation: the fault-free stack is wrong")
    background = sorted({event_key(e) for e in obs.get("events", [])})
    return {"duration_s": obs["duration_s"], "window_s": obs["window_s"],
            "digests": [j["golden_sha256"] for j in jobs], "background": background,
            "params_end": obs.get("params_end") or {}, "targets": obs.get("targets") or {},
            "timings": obs.get("timings"), "wall_s": record.get("wall_s"),
            "worker": record.get("worker"), "events": len(obs.get("events", []))}
