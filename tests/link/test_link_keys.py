"""Key files: permission, ownership and format checks, and atomic generation."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from flight.link import KEY_SIZE, KeyFileError, generate_key, load_key

KEY_HEX = "01" * 32


def write_key(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    os.chmod(path, mode)
    return path


def test_0600_is_accepted(tmp_path: Path) -> None:
    assert load_key(write_key(tmp_path / "k", KEY_HEX + "\n")) == bytes([1]) * 32


@pytest.mark.parametrize("text", [KEY_HEX, KEY_HEX + "\r\n", KEY_HEX.upper() + "\n"])
def test_line_endings_and_case(tmp_path: Path, text: str) -> None:
    assert load_key(write_key(tmp_path / "k", text)) == bytes([1]) * 32


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o602, 0o660, 0o601])
def test_group_or_other_access_is_refused(tmp_path: Path, mode: int) -> None:
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_key(write_key(tmp_path / "k", KEY_HEX, mode))


def test_0400_is_accepted(tmp_path: Path) -> None:
    assert len(load_key(write_key(tmp_path / "k", KEY_HEX, 0o400))) == KEY_SIZE


@pytest.mark.parametrize(("text", "match"), [
    ("01" * 31, "62 characters"),
    ("01" * 33, "66 characters"),
    ("", "0 characters"),
    ("zz" + "01" * 31, "not hex digits"),
    ("01" * 16 + "\n" + "01" * 15 + "0", "not hex digits"),  # two lines
    ("01" * 200, "longer than"),
])
def test_bad_content_is_refused_without_echoing_it(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(KeyFileError, match=match) as info:
        load_key(write_key(tmp_path / "k", text))
    assert "0101" not in str(info.value)


def test_missing_and_not_regular(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="No such file"):
        load_key(tmp_path / "missing")
    with pytest.raises(KeyFileError, match="not a regular file"):
        load_key(tmp_path)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a file away")
def test_someone_elses_file_is_refused(tmp_path: Path) -> None:
    path = write_key(tmp_path / "k", KEY_HEX)
    os.chown(path, 65534, 65534)
    with pytest.raises(KeyFileError, match="owned by uid 65534"):
        load_key(path)


def test_generate_creates_0600_and_loads_back(tmp_path: Path) -> None:
    old = os.umask(0)  # even a permissive umask must not loosen the mode
    try:
        key = generate_key(tmp_path / "k")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "k").stat().st_mode) == 0o600
    assert load_key(tmp_path / "k") == key and len(key) == KEY_SIZE
    assert (tmp_path / "k").read_text() == key.hex() + "\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k"]  # no temp file left


def test_generate_never_overwrites(tmp_path: Path) -> None:
    first = generate_key(tmp_path / "k")
    with pytest.raises(FileExistsError):
        generate_key(tmp_path / "k")
    assert load_key(tmp_path / "k") == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k"]


def test_generated_keys_differ(tmp_path: Path) -> None:
    assert generate_key(tmp_path / "a") != generate_key(tmp_path / "b")
