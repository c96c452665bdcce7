"""The run pages: /playbook-runs/<id> (the steps by phase, the progress, a form per step), its graph at
/playbook-runs/<id>/graph.svg (drawn by Graphviz, embedded with <img> so the page stays fast and no script in
an SVG could run), and the forms that act on a step or pause, resume or abort the run."""

from __future__ import annotations

from functools import partial
from typing import Any

from flask import Response, render_template, url_for
from flask_login import login_required

from casemgr import markdown
from casemgr.fields import parse
from casemgr.playbooks import graph, runs
from casemgr.playbooks.runs_schemas import RunChange, StepAction
from casemgr.playbooks.views import bp
from casemgr.web import current_actor, db_session, form_action, form_data, redirect_with

GRAPH_CSP = "default-src 'none'; style-src 'unsafe-inline'"


def _run_page(run_id: int, status: int = 200, **extra: Any) -> Any:
    view = runs.run_view(runs.get_run(db_session(), current_actor(), run_id))
    return render_template("playbooks/run.html", view=view, run=view.run, legend=graph.COLOURS,
                           markdown=markdown.render, form_step=extra.pop("form_step", None),
                           form=extra.pop("form", {}), **extra), status


@bp.get("/playbook-runs/<int:run_id>")
@login_required
def run(run_id: int) -> Any:
    return _run_page(run_id)


@bp.get("/playbook-runs/<int:run_id>/graph.svg")
@login_required
def run_graph(run_id: int) -> Any:
    view = runs.run_view(runs.get_run(db_session(), current_actor(), run_id))
    try:
        body = graph.svg(view.definition, view.states)
    except graph.GraphUnavailable as exc:
        return Response(str(exc), status=503, mimetype="text/plain")
    return Response(body, mimetype="image/svg+xml", headers={"Content-Security-Policy": GRAPH_CSP,
                                                             "Cache-Control": "private, no-cache"})


def _step_form() -> dict[str, Any]:
    data = form_data()
    inputs = {k.removeprefix("input."): v for k, v in data.items() if k.startswith("input.") and v != ""}
    command = {k: v for k, v in data.items() if not k.startswith("input.") and v != ""}
    if "assignee" in data:  # blank: assigned to no one
        command["assignee"] = data["assignee"] or None
    return {**command, "inputs": inputs}


@bp.post("/playbook-runs/<int:run_id>/steps/<step_id>")
@login_required
def act(run_id: int, step_id: str) -> Any:
    # An evidence input takes the id of an item already in the case's vault (uploads: the evidence tab).
    return form_action(
        lambda: runs.act_on_step(db_session(), current_actor(), run_id, step_id, parse(StepAction, _step_form())),
        page=partial(_run_page, run_id, form=form_data(), form_step=step_id), raise_statuses={404},
        done=lambda row: redirect_with(f"Step {row.step_id}: {row.state.value.replace('_', ' ')}.",
                                       url_for("playbooks.run", run_id=run_id, _anchor=f"step-{step_id}")))


@bp.post("/playbook-runs/<int:run_id>/change")
@login_required
def change(run_id: int) -> Any:
    return form_action(
        lambda: runs.change_run(db_session(), current_actor(), run_id, parse(RunChange, form_data())),
        page=partial(_run_page, run_id, form=form_data(), form_step="run"), raise_statuses={404},
        done=lambda r: redirect_with(f"Run {r.status.value}.", url_for("playbooks.run", run_id=run_id)))
