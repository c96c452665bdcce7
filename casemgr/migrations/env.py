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
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                          compare_type=True,
                          include_object=include_object(unmanaged_objects(context.script)))
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `casemgr init`")
run_migrations_online()
