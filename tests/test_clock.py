"""The clock and the typed accessors to the collaborators every session carries (docs/services.md)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from casemgr import collaborators
from casemgr.audit import service as audit
from casemgr.audit.models import AuditCheckpoint, AuditEntry
from casemgr.clock import ManualClock, SystemClock
from casemgr.db import Database

MOMENT = dt.datetime(2026, 3, 2, 9, 30, 15, 250_000, tzinfo=dt.UTC)


def test_a_manual_clock_stands_still_until_moved():
    clock = ManualClock(MOMENT)
    assert clock.now() == clock.now() == MOMENT
    assert clock.advance(minutes=31) == MOMENT + dt.timedelta(minutes=31)
    assert clock.advance(dt.timedelta(hours=1), seconds=1) == MOMENT + dt.timedelta(hours=1, minutes=31, seconds=1)
    assert clock.set(MOMENT) == MOMENT
    local = MOMENT.astimezone(dt.timezone(dt.timedelta(hours=2)))
    assert clock.set(local).tzinfo is dt.UTC  # kept in UTC, as the services store it
    with pytest.raises(ValueError, match="aware UTC"):
        clock.set(dt.datetime(2026, 3, 2, 9, 30))  # naive


def test_the_system_clock_is_installed_by_default(db: Database):
    assert isinstance(collaborators.clock(db), SystemClock)
    assert collaborators.clock(db).now().tzinfo is dt.UTC


def test_audit_entries_and_checkpoints_are_timed_by_the_sessions_clock(db: Database, system, clock):
    clock.set(MOMENT)
    with db.transaction() as s:
        audit.record(s, system, "test.timed", "thing", 1)
        clock.advance(seconds=5)
        audit.sign_head(s)
    with db.transaction() as s:
        assert s.scalar(select(AuditEntry.occurred_at).where(AuditEntry.action == "test.timed")) == MOMENT
        assert s.scalar(select(AuditCheckpoint.created_at)) == MOMENT + dt.timedelta(seconds=5)


def test_a_session_made_elsewhere_says_which_collaborator_is_missing(db: Database):
    with Session(db.engine) as stray:
        for accessor, what in [(collaborators.clock, "clock"), (collaborators.audit_trail, "audit trail"),
                               (collaborators.vault, "evidence vault"), (collaborators.auth_policy, "sign-in policy"),
                               (collaborators.settings, "settings")]:
            with pytest.raises(collaborators.MissingCollaborator, match=f"no {what} .* casemgr.build_database"):
                accessor(stray)
