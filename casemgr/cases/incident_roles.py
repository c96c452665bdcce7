"""Incident roles on a case: the role kinds (admins manage them) and who holds each role, when.

Who may assign or release a role on a case: `may_assign_roles`, the one decision (managers, and the
case's owner, who must also be able to change the case: casemgr/cases/access.py). The holder must be
an active analyst or manager who may see the case (on a restricted case: a member). Every change
closes the previous holder's row and opens the next, and writes a timeline entry and an audit record.

Errors: NotFound for a hidden case or an unknown role code; Forbidden for a visible case the actor
may not assign roles on, or a non-admin managing kinds; Invalid naming the field; Conflict for a
retired kind or a code already taken.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from casemgr.audit import trail as audit
from casemgr.auth.actor import Actor
from casemgr.auth.models import User
from casemgr.auth.permissions import Permission, allowed, holds, require, roles_with
from casemgr.cases import access
from casemgr.cases.models import OPEN_STATUSES, Case, EntryKind, Priority, TimelineEntry
from casemgr.cases.role_models import INCIDENT_COMMANDER, IncidentRoleAssignment, IncidentRoleKind
from casemgr.cases.schemas import NewRoleKind, RoleAssignment, RoleKindUpdate
from casemgr.collaborators import clock
from casemgr.errors import Conflict, Forbidden, Invalid, NotFound


@dataclass
class RoleHolding:
    """One role kind on one case: who holds it now (or None) and who held it before, newest first."""

    kind: IncidentRoleKind
    current: IncidentRoleAssignment | None
    before: list[IncidentRoleAssignment] = field(default_factory=list)


# ---------------------------------------------------------------- who may


def may_assign_roles(actor: Actor, case: Case) -> bool:
    """The one decision on who assigns incident roles on `case`: whoever assigns cases (case.assign: a
    manager), or the case's owner while they may change the case."""
    if allowed(actor, Permission.CASE_ASSIGN):
        return True
    return (actor.user is not None and case.owner_id == actor.user.id and access.can_edit(actor, case))


def _require_assign(actor: Actor, case: Case) -> None:
    if not may_assign_roles(actor, case):
        if not allowed(actor, Permission.CASE_EDIT):
            raise Forbidden("auditors have read-only access to cases")
        raise Forbidden(f"only managers and the owner of case {case.reference} assign its incident roles")


def _require_admin(actor: Actor) -> None:
    require(actor, Permission.CASE_CONFIGURE_ROLES, "only admins manage the incident role kinds")


# ---------------------------------------------------------------- kinds


def list_kinds(session: Session, actor: Actor, *, include_retired: bool = True) -> list[IncidentRoleKind]:
    """Every role kind, built-in first, in their order. Anyone signed in may read them (case.read_role_kinds).

    Raises Forbidden for an anonymous caller."""
    require(actor, Permission.CASE_READ_ROLE_KINDS, "sign in to see the incident role kinds")
    return _kinds(session, include_retired=include_retired)


def admin_kinds(session: Session, actor: Actor) -> list[IncidentRoleKind]:
    """Every role kind, retired ones too, for the admins' page. Raises Forbidden (not case.configure_roles)."""
    _require_admin(actor)
    return _kinds(session)


def _kinds(session: Session, *, include_retired: bool = True) -> list[IncidentRoleKind]:
    query = select(IncidentRoleKind).order_by(IncidentRoleKind.position, IncidentRoleKind.id)
    if not include_retired:
        query = query.where(IncidentRoleKind.retired_at.is_(None))
    return list(session.scalars(query).all())


def get_kind(session: Session, code: str, field_name: str = "role") -> IncidentRoleKind:
    """The kind with `code`; NotFound naming `field_name` otherwise."""
    kind = session.scalars(select(IncidentRoleKind).where(IncidentRoleKind.code == code)).one_or_none()
    if kind is None:
        raise NotFound(f"there is no incident role {code!r}", field=field_name)
    return kind


