"""The indicator pages: the case's Indicators tab (list, add by value or pattern, free text to review, STIX
upload with a summary before committing, export), the STIX objects of a case and one object's page, and the
search by value. Thin adapters over the indicator services.

An uploaded bundle waits in the instance's `stix-uploads` folder between the summary and the confirmation,
named by a random token kept in the signed session of the user who uploaded it; it is deleted when imported,
and any left behind are removed after a day.
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import login_required

from casemgr import collaborators
from casemgr.cases import service as cases_service
from casemgr.cases.models import Tlp
from casemgr.errors import Invalid
from casemgr.fields import parse
from casemgr.indicators import corrections, imports, red, service, sharing
from casemgr.indicators.observables import ObservableType
from casemgr.indicators.schemas import (
    AcceptCandidates,
    ExtractText,
    IndicatorQuery,
    NewIndicator,
    ObjectQuery,
    Revocation,
    TlpChange,
)
from casemgr.indicators.schemas import SearchQuery as SearchForm
from casemgr.indicators.staging import StagedUploads, tickets
from casemgr.web import (
    BodyLimit,
    current_actor,
    db_session,
    form_action,
    form_data,
    larger_body,
    redirect_with,
    stream_with_session,
)

bp = Blueprint("indicators", __name__)
UPLOADS_KEY = "stix_uploads"  # in the session: the tickets of uploads waiting for confirmation, oldest first


def tab(case_id: int, status: int = 200, **extra: Any) -> Any:
    s, actor = db_session(), current_actor()
    case = cases_service.get_case(s, actor, case_id)
    page = service.list_indicators(s, actor, case_id, parse(IndicatorQuery, request.args.to_dict()))
    objects = service.list_objects(s, actor, case_id, ObjectQuery(per_page=1))
    return render_template("indicators/tab.html", case=case, active_tab="indicators", page=page,
                           types=objects.types, can_edit=service.may_import(actor, case),
                           may_have_red=red.may_see_red(actor, case), observable_types=list(ObservableType),
                           form=extra.pop("form", {}), **extra), status


def _on_tab(case_id: int, call: Any, done: Any, *, form: dict[str, Any], which: str) -> Any:
    """Run a form of the Indicators tab; an error is shown in the form `which` (a case hidden from the
    user, or one they may not change, goes to the error page)."""
    return form_action(call, page=partial(tab, case_id, error_form=which, form=form), done=done,
                       raise_statuses={403, 404})


@bp.post("/cases/<int:case_id>/indicators/add")
@login_required
def add(case_id: int) -> Any:
    data = form_data()
    which = "pattern" if "pattern" in data else "value"

    def done(captured: service.Captured) -> Any:
        what = captured.indicator.value or captured.indicator.pattern
        flash(f"Indicator added: {what}" if captured.created else f"Already on the case: {what} (sighting counted)",
              "success")
        if captured.known_benign:
            flash(f"Known-benign: {captured.known_benign}", "warning")
        return redirect(url_for("cases.indicators_tab", case_id=case_id))

    return _on_tab(case_id, lambda: service.add_indicator(db_session(), current_actor(), case_id,
                                                          parse(NewIndicator, data)),
                   done, form=data, which=which)


@bp.post("/cases/<int:case_id>/indicators/extract")
@login_required
def extract(case_id: int) -> Any:
    data = form_data()

    def review(candidates: list[service.Candidate]) -> Any:
        case = cases_service.get_case(db_session(), current_actor(), case_id)
        return render_template("indicators/review.html", case=case, active_tab="indicators", candidates=candidates)

    return _on_tab(case_id, lambda: service.extract_candidates(db_session(), current_actor(), case_id,
                                                               parse(ExtractText, data).text),
                   review, form=data, which="extract")


@bp.post("/cases/<int:case_id>/indicators/accept")
@login_required
def accept(case_id: int) -> Any:
    def call() -> list[service.Captured]:
        cmd = parse(AcceptCandidates, {"items": _candidates(request.form.getlist("item"))})
        return service.add_candidates(db_session(), current_actor(), case_id, cmd)

    return _on_tab(case_id, call, lambda results: redirect_with(
        f"{sum(r.created for r in results)} indicator(s) added, "
        f"{sum(not r.created for r in results)} already on the case (sighting counted).",
        url_for("cases.indicators_tab", case_id=case_id), "success"), form={}, which="extract")


def _candidates(items: list[str]) -> list[object]:
    """The ticked review rows, each a JSON object the review page wrote. Raises Invalid(field="items")."""
    if not items:
        raise Invalid("tick at least one value to add", field="items")
    decoded = []
    for number, item in enumerate(items, start=1):
        try:
            decoded.append(json.loads(item))
        except (ValueError, RecursionError):
            raise Invalid(f"ticked value {number} is not one the review page offered; extract the text again",
                          field="items") from None
    return decoded


# ---------------------------------------------------------------- STIX upload, summary, confirmation

def _staged() -> StagedUploads:
    return StagedUploads(collaborators.settings(db_session()).instance_dir / "stix-uploads")


@bp.post("/cases/<int:case_id>/stix/upload")
@login_required
@larger_body(BodyLimit("CASEMGR_MAX_BUNDLE_BYTES", lambda settings: settings.max_bundle_bytes,
                       overhead=64 * 1024, field="bundle"))  # room for the form around the file
def upload(case_id: int) -> Any:
    file = request.files.get("bundle")
    s, actor = db_session(), current_actor()

    def check() -> tuple[imports.ImportReport, bytes]:
        if file is None or not file.filename:
            raise Invalid("choose a STIX 2.1 bundle file (.json)", field="bundle")
        data = file.stream.read(collaborators.settings(s).max_bundle_bytes + 1)  # the import refuses anything longer
        return imports.import_bundle(s, actor, case_id, data, partial=True, dry_run=True), data

    def summary(checked: tuple[imports.ImportReport, bytes]) -> Any:
        report, data = checked
        staged = _staged()
        waiting = staged.keep_newest(tickets(session.get(UPLOADS_KEY)))
        ticket = staged.stage(data, case_id)
        session[UPLOADS_KEY] = [t.to_session() for t in [*waiting, ticket]]
        case = cases_service.get_case(s, actor, case_id)
        return render_template("indicators/import_summary.html", case=case, active_tab="indicators", report=report,
                               token=ticket.token, filename=file.filename if file else "")

    return _on_tab(case_id, check, summary, form={}, which="upload")


@bp.post("/cases/<int:case_id>/stix/confirm")
@login_required
def confirm(case_id: int) -> Any:
    token = request.form.get("token", "")
    waiting = tickets(session.get(UPLOADS_KEY))
    ticket = next((t for t in waiting if t.token == token), None)
    staged = _staged()
    data = staged.take(ticket, case_id) if ticket is not None else None
    keep_valid = request.form.get("partial") == "on"

    def call() -> imports.ImportReport:
        if data is None:
            raise Invalid("this upload is no longer waiting; upload the file again", field="bundle")
        return imports.import_bundle(db_session(), current_actor(), case_id, data, partial=keep_valid)

    def done(report: imports.ImportReport) -> Any:
        staged.discard(token)
        session[UPLOADS_KEY] = [t.to_session() for t in waiting if t.token != token]
        conversion = report.conversion
        converted = f", converted from STIX {conversion.converted_from}" if conversion.converted_from else ""
        mapped = f", {len(conversion.markings)} TLP marking(s) mapped to TLP 2.0" if conversion.markings else ""
        return redirect_with(f"Imported {report.stored} object(s) ({sum(report.added.values())} new){converted}"
                             f"{mapped}; {sum(report.duplicates.values())} duplicate(s), {len(report.rejected)}"
                             " rejected.", url_for("cases.indicators_tab", case_id=case_id), "success")

    return _on_tab(case_id, call, done, form={}, which="upload")


@bp.get("/cases/<int:case_id>/stix/export")
@login_required
def export(case_id: int) -> Any:
    include_red = request.args.get("include_red") == "on"
    s, actor = db_session(), current_actor()
    case = cases_service.get_case(s, actor, case_id)
    chunks = stream_with_session(lambda rs: sharing.export_bundle(rs, current_actor(session=rs), case_id,
                                                                   include_red=include_red))
    name = f"{case.reference}{'-with-red' if include_red else ''}.stix.json"
    return Response(chunks, content_type="application/stix+json;version=2.1",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


# ---------------------------------------------------------------- objects and search

@bp.get("/cases/<int:case_id>/stix/objects")
@login_required
def objects(case_id: int) -> Any:
    s, actor = db_session(), current_actor()
    case = cases_service.get_case(s, actor, case_id)
    page = service.list_objects(s, actor, case_id, parse(ObjectQuery, request.args.to_dict()))
    return render_template("indicators/objects.html", case=case, active_tab="indicators", page=page,
                           wanted=request.args.get("type"))


@bp.get("/cases/<int:case_id>/stix/objects/<string:object_id>")
@login_required
def object_page(case_id: int, object_id: str, status: int = 200, **extra: Any) -> Any:
    s, actor = db_session(), current_actor()
    detail = service.get_object(s, actor, case_id, object_id)
    return render_template("indicators/object.html", case=detail.case, active_tab="indicators", detail=detail,
                           pretty=json.dumps(detail.stix, indent=2, ensure_ascii=False), tlps=list(Tlp),
                           versions=[(v, json.dumps(json.loads(v.stix_json), indent=2, ensure_ascii=False))
                                     for v in detail.versions], form=extra.pop("form", {}), **extra), status


@bp.post("/cases/<int:case_id>/stix/objects/<string:object_id>/revoke")
@login_required
def revoke(case_id: int, object_id: str) -> Any:
    data = form_data()
    return _on_object(case_id, object_id, lambda: corrections.revoke(db_session(), current_actor(), case_id,
                                                                     object_id, parse(Revocation, data)),
                      lambda done: redirect_with(f"Revoked: {done.obj.name or done.obj.stix_id}",
                                                 url_for("indicators.object_page", case_id=case_id,
                                                         object_id=object_id), "success"),
                      form=data, which="revoke")


@bp.post("/cases/<int:case_id>/stix/objects/<string:object_id>/tlp")
@login_required
def change_tlp(case_id: int, object_id: str) -> Any:
    data = form_data()

    def marked(done: corrections.Corrected) -> Any:
        if not done.visible:  # marked RED by someone who is no member: it is theirs no more to see
            return redirect_with(f"Now marked {done.marking.label}: {done.obj.name or done.obj.stix_id}; only the"
                                 " case's members and managers see it",
                                 url_for("cases.indicators_tab", case_id=case_id), "success")
        return redirect_with(f"Now marked {done.marking.label}: {done.obj.name or done.obj.stix_id}",
                             url_for("indicators.object_page", case_id=case_id, object_id=object_id), "success")

    return _on_object(case_id, object_id, lambda: corrections.change_tlp(db_session(), current_actor(), case_id,
                                                                         object_id, parse(TlpChange, data)),
                      marked, form=data, which="tlp")


def _on_object(case_id: int, object_id: str, call: Any, done: Any, *, form: dict[str, Any], which: str) -> Any:
    """Run a form of a STIX object's page; an error is shown in the form `which` (403 and 404 on the error page)."""
    return form_action(call, page=partial(object_page, case_id, object_id, error_form=which, form=form), done=done,
                       raise_statuses={403, 404})


@bp.get("/indicators/search")
@login_required
def search() -> Any:
    raw = request.args.to_dict()
    if not raw.get("value", "").strip():
        return _search_page(200)
    return form_action(lambda: service.search(db_session(), current_actor(), parse(SearchForm, raw)),
                       page=_search_page, done=lambda result: _search_page(200, result=result))


def _search_page(status: int, result: service.SearchResult | None = None, **error: Any) -> Any:
    return render_template("indicators/search.html", result=result, value=request.args.get("value", ""),
                           **error), status


def register(app: Flask) -> None:
    """Add the indicator pages; the case page's tab keeps its endpoint `cases.indicators_tab`."""
    app.register_blueprint(bp)
    app.add_url_rule("/cases/<int:case_id>/indicators", "cases.indicators_tab", login_required(tab), methods=["GET"])
