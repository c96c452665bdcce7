"""Migration 0014: at most one current holder per role per case. Rows left open side by side before it (a
race the index now refuses) are closed, the latest staying the holder, and reported; and back again."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from casemgr import migrate
from casemgr.db import UTCDateTime, make_engine
from tests.test_migration_teams import CASES, _case
from tests.test_migrations import fresh_database_url  # noqa: F401  (the fixture)

# By 0012 a case's team is a reference, not text.
CASES_AFTER_0012 = sa.table("cases", *[sa.column(c.name, c.type) for c in CASES.c if c.name != "team"])
T0 = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)
USERS = sa.table("users", *[sa.column(c) for c in ("id", "username", "display_name", "role", "password_hash",
                                                   "failed_logins", "totp_enabled", "must_change_password")],
                 sa.column("password_changed_at", UTCDateTime()), sa.column("created_at", UTCDateTime()))
HELD = sa.table("incident_role_assignments", *[sa.column(c) for c in ("id", "case_id", "kind_id", "user_id",
                                                                      "assigned_by_name")],
                sa.column("started_at", UTCDateTime()), sa.column("ended_at", UTCDateTime()))


def _user(user_id: int, name: str) -> dict[str, object]:
    return {"id": user_id, "username": name, "display_name": "", "role": "analyst", "password_hash": "x",
            "failed_logins": 0, "totp_enabled": False, "must_change_password": False, "password_changed_at": T0,
            "created_at": T0}


def _held(row_id: int, user_id: int, kind_id: int, minutes: int, ended: bool = False) -> dict[str, object]:
    start = T0 + dt.timedelta(minutes=minutes)
    return {"id": row_id, "case_id": 1, "kind_id": kind_id, "user_id": user_id, "assigned_by_name": "mia",
            "started_at": start, "ended_at": start + dt.timedelta(minutes=1) if ended else None}


def test_extra_open_rows_are_closed_and_reported(fresh_database_url):  # noqa: F811
    url = fresh_database_url
    migrate.upgrade(url, "0013")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            case = {k: v for k, v in _case(1, None).items() if k != "team"}
            conn.execute(sa.insert(CASES_AFTER_0012), [case])
            conn.execute(sa.insert(USERS), [_user(1, "ann"), _user(2, "bob"), _user(3, "carl")])
            commander, scribe = conn.execute(sa.text(
                "SELECT id FROM incident_role_kinds WHERE code IN ('incident_commander', 'scribe') ORDER BY code")
            ).scalars().all()
            conn.execute(sa.insert(HELD), [_held(1, 1, commander, 0, ended=True), _held(2, 2, commander, 5),
                                           _held(3, 3, commander, 6), _held(4, 1, scribe, 0)])

        assert migrate.upgrade(url, "0014") == [
            "closed incident role assignment 2 (case 1): a later one held the role too"]
        with engine.begin() as conn:
            rows = dict(conn.execute(sa.select(HELD.c.id, HELD.c.ended_at)).all())
            assert rows[2] == T0 + dt.timedelta(minutes=6)  # handed over when the later one began
            assert (rows[3], rows[4]) == (None, None)
            with pytest.raises(sa.exc.IntegrityError), conn.begin_nested():
                conn.execute(sa.insert(HELD), [_held(5, 1, commander, 9)])

        migrate.downgrade(url, "0013")
        with engine.begin() as conn:  # without the index a second open row is possible again
            conn.execute(sa.insert(HELD), [_held(5, 1, commander, 9)])
    finally:
        engine.dispose()
