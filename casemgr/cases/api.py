"""/api/v1/cases and /api/v1/taxonomy: thin adapters over casemgr.cases.service."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Response
from pydantic import BaseModel, Field

from casemgr.api import ApiBlueprint, PageQuery, body, listing, out, query
from casemgr.cases import custom_fields, incident_roles, service
from casemgr.cases.models import (
    Case,
    CaseEscalation,
    CaseLink,
    CaseStatus,
    EntryKind,
    EscalationKind,
    Level,
    LinkKind,
    Pap,
    Priority,
    Resolution,
    Severity,
    Source,
    TimelineEntry,
    Tlp,
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
from casemgr.web import commit_now, current_actor, db_session, stream_with_session

bp = ApiBlueprint("cases", __name__)


class CaseRef(BaseModel):
    id: int
    reference: str
    title: str
    status: CaseStatus


class CaseSummaryOut(BaseModel):
    id: int
    reference: str
    title: str
    category: str
    subcategory: str | None
    status: CaseStatus
    priority: Priority
    severity: Severity
    tlp: Tlp
    restricted: bool
    owner: str | None
    team: str | None = Field(description="the name of the case's team (GET /api/v1/teams)")
    team_id: int | None = Field(description="the id of the case's team")
    tags: list[str]
    escalated: bool
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int


class EscalationOut(BaseModel):
    id: int
    kind: EscalationKind
    reason: str
    to_team: str | None = Field(description="functional: the team handed the case, named as it was then")
    to_team_id: int | None
    to_user: str | None
    created_at: dt.datetime
    created_by: str
    acknowledged_at: dt.datetime | None
    acknowledged_by: str | None


class PendingEscalationOut(EscalationOut):
    """An escalation not acknowledged yet, with its case and whether the caller may acknowledge it."""

    case: CaseRef
    can_acknowledge: bool


class BulkOutcomeOut(BaseModel):
    case: str = Field(description="the case as selected (its reference, or its id when not found)")
    case_id: int | None
    outcome: str = Field(description="done, unchanged or refused")
    message: str
    status: int = Field(description="the status the same change made alone would have had")
    field: str | None


class BulkResultOut(BaseModel):
    action: BulkKind
    done: int
    unchanged: int
    refused: int
    outcomes: list[BulkOutcomeOut]


class RelatedOut(BaseModel):
    kind: str
    case: CaseRef


class CaseOut(CaseSummaryOut):
    description: str
    description_html: str
    source: Source | None
    impact: Level
    urgency: Level
    priority_overridden: bool
    priority_reason: str | None
    severity_overridden: bool
    severity_reason: str | None
    pap: Pap
    occurred_at: dt.datetime | None
    detected_at: dt.datetime | None
    reported_at: dt.datetime | None
    acknowledged_at: dt.datetime | None
    contained_at: dt.datetime | None
    resolved_at: dt.datetime | None
    closed_at: dt.datetime | None
    resolution: Resolution | None
    resolution_summary: str | None
    root_cause: str | None
    duplicate_of: CaseRef | None
    members: list[str]
    created_by: str | None
    allowed_transitions: list[CaseStatus]
    escalations: list[EscalationOut]
    related: list[RelatedOut]
    incident_roles: dict[str, str] = Field(
        default_factory=dict, description="the incident roles held now: role code -> username (GET .../roles for more)")
    custom_fields: dict[str, Any] = Field(
        default_factory=dict, description="custom field code -> value recorded (retired fields' too; "
                                          "GET /api/v1/case-fields describes them)")


class RevisionOut(BaseModel):
    """A note's or event's earlier text, as written then, and who replaced it when."""

    summary: str
    body: str | None
    occurred_at: dt.datetime
    written_at: dt.datetime
    written_by: str
    replaced_at: dt.datetime
    replaced_by: str


class TimelineEntryOut(BaseModel):
    id: int
    kind: EntryKind
    occurred_at: dt.datetime
    recorded_at: dt.datetime
    actor: str
    summary: str
    changes: dict[str, Any] | None
    body: str | None
    body_html: str | None
    edited_at: dt.datetime | None
    edited_by: str | None
    retracted_at: dt.datetime | None
    retracted_by: str | None
    retraction_reason: str | None
    revisions: list[RevisionOut]


class LinkOut(BaseModel):
    id: int
    kind: LinkKind
    case: CaseRef
    other_case: CaseRef


class SubcategoryOut(BaseModel):
    code: str
    name: str
    description: str
    retired: bool = Field(description="kept for the cases filed under it; new cases and edits cannot choose it")


class CategoryOut(SubcategoryOut):
    subcategories: list[SubcategoryOut]


class TaxonomyOut(BaseModel):
    name: str
    source: str
    categories: list[CategoryOut]


def _summary(case: Case) -> dict[str, Any]:
    return out(CaseSummaryOut, {**_fields(case, CaseSummaryOut), "owner": case.owner.username if case.owner else None,
                                "team": case.team_name,
                                "tags": case.tag_names, "escalated": case.is_escalated})


def _ref(case: Case) -> dict[str, Any]:
    return {"id": case.id, "reference": case.reference, "title": case.title, "status": case.status}


def _escalation(e: CaseEscalation) -> dict[str, Any]:
    return {**_fields(e, EscalationOut), "to_user": e.to_user.username if e.to_user else None,
            "created_by": e.created_by_name, "acknowledged_by": e.acknowledged_by_name}


def _detail(case_id: int) -> dict[str, Any]:
    d = service.case_detail(db_session(), current_actor(), case_id)
    c = d.case
    return out(CaseOut, {
        **_fields(c, CaseOut), "owner": c.owner.username if c.owner else None, "team": c.team_name,
        "tags": c.tag_names,
        "escalated": c.is_escalated, "description_html": str(d.description_html),
        "duplicate_of": _ref(d.duplicate_of) if d.duplicate_of else None, "members": c.member_names,
        "created_by": c.created_by.username if c.created_by else None,
        "allowed_transitions": d.allowed_transitions, "escalations": [_escalation(e) for e in c.escalations],
        "related": [{"kind": r.kind, "case": _ref(r.case)} for r in d.related],
        "incident_roles": {code: a.user.username for code, a in
                           incident_roles.current_roles(db_session(), [c.id])[c.id].items()},
        "custom_fields": custom_fields.values_by_case(db_session(), [c.id])[c.id],
    })


def _entry(e: TimelineEntry) -> dict[str, Any]:
    revisions = [{**_fields(r, RevisionOut), "written_by": r.written_by_name, "replaced_by": r.replaced_by_name}
                 for r in e.revisions]
    return out(TimelineEntryOut, {**_fields(e, TimelineEntryOut), "actor": e.actor_name,
                                  "body_html": str(service.render_entry(e)) if e.body else None,
                                  "edited_by": e.edited_by_name, "retracted_by": e.retracted_by_name,
                                  "revisions": revisions})


def _fields(obj: Any, model: type[BaseModel]) -> dict[str, Any]:
    return {k: getattr(obj, k) for k in model.model_fields if hasattr(obj, k)}


@bp.operation("/taxonomy", "GET", "Incident categories and subcategories with their codes", response=TaxonomyOut)
def get_taxonomy() -> Any:
    return out(TaxonomyOut, service.taxonomy(db_session()))


@bp.operation("/cases", "GET", "Cases the caller may see: filters, text search (q), sort, pages; "
              "field.CODE=value filters by a custom field (GET /api/v1/case-fields)",
              query=CaseQuery, response=CaseSummaryOut, is_list=True)
def list_cases() -> Any:
    return listing(service.list_cases(db_session(), current_actor(), query(CaseQuery)), _summary)


EXPORT = ("The cases GET /api/v1/cases would list (same parameters; page and per_page ignored), all of them, as {}: "
          "custom fields as field.CODE; at most 10,000 cases (413 past that); audited (docs/case-export.md)")


@bp.operation("/cases/export.csv", "GET", EXPORT.format("CSV"), query=CaseQuery, media_type="text/csv",
              errors=(413,))
def export_csv() -> Any:
    return _export("csv")


@bp.operation("/cases/export.json", "GET", EXPORT.format("JSON lines"), query=CaseQuery,
              media_type="application/x-ndjson", errors=(413,))
def export_json() -> Any:
    return _export("json")


def _export(fmt: str) -> Any:
    plan = service.start_export(db_session(), current_actor(), query(CaseQuery), fmt)
    commit_now()  # the export's audit entry, before the rows are read
    chunks = stream_with_session(lambda rs: service.export_chunks(rs, plan))  # streamed, never whole in memory
    return Response(chunks, content_type=plan.media_type,
                    headers={"Content-Disposition": f'attachment; filename="{plan.filename}"'})


@bp.operation("/cases", "POST", "Open a case", body=NewCase, response=CaseOut, status=201,
              creates=("case_id", "id"))
def create_case() -> Any:
    case = service.create_case(db_session(), current_actor(), body(NewCase))
    return _detail(case.id), 201


@bp.operation("/cases/<int:case_id>", "GET", "One case", response=CaseOut)
def get_case(case_id: int) -> Any:
    return _detail(case_id)


@bp.operation("/cases/<int:case_id>", "PATCH", "Change a case (send the version you read; 409 when stale)",
              body=CaseUpdate, response=CaseOut, errors=(409,))
def update_case(case_id: int) -> Any:
    service.update_case(db_session(), current_actor(), case_id, body(CaseUpdate))
    return _detail(case_id)


@bp.operation("/cases/<int:case_id>/transition", "POST",
              "Move a case to another state (409 lists the allowed next states)", body=Transition, response=CaseOut,
              errors=(409,))
def transition(case_id: int) -> Any:
    service.transition(db_session(), current_actor(), case_id, body(Transition))
    return _detail(case_id)


@bp.operation("/cases/<int:case_id>/escalate", "POST", "Escalate a case, functionally or hierarchically",
              body=Escalation, response=EscalationOut, status=201, errors=(409,))
def escalate(case_id: int) -> Any:
    escalation = service.escalate(db_session(), current_actor(), case_id, body(Escalation))
    return out(EscalationOut, _escalation(escalation)), 201


@bp.operation("/cases/<int:case_id>/notes", "POST", "Add a Markdown note to the timeline", body=NewNote,
              response=TimelineEntryOut, status=201)
def add_note(case_id: int) -> Any:
    return _entry(service.add_note(db_session(), current_actor(), case_id, body(NewNote))), 201


@bp.operation("/cases/<int:case_id>/events", "POST", "Add a timeline event at the time it happened", body=NewEvent,
              response=TimelineEntryOut, status=201)
def add_event(case_id: int) -> Any:
    return _entry(service.add_event(db_session(), current_actor(), case_id, body(NewEvent))), 201


@bp.operation("/cases/<int:case_id>/timeline", "GET", "The case's timeline in incident order", query=PageQuery,
              response=TimelineEntryOut, is_list=True)
def get_timeline(case_id: int) -> Any:
    page: PageQuery = query(PageQuery)
    return listing(service.timeline(db_session(), current_actor(), case_id, page=page.page, per_page=page.per_page),
                   _entry)


@bp.operation("/cases/<int:case_id>/timeline/<int:entry_id>", "PATCH",
              "Correct a note or manual event (author or manager); the earlier text is kept in its revisions",
              body=EntryEdit, response=TimelineEntryOut, errors=(409,))
def edit_entry(case_id: int, entry_id: int) -> Any:
    return _entry(service.edit_entry(db_session(), current_actor(), case_id, entry_id, body(EntryEdit)))


@bp.operation("/cases/<int:case_id>/timeline/<int:entry_id>/retract", "POST",
              "Retract a note or manual event with a reason (author or manager); it stays, struck through",
              body=Retraction, response=TimelineEntryOut, errors=(409,))
def retract_entry(case_id: int, entry_id: int) -> Any:
    return _entry(service.retract_entry(db_session(), current_actor(), case_id, entry_id, body(Retraction)))


@bp.operation("/cases/<int:case_id>/links", "POST", "Link to another case as related, or as its duplicate",
              body=NewLink, response=LinkOut, status=201, errors=(409,))
def link(case_id: int) -> Any:
    created: CaseLink = service.link_cases(db_session(), current_actor(), case_id, body(NewLink))
    return out(LinkOut, {"id": created.id, "kind": created.kind, "case": _ref(created.case),
                         "other_case": _ref(created.other_case)}), 201


@bp.operation("/cases/bulk", "POST",
              "Apply one action (assign, tag, resolve as a duplicate) to several cases, each under the rules of the "
              "same change made alone; refused cases are left unchanged and reported with the reason",
              body=BulkAction, response=BulkResultOut)
def bulk() -> Any:
    result = service.bulk_apply(db_session(), current_actor(), body(BulkAction))
    outcomes = [{"case": str(o.reference), "case_id": o.case_id, "outcome": o.outcome, "message": o.message,
                 "status": o.status, "field": o.field} for o in result.outcomes]
    return out(BulkResultOut, {"action": result.action, "done": result.count("done"),
                               "unchanged": result.count("unchanged"), "refused": result.count("refused"),
                               "outcomes": outcomes})


@bp.operation("/escalations", "GET",
              "Escalations not acknowledged yet on open cases, oldest first, in pages: to the calling manager (or "
              "to no one by name), or of the calling analyst's cases", query=PageQuery,
              response=PendingEscalationOut, is_list=True)
def pending_escalations() -> Any:
    page: PageQuery = query(PageQuery)
    pending = service.pending_escalations(db_session(), current_actor(), page=page.page, per_page=page.per_page)
    return listing(pending, lambda p: out(PendingEscalationOut, {**_escalation(p.escalation), "case": _ref(p.case),
                                                                 "can_acknowledge": p.can_acknowledge}))


@bp.operation("/cases/<int:case_id>/escalations/<int:escalation_id>/acknowledge", "POST",
              "Acknowledge an escalation (its recipient: the manager it names, else any manager); 409 when "
              "acknowledged already", response=EscalationOut, errors=(409,))
def acknowledge_escalation(case_id: int, escalation_id: int) -> Any:
    escalation = service.acknowledge_escalation(db_session(), current_actor(), case_id, escalation_id)
    return out(EscalationOut, _escalation(escalation))
