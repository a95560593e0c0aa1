"""The verdict on one run, from what was observed and nothing else.

A pure function of the observation (:mod:`hil.campaign.run` builds it), so the rules are tested
on crafted observations and a journal can be re-judged. The classes, worst first — the first
that applies wins:

* **sdc** — a job the stack called done whose result differs from the ground's recomputation,
  or parameters that ended different from the fault-free run's: wrong output (or state) that
  the stack sealed as good. Detection events along the way do not excuse it: they did not
  protect the output.
* **data_lost** — something accepted before the fault is gone: a job lost, failed or
  cancelled; a queue entry missing; a stored result missing, changed or refused as damaged;
  parameters an app reverted to older values when it fell back to an older checkpoint;
  downlinked telemetry the ground archive held that it no longer holds; telemetry the
  on-board store held and dropped or moved aside.
* **due** — the stack had to restart or roll back (an app exited, hung or flapped; a rollback,
  a checkpoint or queue fallback, a policy restart), or the run did not reach its end state
  before the deadline. ``recovered``: everything came back — jobs done and right, every app
  running, mode not SAFE (unless the radiation policy asked for it), telemetry reaching the
  ground — before the deadline and with no ground command other than the workload's own
  queries; ``recovery_s`` from the injection until the stack was nominal again.
* **detected_recovered** — the stack saw something (an event that means detection), the result
  is right and nothing was lost.
* **masked** — no visible effect at all, result right. The job runner's own ``UPSET_MASKED``
  (bits changed within roundoff, result unaffected) counts as masked.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

#: Events that mean the stack had to restart something (app, name).
RESTART_EVENTS = frozenset({
    ("executive", "APP_EXITED"), ("executive", "APP_HUNG"), ("executive", "APP_FLAPPING"),
    ("executive", "BOOT_TIMEOUT"),
})
#: Events that mean state was rolled back to an older copy (any app for CHECKPOINT_FALLBACK).
ROLLBACK_EVENTS = frozenset({
    ("jobs", "ROLLED_BACK"), ("jobs", "QUEUE_RECOVERED"), ("jobs", "QUEUE_LOST"),
    ("radiation", "STATE_RESET"), ("*", "CHECKPOINT_FALLBACK"),
})
#: INFO events that still mean the stack noticed something.
DETECTION_INFO = frozenset({
    ("radiation", "UPSET"), ("thermal", "THROTTLING"), ("jobs", "JOB_PAUSED"),
})
#: Routine events: never evidence of anything (consequences of the above, or the workload).
ROUTINE = frozenset({
    "STARTED", "STOPPING", "NOOP", "COUNTERS_RESET", "PARAM_STAGED", "PARAM_ACTIVATED", "ARMED",
    "MODE_CHANGED", "APP_STARTED", "APP_RUNNING", "APP_RESTART_SCHEDULED", "JOB_SUBMITTED",
    "JOB_STARTED", "JOB_RESUMED", "JOB_DONE", "LINK_OPEN", "CONTACT", "SENSORS",
    "NO_TEMPERATURE", "UPSET_MASKED", "SENSOR_OK", "LOAD_RESTORED", "LOAD_RELEASED",
    "UNTHROTTLED", "TIMETAG_RELEASED", "DVFS_UNAVAILABLE", "DVFS_APPLIED", "KEY_GENERATED",
    "AUTH_DISABLED", "HEATER", "POWER_DATA",
})
#: Limits on the bench machine's own load (the host's CPU, memory and temperature, control
#: loops starved of CPU): they say how busy the machine is, not what the fault did.
MACHINE_LOAD = ("health.LIMIT:cpu_percent", "health.LIMIT:load_1m", "health.LIMIT:mem_",
                "health.LIMIT:temp", "health.LIMIT:process_", "power.LIMIT:control_overruns",
                "thermal.LIMIT:control_overruns")
#: Apps whose events describe the environment or the injection itself.
ENVIRONMENT_APPS = frozenset({"world"})
#: Telecommands the bench itself sends during a run: the workload and its observation.
WORKLOAD_COMMANDS = frozenset({"submit_job", "job_status", "list_jobs", "downlink_result",
                               "ping"})
SEVERITY_RANK = {"DEBUG": 0, "INFO": 1, "WARNING": 2, "ERROR": 3, "CRITICAL": 4}


def event_key(event: dict[str, Any]) -> str:
    """``app.NAME`` (``app.LIMIT:channel`` for limits, whose channel is the point)."""
    key = f"{event.get('app')}.{event.get('name')}"
    if event.get("name") == "LIMIT":
        key += f":{(event.get('args') or {}).get('channel')}"
    return key


def _is(event: dict[str, Any], table: Iterable[tuple[str, str]]) -> bool:
    app, name = event.get("app"), event.get("name")
    return any(name == n and a in (app, "*") for a, n in table)


def _is_detection(event: dict[str, Any], background: set[str]) -> bool:
    app, name = event.get("app"), event.get("name")
    if app in ENVIRONMENT_APPS or name in ROUTINE:
        return False
    if _is(event, RESTART_EVENTS) or _is(event, ROLLBACK_EVENTS):
        return True
    key = event_key(event)
    if key in background or key.startswith(MACHINE_LOAD):
        return False
    return _is(event, DETECTION_INFO) or \
        SEVERITY_RANK.get(str(event.get("severity")), 0) >= SEVERITY_RANK["WARNING"]


def _policy_action(event: dict[str, Any]) -> str | None:
    if event.get("app") == "radiation" and event.get("name") == "POLICY_FIRED":
        return str((event.get("args") or {}).get("action"))
    return None


def safe_requested(events: list[dict[str, Any]]) -> bool:
    """Whether the radiation policy asked for SAFE (then SAFE counts as recovered)."""
    return any(_policy_action(e) == "safe" for e in events)


# ---------------------------------------------------------------------------- the rules


def _wrong_output(obs: dict[str, Any]) -> list[str]:
    reasons = []
    for job in obs.get("jobs", []):
        if job.get("state") != "done":
            continue
        golden = job.get("golden_sha256")
        for what in ("reported_sha256", "downloaded_sha256"):
            got = job.get(what)
            if got and golden and got != golden:
                reasons.append(f"job {job['id']} ({job.get('kind')}) done with a wrong result: "
                               f"{what.split('_')[0]} sha256 {got[:12]} != golden "
                               f"{golden[:12]}")
                break
    fell_back = _fell_back(obs)
    for app, diffs in sorted((obs.get("params_diff") or {}).items()):
        if app in fell_back:
            continue  # restored from an older generation it knew about: lost, not silent
        for name, (want, got) in sorted(diffs.items()):
            reasons.append(f"{app} parameter {name} is {got!r}, the fault-free run has {want!r}")
    return reasons


def _fell_back(obs: dict[str, Any]) -> set[str]:
    """Apps that said they restored their state from an older checkpoint generation."""
    return {str(e.get("app")) for e in obs.get("events", []) if isinstance(e, dict)
            and e.get("name") == "CHECKPOINT_FALLBACK"}


def _lost(obs: dict[str, Any], events: list[dict[str, Any]]) -> list[str]:
    reasons = []
    for job in obs.get("jobs", []):
        state = job.get("state")
        if state in ("failed", "cancelled", "gone"):
            reasons.append(f"job {job['id']} ({job.get('kind')}) accepted before the fault "
                           f"ended {state}{': ' + job['error'] if job.get('error') else ''}")
        elif job.get("download") == "refused":
            reasons.append(f"job {job['id']}: its stored result was refused as damaged "
                           f"({job.get('download_error', '')})")
        elif job.get("download") == "corrupt":
            reasons.append(f"job {job['id']}: its stored result came down not matching its "
                           f"digest")
    before, after = obs.get("queue_before") or {}, obs.get("queue_after")
    if after is not None:
        for job_id, rec in sorted(before.items()):
            now = after.get(job_id)
            if now is None:
                reasons.append(f"queue entry {job_id} ({rec.get('kind')}) is gone")
            elif rec.get("state") == "done" and now.get("state") != "done":
                reasons.append(f"job {job_id} was done before the fault, now {now.get('state')}")
    results_after = obs.get("results_after")
    if results_after is not None:
        for name, digest in sorted((obs.get("results_before") or {}).items()):
            if name not in results_after:
                reasons.append(f"stored result {name} is gone")
            elif results_after[name] != digest:
                reasons.append(f"stored result {name} changed on board")
    fell_back = _fell_back(obs)
    for app, diffs in sorted((obs.get("params_diff") or {}).items()):
        if app in fell_back:
            for name, (want, got) in sorted(diffs.items()):
                reasons.append(f"{app} parameter {name} set before the fault is {got!r} after a "
                               f"checkpoint fallback (it was {want!r})")
    a0, a1 = obs.get("archive_before"), obs.get("archive_after")
    if isinstance(a0, int) and isinstance(a1, int) and a1 < a0:
        reasons.append(f"the ground archive lost {a0 - a1} downlinked packet(s) it held "
                       f"before the fault")
    store = obs.get("store") or {}
    dropped = (store.get("dropped_after") or 0) - (store.get("dropped_before") or 0)
    if dropped > 0:
        reasons.append(f"the on-board telemetry store dropped {dropped} packet(s)")
    if (store.get("packets_before") or 0) > 0 and any(
            e.get("app") == "comms" and e.get("name") == "STORE_RECOVERED" for e in events):
        reasons.append(f"the on-board telemetry store holding {store['packets_before']} "
                       f"packet(s) was moved aside as unreadable")
    return reasons


def _due(obs: dict[str, Any], events: list[dict[str, Any]]) -> list[str]:
    reasons = []
    seen: set[str] = set()
    for e in events:
        if _is(e, RESTART_EVENTS) or _is(e, ROLLBACK_EVENTS) or \
                _policy_action(e) in ("restart_jobs", "safe"):
            key = event_key(e)
            if key not in seen:
                seen.add(key)
                args = e.get("args") or {}
                who = f" ({args['app']})" if "app" in args else ""
                reasons.append(f"{key}{who} at +{e['t'] - obs['t_inject']:.2f} s")
    for app, delta in sorted((obs.get("restarts") or {}).items()):
        if delta > 0 and not any(f"({app})" in r for r in reasons):
            reasons.append(f"{app} restarted {delta} time(s)")
    if not obs.get("completed"):
        pending = ", ".join(obs.get("pending") or []) or "unknown"
        reasons.append(f"not back to its end state within {obs.get('deadline_s', 0):.1f} s "
                       f"(still waiting for: {pending})")
    return reasons


def _unrecovered(obs: dict[str, Any], events: list[dict[str, Any]]) -> list[str]:
    """Why the stack did not come back by itself (empty: it did)."""
    why = []
    if not obs.get("completed"):
        why.append("end state not reached before the deadline")
    extra = sorted(set(obs.get("ground_commands_after") or {}) - WORKLOAD_COMMANDS)
    if extra:
        why.append(f"ground commands were sent: {', '.join(extra)}")
    if obs.get("mode_end") == "SAFE" and not safe_requested(events):
        why.append("ended in SAFE that the radiation policy did not ask for")
    return why


def classify(obs: dict[str, Any], background: Iterable[str] = ()) -> dict[str, Any]:
    """The verdict: ``class``, ``reasons``, ``detections``, ``recovered``, ``recovery_s``.

    ``background`` are event keys (:func:`event_key`) the fault-free run showed too; they are
    not taken as detection (restarts and rollbacks always are). An observation with
    ``error`` set (the bench failed before the fault took effect) gets class None.
    """
    if obs.get("error"):
        return {"class": None, "reasons": [f"not flown: {obs['error']}"], "detections": [],
                "recovered": None, "recovery_s": None}
    events = [e for e in obs.get("events", []) if isinstance(e, dict)]
    quiet = set(background)
    detections = sorted({event_key(e) for e in events if _is_detection(e, quiet)})
    verdict: dict[str, Any] = {"detections": detections, "recovered": None, "recovery_s": None}
    for cls, reasons in (("sdc", _wrong_output(obs)), ("data_lost", _lost(obs, events))):
        if reasons:
            return {"class": cls, "reasons": reasons, **verdict}
    due = _due(obs, events)
    if due:
        why = _unrecovered(obs, events)
        recovered = not why
        return {**verdict, "class": "due", "reasons": due + [f"not recovered: {w}" for w in why],
                "recovered": recovered,
                "recovery_s": obs.get("recovery_s") if recovered else None}
    if detections:
        return {"class": "detected_recovered", "reasons": [f"detected: {', '.join(detections)}"],
                **verdict}
    return {"class": "masked", "reasons": ["no visible effect; results right"], **verdict}
