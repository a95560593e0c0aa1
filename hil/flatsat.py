"""``sunlit-hil flatsat``: fly the demo mission on a simulated flatsat and report on it.

What a newcomer sees: the stack boots, the mission plan (passes, eclipses, SAA crossings from
the same world model the flatsat runs), then a live timeline — a status line every few seconds
and every event that matters — while the ground uplinks jobs in passes, the stack sheds and
throttles through eclipses and heat, upsets hit the jobs' real data, an app is killed and
comes back, and telemetry made out of contact is stored on board and downlinked at the next
pass. At the end: a summary table and a report directory with plots and a page embedding them.

The mission talks to the flatsat only through a :class:`~hil.testbed.Testbed`: its ground
station (every uplink and download crosses the space link), its bus tap (what the plots are
drawn from) and the fault injectors (the kill); a flatsat on a board is flown the same way.
"""

from __future__ import annotations

import datetime
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from hil.flatsat_jobs import Goldens, JobBook
from hil.mission.operations import Operator
from hil.mission.plan import KILL_AT, Plan, PlanError, Settings, make_plan, met
from hil.mission.recorder import Recorder
from hil.mission.summary import completeness, contact_windows, format_summary, summarize
from hil.mission.timeline import Timeline

if TYPE_CHECKING:
    from hil.testbed import Testbed

#: Wall seconds between status lines.
STATUS_EVERY_S = 3.0
#: Wall seconds the mission may overrun its plan (a stalled world) before it is ended.
OVERRUN_S = 60.0
#: Wall seconds the ground waits at the end for golden runs still computing.
GOLDEN_WAIT_S = 90.0
#: Wall seconds to wait for the world's first sample after the stack is up.
FIRST_SAMPLE_S = 15.0


class MissionError(RuntimeError):
    """The mission could not be flown (the flatsat did not come up, a bad option ...)."""


def run_mission(settings: Settings, *, run_dir: Path | None = None,
                report_dir: Path | None = None, keep: bool = False, config: str | None = None,
                out: TextIO = sys.stdout, tty: bool | None = None) -> int:
    """Fly the mission; 0 when it flew and every downloaded result matched its golden."""
    from hil.stack import StackError
    from hil.testbed import start_testbed

    try:
        settings.check()
        root = _fresh_run_dir(run_dir)
    except (PlanError, MissionError) as exc:
        print(f"sunlit-hil flatsat: {exc}", file=out)
        return 2
    report = report_dir or root / "report"
    print(f"Starting the flatsat in {root} (the stack's log: {root / 'stack.out'}) ...\n"
          "The ground station checks the link at the first pass, a few seconds in.",
          file=out, flush=True)
    goldens = Goldens(threads=1) if settings.jobs else None
    wall0 = time.monotonic()
    try:
        with start_testbed(settings.overrides(), config=config, keep=True, run_dir=root,
                           link_seed=settings.seed) as bed:
            return _fly(bed, settings, report, keep, goldens, out, tty, wall0)
    except (StackError, MissionError, PlanError, TimeoutError) as exc:
        print(f"\nThe flatsat mission could not be flown: {exc}", file=out)
        for line in _log_tail(root / "stack.out"):
            print(f"  {line}", file=out)
        print(f"(the stack's log: {root / 'stack.out'})", file=out, flush=True)
        return 1
    except KeyboardInterrupt:  # before the mission began, or while it was being summed up
        print("\ninterrupted: the flatsat is stopped", file=out, flush=True)
        return 130
    finally:
        if goldens is not None:
            goldens.close()


