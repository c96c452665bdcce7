"""The audit log pages for auditors and admins."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import login_required

from casemgr.audit import service
from casemgr.audit.schemas import AuditQuery
from casemgr.errors import DomainError
from casemgr.fields import parse
from casemgr.web import current_actor, db_session

bp = Blueprint("audit", __name__, url_prefix="/audit")


@bp.get("")
@login_required
def index() -> Any:
    args = {k: v for k, v in request.args.items() if k in AuditQuery.model_fields}
    actor = current_actor()
    try:
        q: AuditQuery = parse(AuditQuery, args)
    except DomainError as exc:
        service.require_reader(actor)  # the 403 comes before any hint about the filters
        # Show the form with the error and no rows rather than an unfiltered log that looks filtered.
        return render_template("audit/index.html", entries=[], total=0, q=AuditQuery(), pages=1, args=args,
                               error=exc.message), exc.status
    entries, total = service.list_entries(db_session(), actor, service.AuditFilter(**q.model_dump()))
    pages = max(1, -(-total // q.per_page))
    return render_template("audit/index.html", entries=entries, total=total, q=q, pages=pages, args=args,
                           error=None)


@bp.post("/verify")
@login_required
def verify() -> Any:
    report = service.verify_chain(db_session(), current_actor())
    return render_template("audit/verify.html", report=report)


@bp.post("/checkpoints")
@login_required
def checkpoint() -> Any:
    cp = service.checkpoint(db_session(), current_actor())
    flash(f"Checkpoint signed at entry #{cp.entry_count}.", "info")
    return redirect(url_for("audit.index"))
