"""`casemgr serve` as deployed: several gunicorn processes forked from one master, each with database
connections of its own. The app factory opens nothing that a fork would share."""

from __future__ import annotations

import contextlib
import os
import socket
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import requests
from sqlalchemy import text

from casemgr import create_app

from .conftest import serve_default, serve_process

STARTS = 5
AT_ONCE = 16


def _listening(base: str) -> bool:
    """The master has bound its socket: requests sent now wait for the workers being forked."""
    url = urllib.parse.urlsplit(base)
    try:
        socket.create_connection((url.hostname, url.port), timeout=1).close()
    except OSError as exc:
        raise requests.ConnectionError(str(exc)) from None
    return True


def test_requests_right_after_each_start_all_succeed(settings, api, open_case):
    analyst = api("analyst")
    case = open_case(analyst)
    headers = {"Authorization": f"Bearer {analyst.token}"}
    paths = ["/api/v1/me", f"/api/v1/cases/{case['id']}", "/api/v1/cases", "/healthz"]

    def fetch(path: str, base: str) -> tuple[str, int | str]:
        try:
            return path, requests.get(base + path, headers=headers, timeout=20).status_code
        except requests.RequestException as exc:  # a hang or a dropped connection: a failure, not an error
            return path, type(exc).__name__

    workers = serve_default("workers")
    assert workers >= 2
    for _ in range(STARTS):
        with serve_process(settings, workers=workers, ready=_listening) as base, \
                ThreadPoolExecutor(AT_ONCE) as pool:
            answers = list(pool.map(fetch, [paths[i % len(paths)] for i in range(AT_ONCE)], [base] * AT_ONCE))
        assert [status for _, status in answers] == [200] * AT_ONCE, answers


def test_the_factory_opens_no_database_connection(settings):
    app = create_app(settings)
    pool = app.extensions["casemgr.db"].engine.pool
    try:
        # Nothing checked out, and nothing idle in the pool either: a forked worker would share it.
        assert (pool.checkedout(), pool.checkedin()) == (0, 0)
    finally:
        app.extensions["casemgr.db"].dispose()


def _open_files() -> set[str]:
    fds = Path("/proc/self/fd")
    found = set()
    for fd in fds.iterdir():
        with contextlib.suppress(OSError):  # the directory's own descriptor is gone by now
            found.add(os.readlink(fd))
    return found


def test_the_factory_leaves_no_file_or_socket_open(settings, tmp_path):
    # The audit stream to a file and to syslog, and SQLite: the handles most likely to be opened early.
    configured = replace(settings, audit_log_file=tmp_path / "audit.jsonl", audit_syslog="127.0.0.1:514")
    create_app(configured).extensions["casemgr.db"].dispose()  # modules imported, caches warm
    before = _open_files()
    app = create_app(configured)
    try:
        assert _open_files() - before == set()
    finally:
        app.extensions["casemgr.db"].dispose()


def test_a_forked_process_drops_the_connections_it_inherited(db):
    with db.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
        parents = conn.connection.dbapi_connection
    assert db.engine.pool.checkedin() == 1  # what a master that had queried would hand on
    pid = os.fork()
    if pid == 0:  # the child: a new pool, the parent's connection neither used nor closed
        os._exit(0 if db.engine.pool.checkedin() == 0 else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    with db.engine.connect() as conn:  # the parent's connection still works: the child did not close it
        assert conn.connection.dbapi_connection is parents
        assert conn.execute(text("SELECT 1")).scalar() == 1
