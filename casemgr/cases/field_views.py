"""The admins' custom field pages: /admin/case-fields (the list and a new field) and /admin/case-fields/<code>
(change or retire one). Thin adapters over casemgr.cases.custom_fields."""

from __future__ import annotations

from functools import partial
from typing import Any

from flask import Blueprint, render_template, url_for
from flask_login import login_required

from casemgr.cases import custom_fields as service
from casemgr.cases.field_models import FieldType
from casemgr.cases.field_schemas import CaseFieldUpdate, NewCaseField
from casemgr.cases.models import CaseStatus
from casemgr.fields import parse
from casemgr.web import current_actor, db_session, form_action, form_data, redirect_with

bp = Blueprint("case_fields", __name__, url_prefix="/admin/case-fields")

CHOICES = {"types": [(t.value, service.TYPE_LABELS[t]) for t in FieldType], "states": list(CaseStatus)}


def _settings(form: dict[str, Any]) -> dict[str, Any]:
    """The form's settings: the `required` box ticked or not, the rest as typed (blank: not given)."""
    return {**form, "required": form.get("required") == "on"}


def _list_page(status: int = 200, **extra: Any) -> Any:
    fields = service.list_fields(db_session(), current_actor())
    return render_template("cases/fields/index.html", fields=fields, choices=CHOICES, form=extra.pop("form", {}),
                           **extra), status


def _field_page(code: str, status: int = 200, **extra: Any) -> Any:
    field = service.get_field(db_session(), current_actor(), code)
    return render_template("cases/fields/detail.html", field=field, choices=CHOICES, form=extra.pop("form", None),
                           **extra), status


def _require_admin() -> None:
    service._require_admin(current_actor())


@bp.get("")
@login_required
def index() -> Any:
    _require_admin()
    return _list_page()


@bp.post("")
@login_required
def create() -> Any:
    return form_action(lambda: service.create_field(db_session(), current_actor(),
                                                    parse(NewCaseField, _settings(form_data()))),
                       page=partial(_list_page, form=form_data()), raise_statuses={403},
                       done=lambda f: redirect_with(f"Custom field {f.label} created.",
                                                    url_for("case_fields.detail", code=f.code)))


@bp.get("/<code>")
@login_required
def detail(code: str) -> Any:
    _require_admin()
    return _field_page(code)


@bp.post("/<code>")
@login_required
def edit(code: str) -> Any:
    return form_action(lambda: service.update_field(db_session(), current_actor(), code,
                                                    parse(CaseFieldUpdate, _settings(form_data()))),
                       page=partial(_field_page, code, form=form_data()), raise_statuses={403, 404},
                       done=lambda f: redirect_with(f"Custom field {f.label} saved.",
                                                    url_for("case_fields.detail", code=f.code)))


@bp.post("/<code>/retire")
@login_required
def retire(code: str) -> Any:
    undo = form_data().get("undo") == "1"
    return form_action(lambda: service.retire_field(db_session(), current_actor(), code, undo=undo),
                       page=partial(_field_page, code), raise_statuses={403, 404},
                       done=lambda f: redirect_with(
                           f"Custom field {f.label} " + ("in use again." if not f.is_retired else
                                                         "retired: the values recorded stay readable."),
                           url_for("case_fields.detail", code=f.code)))
