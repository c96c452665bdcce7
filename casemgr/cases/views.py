"""The case pages: the list, the case page's tabs (overview, timeline), the forms and actions.

Thin adapters: parse the form into a command, call casemgr.cases.service, then redirect, or
re-render the page with the error naming the field (and its 4xx status; the request's
transaction is rolled back, so nothing of a failed action is written): casemgr.web.form_action. The form shapes are in
casemgr/cases/forms.py; the placeholder tabs in casemgr/cases/tabs.py.
"""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Any

from flask import Blueprint, Response, render_template, request, url_for
from flask_login import login_required

from casemgr.cases import access, custom_fields, forms, incident_roles, lifecycle, service, tabs
from casemgr.cases.models import CaseStatus, EscalationKind, Level, LinkKind, Pap, Priority, Resolution, Source, Tlp
from casemgr.cases.schemas import (
    BulkAction,
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
from casemgr.collaborators import clock
from casemgr.errors import Conflict
from casemgr.fields import parse
from casemgr.web import (
    commit_now,
    current_actor,
    database,
    db_session,
    form_action,
    form_data,
    redirect_with,
    stream_with_session,
)

bp = Blueprint("cases", __name__, url_prefix="/cases")

CHOICES = {"statuses": list(CaseStatus), "priorities": list(Priority), "levels": list(Level), "tlps": list(Tlp),
           "paps": list(Pap), "sources": list(Source), "resolutions": list(Resolution),
           "escalation_kinds": list(EscalationKind), "link_kinds": list(LinkKind)}


class _RequestTaxonomy:
    """The taxonomy for templates, read from the database only when a page uses it (the sign-in page
    does not), and then once per request (casemgr.cases.taxonomy.load keeps it in the request's session)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(service.taxonomy(db_session()), name)


@bp.app_context_processor
def _choices() -> dict[str, Any]:
    return {"case_choices": CHOICES, "case_taxonomy": _RequestTaxonomy()}


# ---------------------------------------------------------------- list and forms


@bp.get("")
@login_required
def index() -> Any:
    args = forms.filter_args(request.args)
    return form_action(lambda: parse(CaseQuery, forms.query_args(request.args)),
                       page=partial(_bad_filters, args=args), done=partial(_list, args=args))


def _list(q: CaseQuery, args: dict[str, Any]) -> Any:
    s, actor = db_session(), current_actor()
    page = service.list_cases(s, actor, q)
    users = service.assignable_users(s, actor) if service.can_bulk(actor) else []
    return render_template("cases/index.html", page=page, q=q, args=args, can_bulk=service.can_bulk(actor),
                           users=users, chips=forms.active_filters(request.args),
                           no_commander=incident_roles.without_commander(s, page.items),
                           notice=service.list_notice(actor))


@bp.get("/export.csv")
@login_required
def export_csv() -> Any:
    return _export("csv")


@bp.get("/export.json")
@login_required
def export_json() -> Any:
    return _export("json")


def _export(fmt: str) -> Any:
    """The cases the list's filters match, all of them, as a file (casemgr/cases/export.py); a bad filter or
    too many cases is the list page with the error."""
    args = forms.filter_args(request.args)

    def start() -> service.CaseExport:
        query = parse(CaseQuery, forms.query_args(request.args))
        return service.start_export(db_session(), current_actor(), query, fmt)

    def send(plan: service.CaseExport) -> Any:
        commit_now()  # the export's audit entry, before the rows are read
        chunks = stream_with_session(lambda rs: service.export_chunks(rs, plan))
        return Response(chunks, content_type=plan.media_type,
                        headers={"Content-Disposition": f'attachment; filename="{plan.filename}"'})

    return form_action(start, page=partial(_bad_filters, args=args), done=send, raise_statuses=(403,))


def _bad_filters(status: int, args: dict[str, Any], **error: Any) -> Any:
    """The filters with the error, not an unfiltered list that looks filtered."""
    return render_template("cases/index.html", page=None, q=CaseQuery(), args=args, chips=[], notice=None,
                           **error), status


def _create_form(status: int = 200, **extra: Any) -> Any:
    s, actor = db_session(), current_actor()
    users = service.assignable_users(s, actor)  # Forbidden for read-only roles
    return render_template("cases/new.html", users=users, can_assign=service.can_assign(actor),
                           values=extra.pop("values", {}), team_choices=service.team_choices(s, actor),
                           case_fields=custom_fields.list_fields(s, actor, retired=False), **extra), status


@bp.route("/new", methods=["GET", "POST"])
@login_required
def create() -> Any:
    if request.method == "GET":
        return _create_form()
    return form_action(
        lambda: service.create_case(db_session(), current_actor(), parse(NewCase, forms.new_case(request.form))),
        page=partial(_create_form, values=request.form),
        done=lambda case: redirect_with(f"Case {case.reference} opened.", url_for("cases.detail", case_id=case.id)))


def _edit_form(case_id: int, status: int = 200, **extra: Any) -> Any:
    s, actor = db_session(), current_actor()
    info = service.case_detail(s, actor, case_id)
    access.require_edit(actor, info.case)
    shown = {**forms.shown(info.case), **custom_fields.form_values(s, info.case)}
    return render_template("cases/edit.html", case=info.case, info=info, active_tab="overview",
                           case_fields=custom_fields.fields_for(s, info.case.category),
                           users=service.assignable_users(s, actor), can_assign=service.can_assign(actor),
                           team_choices=info.team_choices,
                           was=extra.pop("was", shown),
                           values=extra.pop("values", shown), version=extra.pop("version", info.case.version),
                           **extra), status


@bp.route("/<int:case_id>/edit", methods=["GET", "POST"])
@login_required
def edit(case_id: int) -> Any:
    if request.method == "GET":
        return _edit_form(case_id)
    return form_action(
        lambda: service.update_case(db_session(), current_actor(), case_id,
                                    parse(CaseUpdate, forms.case_update(request.form))),
        page=partial(_edit_refused, case_id),
        done=lambda _case: redirect_with("Case saved.", url_for("cases.detail", case_id=case_id)))


def _edit_refused(case_id: int, status: int, **error: Any) -> Any:
    values = forms.submitted(request.form)
    if status == Conflict.status:  # show the user's values against the current ones, based on the current version
        return _edit_form(case_id, status, values=values, conflict=True, **error)
    return _edit_form(case_id, status, values=values, was=forms.was(request.form),
                      version=request.form.get("version"), **error)


# ---------------------------------------------------------------- the case page


def overview_page(case_id: int, status: int = 200, **extra: Any) -> Any:
    """The case page (its overview tab), with `extra` for a refused form's error and values (the case's forms
    elsewhere, e.g. casemgr/cases/roles_views.py, re-render it through `case_action`)."""
    info = service.case_detail(db_session(), current_actor(), case_id)
    transitions = [(to, lifecycle.requirement(info.case.status, to).fields) for to in info.allowed_transitions]
    roles = incident_roles.roles_panel(db_session(), current_actor(), info.case)
    return render_template("cases/detail.html", case=info.case, info=info, active_tab="overview",
                           transitions=transitions, roles=roles, form=extra.pop("form", {}),
                           custom=custom_fields.shown_fields(db_session(), info.case), **extra), status


@bp.get("/<int:case_id>")
@login_required
def detail(case_id: int) -> Any:
    return overview_page(case_id)


def _timeline_page(case_id: int, status: int = 200, **extra: Any) -> Any:
    s, actor = db_session(), current_actor()
    info = service.case_detail(s, actor, case_id)
    timeline = service.timeline(s, actor, case_id)
    entries, total = timeline.items, timeline.total
    correctable = {e.id for e in entries if service.may_correct(actor, info.case, e)}
    return render_template("cases/timeline.html", case=info.case, info=info, active_tab="timeline",
                           entries=entries, total=total, render_entry=service.render_entry, correctable=correctable,
                           form=extra.pop("form", {}), **extra), status


@bp.get("/<int:case_id>/timeline")
@login_required
def timeline(case_id: int) -> Any:
    return _timeline_page(case_id)


def case_action(case_id: int, action: Any, model: type, done: str, *, page: Any, anchor: str,
                data: dict[str, Any] | None = None) -> Any:
    """Run one case action from a form; on error re-render `page` (overview_page or the timeline) with the error
    and the form's values; on success redirect to that page at `anchor`."""
    target = "cases.timeline" if page is _timeline_page else "cases.detail"
    return form_action(
        lambda: action(db_session(), current_actor(), case_id, parse(model, form_data() if data is None else data)),
        page=partial(page, case_id, form=form_data(), error_form=anchor),
        done=lambda _result: redirect_with(done, url_for(target, case_id=case_id, _anchor=anchor)))


