"""The mission's summary: what it cost, what it computed, what hit it, what reached the ground.

Built from plain inputs — the recording (:mod:`hil.mission.recorder`), the ground's job book,
and the (APID, sequence count, onboard time) of every packet the ground archived — so each
number can be checked with crafted data in a unit test.

Telemetry completeness is measured the CCSDS way: comms numbers the packets of each APID
0, 1, 2 … (14 bits, wrapping at 16384); the ground unwraps the counts in arrival order, so a
gap is a packet that never arrived. Packets made while no station was in view were stored on
board and came down at a later pass; they are counted separately. A count up to 64 behind the
newest is a repeated (or late) packet; one that falls back further is a restart of comms (its
counters start at 0 again), not a loss — recognisable while fewer than 8192 packets of that
APID came before it, beyond which a restart and a wrap look the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from hil.mission.plan import Window
from hil.mission.recorder import Recording

SEQ_RANGE = 1 << 14
#: A count at most this far behind the newest is a repeated or late packet, not a restart.
LATE_WINDOW = 64


@dataclass
class ApidCount:
    """Packets of one APID: what the counts say was made, what arrived."""

    apid: int
    app: str
    expected: int = 0
    received: int = 0
    duplicates: int = 0
    stored: int = 0  #: of the received, made out of contact (stored, then downlinked)
    restarts: int = 0  #: times the count started again at 0 (comms restarted)
    before_first: int = 0  #: missing before the first packet that arrived (made before contact)

    @property
    def missing(self) -> int:
        return self.expected - self.received


@dataclass
class Completeness:
    """Per-APID counts and totals."""

    apids: list[ApidCount] = field(default_factory=list)
    on_board: int = 0  #: packets still in the on-board store at the end (made after the last pass)

    @property
    def expected(self) -> int:
        return sum(a.expected for a in self.apids)

    @property
    def received(self) -> int:
        return sum(a.received for a in self.apids)

    @property
    def stored(self) -> int:
        return sum(a.stored for a in self.apids)

    @property
    def missing(self) -> int:
        return self.expected - self.received

    @property
    def before_first(self) -> int:
        return sum(a.before_first for a in self.apids)

    @property
    def ratio(self) -> float:
        return self.received / self.expected if self.expected else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"expected": self.expected, "received": self.received, "ratio": self.ratio,
                "missing": self.missing, "missing_before_first": self.before_first,
                "stored_then_downlinked": self.stored, "on_board_at_end": self.on_board,
                "apids": [{**asdict(a), "missing": a.missing} for a in self.apids]}


def completeness(packets: Iterable[tuple[int | None, int | None, float | None]],
                 contacts: Sequence[Window],
                 names: Mapping[int, str], on_board: int = 0) -> Completeness:
    """Count ``(apid, seq, t_onboard)`` of archived packets, in arrival order, per APID."""
    segments: dict[int, _Segment] = {}
    for apid, seq, t_onboard in packets:
        if apid is None or seq is None or not 0 <= seq < SEQ_RANGE:
            continue
        segment = segments.get(apid)
        if segment is None:
            segment = segments[apid] = _Segment(ApidCount(apid, names.get(apid,
                                                                         f"apid {apid:#x}")))
        if segment.take(seq):
            stored = t_onboard is not None and not any(w.contains(t_onboard) for w in contacts)
            segment.count.stored += int(stored)
    out = Completeness(on_board=on_board)
    for segment in segments.values():
        segment.close()
        out.apids.append(segment.count)
    out.apids.sort(key=lambda a: a.apid)
    return out


class _Segment:
    """The unwrapped sequence counts of one APID since comms last started counting."""

    def __init__(self, count: ApidCount) -> None:
        self.count = count
        self.last = -1  # newest unwrapped count; -1: none yet
        self.seen: set[int] = set()

    def take(self, seq: int) -> bool:
        """Count one packet; False for a duplicate."""
        if self.last < 0:
            value = seq
            if not self.count.received:
                self.count.before_first = seq
        else:
            ahead = (seq - self.last) % SEQ_RANGE
            if ahead == 0 or ahead >= SEQ_RANGE - LATE_WINDOW:  # a repeat, or a late packet
                value = self.last - (SEQ_RANGE - ahead) % SEQ_RANGE
                if value in self.seen or value < 0:
                    self.count.duplicates += 1
                    return False
            elif ahead <= SEQ_RANGE // 2:
                value = self.last + ahead
            else:  # fell back far: comms restarted and counts from 0 again
                self.close()
                self.count.restarts += 1
                self.last, self.seen = -1, set()
                value = seq
        self.seen.add(value)
        self.last = max(self.last, value)
        self.count.received += 1
        return True

    def close(self) -> None:
        """Everything from 0 to the newest count was made: add it to what was expected."""
        self.count.expected += self.last + 1


def contact_windows(recording: Recording, end: float) -> list[Window]:
    """Contact as comms saw it (its CONTACT events), in mission time."""
    windows: list[Window] = []
    opened: tuple[float, str] | None = None
    for e in recording.events:
        if e["app"] != "comms" or e["name"] != "CONTACT":
            continue
        if e["args"].get("state") == "start":
            opened = (e["t"], str(e["args"].get("station", "")))
        elif opened is not None:
            windows.append(Window(opened[0], e["t"], opened[1]))
            opened = None
    if opened is not None:
        windows.append(Window(opened[0], max(end, opened[0]), opened[1]))
    return windows


def windows_where(times: Sequence[float], values: Sequence[Any], test: Any) -> list[Window]:
    """Intervals of ``times`` where ``test(value)`` holds (None values end nothing)."""
    out: list[Window] = []
    start: float | None = None
    for t, v in zip(times, values, strict=False):
        if v is None:
            continue
        if test(v) and start is None:
            start = t
        elif not test(v) and start is not None:
            out.append(Window(start, t))
            start = None
    if start is not None and times:
        out.append(Window(start, times[-1]))
    return out


def accumulated(values: Sequence[Any]) -> list[Any]:
    """A counter's values made monotonic across restarts of the app that keeps it.

    Counters live in an app's memory: a restarted app counts from 0 again. A value below the
    previous one is such a restart, so what was counted before it is carried over.
    """
    out: list[Any] = []
    offset, previous = 0.0, None
    for v in values:
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            out.append(None)
            continue
        if previous is not None and v < previous:
            offset += previous
        previous = v
        out.append(v + offset)
    return out


def total(rec: Recording, app: str, channel: str) -> int:
    """A counter's final value, counted across restarts (0 if never reported)."""
    values = [v for v in accumulated(rec.column(app, channel)[1]) if v is not None]
    return int(values[-1]) if values else 0


