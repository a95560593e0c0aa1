"""The job runner from the ground: submit, cancel and ask after jobs over PUS service 128.

Each call sends one TC[128,n] to comms, waits for its completion report and returns the
TM[128,4] that came before it. Results are downloaded with :func:`ground.results.download_result`.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import msgpack

from flight.link.services import Jobs, Service
from ground.results import COMMS_APID


class JobError(RuntimeError):
    """The spacecraft refused the request, or did not answer in time."""


def submit_job(station: Any, kind: str, params: dict[str, Any] | None = None, *,
               priority: int = 5, timeout: float = 10.0) -> int:
    """Queue a job; returns its id. Raises :class:`JobError` with the spacecraft's reason."""
    request = {"kind": kind, "params": params or {}, "priority": priority}
    return int(_ask(station, Jobs.SUBMIT, request, "submit_job", timeout)["job"])


def cancel_job(station: Any, job: int, *, timeout: float = 10.0) -> dict[str, Any]:
    return _ask(station, Jobs.CANCEL, {"job": job}, "cancel_job", timeout)


def job_status(station: Any, job: int, *, timeout: float = 10.0) -> dict[str, Any]:
    """The job's record (state, progress, result digest ...)."""
    return dict(_ask(station, Jobs.REPORT_STATUS, {"job": job}, "job_status", timeout)["job"])


def list_jobs(station: Any, *, timeout: float = 10.0) -> list[dict[str, Any]]:
    return list(_ask(station, Jobs.REPORT_STATUS, {}, "list_jobs", timeout)["jobs"])


def wait_job(station: Any, job: int, *, timeout: float = 120.0, poll_s: float = 1.0,
             states: tuple[str, ...] = ("done", "failed", "cancelled")) -> dict[str, Any]:
    """Ask after ``job`` until it reaches one of ``states``; its record then."""
    deadline = time.monotonic() + timeout
    record: dict[str, Any] = {}
    while time.monotonic() < deadline:
        with contextlib.suppress(JobError):  # a lost request on a lossy link: ask again
            record = job_status(station, job, timeout=min(10.0, deadline - time.monotonic()))
        if record.get("state") in states:
            return record
        time.sleep(min(poll_s, max(0.0, deadline - time.monotonic())))
    raise JobError(f"job {job} still {record.get('state', 'unknown')} after {timeout:g} s")


def _ask(station: Any, subtype: int, request: dict[str, Any], name: str,
         timeout: float) -> dict[str, Any]:
    since = station.mark()
    handle = station.send_tc(COMMS_APID, Service.JOBS, subtype, msgpack.packb(request),
                             app="comms", name=name, args=request)
    try:
        stage = handle.wait(timeout)
    except TimeoutError:
        raise JobError(f"{name}: no completion report within {timeout:g} s") from None
    if not stage.ok:
        raise JobError(f"{name}: {stage.reason_text}: {stage.message}")
    for report in reversed(station.other_reports(Service.JOBS, Jobs.STATUS_REPORT, since=since)):
        data = report.data
        if isinstance(data, (bytes, bytearray)):
            data = msgpack.unpackb(data)
        if isinstance(data, dict):
            return data
    raise JobError(f"{name}: completed, but its TM[128,4] report did not arrive")