@bp.post("/<int:case_id>/transition")
@login_required
def transition(case_id: int) -> Any:
    to = request.form.get("to", "")
    return case_action(case_id, service.transition, Transition, f"Case moved to {to}.",
                       page=overview_page, anchor="transition")


@bp.post("/<int:case_id>/escalate")
@login_required
def escalate(case_id: int) -> Any:
    return case_action(case_id, service.escalate, Escalation, "Case escalated.", page=overview_page, anchor="escalate")


@bp.post("/<int:case_id>/links")
@login_required
def link(case_id: int) -> Any:
    return case_action(case_id, service.link_cases, NewLink, "Cases linked.", page=overview_page, anchor="link")


@bp.post("/<int:case_id>/priority")
@login_required
def override_priority(case_id: int) -> Any:
    return case_action(case_id, service.update_case, CaseUpdate, "Priority changed.",
                       page=overview_page, anchor="priority", data=forms.priority_override(request.form))


@bp.post("/<int:case_id>/notes")
@login_required
def add_note(case_id: int) -> Any:
    return case_action(case_id, service.add_note, NewNote, "Note added.", page=_timeline_page, anchor="note")


@bp.post("/<int:case_id>/events")
@login_required
def add_event(case_id: int) -> Any:
    return case_action(case_id, service.add_event, NewEvent, "Event added to the timeline.", page=_timeline_page,
                       anchor="event")


