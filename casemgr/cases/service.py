"""Cases: open, read, change, move through the lifecycle, escalate, annotate, link, find.

Every function takes (session, actor, ...) and flushes, never commits. Every change writes a
timeline entry on the case (who, when, what from -> to) and an audit record in the same
transaction. Access rules are in casemgr/cases/access.py; the lifecycle's edges in
casemgr/cases/lifecycle.py (documented in docs/case-lifecycle.md).

Errors: NotFound (404) for a case the actor may not see or that does not exist; Forbidden (403)
for a visible case the actor may not change; Conflict (409) for a stale version (with
`current_version`) or an illegal transition (with `allowed`); Invalid (422) naming the field.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, cast

from markupsafe import Markup
from sqlalchemy import Table, and_, func, or_, select, update
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.exc import StaleDataError

from casemgr import markdown, paging
from casemgr.audit import service as audit
from casemgr.audit.content import without_content
from casemgr.auth.actor import Actor
from casemgr.auth.models import User
from casemgr.auth.permissions import Permission, allowed, holds, require, roles_with
from casemgr.cases import access, custom_fields, incident_roles, lifecycle, search
from casemgr.cases.models import (
    OPEN_STATUSES,
    SEVERITY_FOR_PRIORITY,
    Case,
    CaseEscalation,
    CaseLink,
    CaseReferenceCounter,
    CaseStatus,
    CaseTag,
    EntryKind,
    EscalationKind,
    LinkKind,
    Priority,
    Resolution,
    TimelineEntry,
    TimelineRevision,
    Tlp,
    case_members,
    priority_for,
)
from casemgr.cases.schemas import (
    BulkAction,
    BulkKind,
    CaseQuery,
    CaseUpdate,
    EntryEdit,
    Escalation,
    NewCase,
    NewEvent,
    NewLink,
    NewNote,
    Retraction,
    Transition,
)
from casemgr.cases.taxonomy import Taxonomy
from casemgr.cases.taxonomy import load as load_taxonomy
from casemgr.collaborators import clock
from casemgr.db import insert_for
from casemgr.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from casemgr.paging import Page
from casemgr.teams import service as teams
from casemgr.teams.models import Team, name_key

DETAIL_OPTIONS = (
    selectinload(Case.owner),
    selectinload(Case.team),
    selectinload(Case.created_by),
    selectinload(Case.tags),
    selectinload(Case.members),
    selectinload(Case.escalations).selectinload(CaseEscalation.to_user),
    selectinload(Case.duplicate_of),
)
LIST_OPTIONS = (selectinload(Case.owner), selectinload(Case.tags), selectinload(Case.team))

# Times the lifecycle sets: changing them by hand needs a reason.
LIFECYCLE_TIMES = ("acknowledged_at", "contained_at", "resolved_at", "closed_at")
# How far ahead of our clock an incident time may be: the skew of a reporter's clock, never a date to come.
CLOCK_SKEW = dt.timedelta(minutes=5)


# ---------------------------------------------------------------- reading


def taxonomy() -> Taxonomy:
    """The incident taxonomy (categories and subcategories with their codes)."""
    return load_taxonomy()


def get_case(session: Session, actor: Actor, case_id: int) -> Case:
    """The case with its owner, tags, members and escalations loaded. Raises NotFound."""
    return access.get_case_or_404(session, actor, case_id, options=DETAIL_OPTIONS)


def get_case_by_reference(session: Session, actor: Actor, reference: str) -> Case:
    """The case called `reference` (e.g. IR-2026-0001). Raises NotFound."""
    case_id = session.scalar(select(Case.id).where(Case.reference == reference.strip().upper()))
    if case_id is None:
        raise NotFound(f"case {reference} does not exist", field="reference")
    try:
        return get_case(session, actor, case_id)
    except NotFound:
        raise NotFound(f"case {reference} does not exist", field="reference") from None


@dataclass
class RelatedCase:
    """Another case linked to this one: `related`, `duplicate_of` (this case duplicates it) or
    `duplicated_by` (it duplicates this case). Only cases the actor may see are listed."""

    kind: str
    case: Case


@dataclass
class CaseDetail:
    """Everything a case page shows, for one actor."""

    case: Case
    description_html: Markup
    allowed_transitions: list[CaseStatus]
    related: list[RelatedCase]
    duplicate_of: Case | None
    can_edit: bool
    # What the actor may do to the case in its current state (the page shows only these actions).
    can_disclose: bool = False  # lower the TLP or lift the restriction (the edit form asks for a reason)
    can_escalate: bool = False
    can_escalate_functionally: bool = False
    can_link: bool = False
    can_override_priority: bool = False
    # The teams a manager may give or hand the case to (not retired), for the page's selects.
    team_choices: list[str] = field(default_factory=list)


def case_detail(session: Session, actor: Actor, case_id: int) -> CaseDetail:
    """The case with its rendered description, the actor's possible transitions and the
    visible related cases. Raises NotFound."""
    case = get_case(session, actor, case_id)
    related = related_cases(session, actor, case_id)
    survivor = next((r.case for r in related if r.kind == LinkKind.DUPLICATE_OF.value
                     and r.case.id == case.duplicate_of_id), None)
    can_edit = access.can_edit(actor, case)
    working = can_edit and case.is_open  # a resolved or closed case is reopened before it is worked again
    return CaseDetail(case=case, description_html=markdown.render(case.description),
                      allowed_transitions=allowed_transitions(actor, case), related=related,
                      duplicate_of=survivor, can_edit=can_edit,
                      can_disclose=can_edit and allowed(actor, Permission.CASE_DISCLOSE),
                      can_escalate=working and allowed(actor, Permission.CASE_ESCALATE),
                      can_escalate_functionally=working and allowed(actor, Permission.CASE_HAND_OVER),
                      can_link=working,
                      can_override_priority=working and allowed(actor, Permission.CASE_OVERRIDE_PRIORITY),
                      team_choices=teams.team_choices(session) if can_edit and (
                          allowed(actor, Permission.CASE_ASSIGN) or allowed(actor, Permission.CASE_HAND_OVER)) else [])


def allowed_transitions(actor: Actor, case: Case) -> list[CaseStatus]:
    """The states `actor` may move `case` to now (closing only for managers)."""
    if not access.can_edit(actor, case):
        return []
    may_close = allowed(actor, Permission.CASE_CLOSE)
    allowed_next = lifecycle.allowed_next(case.status)
    return [s for s in allowed_next
            if not lifecycle.requirement(case.status, s).manager_only or may_close]


def related_cases(session: Session, actor: Actor, case_id: int) -> list[RelatedCase]:
    """Cases linked to `case_id` that `actor` may see. Raises NotFound for the case itself."""
    access.get_case_or_404(session, actor, case_id)
    visible = access.visible_filter(actor)
    outgoing = session.execute(
        select(CaseLink.kind, Case).join(Case, Case.id == CaseLink.other_case_id)
        .where(CaseLink.case_id == case_id, visible).order_by(CaseLink.id)
    ).all()
    incoming = session.execute(
        select(CaseLink.kind, Case).join(Case, Case.id == CaseLink.case_id)
        .where(CaseLink.other_case_id == case_id, visible).order_by(CaseLink.id)
    ).all()
    related = [RelatedCase(kind.value, c) for kind, c in outgoing]
    related += [RelatedCase("duplicated_by" if kind == LinkKind.DUPLICATE_OF else kind.value, c)
                for kind, c in incoming]
    return related


def timeline(session: Session, actor: Actor, case_id: int, *, page: int = 1,
             per_page: int = 500) -> Page[TimelineEntry]:
    """A page of the case's timeline in incident order (occurred_at, then as recorded), and its length.

    Raises NotFound."""
    access.get_case_or_404(session, actor, case_id)
    where = TimelineEntry.case_id == case_id
    total = session.scalar(select(func.count(TimelineEntry.id)).where(where)) or 0
    entries = (select(TimelineEntry).where(where).order_by(TimelineEntry.occurred_at, TimelineEntry.id)
               .options(selectinload(TimelineEntry.revisions)))
    return paging.fetch(session, entries, page, per_page, total=total)


def render_entry(entry: TimelineEntry | TimelineRevision) -> Markup:
    """A note's or event's Markdown body (or an earlier version's) as sanitized HTML."""
    return markdown.render(entry.body)


def may_correct(actor: Actor, case: Case, entry: TimelineEntry) -> bool:
    """Whether `actor` may edit or retract `entry`: a note or manual event not retracted yet, on a
    case the actor may change, written by the actor, or any such entry for a manager."""
    if not entry.correctable or not access.can_edit(actor, case):
        return False
    return allowed(actor, Permission.CASE_CORRECT_ANY) or (actor.user is not None and entry.actor_id == actor.user.id)


SORTS: dict[str, Any] = {
    "created": (Case.id,),
    "reference": (Case.id,),
    "age": (Case.id,),
    "updated": (Case.updated_at, Case.id),
    "priority": (Case.priority, Case.id),
    "occurred": (Case.occurred_at, Case.id),
}
DATE_FIELDS = {"created": Case.created_at, "updated": Case.updated_at, "occurred": Case.occurred_at,
               "detected": Case.detected_at}


def list_cases(session: Session, actor: Actor, query: CaseQuery) -> Page[Case]:
    """One page of the cases `actor` may see, filtered, searched and sorted, with the total count."""
    visible, filters = access.visible_filter(actor), _filters(query)
    filters += custom_fields.filters(session, query.fields)
    if query.q:  # the count first: how many cases match picks the page's plan (casemgr.cases.search)
        total = search.count(session, query.q, visible, filters)
        # Only a search alone counts its matches: with another filter a few cases can be the few matches
        # of a common word in those filters, and the page would look up every match.
        filters.append(search.matching(session, query.q, None if filters else total))
    else:
        total = session.scalar(select(func.count(Case.id)).where(visible, *filters)) or 0
    where = [visible, *filters]
    descending = query.sort.startswith("-")
    if query.sort.lstrip("-") == "age":  # age grows as the creation time recedes: youngest first is newest first
        descending = not descending
    columns = SORTS[query.sort.lstrip("-")]
    order: list[Any]
    if query.sort.lstrip("-") == "priority":
        # "priority" lists the most urgent first (P1 before P5); newest first within a priority.
        order = [Case.priority.desc() if descending else Case.priority.asc(), Case.id.desc()]
    else:
        order = [c.desc() if descending else c.asc() for c in columns]
    if query.q and (reference_first := search.reference_first(query.q)) is not None:
        order.insert(0, reference_first)
    return paging.fetch(session, select(Case).where(*where).order_by(*order).options(*LIST_OPTIONS),
                        query.page, query.per_page, total=total)


def list_notice(actor: Actor) -> str | None:
    """What the case list says to one who sees no case by design (admins) instead of "0 cases match"."""
    if access.sees_cases(actor):
        return None
    return ("Admins run the instance and do not see case content: no case is listed for an admin, however many "
            "exist. Analysts, managers and auditors see the cases.")


def _filters(q: CaseQuery) -> list[Any]:
    where: list[Any] = []
    if q.status:
        where.append(Case.status.in_(q.status))
    if q.priority:
        where.append(Case.priority.in_(q.priority))
    if q.category:
        where.append(Case.category == q.category)
    if q.subcategory:
        where.append(Case.subcategory == q.subcategory)
    if q.owner == "none":
        where.append(Case.owner_id.is_(None))
    elif q.owner:
        where.append(Case.owner_id == select(User.id).where(User.username == q.owner).scalar_subquery())
    if q.team:
        where.append(Case.team_id.in_(select(Team.id).where(Team.name_key == name_key(q.team))))
    if q.tag:
        where.append(Case.id.in_(select(CaseTag.case_id).where(CaseTag.tag == q.tag)))
    if q.tlp:
        where.append(Case.tlp == q.tlp)
    if q.state == "open":
        where.append(Case.status.in_(sorted(OPEN_STATUSES)))
    elif q.state == "closed":
        where.append(Case.status.in_([CaseStatus.RESOLVED, CaseStatus.CLOSED]))
    if q.restricted is not None:
        where.append(Case.restricted.is_(q.restricted))
    if q.escalated is not None:
        where.append(Case.last_escalated_at.is_not(None) if q.escalated else Case.last_escalated_at.is_(None))
    if q.no_commander:
        where.append(incident_roles.lacks_commander())
    date_column = DATE_FIELDS[q.date_field]
    if q.since:
        where.append(date_column >= q.since)
    if q.until:
        where.append(date_column < q.until)
    return where


# How long an open case may go without an update for its priority before the managers' home lists
# it as overdue (a breach of what its priority asks for).
PRIORITY_TARGETS: dict[Priority, dt.timedelta] = {
    Priority.P1: dt.timedelta(hours=4), Priority.P2: dt.timedelta(hours=24), Priority.P3: dt.timedelta(days=3),
    Priority.P4: dt.timedelta(days=7), Priority.P5: dt.timedelta(days=30),
}


@dataclass
class Section:
    """One list of cases on a home page: at most `limit` of them, how many there are in all, and
    the case list's query that shows them all (None when the list cannot express it)."""

    key: str
    title: str
    items: list[Case]
    total: int
    filters: dict[str, Any] | None
    empty: str = "None."


@dataclass
class PendingEscalation:
    escalation: CaseEscalation
    case: Case
    can_acknowledge: bool


@dataclass
class Dashboard:
    """The home page's case lists for one actor's role, counting only what the actor may see.

    Analysts: escalations on their cases, their open cases, unassigned open cases to pick up.
    Managers: escalations to them (or to no one by name), cases overdue for their priority, the
    unassigned queue, open P1/P2 cases, open P1 cases with no incident commander. Auditors: resolved and
    closed cases to review."""

    sections: list[Section]
    escalations: list[PendingEscalation]
    escalations_total: int
    escalations_title: str
    counts_by_state: dict[CaseStatus, int] = field(default_factory=dict)

    def section(self, key: str) -> Section:
        return next(s for s in self.sections if s.key == key)


def dashboard(session: Session, actor: Actor, *, limit: int = 10) -> Dashboard:
    """The case lists of `actor`'s home page (see Dashboard) and the number of cases in each state.
    Raises Forbidden for admins, who see no case content."""
    if not access.sees_cases(actor):
        raise Forbidden("admins run the instance and do not see case content")
    visible = access.visible_filter(actor)
    is_open = Case.status.in_(sorted(OPEN_STATUSES))
    me = _user_id(actor)
    username = actor.user.username if actor.user is not None else None

    def section(key: str, title: str, filters: dict[str, Any] | None, *where: Any, order: Any = None,
                empty: str = "None.") -> Section:
        total = session.scalar(select(func.count(Case.id)).where(visible, *where)) or 0
        items = session.scalars(select(Case).where(visible, *where).order_by(*(order or [Case.id.desc()]))
                                .limit(limit).options(*LIST_OPTIONS)).all()
        return Section(key, title, list(items), total, filters, empty)

    sections: list[Section] = []
    if allowed(actor, Permission.CASE_ACKNOWLEDGE):  # a manager's lists
        now = clock(session).now()
        overdue = or_(*(and_(Case.priority == p, Case.updated_at < now - target)
                        for p, target in PRIORITY_TARGETS.items()))
        sections += [
            section("overdue", "Overdue for their priority (no update within P1 4 h, P2 24 h, P3 3 days, "
                    "P4 7 days, P5 30 days)", {"state": "open", "sort": "updated"}, is_open, overdue,
                    order=[Case.priority.asc(), Case.updated_at.asc()]),
            section("queue", "Team queue: open cases no one owns, oldest first", {"state": "open", "owner": "none",
                    "sort": "created"}, is_open, Case.owner_id.is_(None), order=[Case.id.asc()]),
            section("urgent", "Open P1 and P2 cases", {"state": "open", "priority": ["P1", "P2"]}, is_open,
                    Case.priority.in_([Priority.P1, Priority.P2])),
            section("no_commander", "Open P1 cases with no incident commander", {"no_commander": "true"},
                    incident_roles.lacks_commander(), empty="None: every open P1 case has an incident commander."),
        ]
        title = "Escalations waiting for your acknowledgement"
    elif allowed(actor, Permission.CASE_EDIT):  # an analyst's
        sections += [
            section("mine", "My open cases", {"state": "open", "owner": username}, is_open, Case.owner_id == me),
            section("unassigned", "Unassigned open cases to pick up", {"state": "open", "owner": "none"}, is_open,
                    Case.owner_id.is_(None)),
        ]
        title = "My escalations and those of my cases, not yet acknowledged by a manager"
    else:  # a reviewer's (auditors)
        closed = Case.status.in_([CaseStatus.RESOLVED, CaseStatus.CLOSED])
        sections.append(section("closed", "Recently resolved and closed cases to review", {"state": "closed",
                                "sort": "-updated"}, closed, order=[Case.updated_at.desc(), Case.id.desc()]))
        title = ""
    escalations = pending_escalations(session, actor, per_page=limit) if title else Page([], 0, 1, limit)
    rows = session.execute(select(Case.status, func.count(Case.id)).where(visible).group_by(Case.status)).all()
    counts = {s: 0 for s in CaseStatus} | {status: n for status, n in rows}
    return Dashboard(sections, escalations.items, escalations.total, title, counts)


def pending_escalations(session: Session, actor: Actor, *, page: int = 1,
                        per_page: int = 50) -> Page[PendingEscalation]:
    """A page of the escalations not acknowledged yet, on open cases `actor` may see, oldest first, and how many:
    for a manager those to them or to no one by name; for an analyst those they raised, or on the
    cases they own or are a member of. Each says whether `actor` may acknowledge it."""
    where: list[Any] = [CaseEscalation.acknowledged_at.is_(None), access.visible_filter(actor),
                        Case.status.in_(sorted(OPEN_STATUSES))]
    me = _user_id(actor)
    if actor.is_system:
        pass
    elif allowed(actor, Permission.CASE_ACKNOWLEDGE):
        where.append(or_(CaseEscalation.to_user_id.is_(None), CaseEscalation.to_user_id == me))
    elif allowed(actor, Permission.CASE_EDIT):
        member_of = select(case_members.c.case_id).where(case_members.c.user_id == me)
        where.append(or_(CaseEscalation.created_by_id == me, Case.owner_id == me, Case.id.in_(member_of)))
    else:
        return Page([], 0, page, per_page)
    query = select(CaseEscalation, Case).join(Case, Case.id == CaseEscalation.case_id).where(*where)
    rows = session.execute(paging.window(query.order_by(CaseEscalation.id), page, per_page)
                           .options(selectinload(CaseEscalation.to_user))).all()
    return Page([PendingEscalation(e, c, access.may_acknowledge(actor, e)) for e, c in rows],
                paging.count(session, query), page, per_page)


def assignable_users(session: Session, actor: Actor) -> list[User]:
    """Active analysts and managers (the roles with `case.edit`), who may own or be members of a case (for the
    forms' choices). Raises Forbidden for roles that change no case."""
    _require_case_worker(actor)
    return list(session.scalars(
        select(User).where(User.role.in_(roles_with(Permission.CASE_EDIT)), User.disabled_at.is_(None))
        .order_by(User.username)
    ).all())


def can_assign(actor: Actor) -> bool:
    """Whether the case forms offer `actor` any owner, the team and the members (`case.assign`: managers)."""
    return allowed(actor, Permission.CASE_ASSIGN)


# ---------------------------------------------------------------- creating


def create_case(session: Session, actor: Actor, cmd: NewCase) -> Case:
    """Open a case with the next reference of the year.

    Raises Forbidden for auditors and admins, or when an analyst assigns someone else; Invalid
    naming the field for an unknown category/subcategory, user or inconsistent times."""
    _require_case_worker(actor, Permission.CASE_CREATE)
    taxonomy().check(cmd.category, cmd.subcategory)
    field_values = custom_fields.prepare_new(session, cmd.category, cmd.custom_fields)  # checked before any write
    _check_incident_times(cmd.occurred_at, cmd.detected_at)
    now = clock(session).now()
    owner = _assignee(session, cmd.owner, "owner") if cmd.owner else None
    assigns = allowed(actor, Permission.CASE_ASSIGN)
    if owner is not None and not assigns and owner.id != _user_id(actor):
        raise Forbidden("analysts may only make themselves the owner; a manager assigns others", field="owner")
    members = [_assignee(session, name, "members") for name in dict.fromkeys(cmd.members)]
    if members and not assigns and any(m.id != _user_id(actor) for m in members):
        raise Forbidden("only managers may add other members", field="members")
    team = teams.team_for_case(session, cmd.team) if cmd.team else None
    priority = priority_for(cmd.impact, cmd.urgency)
    case = Case(
        reference=_next_reference(session, now.year),
        title=cmd.title, description=cmd.description, category=cmd.category, subcategory=cmd.subcategory,
        source=cmd.source, occurred_at=cmd.occurred_at, detected_at=cmd.detected_at,
        reported_at=cmd.reported_at or now, impact=cmd.impact, urgency=cmd.urgency, priority=priority,
        priority_overridden=False, severity=SEVERITY_FOR_PRIORITY[priority], severity_overridden=False,
        tlp=cmd.tlp, pap=cmd.pap, restricted=cmd.restricted, status=CaseStatus.NEW, owner=owner,
        team=team, created_at=now, updated_at=now, created_by_id=_user_id(actor),
        tags=[CaseTag(tag=t) for t in sorted(set(cmd.tags))],
    )
    # The creator and the owner are members, so that a restricted case stays visible to them.
    me = session.get(User, actor.user.id) if actor.user is not None else None
    case.members = _unique_users([u for u in (me, owner) if u is not None] + members)
    session.add(case)
    session.flush()
    initial: dict[str, list[Any]] = {"status": [None, case.status.value], "priority": [None, priority.value],
               "restricted": [None, case.restricted], "tlp": [None, case.tlp.value]}
    custom_fields.record_new(session, case, field_values, initial)
    _entry(session, actor, case, EntryKind.CREATED, f"Case {case.reference} opened", changes=initial, at=now)
    audit.record(session, actor, "case.create", "case", case.id,
                 {"reference": case.reference, "category": case.category, "priority": priority.value,
                  "restricted": case.restricted, "owner": owner.username if owner else None})
    return case


def _next_reference(session: Session, year: int) -> str:
    """IR-<year>-<n>, n counting from 1 each year. The counter row's UPDATE holds its lock until the
    transaction ends, so concurrent creators get consecutive numbers and never the same one."""
    table = cast(Table, CaseReferenceCounter.__table__)
    insert = insert_for(session)
    session.execute(insert(table).values(year=year, last=0).on_conflict_do_nothing(index_elements=["year"]))
    number = session.execute(
        update(table).where(table.c.year == year).values(last=table.c.last + 1).returning(table.c.last)
    ).scalar_one()
    return f"IR-{year}-{number:04d}"


# ---------------------------------------------------------------- changing


def update_case(session: Session, actor: Actor, case_id: int, cmd: CaseUpdate) -> Case:
    """Change the fields `cmd` sets, based on `cmd.version`.

    Raises NotFound; Forbidden for read-only roles, non-members of a restricted case, and for
    analysts changing what managers decide (priority override, owner other than themselves,
    team, members, a lower TLP, lifting the restriction); Conflict with `current_version` when the
    case changed since `cmd.version`; Invalid naming the field (taxonomy, missing reasons, unknown
    users, inconsistent times); Conflict naming status for a priority override on a resolved or closed case."""
    case = _load_for_change(session, actor, case_id, cmd.version)
    fields = cmd.changed()
    changes: dict[str, list[Any]] = {}
    governed = _check_disclosure(actor, case, cmd, fields)

    for name in ("title", "description", "source", "tlp", "pap", "restricted", "occurred_at", "detected_at",
                 "reported_at"):
        if name in fields:
            _set(case, name, getattr(cmd, name), changes)
    _apply_category(case, cmd, fields, changes)
    custom_fields.apply_update(session, case, cmd.custom_fields if "custom_fields" in fields else None, changes)
    if "tags" in fields:
        new_tags = sorted(set(cmd.tags or []))
        if new_tags != case.tag_names:
            changes["tags"] = [case.tag_names, new_tags]
            case.tags = [t for t in case.tags if t.tag in new_tags] + [
                CaseTag(tag=t) for t in new_tags if t not in case.tag_names]
    lifecycle_times = [n for n in LIFECYCLE_TIMES if n in fields]
    if lifecycle_times and not cmd.time_reason:
        raise Invalid(f"time_reason: required when changing {', '.join(lifecycle_times)}", field="time_reason")
    for name in lifecycle_times:
        _set(case, name, getattr(cmd, name), changes)
    _check_incident_times(case.occurred_at, case.detected_at)

    for name in ("impact", "urgency"):
        if name in fields:
            _set(case, name, getattr(cmd, name), changes)
    if "priority_override" in fields:
        if not allowed(actor, Permission.CASE_OVERRIDE_PRIORITY):
            raise Forbidden("only managers may override the priority", field="priority_override")
        _require_open(case, "override its priority")
        _apply_override(case, "priority", cmd.priority_override, cmd.priority_reason, changes)
    if not case.priority_overridden:
        _set(case, "priority", priority_for(case.impact, case.urgency), changes)
    if "severity_override" in fields:
        _apply_override(case, "severity", cmd.severity_override, cmd.severity_reason, changes)
    if not case.severity_overridden:
        _set(case, "severity", SEVERITY_FOR_PRIORITY[case.priority], changes)

    _apply_assignment(session, actor, case, cmd, fields=fields, changes=changes)
    if not changes:
        return case
    case.updated_at = clock(session).now()
    _flush(session, case)
    summary = "Changed " + ", ".join(sorted(changes))
    if cmd.time_reason and lifecycle_times:
        changes["time_reason"] = [None, cmd.time_reason]
    if governed:
        changes["reason"] = [None, cmd.reason]  # on the timeline; named, not copied, in the audit log
    _entry(session, actor, case, EntryKind.UPDATED, summary, changes=changes)
    _audit(session, actor, "case.update", case, changes)
    return case


def _check_disclosure(actor: Actor, case: Case, cmd: CaseUpdate, fields: set[str]) -> list[str]:
    """What of `cmd` shares the case more widely (a lower TLP, lifting the restriction): a manager's decision,
    with a reason. Raising the TLP or restricting a case is anyone's who may change it. Returns what it does,
    in words ([] for none); the caller records the reason with the changes. Raises Forbidden naming the
    field for non-managers, Invalid(field="reason")."""
    governed: list[tuple[str, str]] = []
    order = list(Tlp)
    if "tlp" in fields and cmd.tlp is not None and order.index(cmd.tlp) < order.index(case.tlp):
        governed.append(("tlp", f"lower the TLP from {case.tlp.value.upper()} to {cmd.tlp.value.upper()}"))
    if "restricted" in fields and case.restricted and cmd.restricted is False:
        governed.append(("restricted", "lift the restriction"))
    if not governed:
        return []
    what = " and ".join(text for _, text in governed)
    if not allowed(actor, Permission.CASE_DISCLOSE):
        raise Forbidden(f"only managers may {what}", field=governed[0][0])
    if not cmd.reason:
        raise Invalid(f"reason: a reason is required to {what}", field="reason")
    return [text for _, text in governed]


def _apply_override(case: Case, name: str, value: Any, reason: str | None, changes: dict[str, list[Any]]) -> None:
    """Fix `name` (priority or severity) to `value` with a reason, or with None return it to its rule."""
    if value is None:
        _set(case, f"{name}_overridden", False, changes)
        _set(case, f"{name}_reason", None, changes)
        return
    if not reason:
        raise Invalid(f"{name}_reason: a reason is required to override the {name}", field=f"{name}_reason")
    _set(case, f"{name}_overridden", True, changes)
    _set(case, f"{name}_reason", reason, changes)
    _set(case, name, value, changes)


def _apply_category(case: Case, cmd: CaseUpdate, fields: set[str], changes: dict[str, list[Any]]) -> None:
    if not fields & {"category", "subcategory"}:
        return
    category = cmd.category if "category" in fields and cmd.category is not None else case.category
    subcategory = cmd.subcategory if "subcategory" in fields else case.subcategory
    if "subcategory" not in fields and category != case.category and subcategory is not None:
        cat = taxonomy().category(category)
        if cat is not None and cat.subcategory(subcategory) is None:
            raise Invalid(f"subcategory: {subcategory!r} does not belong to {category!r}; send a subcategory "
                          "of the new category, or null", field="subcategory")
    taxonomy().check(category, subcategory)
    _set(case, "category", category, changes)
    _set(case, "subcategory", subcategory, changes)


def _apply_assignment(session: Session, actor: Actor, case: Case, cmd: CaseUpdate, *, fields: set[str],
                      changes: dict[str, list[Any]]) -> None:
    manager = allowed(actor, Permission.CASE_ASSIGN)
    if "owner" in fields:
        owner = _assignee(session, cmd.owner, "owner") if cmd.owner else None
        me = _user_id(actor)
        taking = owner is not None and owner.id == me and case.owner_id in {None, me}
        dropping = owner is None and case.owner_id == me
        if not (manager or taking or dropping):
            raise Forbidden("only managers assign cases; analysts may take an unassigned case or give up their own",
                            field="owner")
        if (owner.id if owner else None) != case.owner_id:
            changes["owner"] = [case.owner.username if case.owner else None, owner.username if owner else None]
            case.owner = owner
    if "team" in fields:
        team = teams.team_for_case(session, cmd.team, current=case.team) if cmd.team else None
        if team is not case.team:
            if not manager:
                raise Forbidden("only managers change a case's team (or escalate it functionally)", field="team")
            changes["team"] = [case.team_name, team.name if team else None]
            case.team = team
    members = list(case.members)
    if "members" in fields:
        if not manager:
            raise Forbidden("only managers change a case's members", field="members")
        members = [_assignee(session, name, "members") for name in dict.fromkeys(cmd.members or [])]
    if case.owner is not None:
        members.append(case.owner)  # the owner is always a member
    members = _unique_users(members)
    before, after = case.member_names, sorted(u.username for u in members)
    if before != after:
        changes["members"] = [before, after]
        case.members = members


def transition(session: Session, actor: Actor, case_id: int, cmd: Transition) -> Case:
    """Move the case to `cmd.to` along an edge of the lifecycle, with what that state needs.

    Raises NotFound; Forbidden for read-only roles, or closing by a non-manager; Conflict with
    the `allowed` next states for an illegal move, or `current_version` when stale; Invalid
    naming the missing field (resolution, summary, root_cause, reason, duplicate_of)."""
    case = _load_for_change(session, actor, case_id, cmd.version)
    source, target = case.status, cmd.to
    next_states = lifecycle.allowed_next(source)
    if target not in next_states:
        raise Conflict(f"a {source} case cannot move to {target}; it can move to: "
                       f"{', '.join(next_states)}", field="to",
                       details={"current_status": source.value, "allowed": [s.value for s in next_states]})
    need = lifecycle.requirement(source, target)
    if need.manager_only:
        require(actor, Permission.CASE_CLOSE, f"only managers may move a case to {target}")
    for name in need.fields:
        if getattr(cmd, name) is None:
            raise Invalid(f"{name}: required to move a case to {target}", field=name)
    custom_fields.check_required(session, case, target)
    if cmd.duplicate_of is not None and cmd.resolution != Resolution.DUPLICATE:
        raise Invalid("duplicate_of: only with resolution 'duplicate'", field="duplicate_of")
    if target == CaseStatus.RESOLVED and cmd.resolution == Resolution.DUPLICATE:
        if cmd.duplicate_of is None:
            raise Invalid("duplicate_of: the id of the surviving case is required with resolution 'duplicate'",
                          field="duplicate_of")
        survivor = _other_case(session, actor, case, cmd.duplicate_of, "duplicate_of")
        _mark_duplicate(session, actor, case, survivor, summary=cmd.summary, reason=cmd.reason)
        return case
    _move(session, actor, case, target, cmd)
    return case


def _move(session: Session, actor: Actor, case: Case, target: CaseStatus, cmd: Transition, *,
          duplicate_of: Case | None = None) -> None:
    source = case.status
    now = clock(session).now()
    changes: dict[str, list[Any]] = {}
    if duplicate_of is not None:
        case.duplicate_of_id = duplicate_of.id
        changes["duplicate_of"] = [None, duplicate_of.reference]
    _set(case, "status", target, changes)
    if source == CaseStatus.NEW and case.acknowledged_at is None:
        _set(case, "acknowledged_at", now, changes)
    reached_containment = target in {CaseStatus.ERADICATION, CaseStatus.RECOVERY} or (
        source == CaseStatus.CONTAINMENT and target == CaseStatus.RESOLVED)
    if reached_containment and case.contained_at is None:
        _set(case, "contained_at", now, changes)
    if target == CaseStatus.RESOLVED:
        _set(case, "resolution", cmd.resolution, changes)
        _set(case, "resolution_summary", cmd.summary, changes)
        _set(case, "resolved_at", now, changes)
    elif target == CaseStatus.CLOSED:
        _set(case, "root_cause", cmd.root_cause, changes)
        _set(case, "closed_at", now, changes)
    elif lifecycle.is_reopen(source, target):
        for name in ("resolution", "resolution_summary", "root_cause", "resolved_at", "closed_at",
                     "duplicate_of_id"):
            _set(case, name, None, changes)
    case.updated_at = now
    _flush(session, case)
    if duplicate_of is not None:
        summary = f"Resolved as a duplicate of {duplicate_of.reference}: {source} → {target}"
    else:
        summary = f"{'Reopened' if lifecycle.is_reopen(source, target) else 'Moved'}: {source} → {target}"
    _entry(session, actor, case, EntryKind.TRANSITION, summary, changes=changes, body=cmd.reason, at=now)
    _audit(session, actor, "case.transition", case, changes)


def _mark_duplicate(session: Session, actor: Actor, case: Case, survivor: Case, *, summary: str | None,
                    reason: str | None) -> None:
    if case.status not in OPEN_STATUSES:
        raise Conflict(f"case {case.reference} is {case.status} already; reopen it to mark it as a duplicate",
                       field="case", details={"current_status": case.status.value,
                                              "allowed": [s.value for s in lifecycle.allowed_next(case.status)]})
    if survivor.duplicate_of_id == case.id:
        raise Invalid(f"case {survivor.reference} is a duplicate of this case already", field="duplicate_of")
    cmd = Transition(to=CaseStatus.RESOLVED, resolution=Resolution.DUPLICATE,
                     summary=summary or f"Duplicate of {survivor.reference}", reason=reason)
    if session.scalar(select(CaseLink.id).where(CaseLink.case_id == case.id, CaseLink.other_case_id == survivor.id,
                                                CaseLink.kind == LinkKind.DUPLICATE_OF)) is None:
        session.add(CaseLink(case_id=case.id, other_case_id=survivor.id, kind=LinkKind.DUPLICATE_OF,
                             created_at=clock(session).now(), created_by_id=_user_id(actor)))
    _move(session, actor, case, CaseStatus.RESOLVED, cmd, duplicate_of=survivor)


def escalate(session: Session, actor: Actor, case_id: int, cmd: Escalation) -> CaseEscalation:
    """Record an escalation: functional hands the case to `cmd.to_team` (managers); hierarchical
    alerts management, optionally a named manager (any analyst who may change the case).

    Raises NotFound; Forbidden; Conflict (a resolved or closed case); Invalid naming to_team or to_user."""
    case = _load_for_change(session, actor, case_id, None)
    _require_open(case, "escalate it")
    to_user = None
    changes: dict[str, list[Any]] = {}
    if cmd.kind == EscalationKind.FUNCTIONAL:
        require(actor, Permission.CASE_HAND_OVER,
                "only managers may escalate a case functionally (hand it to another team)")
        if cmd.to_team is None:
            raise Invalid("to_team: the team that takes the case over is required", field="to_team")
        if cmd.to_user is not None:
            raise Invalid("to_user: only for hierarchical escalations", field="to_user")
        to_team = teams.team_for_case(session, cmd.to_team, "to_team")
        before = case.team_name
        if to_team is not case.team:
            changes["team"] = [before, to_team.name]
            case.team = to_team
        target = f"team {to_team.name}"
        # The hand-over replaces the case's team: the timeline says so in words, not only in the changes.
        summary = (f"Team changed from {before or 'no team'} to {to_team.name} (functional escalation)"
                   if "team" in changes else f"Escalated (functional) to team {to_team.name}, the case's team already")
    else:
        to_team = None
        require(actor, Permission.CASE_ESCALATE, "only analysts and managers escalate cases")
        if cmd.to_team is not None:
            raise Invalid("to_team: only for functional escalations", field="to_team")
        if cmd.to_user is not None:
            to_user = _assignee(session, cmd.to_user, "to_user")
            if not holds(to_user, Permission.CASE_ACKNOWLEDGE):
                raise Invalid(f"to_user: {to_user.username} is not a manager", field="to_user")
        target = f"manager {to_user.username}" if to_user else "management"
        summary = f"Escalated ({cmd.kind}) to {target}"
    now = clock(session).now()
    escalation = CaseEscalation(case=case, kind=cmd.kind, reason=cmd.reason, to_team_record=to_team,
                                to_team=to_team.name if to_team else None, to_user=to_user,
                                created_at=now, created_by_id=_user_id(actor), created_by_name=actor.name)
    session.add(escalation)
    case.last_escalated_at = now
    case.updated_at = now
    _flush(session, case)
    changes["escalation"] = [None, f"{cmd.kind} to {target}"]
    _entry(session, actor, case, EntryKind.ESCALATION, summary, changes=changes,
           body=cmd.reason, at=now)
    _audit(session, actor, "case.escalate", case, changes)
    return escalation


def acknowledge_escalation(session: Session, actor: Actor, case_id: int, escalation_id: int) -> CaseEscalation:
    """Acknowledge an escalation of the case: who and when are kept on it, on the timeline and in
    the audit log. Once only.

    Raises NotFound (the case, or an escalation it does not have); Forbidden (not its recipient:
    the manager it names, else any manager); Conflict (acknowledged already, saying by whom and when)."""
    case = access.get_case_or_404(session, actor, case_id)
    # Locked, so that two acknowledgements of one escalation are taken one after the other.
    escalation = session.scalars(select(CaseEscalation).where(CaseEscalation.id == escalation_id,
                                                              CaseEscalation.case_id == case.id)
                                 .with_for_update().options(selectinload(CaseEscalation.to_user))).one_or_none()
    if escalation is None:
        raise NotFound(f"case {case.reference} has no escalation {escalation_id}", field="escalation")
    if not access.may_acknowledge(actor, escalation):
        recipient = escalation.to_user.username if escalation.to_user else "a manager"
        raise Forbidden(f"only its recipient ({recipient}) may acknowledge this escalation", field="escalation")
    if escalation.acknowledged_at is not None:
        raise Conflict(f"this escalation was acknowledged already by {escalation.acknowledged_by_name} at "
                       f"{escalation.acknowledged_at:%Y-%m-%d %H:%M} UTC", field="escalation",
                       details={"acknowledged_at": escalation.acknowledged_at.isoformat(),
                                "acknowledged_by": escalation.acknowledged_by_name})
    now = clock(session).now()
    escalation.acknowledged_at, escalation.acknowledged_by_id = now, _user_id(actor)
    escalation.acknowledged_by_name = actor.name
    raised = f"{escalation.kind} escalation by {escalation.created_by_name} of {escalation.created_at:%Y-%m-%d %H:%M}"
    changes: dict[str, list[Any]] = {"acknowledged": [None, raised]}
    _entry(session, actor, case, EntryKind.ESCALATION, f"Escalation acknowledged by {actor.name}", changes=changes,
           at=now)
    session.flush()
    audit.record(session, actor, "case.escalation_acknowledge", "case", case.id,
                 {"reference": case.reference, "escalation_id": escalation.id})
    return escalation


def add_note(session: Session, actor: Actor, case_id: int, cmd: NewNote) -> TimelineEntry:
    """Add a Markdown note to the case's timeline. Raises NotFound; Forbidden."""
    case = _load_for_change(session, actor, case_id, None, lock=False)
    entry = _entry(session, actor, case, EntryKind.NOTE, f"Note by {actor.name}", body=cmd.body)
    session.flush()
    audit.record(session, actor, "case.note", "case", case.id,
                 {"reference": case.reference, "entry_id": entry.id, "length": len(cmd.body)})
    return entry


def add_event(session: Session, actor: Actor, case_id: int, cmd: NewEvent) -> TimelineEntry:
    """Add a manual event that happened in the incident at `cmd.occurred_at`.

    Raises NotFound; Forbidden; Invalid naming occurred_at when it is in the future."""
    case = _load_for_change(session, actor, case_id, None, lock=False)
    _check_not_future(session, cmd.occurred_at, "occurred_at")
    entry = _entry(session, actor, case, EntryKind.EVENT, cmd.summary, body=cmd.body, at=cmd.occurred_at)
    session.flush()
    audit.record(session, actor, "case.event", "case", case.id,
                 {"reference": case.reference, "entry_id": entry.id, "occurred_at": cmd.occurred_at.isoformat()})
    return entry


def edit_entry(session: Session, actor: Actor, case_id: int, entry_id: int, cmd: EntryEdit) -> TimelineEntry:
    """Correct a note's text, or a manual event's time, summary or details; the text it had is kept
    as a TimelineRevision, shown with the entry.

    Raises NotFound (case or entry); Forbidden (not the author nor a manager); Conflict (a
    retracted or automatic entry); Invalid naming the field (a field a note lacks, an emptied
    text, a time in the future, nothing changed)."""
    case, entry = _entry_for_correction(session, actor, case_id, entry_id, "edit")
    sent = cmd.changed()
    if entry.kind == EntryKind.NOTE:
        for name in sorted(sent - {"body"}):
            raise Invalid(f"{name}: a note has only a body; only events have a {name.replace('_', ' ')}",
                          field=name)
        if cmd.body is None:
            raise Invalid("body: a note cannot be emptied; retract it instead", field="body")
    if "summary" in sent and cmd.summary is None:
        raise Invalid("summary: an event needs a summary; retract it instead", field="summary")
    if "occurred_at" in sent and cmd.occurred_at is None:
        raise Invalid("occurred_at: an event needs the time it happened", field="occurred_at")
    new_body = cmd.body if "body" in sent else entry.body
    new_summary = cmd.summary if cmd.summary is not None else entry.summary
    new_time = entry.occurred_at
    # The form shows the time to the second: the same time sent back (without its microseconds) is no change.
    if cmd.occurred_at is not None and cmd.occurred_at not in {entry.occurred_at,
                                                               entry.occurred_at.replace(microsecond=0)}:
        _check_not_future(session, cmd.occurred_at, "occurred_at")
        new_time = cmd.occurred_at
    text_changed = sorted(name for name, old, new in (("body", entry.body, new_body),
                                                       ("summary", entry.summary, new_summary)) if old != new)
    changes: dict[str, list[Any]] = {}
    if new_time != entry.occurred_at:
        changes["occurred_at"] = [_plain(entry.occurred_at), _plain(new_time)]
    if not text_changed and not changes:
        name = "body" if "body" in sent or not sent else sorted(sent)[0]
        raise Invalid(f"{name}: nothing changed; change the text before saving", field=name)
    now = clock(session).now()
    session.add(TimelineRevision(entry=entry, summary=entry.summary, body=entry.body, occurred_at=entry.occurred_at,
                                 written_at=entry.edited_at or entry.recorded_at,
                                 written_by_name=entry.edited_by_name or entry.actor_name,
                                 replaced_at=now, replaced_by_name=actor.name))
    entry.body, entry.summary, entry.occurred_at = new_body, new_summary[:500], new_time
    entry.edited_at, entry.edited_by_name = now, actor.name
    session.flush()
    audit.record(session, actor, "case.entry_edit", "case", case.id, without_content(
        {"reference": case.reference, "entry_id": entry.id, "kind": entry.kind.value, "changes": changes or None,
         "text_changed": text_changed}))
    return entry


def retract_entry(session: Session, actor: Actor, case_id: int, entry_id: int, cmd: Retraction) -> TimelineEntry:
    """Retract a note or manual event: it stays on the timeline, struck through, with the reason,
    who and when. Nothing is deleted.

    Raises NotFound (case or entry); Forbidden (not the author nor a manager); Conflict (retracted
    already, or an automatic entry)."""
    case, entry = _entry_for_correction(session, actor, case_id, entry_id, "retract")
    entry.retracted_at, entry.retracted_by_name, entry.retraction_reason = clock(session).now(), actor.name, cmd.reason
    session.flush()
    audit.record(session, actor, "case.entry_retract", "case", case.id, without_content(
        {"reference": case.reference, "entry_id": entry.id, "kind": entry.kind.value, "reason": cmd.reason}))
    return entry


def _entry_for_correction(session: Session, actor: Actor, case_id: int, entry_id: int,
                          what: str) -> tuple[Case, TimelineEntry]:
    case = _load_for_change(session, actor, case_id, None, lock=False)
    # Locked, so that two corrections of one entry are applied one after the other.
    entry = session.scalars(select(TimelineEntry).where(TimelineEntry.id == entry_id, TimelineEntry.case_id == case.id)
                            .with_for_update()).one_or_none()
    if entry is None:
        raise NotFound(f"case {case.reference} has no timeline entry {entry_id}", field="entry")
    if entry.kind not in {EntryKind.NOTE, EntryKind.EVENT}:
        raise Conflict(f"only notes and manual events can be corrected; this entry was written by the application "
                       f"({entry.kind})", field="entry")
    if entry.retracted_at is not None:
        raise Conflict(f"this {entry.kind} was retracted by {entry.retracted_by_name}; it can no longer be changed",
                       field="entry")
    if not may_correct(actor, case, entry):
        raise Forbidden(f"only its author ({entry.actor_name}) and managers may {what} this {entry.kind}",
                        field="entry")
    return case, entry


def link_cases(session: Session, actor: Actor, case_id: int, cmd: NewLink) -> CaseLink:
    """Link the case to `cmd.case`: as related, or as a duplicate of it (which resolves this case
    with resolution duplicate).

    Raises NotFound (either case); Forbidden; Invalid (a case linked to itself); Conflict (linked
    already, stale version, or this case resolved or closed)."""
    case = _load_for_change(session, actor, case_id, cmd.version)
    _require_open(case, "link it to another case")
    other = _other_case(session, actor, case, cmd.case, "case")
    if cmd.kind == LinkKind.DUPLICATE_OF:
        _mark_duplicate(session, actor, case, other, summary=cmd.summary, reason=None)
        return session.scalars(select(CaseLink).where(
            CaseLink.case_id == case.id, CaseLink.other_case_id == other.id,
            CaseLink.kind == LinkKind.DUPLICATE_OF)).one()
    pair = or_(and_(CaseLink.case_id == case.id, CaseLink.other_case_id == other.id),
               and_(CaseLink.case_id == other.id, CaseLink.other_case_id == case.id))
    if session.scalar(select(CaseLink.id).where(pair, CaseLink.kind == LinkKind.RELATED)) is not None:
        raise Conflict(f"{case.reference} and {other.reference} are linked already", field="case")
    link = CaseLink(case_id=case.id, other_case_id=other.id, kind=LinkKind.RELATED, created_at=clock(session).now(),
                    created_by_id=_user_id(actor))
    session.add(link)
    changes: dict[str, list[Any]] = {"related": [None, other.reference]}
    _entry(session, actor, case, EntryKind.LINK, f"Linked to {other.reference} as related", changes=changes)
    _audit(session, actor, "case.link", case, changes)
    session.flush()
    return link


# ---------------------------------------------------------------- bulk actions


@dataclass
class BulkOutcome:
    """What a bulk action did to one case: `done` (changed), `unchanged` (it was so already) or
    `refused`, with the reason and the status the same change made alone would have had."""

    given: int | str
    reference: str
    case_id: int | None
    outcome: str
    message: str
    status: int = 200
    field: str | None = None


@dataclass
class BulkResult:
    action: BulkKind
    outcomes: list[BulkOutcome]

    def count(self, outcome: str) -> int:
        return sum(1 for o in self.outcomes if o.outcome == outcome)


def can_bulk(actor: Actor) -> bool:
    """Whether `actor` may be offered bulk actions (`case.edit`: analysts and managers; each case still decides)."""
    return allowed(actor, Permission.CASE_EDIT)


def bulk_apply(session: Session, actor: Actor, cmd: BulkAction) -> BulkResult:
    """Apply one action (assign, tag, resolve as a duplicate) to each selected case through the same
    service call as one by one: the same permission and state rules, timeline entries and audit records.

    Per case, not all-or-nothing: each case runs in its own savepoint, so a refused case is left
    exactly as it was and reported with the reason, while the others are changed (a manager who
    tags twenty cases, two of them restricted, gets eighteen tagged and two reasons, rather than
    nothing and a list to work through). All of it commits in the request's one transaction.

    Raises Forbidden for roles that change no case; Invalid naming the field the action needs."""
    _require_case_worker(actor)
    needed = {BulkKind.ASSIGN: "owner", BulkKind.TAG: "tag", BulkKind.DUPLICATE: "duplicate_of"}[cmd.action]
    if getattr(cmd, needed) is None:
        what = {"owner": "the user who takes the cases", "tag": "the tag to add",
                "duplicate_of": "the surviving case's reference"}[needed]
        raise Invalid(f"{needed}: {what} is required to {cmd.action} cases", field=needed)
    outcomes: list[BulkOutcome] = []
    for given in dict.fromkeys(cmd.cases):
        savepoint = session.begin_nested()
        try:
            case = _bulk_target(session, actor, given)
            before = case.version
            reference = case.reference
            done = _bulk_one(session, actor, case, cmd)
            changed = case.version != before
        except DomainError as exc:
            savepoint.rollback()
            shown = given if isinstance(given, str) else f"case {given}"
            outcomes.append(BulkOutcome(given, shown, None, "refused", exc.message, exc.status, exc.field))
            continue
        savepoint.commit()
        outcomes.append(BulkOutcome(given, reference, case.id, "done" if changed else "unchanged",
                                    done if changed else "already so; nothing to change"))
    return BulkResult(cmd.action, outcomes)


def _bulk_target(session: Session, actor: Actor, given: int | str) -> Case:
    """A selected case, by id or reference; one the actor may not see is reported as not existing."""
    case_id = given if isinstance(given, int) else session.scalar(select(Case.id).where(Case.reference == given))
    if case_id is None:
        raise NotFound(f"there is no case {given}", field="cases")
    try:
        return access.get_case_or_404(session, actor, case_id)
    except NotFound:
        raise NotFound(f"there is no case {given}", field="cases") from None


def _bulk_one(session: Session, actor: Actor, case: Case, cmd: BulkAction) -> str:
    """Make the one change on `case`; what was done, in words."""
    if cmd.action == BulkKind.ASSIGN:
        update_case(session, actor, case.id, CaseUpdate(version=case.version, owner=cmd.owner))
        return f"assigned to {cmd.owner}"
    if cmd.action == BulkKind.TAG:
        update_case(session, actor, case.id, CaseUpdate(version=case.version,
                                                        tags=[*case.tag_names, cast(str, cmd.tag)]))
        return f"tagged {cmd.tag}"
    survivor = cast(int | str, cmd.duplicate_of)
    # The case page's resolve form, with resolution duplicate: the same states, checks and field names.
    transition(session, actor, case.id, Transition(to=CaseStatus.RESOLVED, resolution=Resolution.DUPLICATE,
                                                   summary=cmd.summary or f"Duplicate of {survivor}",
                                                   duplicate_of=survivor))
    kept = session.get(Case, case.duplicate_of_id) if case.duplicate_of_id is not None else None
    return f"resolved as a duplicate of {kept.reference if kept else survivor}"


# ---------------------------------------------------------------- helpers


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
    case = access.get_case_or_404(session, actor, case_id, for_update=lock, options=DETAIL_OPTIONS)
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

