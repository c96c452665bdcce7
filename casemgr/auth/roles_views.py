"""The admins' role pages: /admin/roles (the list and a new role) and /admin/roles/<code> (one role).

Thin adapters over casemgr.auth.roles; the routes are on the auth domain's blueprint."""

from __future__ import annotations

from functools import partial
from typing import Any

from flask import render_template, request, url_for
from flask_login import login_required

from casemgr.auth import roles
from casemgr.auth.role_schemas import NewRole, RoleUpdate
from casemgr.auth.views import bp
from casemgr.fields import parse
from casemgr.web import current_actor, db_session, form_action, form_data, redirect_with


def _role_form() -> dict[str, Any]:
    """The form as sent, with every checked permission (a checkbox per permission, none checked: none)."""
    return {**form_data(), "permissions": request.form.getlist("permissions")}


def _list_page(status: int = 200, **extra: Any) -> Any:
    return render_template("auth/roles.html", roles=roles.list_roles(db_session(), current_actor()),
                           groups=roles.permission_groups(), form=extra.pop("form", {}), **extra), status


def _role_page(code: str, status: int = 200, **extra: Any) -> Any:
    role = roles.get_role(db_session(), current_actor(), code)
    return render_template("auth/role.html", role=role, groups=roles.permission_groups(),
                           form=extra.pop("form", {}), **extra), status


@bp.get("/admin/roles")
@login_required
def admin_roles() -> Any:
    return _list_page()


@bp.post("/admin/roles")
@login_required
def admin_create_role() -> Any:
    return form_action(lambda: roles.create_role(db_session(), current_actor(), parse(NewRole, _role_form())),
                       page=partial(_list_page, form=_role_form()),
                       done=lambda role: redirect_with(f"Role {role.name} ({role.code}) was created.",
                                                       url_for("auth.admin_role", code=role.code)))


@bp.get("/admin/roles/<code>")
@login_required
def admin_role(code: str) -> Any:
    return _role_page(code)


@bp.post("/admin/roles/<code>")
@login_required
def admin_update_role(code: str) -> Any:
    return form_action(lambda: roles.update_role(db_session(), current_actor(), code, parse(RoleUpdate, _role_form())),
                       page=partial(_role_page, code, form=_role_form()), raise_statuses={403, 404},
                       done=lambda role: redirect_with(f"Role {role.name} was saved; its accounts hold the new "
                                                       "permissions from their next request.",
                                                       url_for("auth.admin_role", code=code)))


@bp.post("/admin/roles/<code>/delete")
@login_required
def admin_delete_role(code: str) -> Any:
    return form_action(lambda: roles.delete_role(db_session(), current_actor(), code),
                       page=partial(_role_page, code), raise_statuses={403, 404},
                       done=lambda role: redirect_with(f"Role {role.name} ({role.code}) was deleted.",
                                                       url_for("auth.admin_roles")))
