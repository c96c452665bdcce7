"""One current holder per role per case, kept by the database (the partial unique index of migration 0014),
also when two people name someone in the same role at the same moment."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from casemgr.auth.actor import Actor
from casemgr.auth.models import Role, User
from casemgr.cases import incident_roles as roles
from casemgr.cases import service
from casemgr.cases.models import EntryKind, TimelineEntry
from casemgr.cases.role_models import IncidentRoleAssignment, IncidentRoleKind
from casemgr.cases.schemas import NewCase, RoleAssignment
from casemgr.db import Database
from casemgr.errors import Conflict


@pytest.fixture
def case_id(db: Database, make_user: Any) -> int:
    for role, name in ((Role.MANAGER, "mia"), (Role.MANAGER, "max"), (Role.ANALYST, "bob"), (Role.ANALYST, "carl")):
        make_user(role, name)
    with db.transaction() as s:
        mia = Actor(user=s.scalars(select(User).where(User.username == "mia")).one(), via="web")
        return service.create_case(s, mia, NewCase(title="Ransomware on the file server", category="other",
                                                   impact="high", urgency="high")).id


def _actor(session: Any, username: str) -> Actor:
    return Actor(user=session.scalars(select(User).where(User.username == username)).one(), via="web")


def _open_rows(db: Database, case_id: int) -> list[str]:
    with db.transaction() as s:
        held = IncidentRoleAssignment
        return list(s.scalars(select(User.username).join(held, held.user_id == User.id)
                              .where(IncidentRoleAssignment.case_id == case_id,
                                     IncidentRoleAssignment.ended_at.is_(None))))


def test_the_database_refuses_a_second_current_holder(db, case_id):
    with db.transaction() as s:
        kind = s.scalars(select(IncidentRoleKind.id).where(IncidentRoleKind.code == "scribe")).one()
        bob, carl = (s.scalars(select(User.id).where(User.username == n)).one() for n in ("bob", "carl"))
        now = func.now()
        s.add(IncidentRoleAssignment(case_id=case_id, kind_id=kind, user_id=bob, assigned_by_name="t",
                                     started_at=now, ended_at=now))  # an ended holding: any number of them
        s.add(IncidentRoleAssignment(case_id=case_id, kind_id=kind, user_id=carl, assigned_by_name="t",
                                     started_at=now))
    with pytest.raises(IntegrityError), db.transaction() as s:
        s.add(IncidentRoleAssignment(case_id=case_id, kind_id=kind, user_id=bob, assigned_by_name="t",
                                     started_at=func.now()))
    assert _open_rows(db, case_id) == ["carl"]


def _waiting_on_a_lock(db: Database) -> bool:
    with db.engine.connect() as conn:
        return bool(conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                      "AND wait_event_type = 'Lock'")).scalar())


def test_two_assignments_at_once_leave_one_holder_and_the_later_gets_a_409(db, case_id):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs one write transaction at a time: there is no 'at once'")
    first = db.session(write=True)
    roles.assign(first, _actor(first, "mia"), case_id, "incident_commander", RoleAssignment(user="bob"))
    # mia's assignment is written but not committed: max, looking now, sees no commander either.
    outcome: dict[str, Any] = {}

    def second() -> None:
        s = db.session(write=True)
        try:
            roles.assign(s, _actor(s, "max"), case_id, "incident_commander", RoleAssignment(user="carl"))
            s.commit()
            outcome["result"] = "assigned"
        except Exception as exc:  # noqa: BLE001 (whatever it is, the test reports it)
            outcome["result"] = exc
            s.rollback()
        finally:
            s.close()

    racer = threading.Thread(target=second)
    racer.start()
    deadline = time.monotonic() + 20
    while not _waiting_on_a_lock(db) and racer.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)  # polling for max's insert to wait on mia's uncommitted row, not timing anything
    assert _waiting_on_a_lock(db), outcome  # max's second commander waits for mia's transaction to end
    first.commit()
    first.close()
    racer.join(20)
    assert not racer.is_alive()

    refused = outcome["result"]
    assert isinstance(refused, Conflict), refused
    assert refused.status == 409
    assert refused.field == "role"
    assert "someone else changed who holds Incident commander" in str(refused)
    assert "reload the case" in str(refused)
    assert _open_rows(db, case_id) == ["bob"]
    with db.transaction() as s:
        entries = s.scalars(select(TimelineEntry.summary).where(TimelineEntry.case_id == case_id,
                                                                TimelineEntry.kind == EntryKind.ROLE)).all()
        assert entries == ["Incident commander: no one → bob"]  # nothing of max's attempt was written
