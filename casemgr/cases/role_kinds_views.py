"""The admins' page of incident role kinds: /admin/incident-roles lists them, adds one, renames or
describes one, retires one or brings it back. Thin adapters over casemgr.cases.incident_roles; a
refused form re-renders the page with the error in that kind's form. Registered by casemgr.cases.register.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from flask import Blueprint, render_template, url_for
from flask_login import login_required

from casemgr.cases import incident_roles as roles
from casemgr.cases.schemas import NewRoleKind, RoleKindUpdate
from casemgr.fields import parse
from casemgr.web import current_actor, db_session, form_action, form_data, redirect_with

bp = Blueprint("role_kinds", __name__, url_prefix="/admin/incident-roles")


def _page(status: int = 200, *, form_of: str = "", **extra: Any) -> Any:
    kinds = roles.admin_kinds(db_session(), current_actor())
    return render_template("cases/role_kinds.html", kinds=kinds, form_of=form_of, form=extra.pop("form", {}),
                           **extra), status


@bp.get("")
@login_required
def index() -> Any:
    return _page()


@bp.post("")
@login_required
def create() -> Any:
    return form_action(lambda: roles.create_kind(db_session(), current_actor(), parse(NewRoleKind, form_data())),
                       page=partial(_page, form_of="new", form=form_data()), raise_statuses={403},
                       done=lambda kind: redirect_with(f"Incident role {kind.label} added (code {kind.code}).",
                                                       url_for("role_kinds.index", _anchor=f"kind-{kind.code}")))


def _update(code: str, data: dict[str, Any], done: str) -> Any:
    return form_action(lambda: roles.update_kind(db_session(), current_actor(), code, parse(RoleKindUpdate, data)),
                       page=partial(_page, form_of=code, form=form_data()), raise_statuses={403, 404},
                       done=lambda kind: redirect_with(done.format(kind=kind),
                                                       url_for("role_kinds.index", _anchor=f"kind-{code}")))


@bp.post("/<code>")
@login_required
def edit(code: str) -> Any:
    data = form_data()
    return _update(code, {"label": data.get("label", ""), "description": data.get("description", "")},
                   "Incident role {kind.label} saved.")


@bp.post("/<code>/retire")
@login_required
def retire(code: str) -> Any:
    return _update(code, {"retired": True}, "Incident role {kind.label} retired: no one new can be named in it; "
                   "its history stays on the cases.")


@bp.post("/<code>/restore")
@login_required
def restore(code: str) -> Any:
    return _update(code, {"retired": False}, "Incident role {kind.label} can be assigned again.")
