"""/api/v1/case-fields: thin adapters over casemgr.cases.custom_fields (the definitions of custom case fields).

Its operations are on the cases domain's API blueprint (registered when casemgr.cases.api_blueprint runs).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field

from casemgr.api import body, listing, out, query
from casemgr.cases import custom_fields as service
from casemgr.cases.api import bp
from casemgr.cases.field_models import CaseFieldDefinition, FieldType
from casemgr.cases.field_schemas import CaseFieldQuery, CaseFieldUpdate, NewCaseField
from casemgr.cases.models import CaseStatus
from casemgr.web import current_actor, db_session


class CaseFieldOut(BaseModel):
    code: str
    label: str
    type: FieldType
    help_text: str
    category: str | None = Field(description="null: the cases of every category have it")
    required: bool
    required_from: CaseStatus = Field(description="with required: the first state a case cannot be in without it")
    options: list[str]
    max_length: int | None
    pattern: str | None
    min_value: float | None
    max_value: float | None
    position: int
    retired: bool
    retired_at: dt.datetime | None
    created_at: dt.datetime


def field_out(f: CaseFieldDefinition) -> dict[str, Any]:
    return out(CaseFieldOut, {**{k: getattr(f, k) for k in CaseFieldOut.model_fields if k != "retired"},
                              "options": list(f.options or []), "retired": f.is_retired})


@bp.operation("/case-fields", "GET", "The custom fields of cases, in the forms' order (retired ones too unless "
              "retired=false; category: only that category's)", query=CaseFieldQuery, response=CaseFieldOut,
              is_list=True)
def list_case_fields() -> Any:
    q: CaseFieldQuery = query(CaseFieldQuery)
    return listing(service.page_fields(db_session(), current_actor(), retired=q.retired, category=q.category,
                                       page=q.page, per_page=q.per_page), field_out)


@bp.operation("/case-fields", "POST", "Define a custom field of cases (admins); its code and type are stable",
              body=NewCaseField, response=CaseFieldOut, status=201, errors=(409,))
def create_case_field() -> Any:
    return field_out(service.create_field(db_session(), current_actor(), body(NewCaseField))), 201


@bp.operation("/case-fields/<code>", "GET", "One custom field", response=CaseFieldOut)
def get_case_field(code: str) -> Any:
    return field_out(service.get_field(db_session(), current_actor(), code))


@bp.operation("/case-fields/<code>", "PATCH", "Change a custom field's settings, or retire it (admins): the "
              "values recorded stay readable", body=CaseFieldUpdate, response=CaseFieldOut)
def update_case_field(code: str) -> Any:
    return field_out(service.update_field(db_session(), current_actor(), code, body(CaseFieldUpdate)))
