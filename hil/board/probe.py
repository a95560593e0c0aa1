"""Runs on the board, with the board's own Python, before anything is installed there.

It is sent as ``python3 -c <this file> INSTALL_DIR RUN_DIR`` and prints one marked JSON line:
the interpreter (version, path, C library, machine), the two directories with ``~`` expanded,
what the board's wheelhouse already holds and what the virtualenv was installed from. It uses
the standard library only and no newer syntax than Python 3.5 has, so that an old interpreter
can still say how old it is instead of failing with a SyntaxError.
"""

import json
import os
import platform
import sys


def _listing(wheelhouse):
    """Relative path → size of every wheel already uploaded (one directory level deep)."""
    found = {}
    if not os.path.isdir(wheelhouse):
        return found
    for name in os.listdir(wheelhouse):
        path = os.path.join(wheelhouse, name)
        if name.endswith(".whl") and os.path.isfile(path):
            found[name] = os.path.getsize(path)
        elif os.path.isdir(path):
            for inner in os.listdir(path):
                if inner.endswith(".whl"):
                    found[name + "/" + inner] = os.path.getsize(os.path.join(path, inner))
    return found


def _installed(venv):
    """What :mod:`hil.board.install` recorded after the last successful install, or None."""
    try:
        with open(os.path.join(venv, "sunlit-install.json")) as handle:
            value = json.load(handle)
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _has_venv():
    try:
        import venv  # noqa: F401
    except ImportError:
        return False
    return True


def main(argv):
    install_dir = os.path.abspath(os.path.expanduser(argv[1]))
    run_dir = os.path.abspath(os.path.expanduser(argv[2]))
    libc, libc_version = platform.libc_ver()
    venv = os.path.join(install_dir, "venv")
    answer = {
        "version": list(sys.version_info[:3]),
        "implementation": sys.implementation.name if hasattr(sys, "implementation") else "",
        "executable": os.path.realpath(sys.executable),
        "system": platform.system(),
        "machine": platform.machine(),
        "libc": [libc, libc_version],
        "home": os.path.expanduser("~"),
        "install_dir": install_dir,
        "run_dir": run_dir,
        "has_venv": _has_venv(),
        "wheelhouse": _listing(os.path.join(install_dir, "wheelhouse")),
        "installed": _installed(venv),
    }
    sys.stdout.write("SUNLIT-JSON " + json.dumps(answer) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
