"""Helpers for the audit tests: append entries through the real service, tamper with rows by SQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select, text, update

from casemgr.audit import service as audit
from casemgr.audit.models import AuditEntry
from casemgr.auth.actor import Actor
from casemgr.db import Database


@pytest.fixture
def append(db: Database, system: Actor) -> Callable[..., None]:
    """Append `count` entries, each in its own committed transaction, as a CLI operator would."""

    def run(count: int, action: str = "test.event") -> None:
        for i in range(count):
            with db.transaction() as s:
                audit.record(s, system, action, "thing", i, {"n": i})

    return run


class Tamper:
    """Direct edits of the audit tables, bypassing the application, as an attacker with database access."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def sql(self, statement: str, **params: Any) -> None:
        with self.db.engine.begin() as conn:
            conn.execute(text(statement), params)

    def row(self, seq: int) -> dict[str, Any]:
        with self.db.engine.connect() as conn:
            return dict(conn.execute(select(AuditEntry.__table__).where(AuditEntry.seq == seq)).mappings().one())

    def swap_contents(self, a: int, b: int) -> None:
        """Exchange everything but the sequence numbers of entries `a` and `b`."""
        row_a, row_b = self.row(a), self.row(b)
        table = AuditEntry.__table__
        with self.db.engine.begin() as conn:
            conn.execute(update(table).where(table.c.seq == a).values(hash="x"))  # the hash column is unique
            conn.execute(update(table).where(table.c.seq == b).values({k: v for k, v in row_a.items() if k != "seq"}))
            conn.execute(update(table).where(table.c.seq == a).values({k: v for k, v in row_b.items() if k != "seq"}))

    def swap_positions(self, a: int, b: int) -> None:
        """Exchange the sequence numbers of entries `a` and `b` (the rows trade places in the chain)."""
        self.sql("UPDATE audit_entries SET seq = -1 WHERE seq = :a", a=a)
        self.sql("UPDATE audit_entries SET seq = :a WHERE seq = :b", a=a, b=b)
        self.sql("UPDATE audit_entries SET seq = :b WHERE seq = -1", b=b)


@pytest.fixture
def tamper(db: Database) -> Tamper:
    return Tamper(db)


@pytest.fixture
def published_key(run_cli: Any) -> str:
    """The instance's public key as its operator publishes it."""
    result = run_cli("keys", "public")
    assert result.exit_code == 0
    return result.stdout
