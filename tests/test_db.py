"""What a session costs on PostgreSQL, read off the wire, and that a read session stays a transaction
wherever it writes or locks (casemgr.db).

libpq's trace of the connection shows each message the client sends: a read session sends its queries
and nothing else (no BEGIN, no ROLLBACK, no ping); one that writes or locks is wrapped in BEGIN and
COMMIT or ROLLBACK as before.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event, select, text

from casemgr.auth.models import User
from casemgr.db import Database

# A line of libpq's trace: time, F (frontend) or B, length, message type, its fields; a Parse names
# its prepared statement ("") before the SQL.
MESSAGE = re.compile(r'\tF\t\d+\t(?:Query|Parse)\t (?:"[^"]*" )?"([^"]*)"')


@pytest.fixture
def pg(db: Database, is_postgres: bool) -> Database:
    if not is_postgres:
        pytest.skip("PostgreSQL only (set CASEMGR_TEST_DATABASE_URL)")
    return db


@pytest.fixture
def user(make_user) -> User:
    return make_user("analyst", "reader")


@contextmanager
def wire(db: Database, path: Path) -> Iterator[list[str]]:
    """The statements the client sends on the connections checked out inside the block (their first
    two words: `BEGIN`, `SELECT users.id,`), read from libpq's trace."""
    sent: list[str] = []
    trace = path.open("w")

    def start(dbapi_connection: object, _record: object, _proxy: object) -> None:
        dbapi_connection.pgconn.trace(trace.fileno())  # type: ignore[attr-defined]

    event.listen(db.engine, "checkout", start)
    try:
        yield sent
    finally:
        event.remove(db.engine, "checkout", start)
        trace.close()
        sent += [" ".join(statement.split()[:2]) for statement in MESSAGE.findall(path.read_text())]


def test_a_read_session_sends_its_queries_and_nothing_else(pg, user, tmp_path):
    with pg.session(write=False) as s:
        s.execute(text("SELECT 1")).all()  # the pool holds a connection now
    with wire(pg, tmp_path / "trace") as sent, pg.session(write=False) as s:
        s.scalars(select(User).where(User.id == user.id)).one()
        s.scalars(select(User.username)).all()
    assert sent == ["SELECT users.id,", "SELECT users.username"]


def test_a_write_in_a_read_session_is_a_transaction(pg, user, tmp_path):
    with wire(pg, tmp_path / "trace") as sent, pg.session(write=False) as s:
        s.get(User, user.id).display_name = "Not kept"
        s.flush()
        s.rollback()
    assert sent == ["SELECT users.id,", "BEGIN", "UPDATE users", "ROLLBACK"]
    with pg.session(write=False) as s:
        assert s.get(User, user.id).display_name != "Not kept"
        s.get(User, user.id).display_name = "Kept"
        s.commit()
    with pg.session(write=False) as s:
        assert s.get(User, user.id).display_name == "Kept"


def test_a_streamed_query_in_a_read_session_runs_in_a_transaction(pg, user, make_user, tmp_path):
    # A server-side cursor (what exports stream through) lives only inside a transaction.
    make_user("analyst", "second")
    with wire(pg, tmp_path / "trace") as sent, pg.session(write=False) as s:
        names = list(s.scalars(select(User.username).order_by(User.username).execution_options(yield_per=1)))
    assert names == ["reader", "second"]
    assert sent[:2] == ["BEGIN", "DECLARE"]  # the cursor declared inside the transaction
    assert sent[-2:] == ["CLOSE", "ROLLBACK"]


def test_a_lock_taken_in_a_read_session_is_held_to_its_end(pg, user, database_url):
    other = create_engine(database_url)
    try:
        with pg.session(write=False) as s:
            s.scalars(select(User).where(User.id == user.id).with_for_update()).one()
            with other.connect() as conn:
                conn.execute(text("SET lock_timeout = '100ms'"))
                with pytest.raises(Exception, match="lock"):
                    conn.execute(text("SELECT id FROM users WHERE id = :id FOR UPDATE NOWAIT"), {"id": user.id})
            s.rollback()
        with other.connect() as conn:  # released with the session's rollback
            assert conn.execute(text("SELECT id FROM users WHERE id = :id FOR UPDATE NOWAIT"),
                                {"id": user.id}).scalar() == user.id
    finally:
        other.dispose()


@pytest.mark.parametrize("write", [False, True], ids=["read", "write"])
def test_a_connection_the_server_ended_is_replaced_without_an_error(pg, user, database_url, write):
    with pg.session(write=write) as s:
        pid = s.execute(text("SELECT pg_backend_pid()")).scalar()
        s.rollback()
    admin = create_engine(database_url)
    try:
        with admin.connect() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid}).scalar()
    finally:
        admin.dispose()
    with pg.session(write=write) as s:  # the pool noticed the close and connected anew
        assert s.get(User, user.id).username == user.username
        assert s.execute(text("SELECT pg_backend_pid()")).scalar() != pid
