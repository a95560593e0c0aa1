"""sunlit-ground dict: the operator's view of the flight dictionary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flight.config.loader import load_config
from flight.dictionary import build_dictionary
from ground.cli import main


def test_dict_lists_every_command_with_its_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dict"]) == 0
    out = capsys.readouterr().out
    assert "health.noop" in out
    assert "executive.set_mode mode:NOMINAL|POWER_SAVE|SAFE why:str" in out
    assert "executive.exit_safe mode:NOMINAL|POWER_SAVE  [hazardous]" in out


def test_dict_reads_a_saved_dictionary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    saved = tmp_path / "dictionary.json"
    saved.write_text(json.dumps(build_dictionary(load_config())))
    assert main(["dict", "--file", str(saved), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["apps"]["health"]["id"] == 2