# ---------------------------------------------------------------------------- the summary

@dataclass
class Summary:
    """Everything the table and summary.json show."""

    mission: dict[str, Any]
    energy: dict[str, Any]
    thermal: dict[str, Any]
    jobs: list[dict[str, Any]]
    upsets: dict[str, Any]
    restarts: dict[str, int]
    kills: list[dict[str, Any]]
    telemetry: Completeness

    def to_json(self) -> dict[str, Any]:
        return {"mission": self.mission, "energy": self.energy, "thermal": self.thermal,
                "jobs": self.jobs, "upsets": self.upsets, "restarts": self.restarts,
                "kills": self.kills, "telemetry": self.telemetry.to_json()}


def summarize(recording: Recording, mission: dict[str, Any], jobs: list[dict[str, Any]],
              telemetry: Completeness) -> Summary:
    """The summary of a recorded mission."""
    return Summary(mission, _energy(recording), _thermal(recording), jobs, _upsets(recording),
                   _restarts(recording), _kills(recording), telemetry)


def _finite(values: Iterable[Any]) -> list[float]:
    return [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]


def _energy(rec: Recording) -> dict[str, Any]:
    ledger = rec.latest.get("world", {}).get("energy_wh", {})
    _, soc = rec.column("power", "soc")
    _, world_soc = rec.column("world", "battery_soc")
    socs = _finite(soc) or _finite(world_soc)
    t, sun = rec.column("world", "in_sun")
    eclipse_s = sum(w.length_s for w in windows_where(t, sun, lambda v: v is False))
    pt, compute = rec.column("power", "loads.compute")
    shed_s = sum(w.length_s for w in windows_where(pt, compute, lambda v: v in (0, False)))
    return {"solar_in_wh": ledger.get("solar_used_wh"), "loads_out_wh": ledger.get("load_wh"),
            "battery_change_wh": ledger.get("battery_delta_wh"),
            "losses_wh": ledger.get("loss_wh"), "curtailed_wh": ledger.get("curtailed_wh"),
            "min_soc": min(socs) if socs else None,
            "final_soc": socs[-1] if socs else None,
            "eclipse_min": eclipse_s / 60.0, "compute_shed_min": shed_s / 60.0,
            "sheds": rec.last("power", "shed_count", 0)}