def create_kind(session: Session, actor: Actor, cmd: NewRoleKind) -> IncidentRoleKind:
    """Add an admin-defined role kind. Raises Forbidden (not an admin), Conflict (code taken)."""
    _require_admin(actor)
    if session.scalar(select(IncidentRoleKind.id).where(IncidentRoleKind.code == cmd.code)) is not None:
        raise Conflict(f"code: there is an incident role {cmd.code!r} already", field="code")
    kind = IncidentRoleKind(code=cmd.code, label=cmd.label, description=cmd.description or "", builtin=False,
                            position=100, created_at=clock(session).now())
    session.add(kind)
    session.flush()
    audit.record(session, actor, "incident_role_kind.create", "incident_role_kind", kind.code,
                 {"code": kind.code, "label": kind.label})
    return kind


def update_kind(session: Session, actor: Actor, code: str, cmd: RoleKindUpdate) -> IncidentRoleKind:
    """Change a kind's label or description, or retire it (no new assignments; history stays) or
    bring it back. The code never changes. Raises Forbidden, NotFound, Conflict (retiring a built-in
    kind)."""
    _require_admin(actor)
    kind = get_kind(session, code, "code")
    changes: dict[str, list[object]] = {}
    sent = cmd.model_fields_set
    if "label" in sent and cmd.label is None:  # blank or null: the page's form sends every field
        raise Invalid("label: an incident role needs a label", field="label")
    for name, value in (("label", cmd.label), ("description", cmd.description or "")):
        if name in sent and value != getattr(kind, name):
            changes[name] = [getattr(kind, name), value]
            setattr(kind, name, value)
    if "retired" in cmd.model_fields_set and cmd.retired is not None and cmd.retired != kind.is_retired:
        if kind.builtin:  # every instance has them, and playbooks may name them: they are never taken away
            raise Conflict(f"retired: {kind.label} is a built-in incident role; built-in roles cannot be retired "
                           "(a case need not name anyone in it)", field="retired")
        changes["retired"] = [kind.is_retired, cmd.retired]
        kind.retired_at = clock(session).now() if cmd.retired else None
    session.flush()
    if changes:
        audit.record(session, actor, "incident_role_kind.update", "incident_role_kind", kind.code,
                     {"code": kind.code, "changes": changes})
    return kind


# ---------------------------------------------------------------- on a case


def case_roles(session: Session, actor: Actor, case_id: int) -> list[RoleHolding]:
    """Each role kind with its holder on the case now and the earlier holders; retired kinds only
    where the case has history for them. Raises NotFound for a hidden case."""
    case = access.get_case_or_404(session, actor, case_id)
    return _holdings(session, [case.id])[case.id]


def current_roles(session: Session, case_ids: list[int]) -> dict[int, dict[str, IncidentRoleAssignment]]:
    """For cases already visible to the caller: code -> current assignment, per case id."""
    rows = session.scalars(select(IncidentRoleAssignment).where(
        IncidentRoleAssignment.case_id.in_(case_ids), IncidentRoleAssignment.ended_at.is_(None))
        .options(selectinload(IncidentRoleAssignment.kind), selectinload(IncidentRoleAssignment.user))).all()
    found: dict[int, dict[str, IncidentRoleAssignment]] = {i: {} for i in case_ids}
    for row in rows:
        found[row.case_id][row.kind.code] = row
    return found


def _holdings(session: Session, case_ids: list[int]) -> dict[int, list[RoleHolding]]:
    kinds = _kinds(session)
    rows = session.scalars(select(IncidentRoleAssignment).where(IncidentRoleAssignment.case_id.in_(case_ids))
                           .order_by(IncidentRoleAssignment.started_at.desc(), IncidentRoleAssignment.id.desc())
                           .options(selectinload(IncidentRoleAssignment.user))).all()
    result: dict[int, list[RoleHolding]] = {}
    for case_id in case_ids:
        mine = [r for r in rows if r.case_id == case_id]
        holdings = []
        for kind in kinds:
            of_kind = [r for r in mine if r.kind_id == kind.id]
            if kind.is_retired and not of_kind:
                continue
            current = next((r for r in of_kind if r.ended_at is None), None)
            holdings.append(RoleHolding(kind, current, [r for r in of_kind if r is not current]))
        result[case_id] = holdings
    return result


