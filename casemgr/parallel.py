"""CPU-bound work on chunks of a list, in worker processes, results in order; a dead worker costs time only.

Why not concurrent.futures.ProcessPoolExecutor: its workers share one result pipe, so a worker killed while
writing a large result (the kernel's OOM killer, an operator's kill) leaves half a message in it, and the
executor then waits for the rest forever (CPython 3.11). Here each worker has a pipe of its own that only it
writes to: if it dies, reading that pipe ends at once (EOF, or the process sentinel fires) and its chunk is
processed in the calling process instead.

Workers are forked from a fork server (never from the caller, which has threads and database connections),
take one chunk at a time, and are stopped when the iteration ends, however it ends.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")
ChunkFunction = Callable[[int, list[T]], R]  # (index of the chunk's first item, the chunk) -> result


def map_chunks(function: ChunkFunction[T, R], items: Sequence[T], *, chunk: int, workers: int,
               ) -> Iterator[tuple[int, R]]:
    """(start, function(start, items[start:start + chunk])) for each chunk, in order.

    With workers > 1 the chunks run in that many processes (`function` must be a module-level function, and
    the items and results picklable); the caller consumes each result while the workers go on with the next
    chunks. With workers <= 1, or a single chunk, everything runs here.
    """
    starts = range(0, len(items), chunk)
    pool = None
    if workers > 1 and len(starts) > 1:
        try:
            pool = _Pool(function, min(workers, len(starts)))
        except OSError as exc:  # no processes to be had (a limit, memory): slower, not failed
            log.warning("could not start worker processes (%s); working in this process", exc)
    if pool is None:
        for start in starts:
            yield start, function(start, list(items[start:start + chunk]))
        return
    try:
        yield from pool.run(items, starts, chunk)
    finally:
        pool.stop()


class _Pool:
    def __init__(self, function: ChunkFunction[Any, Any], size: int) -> None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([function.__module__])
        self.function = function
        self.workers: list[tuple[BaseProcess, Connection]] = []
        self.failed = False
        try:
            for _ in range(size):
                ours, theirs = context.Pipe()
                process = context.Process(target=_serve, args=(function, theirs), daemon=True,
                                          name=f"casemgr-{function.__name__}")
                try:
                    process.start()
                except BaseException:
                    ours.close()
                    raise
                finally:
                    theirs.close()  # only the worker holds its end: if it dies, our end reads EOF
                self.workers.append((process, ours))
        except BaseException:
            self.stop()
            raise

    def run(self, items: Sequence[Any], starts: range, chunk: int) -> Iterator[tuple[int, Any]]:
        queue = iter(starts)
        pending: deque[tuple[int, int | None]] = deque()  # (start, worker index or None: run it here)

        def assign(worker: int | None) -> None:
            start = next(queue, None)
            if start is None:
                return
            if worker is not None and not self._send(worker, (start, list(items[start:start + chunk]))):
                worker = None
            pending.append((start, worker))

        for index in range(len(self.workers)):
            assign(index)
        while pending:
            start, worker = pending.popleft()
            received = self._receive(worker, start) if worker is not None else None
            if received is not None:
                assign(worker)  # the worker goes on with the next chunk while the caller consumes this one
                result = received[0]
            else:
                assign(None)  # a dead worker's turns are taken here
                result = self.function(start, list(items[start:start + chunk]))
            yield start, result

    def _send(self, worker: int, message: object) -> bool:
        process, connection = self.workers[worker]
        try:
            connection.send(message)
        except OSError:
            self._lost(worker, "could not be sent work")
            return False
        return True

    def _receive(self, worker: int, start: int) -> tuple[Any] | None:
        """The worker's result for the chunk at `start` (in a 1-tuple), or None if the worker died."""
        process, connection = self.workers[worker]
        wait([connection, process.sentinel])
        try:
            ok, value = connection.recv()
        except (EOFError, OSError):
            self._lost(worker, f"died on the chunk at {start}")
            return None
        if not ok:
            raise value
        return (value,)

    def _lost(self, worker: int, what: str) -> None:
        process, _ = self.workers[worker]
        if not self.failed:
            log.warning("worker process %s (pid %s) %s, exit code %s; its work goes on in this process",
                        process.name, process.pid, what, process.exitcode)
        self.failed = True

    def stop(self) -> None:
        for process, connection in self.workers:
            connection.close()  # a waiting worker reads EOF and exits
            process.join(timeout=1)
            if process.is_alive():  # still busy with a chunk nobody wants any more
                process.kill()
                process.join()
            process.close()


def _serve(function: ChunkFunction[Any, Any], connection: Connection) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in a terminal is for the caller, which stops us
    while True:
        try:
            start, items = connection.recv()
        except (EOFError, OSError):
            return
        try:
            reply: tuple[bool, Any] = (True, function(start, items))
        except Exception as exc:  # noqa: BLE001 - the caller raises it, as if it had run the chunk itself
            reply = (False, exc)
        try:
            connection.send(reply)
        except OSError:
            return
