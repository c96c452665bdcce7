"""The one place that decides who sees and who changes a case.

What a role may do in general is a permission (casemgr/auth/permissions.py, listed in docs/permissions.md);
this module applies the per-case need-to-know on top of it:

- `case.view_all` (managers, auditors; the CLI operator, the system actor) sees every case.
- `case.view` (analysts) sees every case that is not restricted, and restricted cases one is a member of.
- Without either (admins) no case content (they run the instance, not the investigations); anonymous nobody.
- To anyone who may not see a case it does not exist: NotFound (404), never Forbidden, and it is
  left out of lists, search and counts. Use `visible_filter` in every query over cases (or over
  anything belonging to a case, joined to `Case`) and `get_case_or_404` to load one.
- Changing a case: `case.edit` on a case one sees (managers any case; analysts a non-restricted case
  or one they are a member of); auditors never (they see it, so they get Forbidden, 403).
- Acknowledging an escalation (on a case one sees): `case.acknowledge`, and the escalation names the
  actor, or no one (to management, or to a team). There is no team membership to narrow it further.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, false, not_, select, true
from sqlalchemy.orm import Session

from casemgr import fields
from casemgr.auth.actor import Actor
from casemgr.auth.permissions import Permission, allowed
from casemgr.cases.models import Case, CaseEscalation, case_members
from casemgr.errors import Forbidden, NotFound

ADMIN_NO_CASES = ("admins run the instance and do not see case content, so no case is shown to an admin "
                  "(whether or not it exists); analysts, managers and auditors work and review cases")


def sees_all(actor: Actor) -> bool:
    """Whether `actor` sees every case, restricted ones included (`case.view_all`)."""
    return allowed(actor, Permission.CASE_VIEW_ALL)


def sees_cases(actor: Actor) -> bool:
    """Whether `actor` sees any case content at all (admins do not)."""
    return sees_all(actor) or allowed(actor, Permission.CASE_VIEW)


def visible_filter(actor: Actor) -> ColumnElement[bool]:
    """A WHERE clause on `Case` keeping only the cases `actor` may see."""
    if sees_all(actor):
        return true()
    if allowed(actor, Permission.CASE_VIEW) and actor.user is not None:
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
    if not allowed(actor, Permission.CASE_VIEW):
        return False
    return not case.restricted or is_member(actor, case)


def can_edit(actor: Actor, case: Case) -> bool:
    """Whether `actor` may change `case`: `case.edit`, on a case they see (restricted: members, or `case.view_all`)."""
    return allowed(actor, Permission.CASE_EDIT) and can_see(actor, case)


def may_acknowledge(actor: Actor, escalation: CaseEscalation) -> bool:
    """Whether `actor` is the escalation's recipient: the manager it names, else any manager."""
    if actor.is_system:
        return True
    if not allowed(actor, Permission.CASE_ACKNOWLEDGE) or actor.user is None:
        return False
    return escalation.to_user_id is None or escalation.to_user_id == actor.user.id


def get_case_or_404(session: Session, actor: Actor, case_id: int, *, for_update: bool = False,
                    options: Sequence[Any] = ()) -> Case:
    """The case if `actor` may see it; NotFound otherwise (also when it exists but is hidden).

    `for_update` locks the row until the transaction ends (PostgreSQL; SQLite write
    transactions are serialized already).
    """
    if not sees_cases(actor):
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
        if not allowed(actor, Permission.CASE_EDIT):
            raise Forbidden("auditors have read-only access to cases")
        raise Forbidden(f"only the members of restricted case {case.reference} and managers may change it")
