from __future__ import annotations

from alembic import context

from casemgr.db import make_engine
from casemgr.migrate import include_object, unmanaged_objects
from casemgr.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as connection:
        sqlite = engine.dialect.name == "sqlite"
        if sqlite:
            # SQLite alters a table by copying it and dropping the old one, which a table others refer to
            # (cases) survives only with foreign keys off: the pragma is a no-op inside a transaction, so it
            # is set on the driver's connection before the migration's transaction begins (SQLite's own
            # procedure for rebuilding a table). The keys are checked before committing instead.
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                          compare_type=True,
                          include_object=include_object(unmanaged_objects(context.script)))
        with context.begin_transaction():
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:
                    raise RuntimeError(f"the migration leaves rows whose foreign keys point nowhere: {broken[:10]}")
        if sqlite:
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `casemgr init`")
run_migrations_online()
