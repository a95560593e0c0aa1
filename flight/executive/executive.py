"""The executive: the first onboard process, which hosts the bus and keeps the others alive.

It is itself an app (same command, telemetry and event machinery), with four extra duties:
the bus proxy, the supervision of every other app (:mod:`flight.executive.supervisor`), the
spacecraft mode (:mod:`flight.executive.modes`, shared with the apps by the Clone pattern) and
the FDIR table (:mod:`flight.executive.fdir`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

from flight.app.base import App, AppContext, CommandFailed
from flight.app.model import Severity
from flight.bus import BusProxy, Envelope, Reason, Reply
from flight.bus.clone import SharedStateServer
from flight.executive.fdir import ActionKind, FdirTable, Firing, parse_rules, resolve_path
from flight.executive.model import EXECUTIVE_MODEL
from flight.executive.modes import Mode, ModeMachine, ModeRefused
from flight.executive.notify import Notifier
from flight.executive.supervisor import Child, Policy, ProcState, Supervisor


class Executive(App):
    """Hosts the bus, supervises the apps, owns the mode and runs FDIR."""

    app_id = 1
    model = EXECUTIVE_MODEL

    def __init__(self, ctx: AppContext, config: dict[str, Any]):
        super().__init__(ctx)
        self.config = config
        section = config["executive"]
        self.policy = Policy.from_config(section)
        self.modes = ModeMachine()
        self.fdir = FdirTable(parse_rules(config["fdir"]["rules"]))
        self.fdir_trips = 0
        self.notifier = Notifier()
        self.supervisor = Supervisor(self.policy, self._spawn, self,
                                     watch_fd=self.watch_fd, unwatch_fd=self.unwatch_fd)
        self.latest: dict[str, tuple[float, dict[str, Any]]] = {}
        self._stale_after = {name: 5 * app["housekeeping_period_s"]
                             for name, app in config["apps"].items()}
        self._boot_deadline = 0.0
        self._booting = True
        self._fdir_in_flight: set[str] = set()
        self._next_fdir = 0.0
        self._next_watchdog = 0.0
        self._mode_store = self.mirrored_store("mode")
        for name, app in config["apps"].items():
            if app["enabled"]:
                self.supervisor.add(name)

    # ------------------------------------------------------------------ life cycle
    def owns_shared_state(self) -> bool:
        return True

    @property
    def mode(self) -> str:
        return self.modes.mode.value

    def run(self) -> int:
        rd = self.ctx.run_dir
        self.proxy = BusProxy(self._ctx, rd.pub_endpoint, rd.sub_endpoint,
                              hwm=self.config["bus"]["hwm"])
        self.proxy.start()
        return super().run()

    def on_start(self) -> None:
        self.state = SharedStateServer(self.publisher)
        if self._persisted_mode() is Mode.SAFE:
            # SAFE is sticky across restarts: come back in SAFE, never pass through NOMINAL.
            self.modes = ModeMachine(Mode.SAFE)
            self.emit("MODE_TRANSITION", Severity.CRITICAL, old=Mode.BOOT.value,
                      new=Mode.SAFE.value, why="SAFE was persisted before the restart")
        self.state.set("mode", self.mode)
        self.subscribe("hb.", self._on_heartbeat)
        self.subscribe("tlm.", self._on_telemetry)
        self._boot_deadline = time.monotonic() + self.config["executive"]["boot_timeout_s"]
        self.supervisor.start_all()
        self._publish_processes()

    def _persisted_mode(self) -> Mode | None:
        loaded = self._mode_store.load_object()
        try:
            return Mode(loaded[0]) if loaded is not None else None
        except ValueError:
            return None  # a checkpoint from elsewhere: boot normally

    def heartbeat_extra(self) -> dict[str, Any]:
        return {"state_seq": self.state.seq}

    def next_deadline(self) -> float | None:
        """Wake exactly when a child's deadline, an FDIR evaluation or the watchdog is due."""
        due = [self._next_fdir]
        child_due = self.supervisor.next_deadline()
        if child_due is not None:
            due.append(child_due)
        if self.notifier.watchdog_interval_s is not None:
            due.append(self._next_watchdog)
        if self._booting:
            due.append(self._boot_deadline)
        return min(due)

    def on_tick(self) -> None:
        self.supervisor.tick()
        now = time.monotonic()
        if self._booting:
            self._check_boot(now)
        if now >= self._next_fdir:
            self._next_fdir = now + self.config["executive"]["fdir_period_s"]
            self._evaluate_fdir(now)
        interval = self.notifier.watchdog_interval_s
        if interval is not None and now >= self._next_watchdog:
            self._next_watchdog = now + interval
            self.notifier.watchdog()

    def on_stop(self) -> None:
        self.notifier.stopping()
        stuck = self.supervisor.shutdown(timeout=self.policy.stop_grace_s + 1.0)
        if stuck:
            self.log.error("apps survived SIGKILL and were left behind: %s", ", ".join(stuck))
        self.proxy.stop()

    def _check_boot(self, now: float) -> None:
        """Boot ends when every app has settled (running, or given up on) or at the timeout.

        Only then is systemd told READY, whatever the mode: a flatsat that booted into SAFE
        is up and waiting for the ground, not failing to start.
        """
        children = self.supervisor.children.values()
        settled = (ProcState.RUNNING, ProcState.FLAPPING, ProcState.STOPPED)
        if not all(c.state in settled for c in children) and now < self._boot_deadline:
            return
        self._booting = False
        late = [c.name for c in children if c.state is not ProcState.RUNNING]
        if late:
            self.emit("BOOT_TIMEOUT", apps=", ".join(late))
            self._change_mode(Mode.SAFE, "apps not running at the end of boot")
        elif self.modes.mode is Mode.BOOT:
            self._change_mode(Mode.NOMINAL, "boot complete", booting=True)
        self.notifier.ready(f"mode {self.mode}")

    # ------------------------------------------------------------------ processes
    def _spawn(self, name: str) -> subprocess.Popen[bytes]:
        rd = self.ctx.run_dir
        with open(rd.log_dir / f"{name}.stderr", "ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "flight.app.runner", name, "--run-dir", str(rd.root)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, close_fds=True)

    def _publish_processes(self) -> None:
        table = {c.name: c.pid for c in self.supervisor.children.values() if c.pid is not None}
        self.state.set("processes", {self.name: os.getpid(), **table})

    def _on_heartbeat(self, envelope: Envelope) -> None:
        pid = envelope.data.get("pid") if isinstance(envelope.data, dict) else None
        self.supervisor.heartbeat(envelope.src, pid if isinstance(pid, int) else None)

    def _on_telemetry(self, envelope: Envelope) -> None:
        if isinstance(envelope.data, dict) and envelope.src in self._stale_after:
            self.latest[envelope.src] = (time.monotonic(), envelope.data)

    # Listener callbacks from the supervisor ---------------------------------------------
    def child_started(self, child: Child) -> None:
        self.emit("APP_STARTED", app=child.name, pid=child.pid)
        self._publish_processes()

    def child_running(self, child: Child) -> None:
        self.emit("APP_RUNNING", app=child.name)
        if self._booting:
            self._check_boot(time.monotonic())

    def child_exited(self, child: Child, how: str) -> None:
        self.emit("APP_EXITED", app=child.name, pid=child.last_pid, how=how)
        self.latest.pop(child.name, None)
        self._publish_processes()

    def child_hung(self, child: Child, silent_s: float) -> None:
        self.emit("APP_HUNG", app=child.name, silent_s=silent_s)

    def child_restart_scheduled(self, child: Child, delay_s: float) -> None:
        self.emit("APP_RESTART_SCHEDULED", app=child.name, restarts=child.restarts,
                  delay_s=delay_s)

    def child_flapping(self, child: Child) -> None:
        self.emit("APP_FLAPPING", app=child.name, count=len(child.restart_log),
                  window_s=self.policy.flap_window_s)
        self._change_mode(Mode.SAFE, f"{child.name} is flapping")
        if self._booting:
            self._check_boot(time.monotonic())

    # ------------------------------------------------------------------ modes
    def _change_mode(self, target: Mode, why: str, *, exit_safe: bool = False,
                     booting: bool = False) -> bool:
        if self._booting and target is not Mode.SAFE and not booting:
            self.emit("MODE_REFUSED", why=f"{target.value} requested while still booting")
            return False
        try:
            if exit_safe:
                transition = self.modes.exit_safe(target, why)
            else:
                transition = self.modes.request(target, why)  # type: ignore[assignment]
        except ModeRefused as exc:
            self.emit("MODE_REFUSED", why=str(exc))
            return False
        if transition is None:
            return True
        self.state.set("mode", transition.new.value)
        severity = Severity.CRITICAL if transition.new is Mode.SAFE else Severity.WARNING
        self.emit("MODE_TRANSITION", severity, old=transition.old.value,
                  new=transition.new.value, why=why)
        try:
            self._mode_store.save_object(transition.new.value)
        except (OSError, ValueError) as exc:
            # The mode has changed all the same; what is lost is only its survival of a reboot.
            self.emit("PERSIST_FAILED", what="mode", why=f"{type(exc).__name__}: {exc}")
        return True

    # ------------------------------------------------------------------ FDIR
    def _fdir_values(self, now: float) -> dict[str, Any]:
        values: dict[str, Any] = {"executive": self._own_values()}
        for app, (at, data) in self.latest.items():
            if now - at <= self._stale_after.get(app, 5.0):
                values[app] = data
        return values

    def _evaluate_fdir(self, now: float) -> None:
        values = self._fdir_values(now)
        firings = self.fdir.evaluate(now, lambda name: resolve_path(values, name))
        for firing in firings:
            self.fdir_trips += 1
            self._act(firing)

    def _act(self, firing: Firing) -> None:
        rule, action = firing.rule, firing.rule.action
        self.emit("FDIR_TRIPPED", Severity[action.severity], rule=rule.name,
                  message=action.message, values=firing.value_names)
        if action.kind is ActionKind.MODE and action.mode is not None:
            self._change_mode(Mode(action.mode), f"FDIR rule {rule.name}")
        elif action.kind is ActionKind.RESTART and action.app is not None:
            if action.app in self.supervisor.children:
                self.supervisor.restart(action.app)
            else:
                self.emit("FDIR_ACTION_FAILED", rule=rule.name, why=f"no app {action.app}")
        elif action.kind is ActionKind.COMMAND and action.command is not None:
            self._command_action(rule.name, action.command, dict(action.args))

    def _command_action(self, rule: str, target: str, args: dict[str, Any]) -> None:
        """Send an FDIR rule's command without waiting; one in flight per rule at most."""
        if rule in self._fdir_in_flight:
            self.emit("FDIR_ACTION_FAILED", rule=rule, why=f"{target}: previous one pending")
            return
        app, _, name = target.partition(".")
        self._fdir_in_flight.add(rule)

        def finished(reply: Reply) -> None:
            self._fdir_in_flight.discard(rule)
            if not reply.ok:
                self.emit("FDIR_ACTION_FAILED", rule=rule,
                          why=f"{target}: {reply.reason.name} {reply.message}")

        self.send(app, name, args, on_reply=finished)

    # ------------------------------------------------------------------ housekeeping
    def _own_values(self) -> dict[str, Any]:
        table = self.supervisor.table()
        return {
            "apps_running": sum(r["state"] == ProcState.RUNNING.value for r in table),
            "apps_down": sum(r["state"] not in (ProcState.RUNNING.value,
                                                ProcState.STARTING.value) for r in table),
            "restarts": {r["name"]: r["restarts"] for r in table},
            "heartbeat_age_s": {r["name"]: r["heartbeat_age_s"] for r in table
                                if r["heartbeat_age_s"] is not None},
            "fdir_trips": self.fdir_trips,
        }

    def housekeeping(self) -> dict[str, Any]:
        return self._own_values()

    # ------------------------------------------------------------------ commands
    def _child(self, app: str) -> str:
        if app not in self.supervisor.children:
            raise CommandFailed(Reason.BAD_ARGUMENTS, f"no app named {app!r}")
        return app

    def do_set_mode(self, mode: str, why: str) -> dict[str, Any]:
        if not self._change_mode(Mode(mode), why):
            hint = "still booting" if self._booting else "leaving SAFE needs exit_safe"
            raise CommandFailed(Reason.NOT_PERMITTED, f"{self.mode} -> {mode} refused ({hint})")
        return {"mode": self.mode}

    def do_exit_safe(self, mode: str) -> dict[str, Any]:
        if not self._change_mode(Mode(mode), "exit_safe commanded", exit_safe=True):
            why = "still booting" if self._booting else f"not in SAFE (mode is {self.mode})"
            raise CommandFailed(Reason.NOT_PERMITTED, why)
        return {"mode": self.mode}

    def do_restart_app(self, app: str) -> None:
        self.supervisor.restart(self._child(app))

    def do_stop_app(self, app: str) -> None:
        self.supervisor.stop(self._child(app))

    def do_start_app(self, app: str) -> None:
        self.supervisor.start(self._child(app))

    def do_status(self) -> dict[str, Any]:
        return {
            "mission": self.config["mission"]["name"],
            "mode": self.mode,
            "executive": {"pid": os.getpid(), "uptime_s": round(
                time.monotonic() - self.started_mono, 1)},
            "processes": self.supervisor.table(),
        }

    def do_state_snapshot(self) -> dict[str, Any]:
        return self.state.snapshot()

    def do_fdir_enable(self, rule: str, enabled: bool) -> None:
        try:
            self.fdir.set_enabled(rule, enabled)
        except KeyError:
            raise CommandFailed(Reason.BAD_ARGUMENTS, f"no FDIR rule named {rule!r}") from None

    def do_fdir_reset(self, rule: str) -> None:
        try:
            self.fdir.reset(rule or None)
        except KeyError:
            raise CommandFailed(Reason.BAD_ARGUMENTS, f"no FDIR rule named {rule!r}") from None

    def do_fdir_report(self) -> list[dict[str, Any]]:
        return self.fdir.status()

