"""A real Prometheus server scrapes ``sunlit-hil monitor`` watching a running flatsat, and its
query API returns the values the flatsat reports itself; the same exporter also works over the
space link.

Everything is a real process: the flatsat (``start_flatsat``), the exporter (``python -m hil.cli
monitor``), and Debian's ``prometheus`` binary with a 1 s scrape interval. Waiting is polling
with deadlines, never bare sleeps. Only a missing ``prometheus`` binary skips the first test.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from hil.monitoring import FlatsatCollector, FlatsatState, LinkOptions, LinkSource, MetricsServer
from hil.monitoring.exporter import build_registry
from hil.pytest_plugin import Flatsat, start_flatsat

ROOT = Path(__file__).resolve().parents[2]
JOB = "sunlit-flatsat"
T = TypeVar("T")


def find_prometheus() -> str | None:
    return shutil.which("prometheus") or (
        "/usr/bin/prometheus" if os.access("/usr/bin/prometheus", os.X_OK) else None)


def poll(check: Callable[[], T | None], timeout: float, what: str,
         interval: float = 0.25) -> T:
    """Call ``check`` until it returns something other than None, or fail at the deadline."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
        except (OSError, ValueError, KeyError, IndexError) as exc:  # not up yet, no data yet
            last_error, result = exc, None
        if result is not None:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}"
                         + (f" (last error: {last_error})" if last_error else ""))


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    """The first line a child prints, within ``timeout`` seconds."""
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            raise AssertionError(f"no output from {proc.args} within {timeout} s")
    return proc.stdout.readline()


def stop(proc: subprocess.Popen[Any], timeout: float = 15.0) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
    return int(proc.returncode)


@pytest.fixture(scope="module")
def flatsat() -> Iterator[Flatsat]:
    """One flatsat for this module's tests (starting one costs seconds on a busy machine)."""
    with start_flatsat() as sat:
        yield sat


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="sl-prom-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def query(base: str, expr: str) -> list[dict[str, Any]]:
    """Run an instant query against Prometheus's HTTP API; the result vector."""
    url = f"{base}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
    with urllib.request.urlopen(url, timeout=5) as response:
        body = json.load(response)
    if body.get("status") != "success":
        raise ValueError(f"query {expr!r} failed: {body}")
    return list(body["data"]["result"])


def one_value(base: str, expr: str) -> float | None:
    result = query(base, expr)
    return float(result[0]["value"][1]) if len(result) == 1 else None