def assign(session: Session, actor: Actor, case_id: int, code: str, cmd: RoleAssignment) -> RoleHolding:
    """Name `cmd.user` in role `code` on the case, handing it over from its holder if any.
    Raises NotFound (case, role), Forbidden (may_assign_roles), Conflict (retired role; someone else
    changed the role's holder at the same moment), Invalid (user not active, not a case worker, or not
    able to see the case)."""
    # No lock on the case: two people naming someone in the same role at once both get here, and the partial
    # unique index (one open row per case and role) lets the first one win; the other gets a Conflict.
    case = access.get_case_or_404(session, actor, case_id, options=(selectinload(Case.members),))
    _require_assign(actor, case)
    kind = get_kind(session, code)
    if kind.is_retired:
        raise Conflict(f"the incident role {kind.label} is retired; it is kept for history only", field="role")
    user = _holder(session, case, cmd.user)
    current = _current(session, case.id, kind.id)
    if current is not None and current.user_id == user.id:
        return case_roles(session, actor, case.id)[_index(session, case.id, kind)]
    _change(session, actor, case, kind, current=current, user=user)
    return case_roles(session, actor, case.id)[_index(session, case.id, kind)]


def release(session: Session, actor: Actor, case_id: int, code: str) -> RoleHolding:
    """Leave role `code` on the case with no holder. Raises NotFound, Forbidden; releasing a role no
    one holds changes nothing."""
    case = access.get_case_or_404(session, actor, case_id, for_update=True)
    _require_assign(actor, case)
    kind = get_kind(session, code)
    current = _current(session, case.id, kind.id)
    if current is not None:
        _change(session, actor, case, kind, current=current, user=None)
    return case_roles(session, actor, case.id)[_index(session, case.id, kind)]


def _index(session: Session, case_id: int, kind: IncidentRoleKind) -> int:
    holdings = _holdings(session, [case_id])[case_id]
    return next(i for i, h in enumerate(holdings) if h.kind.id == kind.id)


def _current(session: Session, case_id: int, kind_id: int) -> IncidentRoleAssignment | None:
    return session.scalars(select(IncidentRoleAssignment).where(
        IncidentRoleAssignment.case_id == case_id, IncidentRoleAssignment.kind_id == kind_id,
        IncidentRoleAssignment.ended_at.is_(None)).options(selectinload(IncidentRoleAssignment.user))).one_or_none()


def _holder(session: Session, case: Case, username: str) -> User:
    user = session.scalars(select(User).where(User.username == username)).one_or_none()
    if user is None or user.is_disabled:
        raise Invalid(f"user: there is no active user {username!r}", field="user")
    if not holds(user, Permission.CASE_EDIT):
        raise Invalid(f"user: {username} is an {user.role}; only analysts and managers hold incident roles",
                      field="user")
    if case.restricted and not holds(user, Permission.CASE_VIEW_ALL) and all(m.id != user.id for m in case.members):
        raise Invalid(f"user: case {case.reference} is restricted and {username} is not a member; add them to "
                      "the case's members first", field="user")
    return user


def _name(user: User | None) -> str:
    if user is None:
        return "no one"
    return user.display_name or user.username


def _change(session: Session, actor: Actor, case: Case, kind: IncidentRoleKind, *,
            current: IncidentRoleAssignment | None, user: User | None) -> None:
    now = clock(session).now()
    before = current.user if current is not None else None
    try:
        with session.begin_nested():  # a refused row leaves the transaction usable for the error page
            if current is not None:
                current.ended_at = now
            if user is not None:
                session.add(IncidentRoleAssignment(case_id=case.id, kind_id=kind.id, user_id=user.id,
                                                   assigned_by_id=actor.user.id if actor.user else None,
                                                   assigned_by_name=actor.name, started_at=now))
    except IntegrityError:  # the one-holder index: another open row for this role appeared since we looked
        raise Conflict(f"role: someone else changed who holds {kind.label} on case {case.reference} at the same "
                       "moment; reload the case to see who holds it now, then try again", field="role") from None
    summary = f"{kind.label}: {_name(before)} → {_name(user)}"
    changes = {f"role:{kind.code}": [before.username if before else None, user.username if user else None]}
    session.add(TimelineEntry(case_id=case.id, kind=EntryKind.ROLE, occurred_at=now, recorded_at=now,
                              actor_id=actor.user.id if actor.user else None, actor_name=actor.name,
                              summary=summary[:500], changes=changes))
    audit.record(session, actor, "case.role_assign" if user else "case.role_release", "case", case.id,
                 {"reference": case.reference, "role": kind.code, "changes": changes})
    session.flush()


