"""The mission report: plots (PNG, matplotlib's Agg backend), ``report.md`` and ``report.html``.

Every plot has mission time (minutes) on its x axis, orbit boundaries as dotted lines, the
eclipses shaded grey, and the moment an app was killed as a red line, so the same instant is
at the same place in each. ``summary.json`` has every number of the summary table and
``timeline.json`` the whole recording, from which ``python -m hil.mission.report DIR`` draws
the report again.
"""

from __future__ import annotations

import html
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hil.mission.plan import Window
from hil.mission.recorder import Recording
from hil.mission.summary import accumulated, contact_windows, windows_where

DPI = 110
#: Colours: one per quantity, the same in every figure.
C = {"soc": "#1f77b4", "solar": "#ff7f0e", "load": "#7f7f7f", "compute": "#d62728",
     "chip": "#d62728", "plate": "#ff7f0e", "battery": "#2ca02c", "thermal": "#9467bd",
     "power": "#ff7f0e", "ran": "#1f77b4", "allowed": "#2ca02c", "env": "#7f7f7f",
     "landed": "#ff7f0e", "found": "#d62728", "stored": "#9467bd", "kill": "#d62728"}
OUTCOME_MARKERS = {"corrected": ("o", "#2ca02c"), "masked": ("s", "#1f77b4"),
                   "rolled-back": ("X", "#d62728"), "rollback": ("X", "#d62728")}


class ReportError(RuntimeError):
    """The report could not be written (no matplotlib, an unwritable directory ...)."""


@dataclass
class Context:
    """What every panel needs: the recording and the windows drawn behind the curves."""

    rec: Recording
    end: float
    orbits: list[float]  #: mission times where each orbit after the first begins
    eclipses: list[Window]
    saa: list[Window]
    contacts: list[Window]
    kills: list[float]
    #: Name the backdrop (eclipse, SAA, contact, kill) in this panel's legend: the first of
    #: each figure only, so it is said once.
    key: bool = True

    def x(self, times: Sequence[float]) -> list[float]:
        """Mission times as minutes since the start."""
        return [(t - self.rec.t0) / 60.0 for t in times]

    def xs(self, t: float) -> float:
        return (t - self.rec.t0) / 60.0


