"""Creating and changing a case: open one (with its reference), update its fields (overrides,
category, assignment), notes and events on the timeline and their corrections."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from casemgr.audit import trail as audit
from casemgr.audit.content import without_content
from casemgr.auth.actor import Actor
from casemgr.auth.models import User
from casemgr.auth.permissions import Permission, allowed
from casemgr.cases import custom_fields
from casemgr.cases._helpers import (
    LIFECYCLE_TIMES,
    _assignee,
    _audit,
    _check_incident_times,
    _check_not_future,
    _entry,
    _flush,
    _load_for_change,
    _plain,
    _require_case_worker,
    _require_open,
    _set,
    _unique_users,
    _user_id,
)
from casemgr.cases.models import (
    SEVERITY_FOR_PRIORITY,
    Case,
    CaseReferenceCounter,
    CaseStatus,
    CaseTag,
    EntryKind,
    TimelineEntry,
    TimelineRevision,
    Tlp,
    priority_for,
)
from casemgr.cases.queries import may_correct, taxonomy
from casemgr.cases.schemas import CaseUpdate, EntryEdit, NewCase, NewEvent, NewNote, Retraction
from casemgr.collaborators import clock
from casemgr.db import insert_for
from casemgr.errors import Conflict, Forbidden, Invalid, NotFound

# ---------------------------------------------------------------- creating


def create_case(session: Session, actor: Actor, cmd: NewCase) -> Case:
    """Open a case with the next reference of the year.

    Raises Forbidden for auditors and admins, or when an analyst assigns someone else; Invalid
    naming the field for an unknown category/subcategory, user or inconsistent times."""
    _require_case_worker(actor, Permission.CASE_CREATE)
    taxonomy(session).check(cmd.category, cmd.subcategory)
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
    from casemgr.teams import service as teams  # with its schemas: not for `casemgr case list`
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
    _apply_category(session, case, cmd, fields, changes)
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


def _apply_category(session: Session, case: Case, cmd: CaseUpdate, fields: set[str],
                    changes: dict[str, list[Any]]) -> None:
    if not fields & {"category", "subcategory"}:
        return
    category = cmd.category if "category" in fields and cmd.category is not None else case.category
    subcategory = cmd.subcategory if "subcategory" in fields else case.subcategory
    if "subcategory" not in fields and category != case.category and subcategory is not None:
        cat = taxonomy(session).category(category)
        if cat is not None and cat.subcategory(subcategory) is None:
            raise Invalid(f"subcategory: {subcategory!r} does not belong to {category!r}; send a subcategory "
                          "of the new category, or null", field="subcategory")
    taxonomy(session).check(category, subcategory, current=(case.category, case.subcategory))
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
        from casemgr.teams import service as teams
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


# ---------------------------------------------------------------- the timeline


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