def _log_tail(path: Path, lines: int = 3) -> list[str]:
    """The last lines of the stack's log: usually the reason it did not start."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if line.strip()][-lines:]


def _fresh_run_dir(run_dir: Path | None) -> Path:
    """A mission starts from a fresh flatsat: a new directory, or an empty one given."""
    if run_dir is None:
        return Path(tempfile.mkdtemp(prefix="sunlit-mission-", dir="/tmp"))
    if run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
        raise MissionError(f"--run-dir {run_dir} is not an empty directory: a mission starts "
                           "from a fresh flatsat (give a new path)")
    if len(str(run_dir.resolve())) > 70:
        raise MissionError(f"--run-dir {run_dir} is too long a path for the bus's ipc:// "
                           "sockets (keep it under 70 characters)")
    run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    return run_dir


def _fly(bed: Testbed, settings: Settings, report: Path, keep: bool,
         goldens: Goldens | None, out: TextIO, tty: bool | None, wall0: float) -> int:
    from flight.app.clock import parse_epoch

    config = bed.config
    names = {int(a["apid"]): name for name, a in bed.dictionary()["apps"].items()}
    t0 = parse_epoch(str(config["time"]["epoch"])) or time.time()
    recorder = Recorder(t0, settings.speed, _world_step(config))
    _first_world_sample(bed, recorder)
    plan = make_plan(settings, config, t0, recorder.world_epoch or t0)
    kill = _check_kill(bed, settings.kill)
    print("\n" + _process_table(bed), file=out)
    print("\nMission plan: " + "\n  ".join(plan.describe()), file=out)
    timeline = Timeline(plan, recorder, out, tty)
    timeline.say(f"\nLive timeline (a status line every {STATUS_EVERY_S:g} s; mission elapsed "
                 "time first):")
    if bed.link is not None:
        link = bed.link  # the ground is heard only while a station sees the spacecraft
        link.outage(not recorder.in_contact.is_set(), "uplink")
        recorder.contact_hook = lambda up: link.outage(not up, "uplink")
    book = JobBook()
    operator = Operator(bed.require_ground(), plan, recorder, book, goldens, settings.jobs)
    recorder.listeners.append(timeline.ground)
    operator.start()
    try:
        _loop(bed, plan, recorder, timeline, kill)
    except KeyboardInterrupt:
        timeline.say("interrupted: summarising what was flown")
    finally:
        operator.stop()
    if operator.failure is not None:
        timeline.say(f"the ground operator stopped: {operator.failure!r}", "bad")
    _final_checks(bed, book, operator, goldens, timeline)
    print("\n" + _process_table(bed), file=out)
    code = _conclude(bed, settings, plan, recorder, book, names, report, out, wall0)
    if keep:
        _hold(bed, out)
    return code


def _world_step(config: dict[str, Any]) -> float:
    world = config.get("apps", {}).get("world")
    if not isinstance(world, dict):
        raise MissionError("this configuration has no world app: the mission needs one")
    return float(world.get("step_s", 1.0))


def _first_world_sample(bed: Testbed, recorder: Recorder) -> None:
    """Read the tap until the world has reported once: the mission clock starts there."""
    tap = bed.tap
    if tap is None:
        raise MissionError("this testbed has no bus tap to record the mission from")
    deadline = time.monotonic() + FIRST_SAMPLE_S
    while recorder.world_epoch is None:
        if time.monotonic() > deadline:
            raise MissionError("the world app sent no telemetry: is it configured?")
        envelope = tap.subscriber.recv(timeout_ms=100)
        if envelope is not None:
            recorder.take(envelope.topic, envelope.t, envelope.data)


def _check_kill(bed: Testbed, app: str | None) -> str | None:
    if not app:
        return None
    from hil.faults.onboard import supervised_apps

    apps = supervised_apps(bed)
    if app not in apps:
        raise MissionError(f"--kill {app}: no such app in this flatsat ({', '.join(apps)})")
    return app


def _loop(bed: Testbed, plan: Plan, recorder: Recorder, timeline: Timeline,
          kill: str | None) -> None:
    """Record and show everything the tap sees until the mission's end."""
    assert bed.tap is not None
    deadline = time.monotonic() + plan.length_s / plan.speed + OVERRUN_S
    next_status = time.monotonic() + 1.0  # after the backlog of the boot is shown
    while recorder.now() < plan.end:
        envelope = bed.tap.subscriber.recv(timeout_ms=100)
        if envelope is not None:
            _take(bed, recorder, timeline, envelope.topic, envelope.t, envelope.data)
        if kill and _kill_due(plan, recorder):
            _kill(bed, kill, recorder, timeline)
            kill = None
        now = time.monotonic()
        if now >= next_status:
            next_status = now + STATUS_EVERY_S
            timeline.status()
        if now > deadline:
            timeline.say("the mission overran its plan (is the world app stalled?): ending it",
                         "bad")
            return
    timeline.status()


def _take(bed: Testbed, recorder: Recorder, timeline: Timeline, topic: str, t: float,
          data: Any) -> None:
    event = recorder.take(topic, t, data)
    if topic == "tlm.world" and isinstance(data, dict):
        timeline.world(t, data)
    elif topic == "tlm.thermal" and isinstance(data, dict):
        timeline.thermal(t, data)
    if event is None:
        return
    timeline.event(event)


def _kill_due(plan: Plan, recorder: Recorder) -> bool:
    """After ``KILL_AT`` of the mission, out of contact (the ground's work in a pass is not
    the point), preferably while a job computes."""
    now = recorder.now()
    if now < plan.at(KILL_AT) or recorder.in_contact.is_set() or plan.pass_at(now):
        return False
    running = recorder.latest("jobs").get("running_job")
    return bool(running) or now >= plan.at(KILL_AT + 0.2)


