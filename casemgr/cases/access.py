"""The one place that decides who sees and who changes a case.

- Managers and auditors see every case; the CLI operator (the system actor) too.
- Analysts see every case that is not restricted, and restricted cases they are members of.
- Admins see no case content (they run the instance, not the investigations); anonymous nobody.
- To anyone who may not see a case it does not exist: NotFound (404), never Forbidden, and it is
  left out of lists, search and counts. Use `visible_filter` in every query over cases (or over
  anything belonging to a case, joined to `Case`) and `get_case_or_404` to load one.
- Changing a case: managers any case; analysts a non-restricted case or one they are a member
  of; auditors never (they see it, so they get Forbidden, 403).
- Acknowledging an escalation (on a case one sees): the manager it names; one that names no one
  (to management, or to a team) any manager. There is no team membership to narrow it further.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, false, not_, select, true
from sqlalchemy.orm import Session

from casemgr import fields
from casemgr.auth.actor import Actor
from casemgr.auth.models import Role
from casemgr.cases.models import Case, CaseEscalation, case_members
from casemgr.errors import Forbidden, NotFound

ADMIN_NO_CASES = ("admins run the instance and do not see case content, so no case is shown to an admin "
                  "(whether or not it exists); analysts, managers and auditors work and review cases")
SEE_ALL = frozenset({Role.MANAGER, Role.AUDITOR})
EDITORS = frozenset({Role.ANALYST, Role.MANAGER})


def sees_all(actor: Actor) -> bool:
    return actor.is_system or actor.role in SEE_ALL


def is_manager(actor: Actor) -> bool:
    """Managers, and the CLI operator acting as the system."""
    return actor.is_system or actor.role == Role.MANAGER


def visible_filter(actor: Actor) -> ColumnElement[bool]:
    """A WHERE clause on `Case` keeping only the cases `actor` may see."""
    if sees_all(actor):
        return true()
    if actor.role == Role.ANALYST and actor.user is not None:
        member_of = select(case_members.c.case_id).where(case_members.c.user_id == actor.user.id)
        # "not (restricted and not a member)" rather than "not restricted or member": the OR form
        # makes SQLite collect every visible id from two indexes and sort them before it can return
        # the first page; this form lets it walk the primary key newest-first and stop after a page.
        return not_(and_(Case.restricted, Case.id.not_in(member_of)))
    return false()


def is_member(actor: Actor, case: Case) -> bool:
    return actor.user is not None and any(u.id == actor.user.id for u in case.members)


def can_see(actor: Actor, case: Case) -> bool:
    if sees_all(actor):
        return True
    if actor.role != Role.ANALYST:
        return False
    return not case.restricted or is_member(actor, case)


def can_edit(actor: Actor, case: Case) -> bool:
    if is_manager(actor):
        return True
    if actor.role != Role.ANALYST:
        return False
    return not case.restricted or is_member(actor, case)


def may_acknowledge(actor: Actor, escalation: CaseEscalation) -> bool:
    """Whether `actor` is the escalation's recipient: the manager it names, else any manager."""
    if actor.is_system:
        return True
    if actor.role != Role.MANAGER or actor.user is None:
        return False
    return escalation.to_user_id is None or escalation.to_user_id == actor.user.id


def get_case_or_404(session: Session, actor: Actor, case_id: int, *, for_update: bool = False,
                    options: Sequence[Any] = ()) -> Case:
    """The case if `actor` may see it; NotFound otherwise (also when it exists but is hidden).

    `for_update` locks the row until the transaction ends (PostgreSQL; SQLite write
    transactions are serialized already).
    """
    if not (sees_all(actor) or actor.role == Role.ANALYST):
        # The same words for every id: an admin learns nothing about which cases exist.
        raise NotFound(ADMIN_NO_CASES, field="id")
    if not 1 <= case_id <= fields.MAX_ID:  # no such id can exist, and PostgreSQL fails to bind one past INTEGER
        raise NotFound(f"case {case_id} does not exist")
    query = select(Case).where(Case.id == case_id, visible_filter(actor)).options(*options)
    if for_update:
        query = query.with_for_update(of=Case)
    case = session.scalars(query).one_or_none()
    if case is None:
        raise NotFound(f"case {case_id} does not exist", field="id")
    return case


def require_edit(actor: Actor, case: Case) -> None:
    """Raise Forbidden unless `actor` may change `case` (which they can already see)."""
    if not can_edit(actor, case):
        if actor.role == Role.AUDITOR:
            raise Forbidden("auditors have read-only access to cases")
        raise Forbidden(f"only the members of restricted case {case.reference} and managers may change it")


def require_manager(actor: Actor, what: str) -> None:
    if not is_manager(actor):
        raise Forbidden(f"only managers may {what}")
