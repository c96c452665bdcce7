"""Reading cases: one case and its detail page, related cases, the timeline, the case list and its
filters, the home dashboard, pending escalations, who may be assigned. Nothing here writes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from markupsafe import Markup
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, selectinload

from casemgr import paging
from casemgr.auth.actor import Actor
from casemgr.auth.models import User
from casemgr.auth.permissions import Permission, allowed, roles_with
from casemgr.cases import access, lifecycle, search
from casemgr.cases._helpers import _require_case_worker, _user_id, detail_options, list_options
from casemgr.cases.models import (
    OPEN_STATUSES,
    Case,
    CaseEscalation,
    CaseLink,
    CaseStatus,
    CaseTag,
    LinkKind,
    Priority,
    TimelineEntry,
    TimelineRevision,
    case_members,
)
from casemgr.cases.schemas import CaseQuery
from casemgr.collaborators import clock
from casemgr.errors import Forbidden, NotFound
from casemgr.paging import Page
from casemgr.teams.models import Team, name_key

if TYPE_CHECKING:
    from casemgr.cases.taxonomy import Taxonomy

# ---------------------------------------------------------------- one case


def taxonomy(session: Session) -> Taxonomy:
    """The incident taxonomy (categories and subcategories with their codes, retired ones marked)."""
    from casemgr.cases.taxonomy import load  # its models are mapped when a command uses the taxonomy

    return load(session)


def get_case(session: Session, actor: Actor, case_id: int) -> Case:
    """The case with its owner, tags, members and escalations loaded. Raises NotFound."""
    return access.get_case_or_404(session, actor, case_id, options=detail_options())


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
    from casemgr import markdown  # nh3 and markdown-it: for pages that render Markdown, not for `case list`

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
                      team_choices=team_choices(session, actor, case))


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
    from casemgr import markdown

    return markdown.render(entry.body)


def may_correct(actor: Actor, case: Case, entry: TimelineEntry) -> bool:
    """Whether `actor` may edit or retract `entry`: a note or manual event not retracted yet, on a
    case the actor may change, written by the actor, or any such entry for a manager."""
    if not entry.correctable or not access.can_edit(actor, case):
        return False
    return allowed(actor, Permission.CASE_CORRECT_ANY) or (actor.user is not None and entry.actor_id == actor.user.id)


# ---------------------------------------------------------------- the case list


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
    where, order, total = matching_cases(session, actor, query)
    return paging.fetch(session, select(Case).where(*where).order_by(*order).options(*list_options()),
                        query.page, query.per_page, total=total)


def matching_cases(session: Session, actor: Actor, query: CaseQuery) -> tuple[list[Any], list[Any], int]:
    """The conditions, order and count of the cases `actor` may see that `query` matches (its page aside):
    the one definition the case list and the case export (casemgr/cases/export.py) share."""
    visible, filters = access.visible_filter(actor), _filters(query)
    if query.fields:
        from casemgr.cases import custom_fields  # their models and schemas: only for a `field.CODE` filter

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
    return where, order, total


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
        from casemgr.cases import incident_roles  # the role models are mapped when a command uses them

        where.append(incident_roles.lacks_commander())
    date_column = DATE_FIELDS[q.date_field]
    if q.since:
        where.append(date_column >= q.since)
    if q.until:
        where.append(date_column < q.until)
    return where


# ---------------------------------------------------------------- the home dashboard


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
    from casemgr.cases import incident_roles

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
                                .limit(limit).options(*list_options())).all()
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
        select(User).where(User.role.in_(roles_with(Permission.CASE_EDIT, session)), User.disabled_at.is_(None))
        .order_by(User.username)
    ).all())


def can_assign(actor: Actor) -> bool:
    """Whether the case forms offer `actor` any owner, the team and the members (`case.assign`: managers)."""
    return allowed(actor, Permission.CASE_ASSIGN)


def team_choices(session: Session, actor: Actor, case: Case | None = None) -> list[str]:
    """The teams (not retired) `actor` may give a new case, or give or hand `case` to, for the forms' selects;
    none, and no query, when the actor may do neither (only those who assign or hand over see the select)."""
    if case is None:
        may = can_assign(actor)
    else:
        may = access.can_edit(actor, case) and (can_assign(actor) or allowed(actor, Permission.CASE_HAND_OVER))
    from casemgr.teams import service as teams  # with its schemas: not for `casemgr case list`
    return teams.team_choices(session) if may else []
