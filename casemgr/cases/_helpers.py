"""What the cases service modules share (private): the load options, loading a case to change it,
the role and state checks, and writing a change (fields, timeline entry, audit record, flush)."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable
from functools import cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.exc import StaleDataError

from casemgr.audit import trail as audit
from casemgr.audit.content import without_content
from casemgr.auth.actor import Actor
from casemgr.auth.models import User
from casemgr.auth.permissions import Permission, allowed, holds
from casemgr.cases import access, lifecycle
from casemgr.cases.models import Case, CaseEscalation, EntryKind, TimelineEntry
from casemgr.collaborators import clock
from casemgr.errors import Conflict, Forbidden, Invalid, NotFound


@cache
def detail_options() -> tuple[Any, ...]:
    """The relationships a case page and a change load with the case.

    Built on first use, not at import: building a loader option configures every mapper in the registry,
    which a command that never loads a case (or only lists them) should not pay for at import."""
    return (
        selectinload(Case.owner),
        selectinload(Case.team),
        selectinload(Case.created_by),
        selectinload(Case.tags),
        selectinload(Case.members),
        selectinload(Case.escalations).selectinload(CaseEscalation.to_user),
        selectinload(Case.duplicate_of),
    )


@cache
def list_options() -> tuple[Any, ...]:
    """The relationships a row of a case list shows (built on first use, as detail_options)."""
    return selectinload(Case.owner), selectinload(Case.tags), selectinload(Case.team)


# Times the lifecycle sets: changing them by hand needs a reason.
LIFECYCLE_TIMES = ("acknowledged_at", "contained_at", "resolved_at", "closed_at")
# How far ahead of our clock an incident time may be: the skew of a reporter's clock, never a date to come.
CLOCK_SKEW = dt.timedelta(minutes=5)


def _require_case_worker(actor: Actor, permission: Permission = Permission.CASE_EDIT) -> None:
    if allowed(actor, permission):
        return
    if access.sees_cases(actor):
        raise Forbidden("auditors have read-only access to cases")
    raise Forbidden("only analysts and managers work cases")


def _user_id(actor: Actor) -> int | None:
    return actor.user.id if actor.user is not None else None


def _load_for_change(session: Session, actor: Actor, case_id: int, version: int | None, *,
                     lock: bool = True) -> Case:
    case = access.get_case_or_404(session, actor, case_id, for_update=lock, options=detail_options())
    access.require_edit(actor, case)
    if version is not None and version != case.version:
        raise Conflict(f"case {case.reference} was changed by someone else (you sent version {version}, it is now "
                       f"at version {case.version}); reload it and apply your change again", field="version",
                       details={"current_version": case.version})
    return case


def _require_open(case: Case, doing: str) -> None:
    """Raise Conflict for a resolved or closed case: it is reopened before it is worked again."""
    if not case.is_open:
        raise Conflict(f"case {case.reference} is {case.status}; reopen it before you {doing}", field="status",
                       details={"current_status": case.status.value,
                                "allowed": [s.value for s in lifecycle.allowed_next(case.status)]})


def _other_case(session: Session, actor: Actor, case: Case, other: int | str, field_name: str) -> Case:
    """The case another field names, by reference (IR-2026-0002) or by id. One the actor may not
    see is reported exactly as one that does not exist (cases/access.py)."""
    if isinstance(other, str):
        other_id = session.scalar(select(Case.id).where(Case.reference == other))
        try:
            if other_id is None:
                raise NotFound(f"case {other} does not exist")
            found = access.get_case_or_404(session, actor, other_id)
        except NotFound:
            # A reference is a value the user typed into a field: a wrong one is bad input (422).
            raise Invalid(f"{field_name}: there is no case {other}", field=field_name) from None
    else:
        try:
            found = access.get_case_or_404(session, actor, other)
        except NotFound:
            raise NotFound(f"case {other} does not exist", field=field_name) from None
    if found.id == case.id:
        raise Invalid(f"{field_name}: a case cannot be linked to itself", field=field_name)
    return found


def _assignee(session: Session, username: str, field_name: str) -> User:
    user = session.scalars(select(User).where(User.username == username)).one_or_none()
    if user is None or user.is_disabled:
        raise Invalid(f"{field_name}: there is no active user {username!r}", field=field_name)
    if not holds(user, Permission.CASE_EDIT):
        raise Invalid(f"{field_name}: {username} is an {user.role}; only analysts and managers work cases",
                      field=field_name)
    return user


def _unique_users(users: Iterable[User]) -> list[User]:
    return sorted({u.id: u for u in users}.values(), key=lambda u: u.username)


def _check_incident_times(occurred: dt.datetime | None, detected: dt.datetime | None) -> None:
    if occurred is not None and detected is not None and detected < occurred:
        raise Invalid("detected_at: the incident cannot be detected before it occurred", field="detected_at")


def _check_not_future(session: Session, when: dt.datetime, field_name: str) -> None:
    if when > clock(session).now() + CLOCK_SKEW:
        raise Invalid(f"{field_name}: {when:%Y-%m-%d %H:%M} UTC is in the future; give the time it happened "
                      f"(at most {CLOCK_SKEW.seconds // 60} minutes ahead of the server's clock)", field=field_name)


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def _set(case: Case, name: str, value: Any, changes: dict[str, list[Any]]) -> None:
    old = getattr(case, name)
    if _plain(old) == _plain(value):
        return
    setattr(case, name, value)
    if name in changes:
        changes[name][1] = _plain(value)
    else:
        changes[name] = [_plain(old), _plain(value)]


def _entry(session: Session, actor: Actor, case: Case, kind: EntryKind, summary: str, *,
           changes: dict[str, list[Any]] | None = None, body: str | None = None,
           at: dt.datetime | None = None) -> TimelineEntry:
    now = clock(session).now()
    entry = TimelineEntry(case_id=case.id, kind=kind, occurred_at=at or now, recorded_at=now,
                          actor_id=_user_id(actor), actor_name=actor.name, summary=summary[:500],
                          changes=changes or None, body=body)
    session.add(entry)
    return entry


def _audit(session: Session, actor: Actor, action: str, case: Case, changes: dict[str, list[Any]]) -> None:
    # Free text and tags are named in the audit log but not copied there (admins read the audit log, not
    # cases): casemgr/audit/content.py. The timeline holds the values.
    audit.record(session, actor, action, "case", case.id, without_content({"reference": case.reference,
                                                                           "changes": changes}))


def _flush(session: Session, case: Case) -> None:
    try:
        session.flush()
    except StaleDataError:
        raise Conflict(f"case {case.reference} was changed by someone else meanwhile; reload it and try again",
                       field="version") from None