def context(rec: Recording, end: float, period_s: float) -> Context:
    t, sun = rec.column("world", "in_sun")
    _, saa = rec.column("world", "in_saa")
    n = int(max(0.0, end - rec.t0) // period_s)
    return Context(rec, end, [rec.t0 + k * period_s for k in range(1, n + 1)],
                   windows_where(t, sun, lambda v: v is False),
                   windows_where(t, saa, lambda v: v is True), contact_windows(rec, end),
                   [g["t"] for g in rec.ground if g.get("what") == "kill"])


# ---------------------------------------------------------------------------- panels

def _backdrop(ax: Any, ctx: Context, saa: bool = False, contacts: bool = False) -> None:
    """Eclipses (grey), optionally SAA (orange) and contacts (green), orbits, kills; each
    named once in the legend."""
    for w in ctx.eclipses:
        ax.axvspan(ctx.xs(w.start), ctx.xs(w.end), color="0.85", lw=0, zorder=0)
    for w in ctx.saa if saa else ():
        ax.axvspan(ctx.xs(w.start), ctx.xs(w.end), color="#ffbb78", alpha=0.5, lw=0, zorder=0)
    for w in ctx.contacts if contacts else ():
        ax.axvspan(ctx.xs(w.start), ctx.xs(w.end), color="#98df8a", alpha=0.5, lw=0, zorder=0)
    for k, t in enumerate(ctx.orbits, start=2):
        ax.axvline(ctx.xs(t), color="0.5", ls=":", lw=0.8)
        ax.text(ctx.xs(t), 1.0, f" orbit {k}", transform=ax.get_xaxis_transform(),
                fontsize=7, color="0.4", va="top")
    for t in ctx.kills:
        ax.axvline(ctx.xs(t), color=C["kill"], lw=1.2, ls="--")
    if ctx.eclipses and ctx.key:
        ax.fill_between([], [], color="0.85", label="eclipse")
    if saa and ctx.saa:
        ax.fill_between([], [], color="#ffbb78", alpha=0.5, label="SAA")
    if contacts and ctx.contacts:
        ax.fill_between([], [], color="#98df8a", alpha=0.5, label="contact")
    if ctx.kills and ctx.key:
        ax.plot([], [], color=C["kill"], lw=1.2, ls="--", label="app killed")
    ax.set_xlim(0, ctx.xs(ctx.end))
    ax.grid(True, alpha=0.3)


def _legend(ax: Any) -> None:
    """The panel's legend in one row above it, clear of the curves."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles, labels, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=len(labels),
                  fontsize=7, frameon=False, handlelength=1.6, columnspacing=1.2,
                  borderaxespad=0.1)


def _shed(ax: Any, ctx: Context) -> None:
    """Where the power manager had the compute load switched off (pink)."""
    pt, compute = ctx.rec.column("power", "loads.compute")
    for k, w in enumerate(windows_where(pt, compute, lambda v: v in (0, False))):
        ax.axvspan(ctx.xs(w.start), ctx.xs(w.end), color=C["compute"], alpha=0.15, lw=0,
                   label="compute shed" if k == 0 else None)


def panel_soc(ax: Any, ctx: Context) -> None:
    t, soc = ctx.rec.column("power", "soc")
    _shed(ax, ctx)
    _backdrop(ax, ctx)
    ax.plot(ctx.x(t), [_pct(v) for v in soc], color=C["soc"], lw=1.6, label="state of charge")
    ax.axhline(70, color=C["compute"], ls="--", lw=0.8, label="compute shed below 70 %")
    ax.axhline(80, color=C["allowed"], ls="--", lw=0.8, label="restored above 80 %")
    ax.set_ylabel("battery SoC (%)")
    ax.set_ylim(max(0, _low([_pct(v) for v in soc], 60) - 8), 101.5)
    _legend(ax)


def panel_power(ax: Any, ctx: Context) -> None:
    _backdrop(ax, ctx)
    for channel, key, label in (("solar_power_w", "solar", "solar array"),
                                ("load_power_w", "load", "all loads"),
                                ("compute_power_w", "compute", "compute payload")):
        t, v = ctx.rec.column("power", channel)
        ax.plot(ctx.x(t), v, color=C[key], lw=1.1, label=label)
    ax.set_ylabel("power (W)")
    _legend(ax)


def panel_temperatures(ax: Any, ctx: Context) -> None:
    _backdrop(ax, ctx)
    for channel, key, label in (("chip_temp_c", "chip", "chip"),
                                ("plate_temp_c", "plate", "plate / radiator"),
                                ("battery_temp_c", "battery", "battery")):
        t, v = ctx.rec.column("thermal", channel)
        ax.plot(ctx.x(t), v, color=C[key], lw=1.3, label=label)
    t, setpoint = ctx.rec.column("thermal", "setpoint_c")
    if any(isinstance(v, (int, float)) for v in setpoint):
        ax.plot(ctx.x(t), setpoint, color=C["chip"], ls="--", lw=0.8, label="chip set point")
    ax.set_ylabel("temperature (°C)")
    _legend(ax)


def panel_duty(ax: Any, ctx: Context) -> None:
    _shed(ax, ctx)
    _backdrop(ax, ctx)
    t, limit = ctx.rec.column("thermal", "duty_limit")
    ax.plot(ctx.x(t), limit, color=C["thermal"], lw=1.2, label="thermal limit")
    t, budget = ctx.rec.column("power", "compute_budget_w")
    ax.plot(ctx.x(t), [_ratio(v, 900.0) for v in budget], color=C["power"], lw=1.2,
            label="power budget / 900 W")
    t, ran = ctx.rec.column("jobs", "duty")
    ax.fill_between(ctx.x(t), [v if isinstance(v, (int, float)) else 0 for v in ran],
                    color=C["ran"], alpha=0.25, lw=0, label="duty run (jobs)")
    ax.set_ylim(-0.02, 1.08)
    ax.set_ylabel("compute duty")
    _legend(ax)


def panel_upsets(ax: Any, ctx: Context) -> None:
    _backdrop(ax, ctx, saa=True)
    t, env = ctx.rec.column("world", "upsets")
    ax.step(ctx.x(t), accumulated(env), where="post", color=C["env"], lw=1.2,
            label="upsets in the environment")
    t, landed = ctx.rec.column("jobs", "sim_flips")
    ax.step(ctx.x(t), accumulated(landed), where="post", color=C["landed"], lw=1.2,
            label="landed in job data")
    t, found = ctx.rec.column("radiation", "upsets")
    found = accumulated(found)
    ax.step(ctx.x(t), found, where="post", color=C["found"], lw=1.4, label="found by the checks")
    seen: set[str] = set()
    for e in ctx.rec.events:
        if e["name"] != "UPSET":
            continue
        outcome = str(e["args"].get("outcome", "seen"))
        marker, colour = OUTCOME_MARKERS.get(outcome, ("^", "#8c564b"))
        y = _at(t, found, e["t"])
        ax.plot([ctx.xs(e["t"])], [y], marker=marker, color=colour, ms=6, ls="",
                label=outcome if outcome not in seen else None)
        seen.add(outcome)
    ax.set_ylabel("upsets (cumulative)")
    _legend(ax)


def panel_contacts(ax: Any, ctx: Context) -> None:
    _backdrop(ax, ctx, contacts=True)
    t, stored = ctx.rec.column("comms", "store_packets")
    ax.plot(ctx.x(t), stored, color=C["stored"], lw=1.3, label="packets stored on board")
    ax.set_ylabel("stored packets")
    top = max([v for v in stored if isinstance(v, (int, float))] or [1])
    for w in ctx.contacts:
        ax.text((ctx.xs(w.start) + ctx.xs(w.end)) / 2, 0.5, w.label, fontsize=7, rotation=90,
                ha="center", va="center", color="#1a6e1a", transform=ax.get_xaxis_transform())
    for g in ctx.rec.ground:
        if g.get("what") in ("uplink", "download") and g["t"] <= ctx.end:
            colour = "#1f77b4" if g["what"] == "uplink" else "#ff7f0e"
            ax.plot([ctx.xs(g["t"])], [0], marker="^" if g["what"] == "uplink" else "v",
                    color=colour if g.get("ok", True) else "#d62728", ms=7, ls="", clip_on=False)
    ax.set_ylim(-top * 0.05, top * 1.15 + 1)
    ax.plot([], [], marker="^", color="#1f77b4", ls="", label="job uplinked")
    ax.plot([], [], marker="v", color="#ff7f0e", ls="", label="result downloaded")
    _legend(ax)


def panel_jobs(ax: Any, ctx: Context) -> None:
    _backdrop(ax, ctx)
    t, running = ctx.rec.column("jobs", "running_job")
    _, progress = ctx.rec.column("jobs", "progress")
    kinds = {g.get("job"): g.get("kind") for g in ctx.rec.ground if g.get("what") == "uplink"}
    ids = sorted({int(r) for r in running if isinstance(r, int) and r > 0})
    colours = {"mlp_train": "#1f77b4", "inference": "#ff7f0e", "matmul": "#9467bd"}
    for job in ids:
        points = [(ctx.xs(tt), 100 * p) for tt, r, p in zip(t, running, progress, strict=False)
                  if r == job and isinstance(p, (int, float))]
        if not points:
            continue
        kind = str(kinds.get(job, ""))
        ax.plot([x for x, _ in points], [y for _, y in points], lw=1.5, marker=".", ms=2,
                color=colours.get(kind, "#7f7f7f"))
        x_end, y_end = points[-1]
        ax.text(x_end, min(y_end, 100) + 2, f"#{job}", fontsize=6, ha="center", va="bottom",
                color=colours.get(kind, "#7f7f7f"))
    for kind in sorted({str(kinds.get(j, "")) for j in ids}):
        ax.plot([], [], lw=1.5, color=colours.get(kind, "#7f7f7f"), label=kind or "job")
    for g in ctx.rec.ground:
        if g.get("what") == "verify":
            ax.plot([ctx.xs(g["t"])], [100], marker="*", ms=10, ls="",
                    color="#2ca02c" if g.get("ok") else "#d62728")
    ax.plot([], [], marker="*", color="#2ca02c", ls="", label="result verified")
    ax.set_ylim(-3, 112)
    ax.set_ylabel("job progress (%)")
    _legend(ax)


#: file → (title, panels, what the reader should look for)
FIGURES: dict[str, tuple[str, tuple[Callable[[Any, Context], None], ...], str]] = {
    "soc.png": ("Battery and power", (panel_soc, panel_power),
                "State of charge falls in each eclipse (grey) while the payload computes; "
                "below 70 % the power manager sheds the compute load (red band) and restores "
                "it above 80 % once the array charges the battery again."),
    "temperatures.png": ("Temperatures", (panel_temperatures,),
                         "The chip heats while jobs run and the thermal governor holds it "
                         "under its set point; the plate and battery follow slowly."),
    "duty.png": ("Compute duty", (panel_duty,),
                 "The payload may run at min(thermal limit, power budget): the thermal limit "
                 "drops when the chip is hot, the power budget in eclipse and while compute "
                 "is shed. The filled area is the duty the job runner really ran."),
    "upsets.png": ("Radiation upsets", (panel_upsets,),
                   "Upsets the world drew (most inside the South Atlantic Anomaly, orange), "
                   "those that landed in a job's live data or checkpoints, and those the "
                   "checks found, each marked with its outcome."),
    "contacts.png": ("Contacts and stored telemetry", (panel_contacts,),
                     "Ground passes (green). Out of contact telemetry piles up in the on-board "
                     "store; each pass drains it. Triangles: jobs uplinked and results "
                     "downloaded by the ground."),
    "jobs.png": ("Jobs", (panel_jobs,),
                 "Progress of each job while it runs; stars mark results downloaded and "
                 "found identical to the golden run computed on the ground. The dashed red "
                 "line is the moment an app was killed."),
}


def _draw(path: Path, ctx: Context, panels: Sequence[Callable[[Any, Context], None]],
          title: str, height: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(panels), 1, figsize=(10, height * len(panels)), sharex=True,
                             squeeze=False)
    for index, (ax, panel) in enumerate(zip(axes[:, 0], panels, strict=True)):
        ctx.key = index == 0
        panel(ax, ctx)
    axes[-1, 0].set_xlabel("mission time (minutes)")
    fig.suptitle(title, fontsize=11, fontweight="bold")
    fig.tight_layout(rect=(0, 0, 1, 0.985 if len(panels) > 2 else 0.96))
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


# ---------------------------------------------------------------------------- documents

def write_report(directory: Path, rec: Recording, summary: dict[str, Any], table: str,
                 end: float, period_s: float) -> list[Path]:
    """Write every figure, the two pages, summary.json and timeline.json; their paths."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ReportError("matplotlib is not installed: pip install 'sunlit[hil]'") from None
    try:
        directory.mkdir(parents=True, exist_ok=True)
        ctx = context(rec, end, period_s)
        written = []
        panels = tuple(p for _, ps, _ in FIGURES.values() for p in ps)
        _draw(directory / "overview.png", ctx, panels, "Mission overview", 2.3)
        written.append(directory / "overview.png")
        for name, (title, figure_panels, _) in FIGURES.items():
            _draw(directory / name, ctx, figure_panels, title, 3.6)
            written.append(directory / name)
        (directory / "summary.json").write_text(json.dumps(summary, indent=2, default=str),
                                                encoding="utf-8")
        (directory / "timeline.json").write_text(json.dumps(rec.to_json(), default=str),
                                                 encoding="utf-8")
        (directory / "report.md").write_text(markdown(summary, table), encoding="utf-8")
        (directory / "report.html").write_text(page(summary, table), encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"cannot write the report in {directory}: {exc}") from None
    return [*written, *(directory / n for n in ("summary.json", "timeline.json", "report.md",
                                                "report.html"))]


def _sections() -> list[tuple[str, str, str]]:
    return [("Overview", "overview.png", "Every quantity on one time axis.")] + [
        (title, name, text) for name, (title, _, text) in FIGURES.items()]


def markdown(summary: dict[str, Any], table: str) -> str:
    m = summary.get("mission", {})
    out = [f"# Sunlit demo mission — {m.get('started', '')}", "",
           f"{m.get('orbits', 0):.1f} orbits from {m.get('epoch', '?')} at "
           f"{m.get('speed', 0):g}x (seed {m.get('seed')}); run directory "
           f"`{m.get('run_dir', '')}`.", "", "```text", table.strip("\n"), "```", ""]
    for title, image, text in _sections():
        out += [f"## {title}", "", text, "", f"![{title}]({image})", ""]
    out += ["Numbers: `summary.json`; the whole recording: `timeline.json`.", ""]
    return "\n".join(out)


def page(summary: dict[str, Any], table: str) -> str:
    m = summary.get("mission", {})
    esc = html.escape
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>Sunlit demo mission {esc(str(m.get('started', '')))}</title>",
             "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
             "pre{background:#f6f6f6;padding:1em;overflow-x:auto;font-size:12px}"
             "img{max-width:100%;border:1px solid #ddd}h2{margin-top:1.6em}</style>",
             "</head><body>", f"<h1>Sunlit demo mission — {esc(str(m.get('started', '')))}</h1>",
             f"<p>{m.get('orbits', 0):.1f} orbits from {esc(str(m.get('epoch', '?')))} at "
             f"{m.get('speed', 0):g}x (seed {esc(str(m.get('seed')))}); run directory "
             f"<code>{esc(str(m.get('run_dir', '')))}</code>.</p>",
             f"<pre>{esc(table.strip(chr(10)))}</pre>"]
    for title, image, text in _sections():
        parts += [f"<h2>{esc(title)}</h2>", f"<p>{esc(text)}</p>",
                  f'<img src="{esc(image)}" alt="{esc(title)}">']
    parts += ["<p>Numbers: <code>summary.json</code>; the whole recording: "
              "<code>timeline.json</code>.</p>", "</body></html>", ""]
    return "\n".join(parts)


