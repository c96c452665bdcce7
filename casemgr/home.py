"""The home page and the health check."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, render_template
from flask_login import login_required
from sqlalchemy import text

from casemgr.web import current_actor, database

bp = Blueprint("home", __name__)


@bp.get("/")
@login_required
def index() -> Any:
    return render_template("home.html", actor=current_actor())


@bp.get("/healthz")
def healthz() -> Any:
    try:
        with database().engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any failure means the database is unavailable
        return jsonify({"status": "unavailable", "database": "unavailable"}), 503
    return jsonify({"status": "ok", "database": "ok"})
