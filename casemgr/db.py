"""Database plumbing: the declarative base, portable types, the engine and sessions.

SQLite serializes writers with BEGIN IMMEDIATE on write sessions so that a read-then-write
transaction (the audit chain append) can never fail half-way with a stale snapshot; read
sessions use a plain deferred BEGIN so that page views never queue behind writers.

PostgreSQL: a read session costs its queries' round trips and no others. Its connection runs in
autocommit, so a page view does not pay a BEGIN and a ROLLBACK around its SELECTs; under READ
COMMITTED (the default, and ours) each statement of a transaction takes a snapshot of its own anyway,
so the rows a read sees are the same. The first statement that writes, locks (FOR UPDATE), streams
(a server-side cursor) or is not a plain SELECT opens a real transaction first, which the session's
commit or rollback ends as before: a read session that records a sign-in's last use, or appends to
the audit chain, does so atomically and holds its row locks to the end. A pooled connection is
pinged (SELECT 1) only when its socket has something to read while it sits idle, which is how a
server restart or an idle-session timeout shows (the server sends its farewell and closes); the
pool then replaces it. A ping on every checkout cost a round trip per session.
"""

from __future__ import annotations

import datetime as dt
import os
import select
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite drops the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass an aware UTC datetime")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    """The column defaults at insert. Services read the time from the session's clock instead
    (`casemgr.collaborators.clock`), and set the timestamps their rules compare."""
    return dt.datetime.now(dt.UTC)


WRITE_OPTION = "casemgr_write"
READ_OPTION = "casemgr_read"

# Every engine this process made: a forked child (a gunicorn worker) drops the pooled connections
# it inherited without closing them (SQLAlchemy's fork recipe), so parent and child never talk to
# the server over one socket, or share one SQLite file handle. The factory opens no connection in
# the first place; this holds for whatever a parent opened anyway.
_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()


def _forget_inherited_connections() -> None:
    for engine in list(_ENGINES):
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_forget_inherited_connections)


def make_engine(url: str, **kwargs: Any) -> Engine:
    engine = _make_engine(url, **kwargs)
    _ENGINES.add(engine)
    return engine


def _make_engine(url: str, **kwargs: Any) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
            # Take over BEGIN from pysqlite so that write sessions can BEGIN IMMEDIATE.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            immediate = conn.get_execution_options().get(WRITE_OPTION, False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    engine = create_engine(url, **kwargs)
    if parsed.get_backend_name() == "postgresql":
        event.listen(engine, "checkout", _replace_if_closed_by_server)
        event.listen(engine, "before_cursor_execute", _begin_before_writing)
    return engine


def _replace_if_closed_by_server(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Before a pooled connection is handed out: an idle connection's socket is readable only when
    the server sent something unasked, in practice its notice that it ends the session (a restart,
    pg_terminate_backend, idle_session_timeout) followed by the close. Only then is it pinged; a
    failed ping makes the pool discard it and connect anew (DisconnectionError)."""
    try:
        poller = select.poll()
        poller.register(dbapi_connection.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
        if not poller.poll(0):
            return
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        dbapi_connection.rollback()  # end the transaction the driver opened for the ping
    except Exception as exc:  # the connection is unusable, whatever the driver's exception says
        raise DisconnectionError(f"connection closed by the server: {exc}") from exc


def _begin_before_writing(conn: Any, cursor: Any, _statement: str, _parameters: Any, context: Any,
                          _executemany: bool) -> None:
    """On a read session's autocommit connection: open a transaction before the first statement that
    needs one (see the module's docstring), so that writes, locks and server-side cursors in a read
    session behave as in any other transaction."""
    if not conn.get_execution_options().get(READ_OPTION):
        return
    dbapi_connection = cursor.connection
    if dbapi_connection.info.transaction_status != _IDLE:
        return  # in the transaction opened earlier
    if _is_plain_select(context):
        return
    # On the connection, not on `cursor`: for a streamed query that is a server-side cursor, which would
    # wrap the BEGIN in a DECLARE.
    dbapi_connection.execute("BEGIN")


def _is_plain_select(context: Any) -> bool:
    from sqlalchemy.sql import Select

    compiled = getattr(context, "compiled", None)
    statement = getattr(compiled, "statement", None)
    if not isinstance(statement, Select) or context.isinsert or context.isupdate or context.isdelete:
        return False  # DML, DDL, SAVEPOINT, text(), exec_driver_sql: whatever it does, in a transaction
    if statement._for_update_arg is not None:
        return False
    return not (context.execution_options.get("stream_results") or context.execution_options.get("yield_per"))


_IDLE = 0  # psycopg.pq.TransactionStatus.IDLE: no transaction open on the server


class Database:
    """The engine and the session factories for one database; built once by the app factory.

    `info` is copied into every session, which is how collaborators built from settings
    (the audit trail, the clock) reach the services without module-level singletons.
    """

    def __init__(self, url: str, info: dict[str, Any] | None = None, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.info: dict[str, Any] = dict(info or {})
        read_bind = self.engine
        if self.engine.dialect.name == "postgresql":
            read_bind = self.engine.execution_options(isolation_level="AUTOCOMMIT", **{READ_OPTION: True})
        self._read = sessionmaker(bind=read_bind, expire_on_commit=False, info=self.info)
        self._write = sessionmaker(
            bind=self.engine.execution_options(**{WRITE_OPTION: True}),
            expire_on_commit=False,
            info=self.info,
        )

    def session(self, *, write: bool) -> Session:
        return (self._write if write else self._read)()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A write session committed on success and rolled back on any exception."""
        session = self.session(write=True)
        try:
            with session.begin():
                yield session
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()


def insert_for(session: Session) -> Any:
    """The `insert` of the session's dialect, which has ON CONFLICT (SQLite's and PostgreSQL's alike).

    Imported here, when a statement needs it: importing sqlalchemy.dialects.postgresql loads every
    PostgreSQL driver module SQLAlchemy ships (asyncpg's pulls in asyncio), which `casemgr case list`
    on SQLite would pay for at start.
    """
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert
    from sqlalchemy.dialects import sqlite

    return sqlite.insert


def str_enum(enum_cls: type[Any], length: int = 32) -> Any:
    """A portable enum column storing the members' values (not their names) as plain strings."""
    from sqlalchemy import Enum

    return Enum(enum_cls, native_enum=False, length=length, validate_strings=True,
                values_callable=lambda members: [m.value for m in members])
