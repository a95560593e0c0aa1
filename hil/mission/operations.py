"""The ground's side of the mission: what an operator does in each pass.

Only the ground station API is used (:mod:`ground.jobs`, :mod:`ground.results`), through the
space link and only while a station sees the spacecraft — the same calls an operator's script
makes, so a flatsat on a board is flown the same way. In each pass, while its predicted time
allows:

1. ask for the job list (TC[128,3]): what finished, what runs, what waits;
2. keep the payload busy: uplink jobs (TC[128,1]) until the queue holds enough work to last
   to the next pass and a half — but never more than can finish before the last pass, so
   every result comes down. Each job has a planned compute time; how much longer jobs really
   take here (duty limits, eclipses, rollbacks, a busy bench) is learned from the
   JOB_STARTED/JOB_DONE events downlinked so far, so a slow bench gets fewer jobs rather
   than unfinished ones;
3. download every finished job's result (TC[128,5], chunks TM[128,6]) and compare it with the
   golden run computed on the ground (between passes too, as golden runs finish).

A call that fails (the pass ended under it, a lost packet) is reported and tried again at the
next pass; nothing is uplinked twice, because an uplink is only started with time left.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from ground.jobs import JobError, job_status, list_jobs, submit_job
from ground.results import DownloadError, download_result
from ground.station import GroundError
from hil.flatsat_jobs import RUNNER_PARAMS, Goldens, GroundJob, JobBook
from hil.mission.plan import Plan

if TYPE_CHECKING:
    from ground.station import GroundStation
    from hil.mission.recorder import Recorder

#: Most jobs one mission uplinks.
MAX_JOBS = 32
#: Wall time over planned compute time assumed before any job has finished: duty below 1,
#: eclipses and a busy bench stretch every job.
FIRST_SCALE = 2.5
#: Work queued at a pass: enough for this many times the gap to the next pass ...
NEXT_PASS_FILL = 1.5
#: ... but no more than this share of the time left before the last pass (later jobs run
#: slower than early ones: the radiator warms up and throttling deepens).
LAST_PASS_FILL = 0.5
#: Shortest time a job is assumed to take (wall seconds): a job that finished in no time
#: must not make the ground uplink without end.
MIN_ESTIMATE_S = 0.5
#: Wall seconds of pass left below which nothing new is started.
MARGIN_S = 0.4
#: Longest wait for one request (wall seconds).
REQUEST_TIMEOUT_S = 3.0
#: Bytes of result per TM[128,6] (fits the 4 KiB datagram with its header).
CHUNK_SIZE = 3584


class Operator(threading.Thread):
    """Flies the passes from the ground, on its own thread (the timeline keeps running)."""

    def __init__(self, station: GroundStation, plan: Plan, recorder: Recorder, book: JobBook,
                 goldens: Goldens | None, uplink: bool) -> None:
        super().__init__(name="ground-operator", daemon=True)
        self.station = station
        self.plan = plan
        self.recorder = recorder
        self.book = book
        self.goldens = goldens
        self.uplink = uplink
        self.passes = 0
        self.configured = False
        self.stopping = threading.Event()
        self.failure: BaseException | None = None

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        self.join(timeout)

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                if not self.recorder.in_contact.wait(0.1):
                    self.verify_pending()
                    continue
                self.passes += 1
                self._fly_pass()
                while self.recorder.in_contact.is_set() and not self.stopping.wait(0.05):
                    pass
        except BaseException as exc:  # reported by the mission, never lost with the thread
            self.failure = exc

    # ------------------------------------------------------------------ one pass
    def _fly_pass(self) -> None:
        start = self.recorder.now()
        predicted = self.plan.pass_at(start)
        los = predicted.end if predicted is not None else start + 300.0
        station = self.recorder.station or (predicted.label if predicted else "?")
        done: list[str] = []
        known = not self.book.jobs or (self._left(los) > MARGIN_S and self._status(los))
        if self.uplink and not self.configured and self._left(los) > MARGIN_S:
            self._configure(los)
        if self.uplink and self.configured and known:  # never uplink on a stale picture
            uplinked = self._top_up(start, los)
            if uplinked:
                done.append(f"uplinked {_listing(uplinked)}")
        downloaded = 0
        for job in self.book.to_download():
            if self._left(los) <= MARGIN_S or self.stopping.is_set():
                break
            downloaded += self._download(job, los)
        if downloaded:
            done.append(f"downloaded {downloaded} result(s)")
        self.recorder.note("pass", f"pass {self.passes} over {station}: "
                                  + (", ".join(done) or "telemetry only"),
                                  station=station, number=self.passes)

    def _left(self, los: float) -> float:
        """Wall seconds until the predicted LOS."""
        return (los - self.recorder.now()) / self.plan.speed

    def _timeout(self, los: float) -> float:
        return max(0.3, min(REQUEST_TIMEOUT_S, self._left(los) - 0.1))

    def _status(self, los: float) -> bool:
        """Ask for the job list (twice if the first answer is lost); False if none came."""
        for attempt in (1, 2):
            try:
                self.book.take_list(list_jobs(self.station, timeout=self._timeout(los)))
                return True
            except (JobError, GroundError) as exc:
                if attempt == 2 or self._left(los) <= MARGIN_S:
                    self.recorder.note("status", f"job list not received: {exc}", ok=False)
        return False

    def _configure(self, los: float) -> None:
        """Set the job runner's parameters (PUS 20) before the first uplink."""
        try:
            self.station.set_params("jobs", timeout=self._timeout(los), **RUNNER_PARAMS)
        except GroundError as exc:
            self.recorder.note("params", f"job runner parameters not set: {exc}", ok=False)
            return
        self.configured = True
        self.recorder.note("params", "set the job runner's parameters: " + ", ".join(
            f"{k}={v}" for k, v in RUNNER_PARAMS.items()) + " (a checkpoint every second of "
            "compute at most)")

    def _target_s(self, start: float) -> float:
        """Wall seconds of work the queue should hold after the pass starting at ``start``."""
        later = [p for p in self.plan.passes if p.start > start + 60 and p.start < self.plan.end]
        if not later:
            return 0.0  # the last pass: nothing uplinked now could come down
        to_next = (later[0].start - start) / self.plan.speed * NEXT_PASS_FILL
        to_last = (later[-1].start - start) / self.plan.speed * LAST_PASS_FILL
        return min(to_next, to_last)

    def _scale(self) -> float:
        """How much longer than planned jobs take here: their wall time over their planned
        compute time, summed over the JOB_STARTED/JOB_DONE events downlinked so far (a sum,
        so the long jobs weigh most)."""
        started: dict[Any, float] = {}
        for e in self.station.event_history("jobs", "JOB_STARTED"):
            started.setdefault(e.args.get("job"), e.t_onboard)  # the first start counts
        wall = planned = 0.0
        for e in self.station.event_history("jobs", "JOB_DONE"):
            job, t0 = self.book.by_id(e.args.get("job")), started.get(e.args.get("job"))
            if job is not None and t0 is not None:
                wall += (e.t_onboard - t0) / self.plan.speed
                planned += job.cost_s
        return wall / planned if planned > 0 else FIRST_SCALE

    def _queued_s(self, scale: float) -> float:
        """Wall seconds of work the ground believes is still on board."""
        return sum(max(MIN_ESTIMATE_S, j.cost_s * scale) * (1.0 - j.progress)
                   for j in self.book.jobs if j.state not in ("done", "failed", "cancelled"))

    def _top_up(self, start: float, los: float) -> list[GroundJob]:
        """Uplink jobs until the queue holds :meth:`_target_s` of work; those uplinked."""
        target = self._target_s(start)
        scale = self._scale()
        queued = self._queued_s(scale)
        sent: list[GroundJob] = []
        while queued < target and len(self.book.jobs) < MAX_JOBS \
                and not self.stopping.is_set() and self._left(los) > MARGIN_S:
            job = self.book.next_job()
            try:
                job.job = submit_job(self.station, job.kind, job.params, priority=job.priority,
                                     timeout=self._timeout(los))
            except (JobError, GroundError) as exc:
                self.recorder.note("uplink", f"uplink of a {job.kind} job failed: {exc}",
                                          ok=False)
                break
            job.uplinked_t, job.state = self.recorder.now(), "queued"
            self.book.add(job)
            if self.goldens is not None:
                self.goldens.add(job.job, job.kind, job.params)
            self.recorder.note("uplink", f"uplinked job #{job.job} {job.kind} "
                                      f"{_brief(job.params)}", job=job.job, kind=job.kind,
                               quiet=True)
            queued += max(MIN_ESTIMATE_S, job.cost_s * scale)
            sent.append(job)
        return sent

    def _download(self, job: GroundJob, los: float) -> int:
        """Fetch ``job``'s record and result; check it against the golden. 1 if it came down."""
        try:
            job.take(job_status(self.station, job.job, timeout=self._timeout(los)))
            data = download_result(self.station, job.result, timeout=self._timeout(los),
                                   request_timeout=min(1.0, self._timeout(los)),
                                   chunk_size=CHUNK_SIZE)
        except (JobError, DownloadError, GroundError) as exc:
            self.recorder.note("download", f"result of job #{job.job} not down yet: "
                                      f"{exc}", ok=False, job=job.job)
            return 0
        job.downloaded = len(data)
        job.digest = _sha256(data)
        self.recorder.note("download", f"downloaded job #{job.job}'s result "
                           f"({len(data) / 1024:.0f} KiB, sha256 {job.digest[:12]}…)",
                           job=job.job, bytes=len(data), quiet=True)
        self.check(job, wait_s=0.0, size=len(data))
        if not job.golden:
            self.recorder.note("download", f"job #{job.job} {job.kind}: result downloaded "
                               f"({len(data) / 1024:.0f} KiB); its golden run is still "
                               "computing on the ground", job=job.job)
        return 1

    def verify_pending(self) -> None:
        """Check downloaded results whose golden run has finished since."""
        for job in self.book.jobs:
            if job.downloaded is not None and not job.golden:
                self.check(job, wait_s=0.0)

    def check(self, job: GroundJob, wait_s: float, size: int | None = None) -> None:
        """Compare a downloaded result with its golden, once the golden is ready."""
        if job.downloaded is None or job.golden or self.goldens is None:
            return
        golden = self.goldens.get(job.job, timeout=wait_s)
        if golden is None:
            return
        job.golden = golden
        verdict = "identical to" if job.verified else "DIFFERS from"
        what = "result" if size is None else f"result downloaded ({size / 1024:.0f} KiB),"
        self.recorder.note("verify", f"job #{job.job} {job.kind}: {what} {verdict} the "
                           "golden run computed on the ground", job=job.job,
                           ok=bool(job.verified))


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def _listing(jobs: list[GroundJob]) -> str:
    """``4 jobs (#5 mlp_train, #6 inference, ...)``."""
    names = ", ".join(f"#{j.job} {j.kind}" for j in jobs)
    return f"{len(jobs)} job{'s' if len(jobs) != 1 else ''} ({names})"


def _brief(params: dict[str, Any]) -> str:
    keys = ("epochs", "samples", "batches", "batch_size", "n", "hidden", "seed")
    return "(" + ", ".join(f"{k}={params[k]}" for k in keys if k in params) + ")"