def _kill(bed: Testbed, app: str, recorder: Recorder, timeline: Timeline) -> None:
    """SIGKILL ``app`` through the fault injector: the executive must bring it back."""
    from hil.faults import FaultError, get_fault

    try:
        injection = get_fault("crash").inject(bed, app, {}, random.Random(0))
    except FaultError as exc:
        timeline.say(f"could not kill {app}: {exc}", "bad")
        return
    running = recorder.latest("jobs").get("running_job") if app == "jobs" else None
    why = f" while it computes job #{running}" if running else ""
    recorder.note("kill", f"injecting a crash: {injection.detail}{why}", app=app,
                  speed=recorder.speed)


def _final_checks(bed: Testbed, book: JobBook, operator: Operator, goldens: Goldens | None,
                  timeline: Timeline) -> None:
    """Wait for the goldens of downloaded results; read the onboard job records."""
    pending = [j for j in book.jobs if j.downloaded is not None and not j.golden]
    if pending and goldens is not None:
        timeline.say(f"waiting for {len(pending)} golden run(s) still computing on the "
                     "ground ...")
        deadline = time.monotonic() + GOLDEN_WAIT_S
        for job in pending:
            operator.check(job, wait_s=max(0.0, deadline - time.monotonic()))
    reply = bed.stack.command("jobs", "list", timeout=5.0) if book.jobs else None
    if reply is not None and reply.ok:  # the bench's view: each job's upset counters
        for record in reply.data.get("jobs", []):
            known = book.by_id(record.get("id"))
            if known is not None:
                downloaded_state = known.state
                known.take(record)
                if known.downloaded is not None:
                    known.state = downloaded_state


def _process_table(bed: Testbed) -> str:
    """The executive's process table (pid, state, restarts, last exit) as it prints it."""
    from flight.cli import format_status
    from hil.stack import StackError

    try:
        return format_status(bed.stack.status())
    except StackError as exc:
        return f"(no process table: {exc})"


def _archived(bed: Testbed, out: TextIO) -> list[tuple[int | None, int | None, float | None]]:
    """(APID, sequence count, onboard time) of every packet the ground archived."""
    from ground.archive import Archive, ArchiveError

    ground = bed.require_ground()
    try:
        if ground.archive is not None:
            ground.archive.flush()
        archive = Archive(bed.archive_path, readonly=True)
        try:
            return [(p.apid, p.seq, p.t_onboard) for p in archive.packets("down", status="ok")]
        finally:
            archive.close()
    except (ArchiveError, OSError) as exc:
        print(f"\nThe ground's archive cannot be read ({exc}): no telemetry count.", file=out)
        return []


def _conclude(bed: Testbed, settings: Settings, plan: Plan, recorder: Recorder, book: JobBook,
              names: dict[int, str], report: Path, out: TextIO, wall0: float) -> int:
    """Summary table, report directory, exit status."""
    from hil.mission.report import ReportError, write_report

    rec = recorder.recording
    rows = _archived(bed, out)
    on_board = rec.latest.get("comms", {}).get("store_packets") or 0
    telemetry = completeness(rows, contact_windows(rec, plan.end), names, int(on_board))
    now = min(recorder.now(), plan.end)
    mission = {"orbits": (now - plan.t0) / plan.period_s, "mission_min": (now - plan.t0) / 60,
               "wall_s": time.monotonic() - wall0, "speed": settings.speed,
               "seed": settings.seed, "epoch": datetime.datetime.fromtimestamp(
                   plan.t0, datetime.timezone.utc).isoformat(), "run_dir": str(bed.run_dir),
               "started": datetime.datetime.now().isoformat(timespec="seconds"),
               "t0": plan.t0, "end": plan.end, "period_s": plan.period_s}
    summary = summarize(rec, mission, [j.to_json() for j in book.jobs], telemetry)
    table = format_summary(summary)
    print(table, file=out)
    data = {**summary.to_json(), "table": table}
    try:
        write_report(report, rec, data, table, plan.end, plan.period_s)
    except ReportError as exc:
        print(f"\nNo report: {exc}", file=out)
        return 1
    print(f"\nReport: {report / 'report.html'} (and report.md, *.png, summary.json)", file=out,
          flush=True)
    wrong = [j for j in book.jobs if j.verified is False]
    return 1 if wrong else 0


def _hold(bed: Testbed, out: TextIO) -> None:
    """``--keep``: the flatsat stays up until Ctrl-C, for a closer look."""
    root = bed.run_dir
    print(f"\nThe flatsat keeps running (--keep) until Ctrl-C. It hears the ground only in a "
          f"pass (the ground's anti-replay counter is {root / 'ground'}):\n"
          f"  sunlit-flight status --run-dir {root}\n"
          f"  sunlit-ground --run-dir {root} --address {bed.address[0]}:{bed.address[1]} "
          f"--state-dir {root / 'ground'} ping\n"
          f"  sunlit-ground archive --help   (the mission's archive: {bed.archive_path})",
          file=out, flush=True)
    try:
        while bed.stack.process is not None and bed.stack.process.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("stopping the flatsat", file=out)


__all__ = ["MissionError", "met", "run_mission"]