@bp.post("/<int:case_id>/timeline/<int:entry_id>/edit")
@login_required
def edit_entry(case_id: int, entry_id: int) -> Any:
    def action(s: Any, actor: Any, case: int, cmd: EntryEdit) -> Any:
        return service.edit_entry(s, actor, case, entry_id, cmd)
    return case_action(case_id, action, EntryEdit, "Entry corrected; the earlier text is kept in its history.",
                       page=_timeline_page, anchor=f"edit-{entry_id}")


@bp.post("/<int:case_id>/timeline/<int:entry_id>/retract")
@login_required
def retract_entry(case_id: int, entry_id: int) -> Any:
    def action(s: Any, actor: Any, case: int, cmd: Retraction) -> Any:
        return service.retract_entry(s, actor, case, entry_id, cmd)
    return case_action(case_id, action, Retraction, "Entry retracted; it stays on the timeline, struck through.",
                       page=_timeline_page, anchor=f"retract-{entry_id}")


# ---------------------------------------------------------------- bulk actions and escalations (list, home)


@bp.app_template_filter("age")
def _age(since: dt.datetime) -> str:
    """How long ago `since` was, as people say it: 40 min, 5 h, 3 d, 11 wk."""
    minutes = max(0, int((clock(database()).now() - since).total_seconds() // 60))
    for unit, size in (("wk", 7 * 24 * 60), ("d", 24 * 60), ("h", 60)):
        if minutes >= size * (2 if unit == "wk" else 1):
            return f"{minutes // size} {unit}"
    return f"{minutes} min"


@bp.post("/bulk")
@login_required
def bulk() -> Any:
    return form_action(
        lambda: service.bulk_apply(db_session(), current_actor(), parse(BulkAction, forms.bulk(request.form))),
        page=_bulk_page, done=lambda result: _bulk_page(200, result=result))


def _bulk_page(status: int, result: Any = None, **error: Any) -> Any:
    """Each case's outcome; or, when nothing was changed, why, with the way back to the list as it was."""
    return render_template("cases/bulk.html", result=result, back=forms.back(request.form), **error), status


@bp.post("/<int:case_id>/escalations/<int:escalation_id>/acknowledge")
@login_required
def acknowledge_escalation(case_id: int, escalation_id: int) -> Any:
    service.acknowledge_escalation(db_session(), current_actor(), case_id, escalation_id)
    return redirect_with("Escalation acknowledged; it is on the case's timeline.",
                         url_for("home.index", _anchor="escalations"))


tabs.register(bp)