def test_prometheus_scrapes_the_live_flatsat(flatsat: Flatsat, workdir: Path) -> None:
    prometheus = find_prometheus()
    if prometheus is None:
        pytest.skip("the prometheus binary is not installed (Debian package 'prometheus')")
    campaign = workdir / "campaign"
    campaign.mkdir()
    (campaign / "progress.json").write_text(json.dumps({
        "name": "seu-sweep", "planned": 20, "done": 7, "running": 2,
        "by_class": {"masked": 5, "detected_recovered": 1, "sdc": 1, "due": 0, "data_lost": 0},
        "started_unix": time.time() - 60, "updated_unix": time.time(), "finished": False}))
    exporter = subprocess.Popen(
        [sys.executable, "-m", "hil.cli", "monitor", "--run-dir", str(flatsat.run_dir),
         "--listen", "127.0.0.1:0", "--campaign", str(campaign)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=open(workdir / "exporter.log", "wb"),  # noqa: SIM115
        text=True)
    server: subprocess.Popen[bytes] | None = None
    try:
        line = read_line(exporter, 30.0)
        assert "serving http://127.0.0.1:" in line, line
        target = line.split("http://", 1)[1].split("/", 1)[0]
        config = workdir / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
            f"scrape_configs:\n  - job_name: {JOB}\n"
            f"    static_configs:\n      - targets: ['{target}']\n")
        port = free_tcp_port()
        server = subprocess.Popen(
            [prometheus, f"--config.file={config}", f"--storage.tsdb.path={workdir / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            stdin=subprocess.DEVNULL, stdout=open(workdir / "prometheus.log", "wb"),  # noqa: SIM115
            stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"

        assert poll(lambda: one_value(base, f'up{{job="{JOB}"}}') == 1.0 or None, 60.0,
                    "Prometheus to scrape the exporter (up == 1)")
        soc_expr = f'sunlit_telemetry{{job="{JOB}",app="power",channel="soc"}}'
        poll(lambda: one_value(base, soc_expr), 30.0, "the state of charge in Prometheus")

        def stack_soc() -> float:
            return float(flatsat.stack.command("power", "status").data["values"]["battery_soc"])

        before = stack_soc()
        soc = one_value(base, soc_expr)
        after = stack_soc()
        assert soc is not None and 0.0 <= soc <= 1.0
        # The stored value is at most a scrape plus a housekeeping period old; at 60x the state
        # of charge moves well under 0.01 in that time.
        assert min(before, after) - 0.01 <= soc <= max(before, after) + 0.01, (soc, before, after)

        mode = flatsat.stack.mode()
        assert poll(lambda: one_value(base, f'sunlit_mode{{job="{JOB}",sunlit_mode="{mode}"}}')
                    == 1.0 or None, 10.0, f"sunlit_mode {mode} == 1")
        running = sum(row["state"] == "RUNNING" for row in flatsat.stack.status()["processes"])
        assert poll(lambda: one_value(base, f'sunlit_apps_running{{job="{JOB}"}}') == running
                    or None, 10.0, f"sunlit_apps_running == {running}")
        assert one_value(base, "sunlit_campaign_runs_done") == 7.0
        assert one_value(base, 'sunlit_campaign_outcomes{class="masked"}') == 5.0
        assert one_value(base, f'sunlit_exporter_messages_total{{job="{JOB}",'
                               f'kind="telemetry"}}') > 0
        apps = {"executive", "power", "thermal", "jobs", "radiation", "world", "comms", "health"}
        assert poll(lambda: {r["metric"]["app"] for r in query(
            base, f'sunlit_telemetry_age_seconds{{job="{JOB}"}}')} >= apps or None, 20.0,
            "every app's telemetry age")
    finally:
        if server is not None:
            stop(server)
        status = stop(exporter)
    assert status == 0, (workdir / "exporter.log").read_text()


def test_exporter_over_the_space_link(flatsat: Flatsat, workdir: Path) -> None:
    """The link source on the flatsat's configured ground port: comms sends it everything."""
    dictionary = workdir / "dictionary.json"
    dictionary.write_text(json.dumps(flatsat.dictionary()))
    state = FlatsatState()
    source = LinkSource(LinkOptions(flatsat.address, key_file=flatsat.key_file,
                                    dictionary=dictionary, state_dir=workdir / "ground",
                                    local=flatsat.ground_address), state)
    server = MetricsServer(build_registry(FlatsatCollector(state, source)), "127.0.0.1", 0)
    source.start()
    server.start()
    try:
        def scrape() -> str:
            with urllib.request.urlopen(server.url, timeout=5) as response:
                return str(response.read().decode())

        def complete() -> str | None:  # power's and the executive's reports both arrived
            text = scrape()
            return text if 'sunlit_telemetry{app="power",channel="soc"}' in text \
                and "sunlit_apps_running" in text else None

        text = poll(complete, 30.0, "the power and executive reports over the link")
        soc = next(line for line in text.splitlines()
                   if line.startswith('sunlit_telemetry{app="power",channel="soc"}'))
        assert 0.0 <= float(soc.split()[-1]) <= 1.0
        assert 'sunlit_exporter_source_info{source="link"' in text
        mode = flatsat.stack.mode()
        assert f'sunlit_mode{{sunlit_mode="{mode}"}} 1.0' in text
        assert 'sunlit_exporter_rejected_total{reason="bad_crc"} 0.0' in text
    finally:
        server.stop()
        source.stop()
