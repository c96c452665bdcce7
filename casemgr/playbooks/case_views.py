"""The case page's Playbooks tab (/cases/<id>/playbooks, endpoint `cases.playbooks_tab`): the runs on the case,
the playbooks suggested for its category, and the form that starts one (or adds another at any time)."""

from __future__ import annotations

from functools import partial
from typing import Any

from flask import Flask, render_template, url_for
from flask_login import login_required

from casemgr.auth import permissions
from casemgr.auth.permissions import Permission
from casemgr.cases import service as cases
from casemgr.fields import parse
from casemgr.playbooks import library, runs
from casemgr.playbooks.runs_schemas import StartRun
from casemgr.web import current_actor, db_session, form_action, form_data, redirect_with


def _tab(case_id: int, status: int = 200, form: dict[str, Any] | None = None, **error: Any) -> Any:
    session, actor = db_session(), current_actor()
    case = cases.get_case(session, actor, case_id)
    case_runs = runs.runs_of_case(session, actor, case_id)
    readable = permissions.allowed(actor, Permission.PLAYBOOK_VIEW)
    suggested = library.suggested_for(session, actor, case) if readable else []
    every = library.list_playbooks(session, actor) if readable else []
    return render_template("playbooks/case_tab.html", case=case, active_tab="playbooks", runs=case_runs,
                           views={r.id: runs.run_view(r) for r in case_runs}, suggested=suggested,
                           others=[p for p in every if p not in suggested], form=form or {},
                           may_start=permissions.allowed(actor, Permission.PLAYBOOK_RUN) and case.is_open,
                           **error), status


@login_required
def tab(case_id: int) -> Any:
    return _tab(case_id)


@login_required
def start(case_id: int) -> Any:
    return form_action(
        lambda: runs.start_run(db_session(), current_actor(), case_id, parse(StartRun, form_data())),
        page=partial(_tab, case_id, form=form_data()), raise_statuses={404},
        done=lambda run: redirect_with(f"Playbook {run.playbook_version.playbook.code} "
                                       f"{run.playbook_version.version} started.",
                                       url_for("playbooks.run", run_id=run.id)))


def register(app: Flask) -> None:
    """The tab keeps the endpoint name the case page's tab bar links to (casemgr/cases/tabs.py)."""
    app.add_url_rule("/cases/<int:case_id>/playbooks", "cases.playbooks_tab", tab, methods=["GET"])
    app.add_url_rule("/cases/<int:case_id>/playbooks", "cases.start_playbook", start, methods=["POST"])
