"""Assembling a downloaded result: what is missing, and a digest that must match."""

from __future__ import annotations

import hashlib

import pytest

from ground.results import Download, DownloadError


def _chunk(data: bytes, index: int, size: int = 4) -> dict:
    return {"result": "r", "index": index, "count": -(-len(data) // size), "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "data": data[index * size:(index + 1) * size]}


def test_missing_chunks_then_a_whole_result() -> None:
    data = b"0123456789"
    download = Download("r")
    assert download.missing() == []  # nothing known yet: the caller asks for everything
    download.take(_chunk(data, 2))
    assert download.missing() == [0, 1]
    download.take(_chunk(data, 0))
    download.take(_chunk(data, 1))
    assert download.missing() == [] and download.assemble() == data


def test_a_result_that_does_not_match_its_digest_is_refused() -> None:
    data = b"0123456789"
    download = Download("r")
    for i in range(3):
        chunk = _chunk(data, i)
        if i == 1:
            chunk["data"] = b"XXXX"
        download.take(chunk)
    with pytest.raises(DownloadError, match="digest"):
        download.assemble()