def _thermal(rec: Recording) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("chip_temp_c", "plate_temp_c", "battery_temp_c"):
        values = _finite(rec.column("thermal", name)[1]) or _finite(rec.column("world", name)[1])
        out[f"max_{name}"] = max(values) if values else None
        out[f"min_{name}"] = min(values) if values else None
    t, limit = rec.column("thermal", "duty_limit")
    throttled = windows_where(t, limit, lambda v: v < 0.98)
    out["throttled_min"] = sum(w.length_s for w in throttled) / 60.0
    limits = _finite(limit)
    out["lowest_duty_limit"] = min(limits) if limits else None
    return out


def _upsets(rec: Recording) -> dict[str, Any]:
    rad = rec.latest.get("radiation", {})
    by_outcome = {str(k): int(v) for k, v in (rad.get("by_outcome") or {}).items()}
    policy = [e for e in rec.events if e["name"] == "POLICY_FIRED"]
    return {"environment": total(rec, "world", "upsets"),
            "landed_in_data": total(rec, "jobs", "sim_flips"),
            "found": total(rec, "radiation", "upsets"),
            "found_in_saa": total(rec, "radiation", "upsets_saa"),
            "by_outcome": by_outcome,
            "by_evidence": {str(k): int(v) for k, v in (rad.get("by_evidence") or {}).items()},
            "corrected": total(rec, "jobs", "corrected"), "masked": total(rec, "jobs", "masked"),
            "rolled_back": total(rec, "jobs", "rollbacks"),
            "policy_actions": [f"{e['args'].get('action')}" for e in policy]}


def _restarts(rec: Recording) -> dict[str, int]:
    restarts = rec.latest.get("executive", {}).get("restarts") or {}
    return {str(k): int(v) for k, v in restarts.items() if isinstance(v, int)}


def _kills(rec: Recording) -> list[dict[str, Any]]:
    """Each injected kill, with how long (wall seconds) until its app ran again."""
    out = []
    for g in rec.ground:
        if g.get("what") != "kill":
            continue
        back = next((e["t"] for e in rec.events if e["name"] == "APP_RUNNING"
                     and e["args"].get("app") == g.get("app") and e["t"] >= g["t"]), None)
        speed = float(g.get("speed") or 1.0)
        out.append({**g, "recovered_s": None if back is None else (back - g["t"]) / speed})
    return out


# ---------------------------------------------------------------------------- the table

