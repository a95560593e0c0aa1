"""Downloading a job result from the spacecraft: in chunks, checked against its digest.

TC[128,5] asks comms for a stored result; it comes down as TM[128,6] chunks, each carrying the
result's size, chunk count and SHA-256. Chunks lost on the way (a lossy link, the end of a
contact) are asked for again by index until the result is whole — or the deadline passes —
and the assembled bytes must match the digest the spacecraft computed when the job finished.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

import msgpack

from flight.link.services import Jobs, Service

COMMS_APID = 0x10
#: Chunk indexes asked for in one TC[128,5] (msgpack: at most 5 bytes each, so well under the
#: 4 KiB datagram); more missing chunks are asked for in the following requests.
MAX_CHUNKS_PER_REQUEST = 500


class DownloadError(RuntimeError):
    """The result did not come down whole, or came down not matching its digest."""


@dataclass
class Download:
    """Chunks of one result as they arrive."""

    result_id: str
    chunks: dict[int, bytes] = field(default_factory=dict)
    count: int | None = None
    size: int | None = None
    sha256: str | None = None
    requests: int = 0

    def take(self, chunk: dict[str, Any]) -> None:
        self.count, self.size, self.sha256 = chunk["count"], chunk["size"], chunk["sha256"]
        self.chunks[int(chunk["index"])] = bytes(chunk["data"])

    def missing(self) -> list[int]:
        return [] if self.count is None else \
            [i for i in range(self.count) if i not in self.chunks]

    def assemble(self) -> bytes:
        data = b"".join(self.chunks[i] for i in range(self.count or 0))
        if len(data) != self.size or hashlib.sha256(data).hexdigest() != self.sha256:
            raise DownloadError(f"result {self.result_id!r} does not match its digest")
        return data


def download_result(station: Any, result_id: str, *, timeout: float = 60.0,
                    request_timeout: float = 5.0, chunk_size: int = 1024) -> bytes:
    """The whole result ``result_id``, verified; asks again for what is missing."""
    download = Download(result_id)
    deadline = time.monotonic() + timeout
    wanted: list[int] | None = None
    since = station.mark()
    while time.monotonic() < deadline:
        request: dict[str, Any] = {"result": result_id, "chunk_size": chunk_size}
        if wanted is not None:
            request["chunks"] = wanted
        handle = station.send_tc(COMMS_APID, Service.JOBS, Jobs.DOWNLINK_RESULT,
                                 msgpack.packb(request), app="comms", name="downlink_result",
                                 args=request)
        download.requests += 1
        _settle(handle, min(request_timeout, max(0.1, deadline - time.monotonic())))
        _collect(station, download, since)
        if download.count is None:
            continue  # nothing came yet: ask for all of it again
        missing = download.missing()
        if not missing:
            return download.assemble()
        wanted = missing[:MAX_CHUNKS_PER_REQUEST]  # the request itself must fit one TC
    raise DownloadError(f"result {result_id!r}: {len(download.missing())} chunk(s) still "
                        f"missing after {download.requests} request(s)")


def _settle(handle: Any, timeout: float) -> None:
    """Wait for the request's final report; a refusal ends the download with its reason."""
    try:
        stage = handle.wait(timeout)
    except TimeoutError:
        return  # lost on the way (uplink or its reports): ask again
    if not stage.ok:
        raise DownloadError(f"the spacecraft refused: {stage.reason_text}")


def _collect(station: Any, download: Download, since: float) -> None:
    for report in station.other_reports(Service.JOBS, Jobs.RESULT_CHUNK, since=since):
        data = report.data
        if isinstance(data, (bytes, bytearray)):
            try:
                data = msgpack.unpackb(data)
            except (ValueError, msgpack.UnpackException):
                continue  # not a chunk (counted by the link layer as decoded, but useless)
        if isinstance(data, dict) and data.get("result") == download.result_id:
            try:
                download.take(data)
            except (KeyError, TypeError, ValueError):
                continue
