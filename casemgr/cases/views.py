"""The case pages: list, case page tabs (overview, timeline), forms and actions.

Thin adapters: parse the form into a command, call casemgr.cases.service, render or redirect.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template
from flask_login import login_required

from casemgr.cases import service, tabs
from casemgr.web import current_actor, db_session

bp = Blueprint("cases", __name__, url_prefix="/cases")


@bp.get("")
@login_required
def index() -> Any:
    return render_template("cases/index.html")


@bp.get("/<int:case_id>")
@login_required
def detail(case_id: int) -> Any:
    info = service.case_detail(db_session(), current_actor(), case_id)
    return render_template("cases/detail.html", case=info.case, info=info, active_tab="overview")


@bp.get("/<int:case_id>/timeline")
@login_required
def timeline(case_id: int) -> Any:
    s, actor = db_session(), current_actor()
    case = service.get_case(s, actor, case_id)
    entries, total = service.timeline(s, actor, case_id)
    return render_template("cases/timeline.html", case=case, entries=entries, total=total, active_tab="timeline")


tabs.register(bp)