def format_summary(s: Summary) -> str:
    """The table printed at the end of the mission."""
    m, e, th, u, tm = s.mission, s.energy, s.thermal, s.upsets, s.telemetry
    rows = [
        ("Mission", f"{m.get('orbits', 0):.1f} orbits, {m.get('mission_min', 0):.0f} min of "
                    f"mission time in {m.get('wall_s', 0):.0f} s at {m.get('speed', 0):g}x "
                    f"(seed {m.get('seed')})"),
        ("Energy", f"{_f(e['solar_in_wh'], '.0f')} Wh in from the array, "
                   f"{_f(e['loads_out_wh'], '.0f')} Wh out to the loads, battery "
                   f"{_f(e['battery_change_wh'], '+.0f')} Wh"),
        ("Battery", f"min SoC {_f(e['min_soc'], '.0%')} (end {_f(e['final_soc'], '.0%')}); "
                    f"{e['eclipse_min']:.0f} min in eclipse; compute shed {e['sheds']} time(s), "
                    f"{e['compute_shed_min']:.0f} min"),
        ("Temperatures", f"max chip {_f(th['max_chip_temp_c'], '.1f')} °C, plate "
                         f"{_f(th['max_plate_temp_c'], '.1f')} °C, battery "
                         f"{_f(th['max_battery_temp_c'], '.1f')} °C; throttled "
                         f"{th['throttled_min']:.0f} min (duty limit down to "
                         f"{_f(th['lowest_duty_limit'], '.2f')})"),
        ("Upsets", f"{u['environment']} in the environment, {u['landed_in_data']} landed in "
                   f"job data or checkpoints; found {u['found']} ({u['found_in_saa']} in the "
                   f"SAA): " + (", ".join(f"{v} {k}" for k, v in sorted(u['by_outcome'].items()))
                                or "none")),
        ("Jobs' checks", f"{u['corrected']} corrected, {u['masked']} masked, "
                         f"{u['rolled_back']} rolled back to a checkpoint"
                         + _policy(u['policy_actions'])),
        ("Restarts", (", ".join(f"{app} {n}" for app, n in sorted(s.restarts.items()) if n)
                      or "none") + _kills_text(s.kills)),
        ("Telemetry", f"{tm.received} of {tm.expected} packets archived on the ground "
                      f"({tm.ratio:.1%}); {tm.stored} of them stored on board out of contact "
                      f"and downlinked at a later pass" + _missing(tm)
                      + f"; {tm.on_board} made after the last pass still on board"),
    ]
    width = max(len(k) for k, _ in rows)
    lines = ["", "Mission summary", "=" * 15]
    lines += [f"  {k:<{width}}  {v}" for k, v in rows]
    lines += ["", *format_jobs(s.jobs), "", *format_apids(tm)]
    return "\n".join(lines)


def _policy(actions: list[str]) -> str:
    if not actions:
        return ""
    counts = {a: actions.count(a) for a in sorted(set(actions))}
    return "; radiation policy: " + ", ".join(f"{a} x{n}" for a, n in counts.items())


def _kills_text(kills: list[dict[str, Any]]) -> str:
    return "".join(f"; injected: SIGKILL {k.get('app')}, back after "
                   f"{_f(k.get('recovered_s'), '.1f')} s" for k in kills)


def _missing(tm: Completeness) -> str:
    if not tm.missing:
        return ""
    if tm.before_first == tm.missing:
        return f"; {tm.missing} missing, all sent before the ground's first contact"
    early = f" ({tm.before_first} sent before the ground's first contact)" \
        if tm.before_first else ""
    return f"; {tm.missing} missing{early}"


def format_jobs(jobs: list[dict[str, Any]]) -> list[str]:
    """One line per uplinked job: state, progress, upset outcomes, the golden check."""
    if not jobs:
        return ["  Jobs: none uplinked"]
    out = [f"  {'job':>4}  {'kind':<10} {'state':<11} {'steps':>7} {'corr':>4} {'mask':>4} "
           f"{'rollb':>5}  result"]
    for j in jobs:
        c = j.get("counts", {})
        verdict = {True: "identical to the golden run", False: "DIFFERS from the golden run",
                   None: _unverified(j)}[j.get("verified")]
        out.append(f"  #{j['job']:>3}  {j['kind']:<10} {j['state']:<11} {j['steps']:>7} "
                   f"{c.get('corrected', 0):>4} {c.get('masked', 0):>4} "
                   f"{c.get('rollbacks', 0):>5}  {verdict}")
    return out


def _unverified(job: dict[str, Any]) -> str:
    if job.get("downloaded") is not None:
        return "downloaded; its golden run did not finish"
    if job.get("state") == "done":
        return "done on board, not downloaded"
    return "not finished by the last pass"


def format_apids(tm: Completeness) -> list[str]:
    out = [f"  {'APID':>6}  {'app':<10} {'made':>6} {'archived':>8} {'missing':>7} "
           f"{'stored':>6}"]
    for a in tm.apids:
        out.append(f"  {a.apid:#6x}  {a.app:<10} {a.expected:>6} {a.received:>8} "
                   f"{a.missing:>7} {a.stored:>6}")
    return out


def _f(value: Any, spec: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "n/a"
    return format(value, spec)
