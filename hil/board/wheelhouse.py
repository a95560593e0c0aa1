"""The wheels a board needs, prepared on the lab machine and cached there.

A flatsat board often has no internet, and a Raspberry Pi compiling numpy would take an hour,
so the lab machine hands it a complete *wheelhouse*: Sunlit's own wheel plus a binary wheel of
every dependency for the board's exact Python and platform (``pip download --platform``), plus
pip itself. Both halves are cached under ``~/.cache/sunlit/board``:

* Sunlit's wheel is keyed by a digest of the source tree, so it is rebuilt only when a source
  file changed, and the digest tells the board whether to reinstall;
* the dependency wheels are kept per target (``cp311-aarch64-glibc2.36``) with the list of
  requirements they were resolved for, so a second deploy asks no package index at all.

``pip download`` resolves environment markers for *this* interpreter, not the board's, so a
board with an older Python can miss a dependency (``tomli`` below 3.11); the board's install
then names what is missing and :meth:`WheelCache.add` fetches it for the next attempt.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from hil.board.ssh import BoardError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 (Jetson JetPack 6)
    import tomli as tomllib

#: Top-level parts of a source checkout that go into the wheel (and so into its digest).
SOURCE_PARTS = ("pyproject.toml", "README.md", "flight", "ground", "hil")
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")
MISSING = re.compile(r"No matching distribution found for ([^\s;]+)")
#: The manylinux aliases older wheels are tagged with, and the glibc each one means.
LEGACY_MANYLINUX = (("manylinux2014", 17), ("manylinux2010", 12), ("manylinux1", 5))
#: Calls a PEP 517 backend (``module:object``) to build a wheel into a directory.
BUILD_WHEEL = """
import importlib, sys
module, _, attrs = sys.argv[1].partition(":")
backend = importlib.import_module(module)
for attr in filter(None, attrs.split(".")):
    backend = getattr(backend, attr)
print(backend.build_wheel(sys.argv[2]))
"""


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "sunlit" / "board"


@dataclass(frozen=True)
class Target:
    """The interpreter and platform the board's wheels must match."""

    python: tuple[int, int]
    machine: str
    glibc: tuple[int, int]

    @property
    def key(self) -> str:
        return (f"cp{self.python[0]}{self.python[1]}-{self.machine}-"
                f"glibc{self.glibc[0]}.{self.glibc[1]}")

    def platforms(self) -> list[str]:
        """Every manylinux tag a wheel for this board may carry, newest first."""
        tags = [f"manylinux_2_{minor}_{self.machine}" for minor in range(self.glibc[1], 4, -1)]
        tags += [f"{alias}_{self.machine}" for alias, minor in LEGACY_MANYLINUX
                 if minor <= self.glibc[1]]
        return tags

    def pip_args(self) -> list[str]:
        cp = f"cp{self.python[0]}{self.python[1]}"
        args = ["--only-binary=:all:", "--implementation", "cp",
                "--python-version", f"{self.python[0]}.{self.python[1]}", "--abi", cp]
        for tag in self.platforms():
            args += ["--platform", tag]
        return args


@dataclass
class Wheelhouse:
    """What to upload: board-relative name → local file, and how to install it."""

    sunlit_digest: str
    sunlit_wheel: str  #: relative name on the board, ``sunlit-DIGEST/sunlit-...whl``
    pip_wheel: str
    deps_key: str
    files: dict[str, Path] = field(default_factory=dict)


def _version_key(name: str) -> tuple[int, ...]:
    version = name.split("-")[1]
    return tuple(int(part) for part in re.findall(r"\d+", version))


