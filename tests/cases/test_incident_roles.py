"""Incident roles on a case, through the service: handover history, one holder per role, who may
assign, who may hold a role on a restricted case, and the role kinds admins manage."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from casemgr.audit.models import AuditEntry
from casemgr.auth.actor import Actor
from casemgr.auth.models import Role, User
from casemgr.cases import incident_roles as roles
from casemgr.cases import service
from casemgr.cases.models import EntryKind, TimelineEntry
from casemgr.cases.role_models import IncidentRoleAssignment
from casemgr.cases.schemas import NewCase, NewRoleKind, RoleAssignment, RoleKindUpdate
from casemgr.errors import Conflict, Forbidden, Invalid, NotFound


@pytest.fixture
def people(session: Session, make_user: Callable[..., User]) -> dict[str, Actor]:
    made = {"mgr": make_user(Role.MANAGER, "mgr"), "ann": make_user(Role.ANALYST, "ann"),
            "bob": make_user(Role.ANALYST, "bob"), "aud": make_user(Role.AUDITOR, "aud"),
            "adm": make_user(Role.ADMIN, "adm")}
    return {name: Actor(user=session.get(User, u.id), via="web") for name, u in made.items()}


def _case(session: Session, actor: Actor, **fields: Any) -> int:
    cmd = NewCase(title="Ransomware on the file server", category="other", impact="high", urgency="high", **fields)
    case = service.create_case(session, actor, cmd)
    session.flush()
    return case.id


def _holding(session: Session, actor: Actor, case_id: int, code: str) -> roles.RoleHolding:
    return next(h for h in roles.case_roles(session, actor, case_id) if h.kind.code == code)


def test_every_case_lists_the_six_built_in_roles_with_no_holder(session, people):
    case_id = _case(session, people["mgr"])
    holdings = roles.case_roles(session, people["ann"], case_id)
    assert [h.kind.code for h in holdings] == ["incident_commander", "deputy", "technical_lead", "scribe",
                                                 "communications_lead", "legal_liaison"]
    assert all(h.current is None and h.before == [] for h in holdings)


def test_handover_closes_the_previous_row_and_keeps_one_holder(session, people):
    mgr = people["mgr"]
    case_id = _case(session, mgr)
    roles.assign(session, mgr, case_id, "incident_commander", RoleAssignment(user="ann"))
    held = roles.assign(session, mgr, case_id, "incident_commander", RoleAssignment(user="bob"))
    assert held.current is not None
    assert held.current.user.username == "bob"
    assert [a.user.username for a in held.before] == ["ann"]
    assert held.before[0].ended_at == held.current.started_at
    open_rows = session.scalars(select(IncidentRoleAssignment).where(
        IncidentRoleAssignment.case_id == case_id, IncidentRoleAssignment.ended_at.is_(None))).all()
    assert len(open_rows) == 1
    summaries = [e.summary for e in session.scalars(select(TimelineEntry).where(
        TimelineEntry.case_id == case_id, TimelineEntry.kind == EntryKind.ROLE).order_by(TimelineEntry.id))]
    assert summaries == ["Incident commander: no one → ann", "Incident commander: ann → bob"]
    actions = session.scalars(select(AuditEntry.action).where(AuditEntry.case_id == case_id)).all()
    assert actions.count("case.role_assign") == 2


def test_assigning_the_holder_again_changes_nothing(session, people):
    mgr = people["mgr"]
    case_id = _case(session, mgr)
    roles.assign(session, mgr, case_id, "scribe", RoleAssignment(user="ann"))
    held = roles.assign(session, mgr, case_id, "scribe", RoleAssignment(user="ann"))
    assert held.before == []


def test_release_leaves_the_role_empty_with_its_history(session, people):
    mgr = people["mgr"]
    case_id = _case(session, mgr)
    roles.assign(session, mgr, case_id, "scribe", RoleAssignment(user="ann"))
    held = roles.release(session, mgr, case_id, "scribe")
    assert held.current is None
    assert [a.user.username for a in held.before] == ["ann"]
    assert roles.release(session, mgr, case_id, "scribe").before == held.before  # no one holds it: nothing to do


def test_the_owner_assigns_roles_other_analysts_and_auditors_may_not(session, people):
    case_id = _case(session, people["mgr"], owner="ann")
    roles.assign(session, people["ann"], case_id, "technical_lead", RoleAssignment(user="bob"))
    with pytest.raises(Forbidden, match="only managers and the owner"):
        roles.assign(session, people["bob"], case_id, "scribe", RoleAssignment(user="bob"))
    with pytest.raises(Forbidden, match="auditors"):
        roles.release(session, people["aud"], case_id, "technical_lead")
    with pytest.raises(NotFound):  # admins see no case content
        roles.assign(session, people["adm"], case_id, "scribe", RoleAssignment(user="bob"))


def test_on_a_restricted_case_only_a_member_may_hold_a_role(session, people):
    case_id = _case(session, people["mgr"], restricted=True, members=["ann"])
    with pytest.raises(Invalid, match="restricted and bob is not a member") as refused:
        roles.assign(session, people["mgr"], case_id, "incident_commander", RoleAssignment(user="bob"))
    assert refused.value.field == "user"
    roles.assign(session, people["mgr"], case_id, "incident_commander", RoleAssignment(user="ann"))
    with pytest.raises(NotFound):  # bob does not see the case at all
        roles.case_roles(session, people["bob"], case_id)


@pytest.mark.parametrize(("username", "words"), [("aud", "only analysts and managers"), ("nobody", "no active user")])
def test_the_holder_must_be_an_active_case_worker(session, people, username, words):
    case_id = _case(session, people["mgr"])
    with pytest.raises(Invalid, match=words):
        roles.assign(session, people["mgr"], case_id, "deputy", RoleAssignment(user=username))


def test_an_unknown_role_is_not_found(session, people):
    case_id = _case(session, people["mgr"])
    with pytest.raises(NotFound, match="no incident role 'chef'"):
        roles.assign(session, people["mgr"], case_id, "chef", RoleAssignment(user="ann"))


def test_admins_add_and_retire_kinds_and_history_stays_readable(session, people):
    adm, mgr = people["adm"], people["mgr"]
    kind = roles.create_kind(session, adm, NewRoleKind(code="forensics_lead", label="Forensics lead"))
    assert kind.code == "forensics_lead"
    assert not kind.builtin
    with pytest.raises(Conflict, match="already"):
        roles.create_kind(session, adm, NewRoleKind(code="forensics_lead", label="Again"))
    with pytest.raises(Forbidden, match="only admins"):
        roles.create_kind(session, mgr, NewRoleKind(code="other_lead", label="Other"))
    case_id = _case(session, mgr)
    other_id = _case(session, mgr)
    roles.assign(session, mgr, case_id, "forensics_lead", RoleAssignment(user="ann"))
    roles.update_kind(session, adm, "forensics_lead", RoleKindUpdate(retired=True))
    with pytest.raises(Conflict, match="retired"):
        roles.assign(session, mgr, case_id, "forensics_lead", RoleAssignment(user="bob"))
    assert _holding(session, mgr, case_id, "forensics_lead").current.user.username == "ann"
    assert "forensics_lead" not in [h.kind.code for h in roles.case_roles(session, mgr, other_id)]



def test_built_in_kinds_cannot_be_retired_and_every_change_is_audited(session, people):
    adm = people["adm"]
    with pytest.raises(Conflict, match="built-in roles cannot be retired") as refused:
        roles.update_kind(session, adm, "incident_commander", RoleKindUpdate(retired=True))
    assert refused.value.field == "retired"
    with pytest.raises(Invalid, match="needs a label"):
        roles.update_kind(session, adm, "scribe", RoleKindUpdate(label=None, description="x"))
    kind = roles.update_kind(session, adm, "scribe", RoleKindUpdate(label="Note taker", description=None))
    assert (kind.label, kind.description, kind.is_retired) == ("Note taker", "", False)
    entries = session.scalars(select(AuditEntry).where(AuditEntry.action.like("incident_role_kind.%"))).all()
    assert [(e.action, e.object_id) for e in entries] == [("incident_role_kind.update", "scribe")]
    assert entries[0].summary["changes"]["label"] == ["Scribe", "Note taker"]
    assert [k.code for k in roles.admin_kinds(session, adm)][:2] == ["incident_commander", "deputy"]
    with pytest.raises(Forbidden):
        roles.admin_kinds(session, people["mgr"])

def test_p1_without_commander(session, people):
    mgr = people["mgr"]
    p1 = _case(session, mgr)
    cases = [service.get_case(session, mgr, p1)]
    assert roles.without_commander(session, cases) == {p1}
    roles.assign(session, mgr, p1, "incident_commander", RoleAssignment(user="ann"))
    assert roles.without_commander(session, cases) == set()
