"""casemgr.parallel: chunks processed in worker processes come back in order, errors surface as if raised
here, and no worker outlives the iteration. (Worker death mid-import: tests/indicators/test_import_workers.py.)"""

from __future__ import annotations

import os
import resource

import pytest

from casemgr.parallel import map_chunks
from tests.conftest import fork_server_children


def squares_and_pid(start: int, items: list[int]) -> tuple[list[int], int]:
    if -1 in items:
        raise ValueError(f"negative item in the chunk at {start}")
    return [n * n for n in items], os.getpid()


def test_chunks_come_back_in_order_from_other_processes():
    results = list(map_chunks(squares_and_pid, range(1000), chunk=64, workers=3))
    assert [start for start, _ in results] == list(range(0, 1000, 64))
    assert [n for _, (squares, _) in results for n in squares] == [n * n for n in range(1000)]
    pids = {pid for _, (_, pid) in results}
    assert os.getpid() not in pids
    assert len(pids) == 3


def test_one_worker_or_one_chunk_runs_here():
    assert {pid for _, (_, pid) in map_chunks(squares_and_pid, range(100), chunk=10, workers=1)} == {os.getpid()}
    assert {pid for _, (_, pid) in map_chunks(squares_and_pid, range(10), chunk=10, workers=4)} == {os.getpid()}


def test_an_error_in_a_worker_is_raised_here_after_the_chunks_before_it():
    items = list(range(500))
    items[300] = -1
    results = map_chunks(squares_and_pid, items, chunk=64, workers=2)
    assert [next(results)[0] for _ in range(4)] == [0, 64, 128, 192]
    with pytest.raises(ValueError, match="negative item in the chunk at 256"):
        next(results)


def test_workers_stop_when_the_caller_stops_early():
    results = map_chunks(squares_and_pid, range(10_000), chunk=10, workers=2)
    next(results)
    assert len(fork_server_children()) == 2
    results.close()
    assert fork_server_children() == set()


def test_without_processes_to_be_had_the_work_is_done_here(caplog):
    list(map_chunks(squares_and_pid, range(100), chunk=10, workers=2))  # the fork server is up from here on
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (len(os.listdir("/proc/self/fd")) + 1, hard))
    try:
        results = list(map_chunks(squares_and_pid, range(100), chunk=10, workers=2))
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert [n for _, (squares, _) in results for n in squares] == [n * n for n in range(100)]
    assert {pid for _, (_, pid) in results} == {os.getpid()}
    assert "could not start worker processes" in caplog.text
    assert fork_server_children() == set()
