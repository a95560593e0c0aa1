"""The campaign report: report.json (everything), report.md and report.html (for people).

Built from the campaign directory alone (request, golden run, plan, journal, sessions), so it
can be re-rendered at any time — ``sunlit-hil campaign report DIR`` — including while a
campaign is still running or after it was interrupted. A report of fewer runs than planned says
so in its title and in ``partial``/``done``/``planned``: it is never passed off as the whole.

Intervals are Wilson 95 % over the runs that were flown (a run the bench could not fly is listed
apart and counted in no class). The sample size is Leveugle's for the requested margin over the
plan's population of fault sites (class x target x time slot).
"""

from __future__ import annotations

import base64
import html
import io
import json
import statistics
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from hil.campaign.journal import CLASSES, Journal, read_json, write_atomic
from hil.campaign.run import run_deadline
from hil.campaign.stats import leveugle, margin_reached, throughput, wilson

CONFIDENCE = 0.95
LABELS = {"masked": "masked", "detected_recovered": "detected + recovered", "sdc": "SDC",
          "due": "DUE", "data_lost": "data lost"}
COLOURS = {"masked": "#9bbb59", "detected_recovered": "#4f81bd", "sdc": "#c0504d",
           "due": "#f79646", "data_lost": "#8064a2"}


# ------------------------------------------------------------------------------ the data


