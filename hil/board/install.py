"""Runs on the board: create the virtualenv and install Sunlit from the uploaded wheelhouse.

Sent as ``python3 -c <this file> JSON`` after the wheels are uploaded. It never reaches for a
package index (``--no-index``, and the board's own pip configuration is ignored), so a board
without internet installs exactly what the lab machine prepared. The venv is made without pip
(Debian and Ubuntu ship ``ensurepip`` separately) and pip runs straight from its wheel in the
wheelhouse. Work is skipped when ``venv/sunlit-install.json`` says it is already done: the
dependencies when the wheelhouse's set of wheels is unchanged, Sunlit when its wheel is.
Prints one marked JSON line: ``ok``, what was done, and on failure the error and any
distributions pip could not find (the lab machine fetches those and tries again).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time

MISSING = re.compile(r"No matching distribution found for ([^\s;]+)")


def _answer(**values: object) -> int:
    sys.stdout.write("SUNLIT-JSON " + json.dumps(values) + "\n")
    return 0 if values.get("ok") else 1


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _read_marker(path: str) -> dict[str, object]:
    try:
        with open(path, encoding="utf-8") as handle:
            value = json.load(handle)
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _write_marker(path: str, value: dict[str, object]) -> None:
    with open(path + ".tmp", "w", encoding="utf-8") as handle:
        json.dump(value, handle)
    os.replace(path + ".tmp", path)


def _ensure_venv(venv: str, python_id: str, marker: dict[str, object]) -> str:
    """Make the venv (again, if another interpreter made it): "" if it was there, "new" if
    it was made now; a failure raises RuntimeError with the reason."""
    if os.path.isdir(venv) and marker.get("python") != python_id:
        shutil.rmtree(venv)
        marker.clear()
    if os.path.exists(os.path.join(venv, "bin", "python")):
        return ""
    made = subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv],
                          capture_output=True, text=True)
    if made.returncode != 0:
        raise RuntimeError(f"creating the virtualenv {venv} failed: "
                           f"{_tail(made.stderr or made.stdout)}")
    return "new"


def _pip(venv: str, wheelhouse: str, pip_wheel: str, args: list[str]) -> tuple[bool, str]:
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull, "PIP_NO_INPUT": "1",
           "PYTHONNOUSERSITE": "1"}
    argv = [os.path.join(venv, "bin", "python"), os.path.join(wheelhouse, pip_wheel, "pip"),
            "install", "--no-index", "--find-links", wheelhouse, "--no-compile",
            "--disable-pip-version-check", "--no-warn-script-location", "--quiet", *args]
    done = subprocess.run(argv, capture_output=True, text=True, env=env)
    return done.returncode == 0, done.stderr + done.stdout


def _prune(wheelhouse: str, keep: set[str]) -> None:
    """Drop wheels of earlier deploys: Sunlit's (each in its own ``sunlit-DIGEST/``) and
    dependency versions the lab machine no longer resolves to."""
    for name in os.listdir(wheelhouse):
        path = os.path.join(wheelhouse, name)
        if name.startswith("sunlit-") and os.path.isdir(path) and name not in keep:
            shutil.rmtree(path, ignore_errors=True)
        elif name.endswith(".whl") and name not in keep:
            os.unlink(path)


def main(argv: list[str]) -> int:
    job = json.loads(argv[1])
    started = time.monotonic()
    install_dir = os.path.abspath(os.path.expanduser(job["install_dir"]))
    wheelhouse = os.path.join(install_dir, "wheelhouse")
    venv = os.path.join(install_dir, "venv")
    marker_path = os.path.join(venv, "sunlit-install.json")
    python_id = f"{os.path.realpath(sys.executable)} {'.'.join(map(str, sys.version_info[:3]))}"
    marker = _read_marker(marker_path)
    try:
        new = _ensure_venv(venv, python_id, marker)
    except (RuntimeError, OSError) as exc:
        return _answer(ok=False, error=str(exc), missing=[])
    sunlit_wheel = os.path.join(wheelhouse, job["sunlit_wheel"])
    done: list[str] = []
    if marker.get("deps") != job["deps_key"]:
        ok, log = _pip(venv, wheelhouse, job["pip_wheel"], [sunlit_wheel])
        if not ok:
            return _answer(ok=False, error=_tail(log), missing=MISSING.findall(log))
        # A new venv got this very wheel with them; an old one may keep an earlier build of
        # the same version, which pip counts as satisfied (so it is forced below).
        done += ["dependencies", "sunlit"] if new else ["dependencies"]
    if "sunlit" not in done and marker.get("sunlit") != job["sunlit_digest"]:
        ok, log = _pip(venv, wheelhouse, job["pip_wheel"],
                       ["--no-deps", "--force-reinstall", sunlit_wheel])
        if not ok:
            return _answer(ok=False, error=_tail(log), missing=[])
        done.append("sunlit")
    _write_marker(marker_path, {"python": python_id, "deps": job["deps_key"],
                                "sunlit": job["sunlit_digest"]})
    _prune(wheelhouse, {job["sunlit_wheel"].split("/")[0], *job["keep"]})
    return _answer(ok=True, done=done, venv=venv, seconds=round(time.monotonic() - started, 3))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
