"""Print what the arm64 smoke test installs beside Sunlit, read from pyproject.toml.

A board gets Sunlit's runtime dependencies only; the smoke test adds the test tools from the
``dev`` extra, but not the linters (they check source, not the platform) nor the lab bench's
``hil`` extra (plots and Dask are never on a board). Reading the list here keeps it in step with
pyproject.toml instead of repeating it in the shell script.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import tomllib

#: Distributions in the dev extra that the arm64 run leaves out, and why: see the docstring.
LEFT_OUT = frozenset({"ruff", "mypy", "sunlit"})


def distribution(requirement: str) -> str:
    """The distribution name of a PEP 508 requirement string, normalised."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    if match is None:
        raise ValueError(f"not a requirement: {requirement!r}")
    return re.sub(r"[-_.]+", "-", match.group(1)).lower()


def smoke_requirements(pyproject: Path) -> list[str]:
    """The dev extra's requirements that the arm64 run installs."""
    extras = tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"]
    return [r for r in extras["dev"] if distribution(r) not in LEFT_OUT]


def main(argv: list[str]) -> int:
    """Print one requirement a line; exit 2 with a message when pyproject.toml is unusable."""
    if len(argv) != 1:
        print("usage: requirements.py PYPROJECT", file=sys.stderr)
        return 2
    try:
        requirements = smoke_requirements(Path(argv[0]))
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        print(f"requirements.py: cannot read the dev extra from {argv[0]}: {exc!r}",
              file=sys.stderr)
        return 2
    print("\n".join(requirements))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
