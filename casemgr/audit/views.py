"""The audit log pages for auditors and admins."""

from __future__ import annotations

from functools import partial
from typing import Any

from flask import Blueprint, Response, render_template, request, url_for
from flask_login import login_required

from casemgr.audit import export as exports
from casemgr.audit import service
from casemgr.audit.readable import ReadableEntry
from casemgr.audit.schemas import AuditQuery, ExportRequest
from casemgr.auth.actor import Actor
from casemgr.fields import parse
from casemgr.paging import Page
from casemgr.web import (
    commit_now,
    current_actor,
    db_session,
    form_action,
    form_data,
    redirect_with,
    stream_with_session,
)

bp = Blueprint("audit", __name__, url_prefix="/audit")


@bp.get("")
@login_required
def index() -> Any:
    args = {k: v for k, v in request.args.items() if k in AuditQuery.model_fields}
    actor = current_actor()

    def read() -> tuple[AuditQuery, Page[ReadableEntry]]:
        q: AuditQuery = parse(AuditQuery, args)
        return q, service.readable_page(db_session(), actor, service.AuditFilter(**q.model_dump()))

    def shown(found: tuple[AuditQuery, Page[ReadableEntry]]) -> Any:
        q, page = found
        return render_template("audit/index.html", entries=page.items, object_urls=[_object_url(e) for e in page.items],
                               total=page.total, q=q, pages=page.pages, args=args, error=None,
                               can_export=exports.may_export(actor))

    return form_action(read, page=partial(_bad_filters, actor, args), done=shown)


def _bad_filters(actor: Actor, args: dict[str, str], status: int, error: str, error_field: str | None) -> Any:
    """The form with the error and no rows, rather than an unfiltered log that looks filtered."""
    service.require_reader(actor)  # the 403 comes before any hint about the filters
    return render_template("audit/index.html", entries=[], object_urls=[], total=0, q=AuditQuery(), pages=1,
                           args=args, error=error, can_export=exports.may_export(actor)), status


def _object_url(e: ReadableEntry) -> str | None:
    """The page of the entry's object, for a case the reader may see (`e.case` is set only then)."""
    if e.case is None:
        return None
    if e.object_type == "case":
        return url_for("cases.detail", case_id=e.case.id)
    if e.object_type == "evidence" and (e.object_id or "").isdigit():
        return url_for("evidence.item", evidence_id=int(e.object_id))
    stix_id = (e.summary or {}).get("stix_id")
    if e.object_type == "indicator" and isinstance(stix_id, str):
        return url_for("indicators.object_page", case_id=e.case.id, object_id=stix_id)
    return None


@bp.post("/export")
@login_required
def export() -> Any:
    actor = current_actor()
    exports.require_exporter(actor)  # the 403 comes before any hint about the filters
    req: ExportRequest = parse(ExportRequest, form_data())
    flt = service.AuditFilter(**req.model_dump(exclude={"format"}))
    plan = exports.start_export(db_session(), actor, flt, req.format)
    commit_now()  # the export's own entry and checkpoint, before the rows are read
    chunks = stream_with_session(lambda rs: exports.export_chunks(rs, plan))
    return Response(chunks, content_type=plan.media_type,
                    headers={"Content-Disposition": f'attachment; filename="{plan.filename}"'})


@bp.post("/verify")
@login_required
def verify() -> Any:
    report = service.verify_chain(db_session(), current_actor())
    return render_template("audit/verify.html", report=report)


@bp.post("/checkpoints")
@login_required
def checkpoint() -> Any:
    cp = service.checkpoint(db_session(), current_actor())
    return redirect_with(f"Checkpoint signed at entry #{cp.entry_count}.", url_for("audit.index"))
