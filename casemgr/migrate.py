"""Alembic, driven from code: `casemgr init` upgrades to head; tests walk every revision."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
MIGRATION_REPORTS = "casemgr.migration_reports"  # where a revision leaves its report lines (Config.attributes)


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "head") -> list[str]:
    """Upgrade to `revision`; returns what the revisions reported doing to existing data (e.g. the
    teams 0012 made from the cases' free-text team values), one line each."""
    cfg = alembic_config(database_url)
    command.upgrade(cfg, revision)
    return list(cfg.attributes.get(MIGRATION_REPORTS, []))


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


# The shadow tables SQLite creates for an FTS5 virtual table named T: T_data, T_idx, ...
FTS5_SHADOW_SUFFIXES = ("_data", "_idx", "_content", "_docsize", "_config")


def unmanaged_objects(script: ScriptDirectory | None = None) -> set[str]:
    """Names of what revisions create by hand outside the models (FTS5 tables, expression indexes).

    A revision declares them in a module-level `UNMANAGED = ("cases_fts", "case_search")`;
    autogenerate and the schema test then leave them alone instead of proposing to drop them.
    """
    script = script or ScriptDirectory.from_config(alembic_config("sqlite://"))
    names: set[str] = set()
    for revision in script.walk_revisions():
        names.update(getattr(revision.module, "UNMANAGED", ()))
    return names


def include_object(unmanaged: Iterable[str]) -> Callable[..., bool]:
    """An Alembic `include_object` hook that skips the database's unmanaged objects."""
    names = set(unmanaged)
    shadows = {n + suffix for n in names for suffix in FTS5_SHADOW_SUFFIXES}

    def include(_obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        if not reflected or compare_to is not None or name is None:
            return True
        return name not in names and not (type_ == "table" and name in shadows)

    return include