def _counts(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Runs, counts and Wilson intervals per outcome class over ``records`` (flown runs)."""
    n = len(records)
    tally = Counter(r["verdict"]["class"] for r in records)
    out: dict[str, Any] = {"runs": n}
    for cls in CLASSES:
        k = tally.get(cls, 0)
        lo, hi = wilson(k, n, CONFIDENCE)
        out[cls] = {"count": k, "fraction": round(k / n, 4) if n else None,
                    "ci95": [round(lo, 4), round(hi, 4)]}
    return out


def _quantiles(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0, "median": None, "p95": None, "max": None}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"n": len(ordered), "median": round(statistics.median(ordered), 3),
            "p95": round(p95, 3), "max": round(ordered[-1], 3)}


def build_report(out: Path, margin: float | None = None) -> dict[str, Any]:
    """Everything about the campaign in ``out``, as one JSON-able document."""
    request = read_json(out / "campaign.json", "campaign request")
    golden_doc = read_json(out / "golden.json", "golden run") \
        if (out / "golden.json").exists() else {}
    plan = read_json(out / "plan.json", "plan") if (out / "plan.json").exists() else {}
    sessions = read_json(out / "sessions.json", "sessions") \
        if (out / "sessions.json").exists() else []
    records = sorted(Journal(out / "journal.jsonl").load().values(), key=lambda r: r["id"])
    margin = float(margin if margin is not None else request.get("margin", 0.05))
    planned = len(plan.get("runs", [])) or int(request.get("runs") or 0)
    flown = [r for r in records if r["verdict"].get("class") in CLASSES]
    not_flown = [r for r in records if r["verdict"].get("class") not in CLASSES]
    partial = len(records) < planned
    pop = plan.get("population")
    golden = dict(golden_doc.get("summary") or {})
    golden.pop("targets", None)
    golden.pop("params_end", None)
    return {
        "name": request.get("name"), "partial": partial, "planned": planned,
        "done": len(records), "flown": len(flown), "not_flown": len(not_flown),
        "generated_unix": time.time(), "request": request, "golden": golden,
        "plan": {"population": pop, "time_slots": plan.get("time_slots"),
                 "population_rule": "sum over planned faults of targets x time slots",
                 "catalog": {c: {f: len(t) for f, t in fs.items()}
                             for c, fs in (plan.get("catalog") or {}).items()},
                 "skipped": plan.get("skipped", {})},
        "outcomes": _counts(flown),
        "by_class": _grouped(flown, lambda r: r["spec"]["fault_class"]),
        "by_fault": _grouped(flown, lambda r: r["spec"]["fault"]),
        "by_target": _grouped(flown, lambda r: f"{r['spec']['fault']} → "
                              f"{(r.get('observation') or {}).get('target', r['spec']['target'])}"),
        "due": _due(flown),
        "sample_size": {"margin": margin, "confidence": CONFIDENCE, "population": pop,
                        "needed": leveugle(pop, margin, CONFIDENCE) if pop else None,
                        "needed_unbounded": leveugle(None, margin, CONFIDENCE),
                        "margin_reached": _round(margin_reached(len(flown), pop, CONFIDENCE))},
        "throughput": throughput(records, sessions),
        "run_wall_s": _quantiles([float(r.get("wall_s") or 0) for r in flown]),
        "findings": [_finding(r) for r in flown if _is_finding(r)],
        "not_flown_runs": [_finding(r) for r in not_flown],
        "runs": records,
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _grouped(records: list[dict[str, Any]], key: Any) -> dict[str, Any]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        groups[str(key(r))].append(r)
    return {name: _counts(rs) for name, rs in sorted(groups.items())}


def _due(records: list[dict[str, Any]]) -> dict[str, Any]:
    due = [r for r in records if r["verdict"]["class"] == "due"]
    recovered = [r for r in due if r["verdict"].get("recovered")]
    times = [float(r["verdict"]["recovery_s"]) for r in recovered
             if r["verdict"].get("recovery_s") is not None]
    return {"count": len(due), "recovered": len(recovered),
            "unrecovered": len(due) - len(recovered), "recovery_s": _quantiles(times)}


def _is_finding(r: dict[str, Any]) -> bool:
    v = r["verdict"]
    return v["class"] in ("sdc", "data_lost") or (v["class"] == "due" and not v["recovered"])


def _finding(r: dict[str, Any]) -> dict[str, Any]:
    obs = r.get("observation") or {}
    return {"id": r["id"], "fault": r["spec"]["fault"],
            "target": obs.get("target", r["spec"]["target"]), "slot": r["spec"]["slot"],
            "class": r["verdict"].get("class"), "reasons": r["verdict"].get("reasons", []),
            "detail": (obs.get("injection") or {}).get("detail")}


# ------------------------------------------------------------------------------ plots


def plots(report: dict[str, Any]) -> dict[str, bytes]:
    """PNG bytes by file name: outcomes by class, recovery times, run durations."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    out: dict[str, bytes] = {}
    by_class = report["by_class"]
    fig = Figure(figsize=(8.5, 3.8), layout="constrained")
    ax = fig.add_subplot()
    names = list(by_class)
    bottom = [0] * len(names)
    for cls in CLASSES:
        counts = [by_class[n][cls]["count"] for n in names]
        ax.bar(names, counts, bottom=bottom, label=LABELS[cls], color=COLOURS[cls])
        bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    ax.set_ylabel("runs")
    ax.set_title("Outcomes by fault class")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    fig.legend(loc="outside right upper", fontsize="small")
    ax.tick_params(axis="x", labelrotation=30)
    out["outcomes_by_class.png"] = _png(fig)

    runs = report["runs"]
    times = [float(r["verdict"]["recovery_s"]) for r in runs
             if r["verdict"].get("class") == "due" and r["verdict"].get("recovery_s") is not None]
    out["recovery_times.png"] = _histogram(times, "Recovery time of recovered DUE runs",
                                           "seconds from injection to nominal", "#f79646")
    walls = [float(r.get("wall_s") or 0) for r in runs if r["verdict"].get("class")]
    out["run_durations.png"] = _histogram(walls, "Run durations (bring-up to teardown)",
                                          "seconds", "#4f81bd")
    return out


def _histogram(values: list[float], title: str, xlabel: str, colour: str) -> bytes:
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(6.0, 3.2), layout="constrained")
    ax = fig.add_subplot()
    if values:
        ax.hist(values, bins=min(30, max(5, len(values) // 3)), color=colour)
    else:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("runs")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    return _png(fig)


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


# ------------------------------------------------------------------------------ text


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f} %"


def _ci(entry: dict[str, Any]) -> str:
    lo, hi = entry["ci95"]
    return f"{_pct(lo)} - {_pct(hi)}"


def _title(report: dict[str, Any]) -> str:
    title = f"Fault-injection campaign {report['name']}"
    if report["partial"]:
        title += f" — PARTIAL: {report['done']} of {report['planned']} runs"
    return title


def _tables(report: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(heading, header, rows) of every table, shared by Markdown and HTML."""
    tables = []
    outcomes = report["outcomes"]
    tables.append(("Outcomes (Wilson 95 % intervals)", ["outcome", "runs", "share", "95 % CI"],
                   [[LABELS[c], str(outcomes[c]["count"]), _pct(outcomes[c]["fraction"]),
                     _ci(outcomes[c])] for c in CLASSES]
                   + [["total flown", str(outcomes["runs"]), "", ""]]))
    header = ["", "runs", *[LABELS[c] for c in CLASSES]]
    for heading, key in (("By fault class", "by_class"), ("By fault", "by_fault"),
                         ("By target", "by_target")):
        rows = [[name, str(e["runs"]), *[
            f"{e[c]['count']} ({_ci(e[c])})" if heading == "By fault class" else
            str(e[c]["count"]) for c in CLASSES]] for name, e in report[key].items()]
        tables.append((heading, header, rows))
    due = report["due"]
    rec = due["recovery_s"]
    tables.append(("DUE recovery", ["DUE runs", "recovered", "not recovered", "median s",
                                    "p95 s", "max s"],
                   [[str(due["count"]), str(due["recovered"]), str(due["unrecovered"]),
                     _num(rec["median"]), _num(rec["p95"]), _num(rec["max"])]]))
    g = report["golden"]
    tables.append(("Golden run", ["workload s", "window s", "run deadline s", "run wall s",
                                  "background events"],
                   [[_num(g.get("duration_s")), _num(g.get("window_s")),
                     _num(run_deadline(g) if g.get("duration_s") else None),
                     _num(g.get("wall_s")), ", ".join(g.get("background", [])) or "-"]]))
    s = report["sample_size"]
    tables.append(("Sample size (Leveugle et al., p = 0.5)",
                   ["population N", "margin", "runs needed", "runs needed (N unbounded)",
                    "flown", "margin reached"],
                   [[str(s["population"]), f"±{_pct(s['margin'])}", str(s["needed"]),
                     str(s["needed_unbounded"]), str(report["flown"]),
                     f"±{_pct(s['margin_reached'])}" if s["margin_reached"] else "-"]]))
    t = report["throughput"]
    rows = [[str(i + 1), s_.get("describe", s_.get("executor", "")), str(s_["runs"]),
             _num(s_["span_s"]), _num(s_["runs_per_min"])] for i, s_ in
            enumerate(t["sessions"])]
    rows.append(["all", "", str(t["runs"]), _num(t["busy_s"]), _num(t["runs_per_min"])])
    tables.append(("Throughput", ["session", "executor", "runs", "seconds", "runs/min"], rows))
    w = report["run_wall_s"]
    tables.append(("Run wall time", ["median s", "p95 s", "max s"],
                   [[_num(w["median"]), _num(w["p95"]), _num(w["max"])]]))
    if report["findings"]:
        tables.append(("Findings: SDC, data lost, unrecovered DUE",
                       ["run", "fault", "target", "outcome", "why"],
                       [[str(f["id"]), f["fault"], str(f["target"]), LABELS.get(f["class"], "?"),
                         "; ".join(f["reasons"])] for f in report["findings"]]))
    if report["not_flown_runs"]:
        tables.append(("Runs the bench could not fly (in no class)",
                       ["run", "fault", "target", "why"],
                       [[str(f["id"]), f["fault"], str(f["target"]), "; ".join(f["reasons"])]
                        for f in report["not_flown_runs"]]))
    return tables


def _num(x: Any) -> str:
    return "-" if x is None else f"{x:.2f}" if isinstance(x, float) else str(x)


def _intro(report: dict[str, Any]) -> list[str]:
    lines = []
    if report["partial"]:
        lines.append(f"PARTIAL REPORT: {report['done']} of {report['planned']} planned runs "
                     f"are done; the figures below are for those runs only.")
    o = report["outcomes"]
    lines.append(f"{report['flown']} runs flown ({report['not_flown']} could not be flown). "
                 f"SDC {o['sdc']['count']}, data lost {o['data_lost']['count']}, DUE "
                 f"{o['due']['count']} ({report['due']['recovered']} recovered without a "
                 f"ground command).")
    return lines


PLOT_CAPTIONS = {"outcomes_by_class.png": "Outcomes by fault class",
                 "recovery_times.png": "Recovery times", "run_durations.png": "Run durations"}


def render_markdown(report: dict[str, Any]) -> str:
    parts = [f"# {_title(report)}", "", *(f"{line}\n" for line in _intro(report))]
    for heading, header, rows in _tables(report):
        parts += [f"## {heading}", "", "| " + " | ".join(header) + " |",
                  "|" + "|".join("---" for _ in header) + "|"]
        parts += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
        parts.append("")
    parts.append("## Plots")
    parts.append("")
    for name, caption in PLOT_CAPTIONS.items():
        parts.append(f"![{caption}](plots/{name})")
    parts.append("")
    return "\n".join(parts)


def render_html(report: dict[str, Any], images: dict[str, bytes]) -> str:
    e = html.escape
    body = [f"<h1>{e(_title(report))}</h1>"]
    for line in _intro(report):
        cls = ' class="partial"' if line.startswith("PARTIAL") else ""
        body.append(f"<p{cls}>{e(line)}</p>")
    for heading, header, rows in _tables(report):
        body.append(f"<h2>{e(heading)}</h2><table><tr>"
                    + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr>")
        body += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows]
        body.append("</table>")
    body.append("<h2>Plots</h2>")
    for name, caption in PLOT_CAPTIONS.items():
        data = base64.b64encode(images.get(name, b"")).decode()
        body.append(f'<figure><img alt="{e(caption)}" src="data:image/png;base64,{data}">'
                    f"<figcaption>{e(caption)}</figcaption></figure>")
    style = ("body{font-family:sans-serif;max-width:70em;margin:2em auto;color:#222}"
             "table{border-collapse:collapse;margin-bottom:1em}"
             "td,th{border:1px solid #bbb;padding:.2em .5em;text-align:left;font-size:90%}"
             "th{background:#eee}.partial{color:#a00;font-weight:bold;font-size:120%}")
    return (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{e(_title(report))}"
            f"</title><style>{style}</style></head><body>{''.join(body)}</body></html>\n")


def write_report(out: Path, margin: float | None = None) -> Path:
    """Write report.json, report.md, report.html and plots/; the HTML's path."""
    report = build_report(out, margin)
    images = plots(report)
    (out / "plots").mkdir(exist_ok=True)
    for name, data in images.items():
        write_atomic(out / "plots" / name, data, durable=False)
    write_atomic(out / "report.json", json.dumps(report, indent=1, default=str))
    write_atomic(out / "report.md", render_markdown(report))
    write_atomic(out / "report.html", render_html(report, images))
    return out / "report.html"
