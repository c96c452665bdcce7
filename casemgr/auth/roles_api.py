"""/api/v1/roles: thin adapters over casemgr.auth.roles (on the auth domain's API blueprint)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from casemgr.api import body, listing, out, query
from casemgr.auth import roles
from casemgr.auth.api import bp
from casemgr.auth.role_schemas import NewRole, RoleQuery, RoleUpdate
from casemgr.web import current_actor, db_session


class RoleOut(BaseModel):
    code: str
    name: str
    description: str
    permissions: list[str] = Field(description="names from the permission registry")
    built_in: bool = Field(description="a built-in role: never changed or deleted")
    users: int = Field(description="how many accounts have the role")


def _role(view: roles.RoleView) -> dict[str, Any]:
    return out(RoleOut, {"code": view.code, "name": view.name, "description": view.description,
                         "permissions": view.permission_names, "built_in": view.built_in, "users": view.users})


@bp.operation("/roles", "GET", "Every role, built-in ones first, then custom ones by code (admin)",
              query=RoleQuery, response=RoleOut, is_list=True)
def list_roles() -> Any:
    q: RoleQuery = query(RoleQuery)
    return listing(roles.page_roles(db_session(), current_actor(), q.page, q.per_page), _role)


@bp.operation("/roles", "POST", "Define a custom role (admin)", body=NewRole, response=RoleOut, status=201,
              errors=(409,), creates=("code", "code"))
def create_role() -> Any:
    return _role(roles.create_role(db_session(), current_actor(), body(NewRole))), 201


@bp.operation("/roles/<code>", "GET", "One role (admin)", response=RoleOut)
def get_role(code: str) -> Any:
    return _role(roles.get_role(db_session(), current_actor(), code))


@bp.operation("/roles/<code>", "PATCH", "Change a custom role's name, description or permissions (admin); "
              "its accounts hold the new set from their next request", body=RoleUpdate, response=RoleOut,
              errors=(409,))
def update_role(code: str) -> Any:
    return _role(roles.update_role(db_session(), current_actor(), code, body(RoleUpdate)))


@bp.operation("/roles/<code>", "DELETE", "Delete a custom role no account has (admin; 409 while accounts have it)",
              response=RoleOut, errors=(409,))
def delete_role(code: str) -> Any:
    return _role(roles.delete_role(db_session(), current_actor(), code))
