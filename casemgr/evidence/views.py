"""The evidence pages: the case's evidence tab (upload, list), an item's page (custody timeline,
download with a stated purpose, verify, transfer, seal, release, dispose), the export action and
the admin setting. Thin adapters over casemgr.evidence.service.

The upload route reads the multipart body as a stream (casemgr.evidence.http.RequestUpload) and
is exempt from Flask-WTF's form check, which would parse (and spool) the body before anyone is
authenticated; it checks the CSRF token from the X-CSRFToken header itself, after sign-in.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from flask import Blueprint, Flask, flash, jsonify, redirect, render_template, request, url_for
from flask_login import login_required
from flask_wtf.csrf import CSRFError, same_origin, validate_csrf
from wtforms import ValidationError

from casemgr import collaborators
from casemgr.cases import service as cases_service
from casemgr.evidence import export, service
from casemgr.evidence.http import RequestUpload, content_response, keeps_failures, upload_body, zip_response
from casemgr.evidence.models import CustodyKind
from casemgr.evidence.schemas import (
    CustodyReason,
    EvidenceSettings,
    ProvenanceCorrection,
    Purpose,
    Transfer,
    UploadOut,
)
from casemgr.fields import parse
from casemgr.web import current_actor, db_session, form_action, form_data, long_request_actor, redirect_with

bp = Blueprint("evidence", __name__)
API_OUT = UploadOut


def tab(case_id: int, status: int = 200, **extra: Any) -> Any:
    s, actor = db_session(), current_actor()
    case = cases_service.get_case(s, actor, case_id)
    rows = service.list_items(s, actor, case_id)
    can = service.actions(s, actor, case)
    return render_template("evidence/tab.html", case=case, active_tab="evidence", rows=rows,
                           can_upload=can.upload, can_export=can.export,
                           max_upload=collaborators.vault(s).max_upload_bytes, **extra), status


@bp.post("/cases/<int:case_id>/evidence/upload")
@login_required
@upload_body
def upload(case_id: int) -> Any:
    _check_csrf_header()
    with long_request_actor() as (read, actor):
        service.check_can_add(read, actor, case_id)
    s = db_session()
    item = service.add_evidence(s, actor, case_id, RequestUpload(s))
    return jsonify({**API_OUT.model_validate(item, from_attributes=True).model_dump(mode="json"),
                    "url": url_for("evidence.item", evidence_id=item.id)}), 201


def _check_csrf_header() -> None:
    try:
        validate_csrf(request.headers.get("X-CSRFToken", ""))
    except ValidationError as exc:
        raise CSRFError(str(exc)) from None
    if request.is_secure and not same_origin(request.referrer or "", f"https://{request.host}/"):
        raise CSRFError("the upload did not come from this site")


def _item_page(evidence_id: int, status: int = 200, **extra: Any) -> Any:
    s, actor = db_session(), current_actor()
    item, events, chain = service.custody(s, actor, evidence_id)
    case = item.case
    can = service.actions(s, actor, case)
    return render_template("evidence/item.html", case=case, active_tab="evidence", item=item, events=events,
                           chain=chain, can_handle=can.handle, can_dispose=can.dispose,
                           can_correct=can.handle and service.provenance_correctable(events),
                           can_download=can.download, form=extra.pop("form", {}),
                           **extra), status


@bp.get("/evidence/<int:evidence_id>")
@login_required
def item(evidence_id: int) -> Any:
    return _item_page(evidence_id)


@bp.post("/evidence/<int:evidence_id>/download")
@login_required
@keeps_failures
def download(evidence_id: int) -> Any:
    # Only the purpose is shown on the form: a refused download (and an integrity failure) is the error page's.
    return form_action(lambda: parse(Purpose, form_data()).purpose,
                       page=partial(_item_page, evidence_id, error_form="download"),
                       done=lambda purpose: content_response(service.open_content(
                           db_session(), current_actor(), evidence_id, purpose, kind=CustodyKind.DOWNLOADED)))


@bp.post("/evidence/<int:evidence_id>/verify")
@login_required
def verify(evidence_id: int) -> Any:
    result = service.verify(db_session(), current_actor(), evidence_id)
    if result.ok:
        flash("The content verified: it decrypts and its hashes match the ones recorded at intake.", "success")
    else:
        flash(f"Verification FAILED: {result.detail}", "error")
    return redirect(url_for("evidence.item", evidence_id=evidence_id))


ACTIONS: dict[str, tuple[Any, Any, str]] = {
    "transfer": (service.transfer, Transfer, "Custody transferred."),
    "seal": (service.seal, CustodyReason, "The item is sealed."),
    "release": (service.release, CustodyReason, "The item is released."),
    "dispose": (service.dispose, CustodyReason, "The content was destroyed; the record and its custody log stay."),
}


@bp.post("/evidence/<int:evidence_id>/<any(transfer, seal, release, dispose):action>")
@login_required
def custody_action(evidence_id: int, action: str) -> Any:
    fn, model, done = ACTIONS[action]
    data = form_data()
    return _on_item(evidence_id, lambda: fn(db_session(), current_actor(), evidence_id, parse(model, data)), done,
                    form=data, which=action)


@bp.post("/evidence/<int:evidence_id>/provenance")
@login_required
def correct_provenance(evidence_id: int) -> Any:
    data = form_data()
    return _on_item(evidence_id, lambda: service.correct_provenance(db_session(), current_actor(), evidence_id,
                                                                    parse(ProvenanceCorrection, data)),
                    "Provenance corrected; the earlier values are kept in the chain of custody.",
                    form=data, which="provenance")


def _on_item(evidence_id: int, call: Any, done: str, *, form: dict[str, Any], which: str) -> Any:
    """Run a custody form of an item's page: `done` flashed on the page, or the error in the form `which`
    (a hidden item, 404, on the error page)."""
    return form_action(call, page=partial(_item_page, evidence_id, error_form=which, form=form),
                       done=lambda _result: redirect_with(done, url_for("evidence.item", evidence_id=evidence_id),
                                                          "success"),
                       raise_statuses={404})


@bp.post("/cases/<int:case_id>/evidence/export")
@login_required
@keeps_failures
def export_case(case_id: int) -> Any:
    package = export.export_case(db_session(), current_actor(), case_id)
    return zip_response(package.name, package.chunks)


@bp.route("/admin/evidence", methods=["GET", "POST"])
@login_required
def settings() -> Any:
    s = db_session()
    current = service.evidence_settings(s, current_actor())  # Forbidden for all but admins
    if request.method == "POST":
        cmd = parse(EvidenceSettings, {"auditor_can_download": form_data().get("auditor_can_download") == "on"})
        service.set_auditor_can_download(s, current_actor(), cmd.auditor_can_download)
        flash("Evidence settings saved.", "success")
        return redirect(url_for("evidence.settings"))
    return render_template("evidence/settings.html", auditor_can_download=current)


def _alarms(case: Any) -> list[str]:
    return service.case_alarms(db_session(), case.id)


def register(app: Flask) -> None:
    """Add the evidence pages; the case page's evidence tab keeps its endpoint `cases.evidence_tab`."""
    app.register_blueprint(bp)
    app.add_url_rule("/cases/<int:case_id>/evidence", "cases.evidence_tab", login_required(tab), methods=["GET"])
    app.extensions["csrf"].exempt(upload)
    app.add_template_global(_alarms, "evidence_alarms")
