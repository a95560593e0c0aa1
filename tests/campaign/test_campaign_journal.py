"""The journal survives a kill mid-write; progress.json has exactly the monitored shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hil.campaign.journal import CampaignFileError, Journal, Progress, write_atomic


def test_a_torn_last_line_is_not_a_run_and_is_cut_before_the_next_append(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.jsonl")
    journal.append({"id": 0, "spec": {}, "verdict": {"class": "masked"}})
    journal.append({"id": 1, "spec": {}, "verdict": {"class": "due"}})
    with open(journal.path, "ab") as fh:
        fh.write(b'{"id": 2, "spec": {}, "verdict": {"cla')  # killed mid-write
    assert sorted(journal.load()) == [0, 1]
    journal.repair()
    journal.append({"id": 2, "spec": {}, "verdict": {"class": "sdc"}})
    assert sorted(journal.load()) == [0, 1, 2]
    assert journal.path.read_bytes().count(b"\n") == 3


def test_a_damaged_complete_line_is_an_error_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_text('{"id": 0, "spec": {}, "verdict": {}}\n{"id": 1}\n')
    with pytest.raises(CampaignFileError, match=r"journal\.jsonl:2: not a run record"):
        Journal(path).load()


def test_a_run_journaled_twice_counts_once(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.jsonl")
    journal.append({"id": 4, "spec": {}, "verdict": {}, "n": 1})
    journal.append({"id": 4, "spec": {}, "verdict": {}, "n": 2})
    assert journal.load()[4]["n"] == 1


def test_progress_has_exactly_the_shape_the_exporter_reads(tmp_path: Path) -> None:
    progress = Progress(tmp_path / "progress.json", "c1", 10, 1000.0)
    records = {0: {"verdict": {"class": "masked"}}, 1: {"verdict": {"class": "due"}},
               2: {"verdict": {"class": None}}}
    progress.update(records, running=2)
    doc = json.loads((tmp_path / "progress.json").read_text())
    assert set(doc) == {"name", "planned", "done", "running", "by_class", "started_unix",
                        "updated_unix", "finished"}
    assert doc["by_class"] == {"masked": 1, "detected_recovered": 0, "sdc": 0, "due": 1,
                               "data_lost": 0}
    assert (doc["name"], doc["planned"], doc["done"], doc["running"]) == ("c1", 10, 3, 2)
    assert doc["finished"] is False and doc["updated_unix"] >= 1000.0
    assert isinstance(doc["started_unix"], float)


def test_atomic_writes_leave_no_temporary_files_and_are_readable(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    write_atomic(target, "{}")
    write_atomic(target, b'{"a": 1}')
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]
    assert target.stat().st_mode & 0o044  # a monitor running as someone else can read it
