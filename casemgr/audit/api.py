"""/api/v1/audit: browse, verify and checkpoint the audit log (auditors and admins)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import jsonify
from pydantic import BaseModel

from casemgr.api import ApiBlueprint, query
from casemgr.audit import service
from casemgr.audit.schemas import AuditQuery
from casemgr.web import current_actor, db_session

bp = ApiBlueprint("audit", __name__, url_prefix="/audit")


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
              is_list=True)
def list_entries() -> Any:
    actor = current_actor()
    service.require_reader(actor)  # 403 before any hint about the filters
    q: AuditQuery = query(AuditQuery)
    entries, total = service.list_entries(db_session(), actor, service.AuditFilter(**q.model_dump()))
    return jsonify({"items": [service.entry_to_dict(e) for e in entries], "total": total,
                    "page": q.page, "per_page": q.per_page})


@bp.operation("/verify", "GET", "Walk the hash chain and the signed checkpoints", response=ChainReportOut)
def verify() -> Any:
    return service.verify_chain(db_session(), current_actor()).to_dict()


@bp.operation("/checkpoints", "POST", "Sign a checkpoint of the chain head now", response=CheckpointOut,
              status=201)
def checkpoint() -> Any:
    cp = service.checkpoint(db_session(), current_actor())
    return CheckpointOut.model_validate(cp, from_attributes=True).model_dump(mode="json"), 201
