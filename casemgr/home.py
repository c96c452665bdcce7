"""The home page, one for each role's work, and the health check.

Analysts: escalations of their cases, their open cases, unassigned cases to pick up. Managers:
escalations waiting for them (with an acknowledge button), cases overdue for their priority, the
team queue, open P1/P2 cases. Auditors: recent audit entries, evidence integrity, cases to review.
Admins: accounts, locked accounts, tokens, the instance's checks (and no case content).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, jsonify, render_template
from flask_login import login_required
from sqlalchemy import text
from sqlalchemy.orm import Session

from casemgr.audit import service as audit
from casemgr.audit.content import EntryView
from casemgr.auth.actor import Actor
from casemgr.auth.overview import AdminOverview, admin_overview
from casemgr.auth.permissions import Permission, allowed
from casemgr.cases import access, incident_roles
from casemgr.cases import service as cases
from casemgr.evidence.overview import IntegrityOverview, integrity_overview
from casemgr.web import current_actor, database, db_session

bp = Blueprint("home", __name__)


@dataclass
class Home:
    """What one actor's home page shows; the parts that do not fit the role are None."""

    cases: cases.Dashboard | None = None
    audit_recent: list[EntryView] | None = None
    audit_total: int = 0
    evidence: IntegrityOverview | None = None
    admin: AdminOverview | None = None


def home_for(session: Session, actor: Actor) -> Home:
    """The parts of the home page that fit what `actor` may do, each read through its own domain's service:
    accounts for those who manage them (admins), else the case lists, and with them the audit log and
    evidence integrity for those who read the audit log too (auditors)."""
    if allowed(actor, Permission.USER_MANAGE):
        return Home(admin=admin_overview(session, actor))
    # A custom role may hold no case permission at all: its home page has no case lists then.
    home = Home(cases=cases.dashboard(session, actor) if access.sees_cases(actor) else None)
    if allowed(actor, Permission.AUDIT_READ):
        recent = audit.list_entries(session, actor, audit.AuditFilter(per_page=10))
        home.audit_recent, home.audit_total = recent.items, recent.total
        home.evidence = integrity_overview(session, actor)
    return home


@bp.get("/")
@login_required
def index() -> Any:
    actor = current_actor()
    home = home_for(db_session(), actor)
    shown = [c for s in home.cases.sections for c in s.items] if home.cases else []
    return render_template("home.html", actor=actor, home=home,
                           no_commander=incident_roles.without_commander(db_session(), shown))


@bp.get("/healthz")
def healthz() -> Any:
    try:
        with database().engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any failure means the database is unavailable
        return jsonify({"status": "unavailable", "database": "unavailable"}), 503
    return jsonify({"status": "ok", "database": "ok"})
