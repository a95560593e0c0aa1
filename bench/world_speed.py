"""How fast the simulated flatsat can run: the world plus the whole stack, accelerated.

For each requested speed (mission seconds per wall second) a real stack is started through
:class:`hil.stack.LocalStack` (the built-in sim profile: executive, health, power, thermal,
world) with ``time.speed`` set, and watched for a window of wall time. From the world's
housekeeping it takes the mission time actually simulated; from the power and thermal apps'
housekeeping the control periods they missed (``control_overruns``). A speed is *kept up*
when the world stays within a few steps of mission time and neither control loop missed a
period.

Baseline, measured in the same run: the world model alone, stepped as fast as one core
allows in this process — the speed ceiling of the physics without any bus, process or
control loop around it. The ratio says what share of it the whole stack still achieves.

Then the target run: three orbits at 200x (under 90 s of wall time), with zero overruns.

Run: ``.venv/bin/python -m bench.world_speed [--quick]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import BenchResult, Check, md_table, short_tmp_dir

NAME = "world_speed"
TARGET_SPEED = 200.0
SPEEDS = (100.0, 200.0, 400.0, 800.0, 1600.0, 3200.0)
LAG_STEPS = 5  # a world within this many steps of mission time keeps up


def model_ceiling(seconds: float = 3.0) -> float:
    """Steps per wall second of the world model alone, times its step: its top speed."""
    from hil.world.model import Inputs, World, WorldConfig

    config = WorldConfig.from_flat({})
    world = World(config, 1813536000.0)
    inputs = Inputs(loads={}, compute_duty=0.8, battery_heater=False)
    steps, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for _ in range(200):
            world.step(config.step_s, inputs)
        steps += 200
    return steps * config.step_s / (time.perf_counter() - started)


def watch(speed: float, window_s: float) -> dict[str, Any]:
    """Run a stack at ``speed`` for ``window_s`` wall seconds; what it achieved."""
    from hil.stack import LocalStack

    with short_tmp_dir("slb-") as run_dir:
        stack = LocalStack(run_dir, overrides=(f"time.speed={speed}",),
                           log_to=run_dir / "stack.out")
        stack.start(timeout=60)
        try:
            tap = stack.tap("tlm.world", "tlm.power", "tlm.thermal")
            first = _latest(tap, 3.0)
            started = time.monotonic()
            last = first
            while time.monotonic() - started < window_s:
                last = {**last, **_latest(tap, 0.5)}
        finally:
            stack.stop()
    (a0, w0), (a1, w1) = first["world"], last["world"]
    wall = a1 - a0  # between the arrivals of the two world packets compared
    mission = w1["mission_t"] - w0["mission_t"]
    overruns = sum(last[a][1]["control_overruns"] - first[a][1]["control_overruns"]
                   for a in ("power", "thermal"))
    return {"speed": speed, "wall_s": wall, "mission_s": mission,
            "achieved": mission / wall, "lag_s": w1["lag_s"], "overruns": overruns,
            "orbits": w1["orbit_number"] - w0["orbit_number"],
            "kept_up": overruns == 0 and w1["lag_s"] <= LAG_STEPS * 1.0
            and mission / wall >= 0.97 * speed}


def _latest(tap: Any, seconds: float) -> dict[str, tuple[float, dict[str, Any]]]:
    """The newest housekeeping packet of each app seen within ``seconds``, with its arrival."""
    out: dict[str, tuple[float, dict[str, Any]]] = {}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline or len(out) < 3:
        envelope = tap.subscriber.recv(timeout_ms=100)
        if envelope is not None and isinstance(envelope.data, dict):
            out[envelope.src] = (time.monotonic(), envelope.data)
        if time.monotonic() > deadline + 10:
            missing = sorted({"world", "power", "thermal"} - set(out))
            raise RuntimeError(f"no housekeeping from {missing}")
    return out


def run(speeds: tuple[float, ...] = SPEEDS, window_s: float = 8.0,
        orbits_run: bool = True, verbose: bool = True) -> BenchResult:
    started = time.monotonic()
    ceiling = model_ceiling()
    rows, results = [], []
    for speed in speeds:
        r = watch(speed, window_s)
        results.append(r)
        rows.append([f"{speed:g}x", f"{r['achieved']:.0f}x", f"{r['achieved'] / ceiling:.3f}",
                     f"{r['lag_s']:.1f}", r["overruns"], "yes" if r["kept_up"] else "no"])
        if verbose:
            print(f"  [{NAME}] {speed:6g}x → {r['achieved']:7.1f}x lag {r['lag_s']:5.1f} s "
                  f"overruns {r['overruns']}", file=sys.stderr)
    best = max((r["speed"] for r in results if r["kept_up"]), default=0.0)
    checks = [Check(NAME, "highest speed the whole stack keeps up (mission s / wall s)",
                    f"{best:g}x", f"{ceiling:.0f}x (world model alone)",
                    f"{best / ceiling:.3f}", f">= {TARGET_SPEED:g}x", best >= TARGET_SPEED)]
    lines = [f"## World + stack speed ({NAME})", "",
             f"World model alone (baseline): {ceiling:.0f}x real time on one core.", "",
             md_table(["requested", "achieved", "share of model ceiling", "world lag s",
                       "control overruns", "kept up"], rows)]
    if orbits_run:
        period = 5863.0  # 650 km
        three = watch(TARGET_SPEED, 3 * period / TARGET_SPEED)
        ok = three["overruns"] == 0 and three["kept_up"]
        checks.append(Check(NAME, "three orbits at 200x: wall seconds, control overruns",
                            f"{three['wall_s']:.1f} s, {three['overruns']} overruns", "-", "-",
                            "< 90 s, 0 overruns", ok and three["wall_s"] < 90))
        lines += ["", f"Three orbits at {TARGET_SPEED:g}x: {three['mission_s']:.0f} mission s "
                  f"in {three['wall_s']:.1f} wall s ({three['orbits']} orbit boundaries), "
                  f"{three['overruns']} control overruns, world lag {three['lag_s']:.1f} s."]
    return BenchResult(NAME, "World + stack speed", "\n".join(lines), checks,
                       seconds=time.monotonic() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.world_speed", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    result = run((200.0, 800.0), 4.0, orbits_run=False) if args.quick else run()
    print(result.markdown)
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
