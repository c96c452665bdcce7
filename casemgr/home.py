"""The home page and the health check."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, render_template
from flask_login import login_required
from sqlalchemy import text

from casemgr.auth.models import Role
from casemgr.cases import service as cases
from casemgr.web import current_actor, database, db_session

bp = Blueprint("home", __name__)


@bp.get("/")
@login_required
def index() -> Any:
    actor = current_actor()
    # Admins run the instance and see no case content; everyone else gets the case dashboard.
    dashboard = cases.dashboard(db_session(), actor) if actor.role != Role.ADMIN else None
    return render_template("home.html", actor=actor, dashboard=dashboard)


@bp.get("/healthz")
def healthz() -> Any:
    try:
        with database().engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any failure means the database is unavailable
        return jsonify({"status": "unavailable", "database": "unavailable"}), 503
    return jsonify({"status": "ok", "database": "ok"})
