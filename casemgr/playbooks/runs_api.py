"""/api/v1/cases/{id}/playbook-runs and /api/v1/playbook-runs: thin adapters over casemgr/playbooks/runs.py.

An evidence input is given by the id of an evidence item already on the case (upload it first with
POST /api/v1/cases/{id}/evidence); the web page uploads files with the step instead."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field

from casemgr.api import body, listing, out
from casemgr.playbooks import runs
from casemgr.playbooks.api import bp
from casemgr.playbooks.models import PlaybookRun, RunStatus, RunStep, StepState
from casemgr.playbooks.runs_schemas import RunChange, StartRun, StepAction
from casemgr.web import current_actor, db_session


class RunStepOut(BaseModel):
    step_id: str
    title: str
    phase: str
    position: int
    state: StepState
    assignee: str | None = Field(description="username")
    started_at: dt.datetime | None
    started_by: str | None
    completed_at: dt.datetime | None
    completed_by: str | None
    inputs: dict[str, Any] = Field(description="input id -> the value recorded (evidence: the item's id; "
                                               "indicators: their type, value and STIX id)")
    note: str | None
    reason: str | None
    approval_asked: str | None
    approved_at: dt.datetime | None
    approved_by: str | None
    version: int = Field(description="send it back with an action on the step")


class RunOut(BaseModel):
    id: int
    case_id: int
    playbook: str = Field(description="the playbook's id")
    playbook_version: str
    content_hash: str
    status: RunStatus
    started_at: dt.datetime
    started_by: str
    finished_at: dt.datetime | None
    reason: str | None
    ready: list[str] = Field(description="the ids of the steps ready now")
    finished: int
    total: int
    offer_state: str | None = Field(description="the lifecycle state to offer the case (every containment step done)")
    version: int = Field(description="send it back to pause, resume or abort")
    steps: list[RunStepOut]


def _step(view: runs.StepView) -> dict[str, Any]:
    row: RunStep = view.row
    return {"step_id": row.step_id, "title": view.step.title, "phase": view.step.phase.value,
            "position": row.position, "state": row.state, "assignee": row.assignee.username if row.assignee else None,
            "started_at": row.started_at, "started_by": row.started_by_name, "completed_at": row.completed_at,
            "completed_by": row.completed_by_name, "inputs": row.inputs or {}, "note": row.note, "reason": row.reason,
            "approval_asked": row.approval_asked, "approved_at": row.approved_at,
            "approved_by": row.approved_by_name, "version": row.version}


def _run(run: PlaybookRun) -> dict[str, Any]:
    view = runs.run_view(run)
    return out(RunOut, {
        "id": run.id, "case_id": run.case_id, "playbook": view.definition.id,
        "playbook_version": view.definition.version, "content_hash": run.content_hash, "status": run.status,
        "started_at": run.started_at, "started_by": run.started_by_name, "finished_at": run.finished_at,
        "reason": run.reason, "ready": view.ready, "finished": view.finished, "total": view.total,
        "offer_state": view.offer_state.value if view.offer_state else None, "version": run.version,
        "steps": sorted((_step(v) for v in view.steps()), key=lambda s: s["position"])})


@bp.operation("/cases/<int:case_id>/playbook-runs", "POST", "Start a playbook on the case (its current version, or "
              "the one named)", body=StartRun, response=RunOut, status=201, errors=(409,), creates=("run_id", "id"))
def start_run(case_id: int) -> Any:
    session = db_session()
    run = runs.start_run(session, current_actor(), case_id, body(StartRun))
    return _run(runs.get_run(session, current_actor(), run.id)), 201


@bp.operation("/cases/<int:case_id>/playbook-runs", "GET", "The case's playbook runs, oldest first",
              response=RunOut, is_list=True)
def list_runs(case_id: int) -> Any:
    return listing(runs.runs_of_case(db_session(), current_actor(), case_id), _run)


@bp.operation("/playbook-runs/<int:run_id>", "GET", "One playbook run with its steps", response=RunOut)
def get_run(run_id: int) -> Any:
    return _run(runs.get_run(db_session(), current_actor(), run_id))


@bp.operation("/playbook-runs/<int:run_id>/steps/<step_id>", "POST", "Start, complete, skip, fail, block, assign, "
              "approve or reject a step (with the step's version)", body=StepAction, response=RunOut, errors=(409,))
def act_on_step(run_id: int, step_id: str) -> Any:
    session = db_session()
    runs.act_on_step(session, current_actor(), run_id, step_id, body(StepAction))
    return _run(runs.get_run(session, current_actor(), run_id))


@bp.operation("/playbook-runs/<int:run_id>", "POST", "Pause, resume or abort a run (with the run's version)",
              body=RunChange, response=RunOut, errors=(409,))
def change_run(run_id: int) -> Any:
    session = db_session()
    runs.change_run(session, current_actor(), run_id, body(RunChange))
    return _run(runs.get_run(session, current_actor(), run_id))
