"""/api/v1/audit: browse, verify and checkpoint the audit log (auditors and admins)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Response
from pydantic import BaseModel

from casemgr.api import ApiBlueprint, body, listing, query
from casemgr.audit import export as exports
from casemgr.audit import service
from casemgr.audit.schemas import AuditQuery, AuditRange
from casemgr.web import commit_now, current_actor, db_session, stream_with_session

bp = ApiBlueprint("audit", __name__, url_prefix="/audit")


class CaseRefOut(BaseModel):
    id: int
    reference: str


class AuditEntryOut(BaseModel):
    seq: int
    occurred_at: dt.datetime
    actor_type: str
    actor_id: int | None
    actor: str
    token_id: int | None
    token_issued_by: str | None = None  # who issued the token the actor used (entries made with a token)
    action: str
    object_type: str
    object_id: str | None
    summary: dict[str, Any]
    source_ip: str | None
    request_id: str | None
    via: str
    prev_hash: str
    hash: str
    case: CaseRefOut | None = None  # the case the entry is about, for a reader who may see it


class ChainReportOut(BaseModel):
    ok: bool
    checked: int
    first_broken_seq: int | None
    reason: str | None
    checkpoints_checked: int


class CheckpointOut(BaseModel):
    id: int
    entry_count: int
    head_hash: str
    key_id: str
    signature: str
    created_at: dt.datetime


@bp.operation("", "GET", "Audit entries, newest first, filtered", query=AuditQuery, response=AuditEntryOut,
              is_list=True, errors=(404,))  # 404: a case reference the caller may not see
def list_entries() -> Any:
    actor = current_actor()
    service.require_reader(actor)  # 403 before any hint about the filters
    q: AuditQuery = query(AuditQuery)
    page = service.readable_page(db_session(), actor, service.AuditFilter(**q.model_dump()))
    return listing(page, lambda e: service.entry_to_dict(e) | {"case": None if e.case is None else vars(e.case)})


@bp.operation("/verify", "GET", "Walk the hash chain and the signed checkpoints", response=ChainReportOut)
def verify() -> Any:
    return service.verify_chain(db_session(), current_actor()).to_dict()


@bp.operation("/checkpoints", "POST", "Sign a checkpoint of the chain head now", response=CheckpointOut,
              status=201)
def checkpoint() -> Any:
    cp = service.checkpoint(db_session(), current_actor())
    return CheckpointOut.model_validate(cp, from_attributes=True).model_dump(mode="json"), 201


EXPORT = ("Export the entries matching the filters as {}, with the chain proof: every entry from the first match "
          "to the nearest signed checkpoint, each with its canonical form and hashes, then the checkpoint "
          "(auditors; docs/audit-log.md says how to check it)")


@bp.operation("/export.csv", "POST", EXPORT.format("CSV"), body=AuditRange, media_type="text/csv",
              errors=(404,))
def export_csv() -> Any:
    return _export("csv")


@bp.operation("/export.jsonl", "POST", EXPORT.format("JSON lines"), body=AuditRange,
              media_type="application/x-ndjson", errors=(404,))
def export_jsonl() -> Any:
    return _export("jsonl")


def _export(fmt: str) -> Any:
    actor = current_actor()
    exports.require_exporter(actor)  # 403 before any hint about the filters
    flt = service.AuditFilter(**body(AuditRange).model_dump())
    plan = exports.start_export(db_session(), actor, flt, fmt)
    commit_now()  # the export's own entry and checkpoint, before the rows are read
    chunks = stream_with_session(lambda rs: exports.export_chunks(rs, plan))  # streamed, never whole in memory
    return Response(chunks, content_type=plan.media_type,
                    headers={"Content-Disposition": f'attachment; filename="{plan.filename}"'})
