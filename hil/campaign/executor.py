"""Where runs are flown: local worker processes, or a Dask cluster, behind one interface.

Both are ``concurrent.futures`` executors running :func:`hil.campaign.run.execute_run` on plain
data. Local workers are spawned processes (never forked from a process that has had ZeroMQ
contexts and threads), each with :func:`~hil.campaign.run.worker_init`: they die with the
campaign and clean up their run first. On Dask the function and its arguments travel pickled
and the worker needs this package installed; ``Client(ADDRESS).get_executor()`` gives the
executor.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import socket
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any


class ExecutorError(RuntimeError):
    """The executor asked for cannot be had (no scheduler at that address ...)."""


@dataclass
class Pool:
    """An executor and how many runs to keep in flight on it."""

    executor: Executor
    slots: int
    kind: str
    describe: str
    _client: Any = field(default=None, repr=False)

    def close(self, *, kill: bool = False) -> None:
        """Shut down; ``kill`` ends runs in flight now (local workers clean up and exit)."""
        if kill and isinstance(self.executor, ProcessPoolExecutor):
            for process in list(getattr(self.executor, "_processes", {}).values()):
                with contextlib.suppress(Exception):
                    process.terminate()  # SIGTERM: the worker unwinds its run and exits
        with contextlib.suppress(Exception):
            self.executor.shutdown(wait=True, cancel_futures=True)
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close(timeout=10)


def local_pool(workers: int, log_file: str | None = None) -> Pool:
    """``workers`` spawned worker processes on this machine, logging to ``log_file``."""
    from hil.campaign.run import worker_init

    if workers < 1:
        raise ExecutorError(f"--workers must be at least 1, not {workers}")
    executor = ProcessPoolExecutor(max_workers=workers,
                                   mp_context=multiprocessing.get_context("spawn"),
                                   initializer=worker_init, initargs=(log_file,))
    return Pool(executor, workers, "local", f"{workers} local worker process(es)")


def dask_pool(address: str, workers: int | None = None, timeout: float = 10.0) -> Pool:
    """The Dask cluster whose scheduler listens at ``address``; in flight: ``workers`` or the
    cluster's thread count."""
    try:
        from distributed import Client
    except ImportError as exc:
        raise ExecutorError("--executor dask needs dask[distributed] (the 'hil' extra): "
                            f"{exc}") from None
    if not address:
        raise ExecutorError("--executor dask needs --scheduler ADDRESS (e.g. tcp://host:8786)")
    _probe(address, timeout)
    try:
        client = Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ExecutorError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    try:
        threads = sum(client.nthreads().values())
    except Exception as exc:
        client.close()
        raise ExecutorError(f"the Dask scheduler at {address} did not say what it has: "
                            f"{exc}") from None
    slots = workers or max(1, threads)
    executor = client.get_executor(pure=False)
    return Pool(executor, slots, "dask",
                f"Dask scheduler {address} ({threads} worker thread(s), {slots} in flight)",
                _client=client)


def _probe(address: str, timeout: float) -> None:
    """Fail fast when nothing listens at a tcp:// or tls:// address (Dask's client would
    retry until its timeout)."""
    scheme, sep, rest = address.partition("://")
    if not sep or scheme not in ("tcp", "tls"):
        return
    host, _, port = rest.rpartition(":")
    try:
        number = int(port.split("/")[0])
    except ValueError:
        raise ExecutorError(f"bad scheduler address {address!r}: expected "
                            f"{scheme}://HOST:PORT") from None
    try:
        with socket.create_connection((host.strip("[]") or "127.0.0.1", number), timeout):
            pass
    except OSError as exc:
        raise ExecutorError(f"cannot reach the Dask scheduler at {address}: "
                            f"{exc.strerror or exc}") from None


def default_workers() -> int:
    """Local runs in flight by default: one per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def make_pool(kind: str, workers: int | None, scheduler: str | None,
              log_file: str | None = None) -> Pool:
    if kind == "local":
        if scheduler:
            raise ExecutorError("--scheduler is only for --executor dask")
        return local_pool(workers or default_workers(), log_file)
    if kind == "dask":
        return dask_pool(scheduler or "", workers)
    raise ExecutorError(f"unknown executor {kind!r}; known: local, dask")
