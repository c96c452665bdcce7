"""Database plumbing: the declarative base, portable types, the engine and sessions.

SQLite serializes writers with BEGIN IMMEDIATE on write sessions so that a read-then-write
transaction (the audit chain append) can never fail half-way with a stale snapshot; read
sessions use a plain deferred BEGIN so that page views never queue behind writers.
"""

from __future__ import annotations

import datetime as dt
import os
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.engine import make_url
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
    return dt.datetime.now(dt.UTC)


WRITE_OPTION = "casemgr_write"

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
    return create_engine(url, pool_pre_ping=True, **kwargs)


class Database:
    """The engine and the session factories for one database; built once by the app factory.

    `info` is copied into every session, which is how collaborators built from settings
    (the audit trail, the clock) reach the services without module-level singletons.
    """

    def __init__(self, url: str, info: dict[str, Any] | None = None, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.info: dict[str, Any] = dict(info or {})
        self._read = sessionmaker(bind=self.engine, expire_on_commit=False, info=self.info)
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


def str_enum(enum_cls: type[Any], length: int = 32) -> Any:
    """A portable enum column storing the members' values (not their names) as plain strings."""
    from sqlalchemy import Enum

    return Enum(enum_cls, native_enum=False, length=length, validate_strings=True,
                values_callable=lambda members: [m.value for m in members])