# ---------------------------------------------------------------- the P1 flag


def lacks_commander() -> ColumnElement[bool]:
    """A WHERE clause on `Case`: an open P1 case with no current incident commander."""
    held = exists().where(IncidentRoleAssignment.case_id == Case.id, IncidentRoleAssignment.ended_at.is_(None),
                          IncidentRoleAssignment.kind_id == select(IncidentRoleKind.id).where(
                              IncidentRoleKind.code == INCIDENT_COMMANDER).scalar_subquery())
    return (Case.priority == Priority.P1) & Case.status.in_(sorted(OPEN_STATUSES)) & ~held


def without_commander(session: Session, cases: list[Case]) -> set[int]:
    """The ids among `cases` (already visible to the caller) that are open P1 cases with no incident commander."""
    ids = [c.id for c in cases if c.priority == Priority.P1 and c.is_open]
    if not ids:
        return set()
    return set(session.scalars(select(Case.id).where(Case.id.in_(ids), lacks_commander())).all())


# ---------------------------------------------------------------- the case page


@dataclass
class RolesPanel:
    """The case page's incident roles: each role, whether the viewer may assign them, and to whom."""

    holdings: list[RoleHolding]
    can_assign: bool
    candidates: list[User]


def roles_panel(session: Session, actor: Actor, case: Case) -> RolesPanel:
    """The panel for `case` (already loaded for `actor`): the candidates are the active analysts and
    managers who may see it (on a restricted case, its analyst members and the managers)."""
    holdings = _holdings(session, [case.id])[case.id]
    if not may_assign_roles(actor, case):
        return RolesPanel(holdings, False, [])
    users = session.scalars(select(User).where(User.role.in_(roles_with(Permission.CASE_EDIT, session)),
                                               User.disabled_at.is_(None)).order_by(User.username)).all()
    members = {m.id for m in case.members}
    return RolesPanel(holdings, True, [u for u in users
                                       if not (case.restricted and not holds(u, Permission.CASE_VIEW_ALL)
                                               and u.id not in members)])


# ---------------------------------------------------------------- as configuration (incident-roles.yaml)


def export_config(session: Session) -> list[dict[str, object]]:
    """Every role kind, built-in first, retired ones too, as incident-roles.yaml lists them."""
    return [{"code": k.code, "label": k.label, "description": k.description, "retired": k.is_retired}
            for k in _kinds(session)]


def apply_config(session: Session, actor: Actor, items: list[dict[str, object]]) -> list[str]:
    """Make the role kinds what `items` (incident-roles.yaml) say: add new codes, change labels and
    descriptions, retire or bring back. Kinds the file leaves out are kept as they are; a code never
    changes. Each change is audited by create_kind/update_kind. Returns the changes, in words.

    Raises Forbidden (case.configure_roles); Invalid naming the field."""
    from casemgr.cases.schemas import RoleKindItem
    from casemgr.fields import parse

    _require_admin(actor)
    existing = {k.code: k for k in _kinds(session)}
    done: list[str] = []
    for raw in items:
        item = parse(RoleKindItem, raw)
        kind = existing.get(item.code)
        if kind is None:
            kind = create_kind(session, actor, NewRoleKind(code=item.code, label=item.label,
                                                           description=item.description or None))
            existing[kind.code] = kind
            done.append(f"incident-roles: added {kind.code} ({kind.label})")
        changed = {name: getattr(item, name) for name in ("label", "description") if getattr(item, name) !=
                   getattr(kind, name)}
        if item.retired != kind.is_retired:
            changed["retired"] = item.retired
        if changed:
            # Built from the validated item as it is: an empty description clears it (a command parsed from a
            # form reads a blank value as "not given").
            update_kind(session, actor, kind.code, RoleKindUpdate.model_construct(**changed))
            done.append(f"incident-roles: changed {kind.code}: {', '.join(changed)}")
    return done
