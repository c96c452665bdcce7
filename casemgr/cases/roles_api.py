"""/api/v1/cases/<id>/roles and /api/v1/incident-roles: thin adapters over casemgr.cases.incident_roles.

Its operations are on the cases domain's API blueprint (registered when casemgr.cases.api_blueprint runs).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel

from casemgr.api import body, out
from casemgr.cases import incident_roles as roles
from casemgr.cases.api import bp
from casemgr.cases.role_models import IncidentRoleAssignment, IncidentRoleKind
from casemgr.cases.schemas import NewRoleKind, RoleAssignment, RoleKindUpdate
from casemgr.web import current_actor, db_session


class RoleKindOut(BaseModel):
    code: str
    label: str
    description: str
    builtin: bool
    retired: bool


class HoldingRowOut(BaseModel):
    user: str
    display_name: str
    assigned_by: str
    started_at: dt.datetime
    ended_at: dt.datetime | None


class CaseRoleOut(BaseModel):
    """One incident role on a case: who holds it now (null: no one) and who held it before, newest first."""

    role: RoleKindOut
    current: HoldingRowOut | None
    before: list[HoldingRowOut]


class CaseRolesOut(BaseModel):
    items: list[CaseRoleOut]


class RoleKindsOut(BaseModel):
    items: list[RoleKindOut]


def kind_out(kind: IncidentRoleKind) -> dict[str, Any]:
    return {"code": kind.code, "label": kind.label, "description": kind.description, "builtin": kind.builtin,
            "retired": kind.is_retired}


def _row(a: IncidentRoleAssignment) -> dict[str, Any]:
    return {"user": a.user.username, "display_name": a.user.display_name, "assigned_by": a.assigned_by_name,
            "started_at": a.started_at, "ended_at": a.ended_at}


def _holding(h: roles.RoleHolding) -> dict[str, Any]:
    return out(CaseRoleOut, {"role": kind_out(h.kind), "current": _row(h.current) if h.current else None,
                             "before": [_row(a) for a in h.before]})


@bp.operation("/cases/<int:case_id>/roles", "GET", "The case's incident roles: who holds each now and before",
              response=CaseRolesOut)
def get_case_roles(case_id: int) -> Any:
    return {"items": [_holding(h) for h in roles.case_roles(db_session(), current_actor(), case_id)]}


@bp.operation("/cases/<int:case_id>/roles/<code>", "PUT",
              "Name a user in an incident role (a manager or the case's owner); hands it over from its holder",
              body=RoleAssignment, response=CaseRoleOut, errors=(409,))
def assign_role(case_id: int, code: str) -> Any:
    return _holding(roles.assign(db_session(), current_actor(), case_id, code, body(RoleAssignment)))


@bp.operation("/cases/<int:case_id>/roles/<code>", "DELETE",
              "Release an incident role: no one holds it (a manager or the case's owner)", response=CaseRoleOut)
def release_role(case_id: int, code: str) -> Any:
    return _holding(roles.release(db_session(), current_actor(), case_id, code))


@bp.operation("/incident-roles", "GET", "The incident role kinds, built-in and admin-defined (retired ones too)",
              response=RoleKindsOut)
def list_role_kinds() -> Any:
    return {"items": [kind_out(k) for k in roles.list_kinds(db_session(), current_actor())]}


@bp.operation("/incident-roles", "POST", "Add an incident role kind (admins); its code is stable",
              body=NewRoleKind, response=RoleKindOut, status=201, errors=(409,))
def create_role_kind() -> Any:
    return out(RoleKindOut, kind_out(roles.create_kind(db_session(), current_actor(), body(NewRoleKind)))), 201


@bp.operation("/incident-roles/<code>", "PATCH", "Change an incident role kind's label or description, or retire "
              "it (admins): a retired role takes no new holder, its history stays", body=RoleKindUpdate,
              response=RoleKindOut)
def update_role_kind(code: str) -> Any:
    return out(RoleKindOut, kind_out(roles.update_kind(db_session(), current_actor(), code, body(RoleKindUpdate))))