def _pip_run(argv: list[str], what: str, timeout: float = 900.0) -> str:
    try:
        done = subprocess.run([sys.executable, "-m", "pip", *argv], capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise BoardError(f"{what} did not finish within {timeout:.0f} s") from None
    output = done.stderr + done.stdout
    if done.returncode != 0:
        missing = MISSING.findall(output)
        if missing:
            raise BoardError(f"{what}: the package index has no wheel of "
                             f"{', '.join(missing)} for this board")
        tail = "\n".join(line for line in output.strip().splitlines()[-12:])
        raise BoardError(f"{what} failed: {tail}")
    return output


class WheelCache:
    """Builds Sunlit's wheel and collects dependency wheels per board target."""

    def __init__(self, root: Path | None = None, *, wheel: Path | None = None,
                 log: Callable[[str], None] = lambda _: None):
        self.root = Path(root) if root is not None else default_cache_dir()
        self.wheel = Path(wheel) if wheel is not None else None
        self.log = log

    # ------------------------------------------------------------------ Sunlit's wheel
    def source_root(self) -> Path:
        """The checkout this ``hil`` was imported from, or a BoardError if it is installed."""
        import hil

        root = Path(hil.__file__).resolve().parent.parent
        if not (root / "pyproject.toml").is_file() or not (root / "flight").is_dir():
            raise BoardError(f"Sunlit is installed, not run from a source checkout ({root}): "
                             "pass the Sunlit wheel to install on the board (wheel=PATH)")
        return root

    def source_digest(self, root: Path) -> str:
        """A digest of every file that goes into the wheel: equal digests, equal wheels."""
        digest = hashlib.sha256()
        for part in SOURCE_PARTS:
            path = root / part
            files = [path] if path.is_file() else sorted(
                p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                and p.suffix != ".pyc")
            for file in files:
                digest.update(str(file.relative_to(root)).encode() + b"\0")
                digest.update(file.read_bytes() + b"\0")
        return digest.hexdigest()

    def sunlit(self) -> tuple[str, Path]:
        """(digest, wheel file): the given wheel, or one built from the checkout (cached)."""
        if self.wheel is not None:
            if not self.wheel.is_file() or not self.wheel.name.startswith("sunlit-"):
                raise BoardError(f"not a Sunlit wheel: {self.wheel}")
            return hashlib.sha256(self.wheel.read_bytes()).hexdigest(), self.wheel
        root = self.source_root()
        digest = self.source_digest(root)
        slot = self.root / "sunlit" / digest[:16]
        built = sorted(slot.glob("sunlit-*.whl")) if slot.is_dir() else []
        if built:
            return digest, built[0]
        self.log("building the Sunlit wheel")
        return digest, self._build(root, slot)

    def _build(self, root: Path, slot: Path) -> Path:
        """Build in a copy of the sources, so the checkout gets no build/ or egg-info.

        The PEP 517 backend named in ``pyproject.toml`` is called directly, with its build
        requirements from a directory installed once and cached: the same wheel ``pip wheel``
        makes, without pip creating a fresh isolated environment for every build.
        """
        requires, backend = _build_system(root / "pyproject.toml")
        tools = self._build_tools(requires)
        self.root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="build-", dir=self.root) as tmp:
            src = Path(tmp) / "src"
            src.mkdir()
            for part in SOURCE_PARTS:
                if (root / part).is_dir():
                    shutil.copytree(root / part, src / part, ignore=SKIP)
                elif (root / part).is_file():
                    shutil.copy2(root / part, src / part)
            out = Path(tmp) / "out"
            out.mkdir()
            env = {**os.environ, "PYTHONPATH": str(tools)}
            done = subprocess.run([sys.executable, "-c", BUILD_WHEEL, backend, str(out)],
                                  cwd=src, env=env, capture_output=True, text=True,
                                  stdin=subprocess.DEVNULL, timeout=600)
            wheels = sorted(out.glob("sunlit-*.whl"))
            if done.returncode != 0 or not wheels:
                tail = "\n".join((done.stderr + done.stdout).strip().splitlines()[-12:])
                raise BoardError(f"building the Sunlit wheel failed: {tail or 'no wheel made'}")
            staging = slot.with_name(slot.name + ".tmp")
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True)
            shutil.copy2(wheels[0], staging / wheels[0].name)
            shutil.rmtree(slot, ignore_errors=True)
            os.replace(staging, slot)
        self._forget_old_builds(keep=slot.name)
        return slot / wheels[0].name

    def _build_tools(self, requires: list[str]) -> Path:
        """A directory holding the build requirements, installed on first use."""
        key = hashlib.sha256("\n".join(sorted(requires)).encode()).hexdigest()[:16]
        tools = self.root / "build-tools" / key
        if tools.is_dir():
            return tools
        self.log("installing the wheel build tools: " + ", ".join(requires))
        staging = tools.with_name(key + ".tmp")
        shutil.rmtree(staging, ignore_errors=True)
        _pip_run(["install", "--quiet", "--target", str(staging), *requires],
                 "installing the wheel build tools")
        shutil.rmtree(tools, ignore_errors=True)
        os.replace(staging, tools)
        return tools

    def _forget_old_builds(self, keep: str, count: int = 3) -> None:
        slots = sorted((p for p in (self.root / "sunlit").iterdir() if p.name != keep),
                       key=lambda p: p.stat().st_mtime, reverse=True)
        for old in slots[count:]:
            shutil.rmtree(old, ignore_errors=True)

    # ------------------------------------------------------------------ dependencies
    def _deps_dir(self, target: Target) -> Path:
        return self.root / "deps" / target.key

    def _resolved(self, target: Target) -> dict[str, list[str]]:
        try:
            value = json.loads((self._deps_dir(target) / "resolved.json").read_text("utf-8"))
        except (OSError, ValueError):
            return {}
        return value if isinstance(value, dict) else {}

    def dependencies(self, target: Target, requirements: Iterable[str]) -> dict[str, Path]:
        """Dependency wheels (and pip) for ``target``, downloaded once per requirement set.

        A new requirement set is resolved into an empty directory that then replaces the old
        one, so the wheelhouse holds one resolution, not every version ever downloaded.
        """
        wanted = sorted({*requirements, "pip"})
        resolved = self._resolved(target)
        extra = resolved.get("extra", [])
        if resolved.get("requirements") != wanted:
            self.log(f"collecting dependency wheels for {target.key}")
            deps = self._deps_dir(target)
            staging = deps.with_name(deps.name + ".new")
            shutil.rmtree(staging, ignore_errors=True)
            self._download(target, [*wanted, *extra], staging)
            shutil.rmtree(deps, ignore_errors=True)
            os.replace(staging, deps)
            self._record(target, wanted, extra)
        return self._files(target)

    def add(self, target: Target, requirements: Iterable[str]) -> dict[str, Path]:
        """Fetch requirements the board found missing, and remember them for next time."""
        new = sorted(set(requirements))
        self.log(f"fetching {', '.join(new)} for {target.key}")
        self._download(target, new, self._deps_dir(target))
        resolved = self._resolved(target)
        extra = sorted({*resolved.get("extra", []), *new})
        self._record(target, resolved.get("requirements", []), extra)
        return self._files(target)

    def _download(self, target: Target, requirements: list[str], dest: Path) -> None:
        dest.mkdir(parents=True, exist_ok=True)
        _pip_run(["download", "--quiet", "--dest", str(dest), *target.pip_args(),
                  *requirements], f"downloading dependency wheels for {target.key}")

    def _record(self, target: Target, requirements: list[str], extra: list[str]) -> None:
        path = self._deps_dir(target) / "resolved.json"
        path.with_suffix(".tmp").write_text(
            json.dumps({"requirements": requirements, "extra": extra}), encoding="utf-8")
        os.replace(path.with_suffix(".tmp"), path)

    def _files(self, target: Target) -> dict[str, Path]:
        return {p.name: p for p in sorted(self._deps_dir(target).glob("*.whl"))}

    # ------------------------------------------------------------------ together
    def prepare(self, target: Target) -> Wheelhouse:
        """Everything the board needs for ``target``; the network is used only on a miss."""
        digest, wheel = self.sunlit()
        deps = self.dependencies(target, requirements_of(wheel))
        return self.assemble(digest, wheel, deps)

    def assemble(self, digest: str, wheel: Path, deps: dict[str, Path]) -> Wheelhouse:
        pips = sorted((name for name in deps if name.startswith("pip-")), key=_version_key)
        if not pips:
            raise BoardError("no pip wheel among the dependency wheels")
        sunlit_rel = f"sunlit-{digest[:16]}/{wheel.name}"
        key = hashlib.sha256("\n".join(sorted(deps)).encode()).hexdigest()[:16]
        return Wheelhouse(digest, sunlit_rel, pips[-1], key, {**deps, sunlit_rel: wheel})


def requirements_of(wheel: Path) -> list[str]:
    """The ``Requires-Dist`` lines of a wheel, without optional extras."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
            text = archive.read(name).decode("utf-8")
    except (OSError, zipfile.BadZipFile, StopIteration) as exc:
        raise BoardError(f"cannot read the metadata of {wheel}: {exc}") from None
    found = []
    for line in text.splitlines():
        if not line.strip():
            break  # the headers end at the first blank line
        if line.startswith("Requires-Dist:") and "extra ==" not in line:
            found.append(line.split(":", 1)[1].strip())
    return found


def _build_system(pyproject: Path) -> tuple[list[str], str]:
    """``[build-system]`` requirements and backend (PEP 517 defaults when absent)."""
    try:
        table = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("build-system", {})
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BoardError(f"cannot read {pyproject}: {exc}") from None
    requires = table.get("requires", ["setuptools>=40.8.0"])
    backend = table.get("build-backend", "setuptools.build_meta:__legacy__")
    if not isinstance(requires, list) or not isinstance(backend, str):
        raise BoardError(f"{pyproject}: [build-system] is not what PEP 518 describes")
    return [str(r) for r in requires], backend