# ---------------------------------------------------------------------------- helpers

def _pct(v: Any) -> float | None:
    return 100.0 * v if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _ratio(v: Any, d: float) -> float | None:
    return v / d if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _low(values: Sequence[Any], default: float) -> float:
    finite = [v for v in values if isinstance(v, (int, float))]
    return min(finite) if finite else default


def _at(times: Sequence[float], values: Sequence[Any], t: float) -> float:
    """The step value at ``t`` (the last sample at or before it)."""
    best: Any = 0
    for tt, v in zip(times, values, strict=False):
        if tt > t:
            break
        if isinstance(v, (int, float)):
            best = v
    return float(best)


def main(argv: list[str] | None = None) -> int:
    """Draw a report again from a report directory's ``timeline.json`` and ``summary.json``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m hil.mission.report REPORT_DIR", file=sys.stderr)
        return 2
    directory = Path(args[0])
    try:
        rec = Recording.from_json(json.loads((directory / "timeline.json").read_text("utf-8")))
        summary = json.loads((directory / "summary.json").read_text("utf-8"))
        m = summary["mission"]
        write_report(directory, rec, summary, str(summary.get("table", "")), float(m["end"]),
                     float(m["period_s"]))
    except (OSError, ValueError, KeyError, TypeError, ReportError) as exc:
        print(f"cannot draw the report from {directory}: {exc}", file=sys.stderr)
        return 1
    print(f"report written to {directory}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
