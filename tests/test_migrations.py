"""The Alembic migrations build exactly the models' schema, and every revision upgrades and downgrades."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from casemgr import migrate
from casemgr.db import make_engine
from casemgr.models import Base


def schema_differences(url: str) -> list[object]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={
                "compare_type": True,
                "compare_server_default": True,
                "include_object": migrate.include_object(migrate.unmanaged_objects()),
            })
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def current_revision(url: str) -> str | None:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


@pytest.fixture
def fresh_database_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """An empty database on the session's backend, dropped afterwards."""
    if not database_url.startswith("postgresql"):
        yield f"sqlite:///{tmp_path / 'migrations.db'}"
        return
    server = make_url(os.environ.get("CASEMGR_TEST_DATABASE_URL", database_url)).set(drivername="postgresql+psycopg")
    name = f"casemgr_migrations_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def revisions_base_to_head() -> list[tuple[str, str]]:
    """(revision, the revision to go down to) for every revision, oldest first."""
    script = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1, f"the migrations have several heads: {script.get_heads()}"
    ordered = list(reversed(list(script.walk_revisions("base", "heads"))))
    return [(r.revision, r.down_revision or "base") for r in ordered]  # type: ignore[misc]


def test_the_migrated_schema_matches_the_models(migrated):
    """The suite's own database was built by the migrations; nothing is missing or different."""
    assert schema_differences(migrated) == []


def test_every_revision_upgrades_and_downgrades(fresh_database_url):
    url = fresh_database_url
    steps = revisions_base_to_head()
    head = steps[-1][0]
    model_tables = set(Base.metadata.tables)

    # base -> head, one revision at a time, each one also stepping down and up again
    for revision, down in steps:
        migrate.upgrade(url, revision)
        assert current_revision(url) == revision
        migrate.downgrade(url, down)
        assert current_revision(url) == (None if down == "base" else down)
        migrate.upgrade(url, revision)
    assert current_revision(url) == head
    assert schema_differences(url) == []

    # head -> base, one revision at a time
    for revision, down in reversed(steps):
        assert current_revision(url) == revision
        migrate.downgrade(url, down)
    assert current_revision(url) is None
    assert tables(url) & model_tables == set()

    # and up again in one go
    migrate.upgrade(url)
    assert current_revision(url) == head
    assert tables(url) >= model_tables
    assert schema_differences(url) == []
