"""Multi-step actions on cases: lifecycle transitions (with duplicates), escalations and their
acknowledgement, links between cases, and bulk actions (each case through the same calls as one by one)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, selectinload

from casemgr.audit import trail as audit
from casemgr.auth.actor import Actor
from casemgr.auth.permissions import Permission, allowed, holds, require
from casemgr.cases import access, custom_fields, lifecycle
from casemgr.cases._helpers import (
    _assignee,
    _audit,
    _entry,
    _flush,
    _load_for_change,
    _other_case,
    _require_case_worker,
    _require_open,
    _set,
    _user_id,
)
from casemgr.cases.changes import update_case
from casemgr.cases.models import (
    OPEN_STATUSES,
    Case,
    CaseEscalation,
    CaseLink,
    CaseStatus,
    EntryKind,
    EscalationKind,
    LinkKind,
    Resolution,
)
from casemgr.cases.schemas import BulkAction, BulkKind, CaseUpdate, Escalation, NewLink, Transition
from casemgr.collaborators import clock
from casemgr.errors import Conflict, DomainError, Forbidden, Invalid, NotFound

# ---------------------------------------------------------------- lifecycle transitions


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


# ---------------------------------------------------------------- escalations


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
        from casemgr.teams import service as teams  # with its schemas: not for `casemgr case list`
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


# ---------------------------------------------------------------- links


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
