"""Running a playbook on a case: the state engine, the step actions, and the run page's view.

The engine (`next_states`) is a pure function: from the definition, the steps' states now and the values
conditions read, the states that follow. A step whose dependencies are all finished (done, skipped or not
applicable) becomes ready, unless its condition is false: then it is not_applicable, which counts as finished,
so the steps after it still open (a branch not taken never blocks the rest). A condition is evaluated once,
when the step's dependencies are finished, on the values then (the case's fields and the inputs recorded).
A step one of whose dependencies failed stays pending: a failure blocks what depends on it until the failed
step is done after all (it may be started again) or skipped with a reason.

The service (`start_run`, `act_on_step`, `change_run`) takes (session, actor, command), checks `playbook.run`
and may-change access to the case (casemgr/cases/access.py), writes a timeline entry (EntryKind.PLAYBOOK)
and an audit record for every change in the same transaction, and flushes. Every step action locks the
run's row first (SELECT ... FOR UPDATE on PostgreSQL; SQLite serializes writers already) and recomputes the
states under that lock, so two analysts completing parallel steps at once both count when the step that
depends on both opens, and it opens once. A step action carries the step's `version`: a stale one is
refused (409, with the current one), as on cases.

Automated actions run through the other services, as the person acting: `transition` through the cases
service's lifecycle (a move the lifecycle refuses fails the step action with 409 saying why; nothing is
changed), `set_field` through the case update, `timeline` as a timeline event, `add_indicators` records the
step's indicators input (an indicators input is always captured through the indicators service when the step
is completed; the action names which input that is), `require_approval` keeps the completed step blocked until
someone with `playbook.approve` approves it (then it is done and its `completed` actions run) or rejects it
(back to in_progress, with the reason).

Errors: NotFound (a hidden case, an unknown run, step or playbook); Forbidden (no playbook.run, read-only
access, the step's `who` rule, approving without playbook.approve); Conflict (a stale version, a run that is
paused, aborted or completed, an action the step's state does not allow, a second active run of a playbook,
a lifecycle refusal); Invalid naming the input (inputs.<id>) or field.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import StaleDataError

from casemgr.audit import trail as audit
from casemgr.auth.actor import Actor
from casemgr.auth.models import User
from casemgr.auth.permissions import Permission, allowed, holds, require
from casemgr.cases import access, custom_fields, lifecycle
from casemgr.cases.models import Case, CaseStatus, EntryKind, TimelineEntry
from casemgr.cases.role_models import IncidentRoleAssignment, IncidentRoleKind
from casemgr.collaborators import clock
from casemgr.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from casemgr.playbooks import conditions, definition
from casemgr.playbooks.definition import InputType, Phase, Trigger
from casemgr.playbooks.models import (
    FINISHED_STATES,
    Playbook,
    PlaybookRun,
    PlaybookVersion,
    RunStatus,
    RunStep,
    StepState,
)
from casemgr.playbooks.runs_schemas import RunActionKind, RunChange, StartRun, StepAction, StepActionKind
from casemgr.teams.models import Team, name_key

if TYPE_CHECKING:  # the evidence service (and libmagic) loads when an evidence input is recorded
    from casemgr.evidence.items import Upload

OPEN_RUN = frozenset({RunStatus.ACTIVE, RunStatus.PAUSED})
MAX_TEXT = 20_000
MAX_INDICATOR_LINES = 500

# ---------------------------------------------------------------- the definition of a stored version


_DEFINITIONS: dict[str, definition.Playbook] = {}  # by content hash: a stored version never changes


def definition_of(version: PlaybookVersion) -> definition.Playbook:
    """The definition a stored version holds, parsed once per content hash."""
    found = _DEFINITIONS.get(version.content_hash)
    if found is None:
        found = definition.Playbook.model_validate(version.definition)
        if len(_DEFINITIONS) >= 256:
            _DEFINITIONS.pop(next(iter(_DEFINITIONS)))
        _DEFINITIONS[version.content_hash] = found
    return found


# ---------------------------------------------------------------- the engine (pure)


def topological(pb: definition.Playbook) -> list[definition.Step]:
    """The steps, each after its dependencies (in the definition's order where the graph leaves a choice)."""
    placed: dict[str, definition.Step] = {}
    remaining = list(pb.steps)
    while remaining:
        progressed = False
        for step in list(remaining):
            if all(d in placed for d in step.depends_on if pb.step(d) is not None):
                placed[step.id] = step
                remaining.remove(step)
                progressed = True
        if not progressed:  # a cycle (the loader refuses them): the rest in definition order
            placed.update((s.id, s) for s in remaining)
            break
    return list(placed.values())


def next_states(pb: definition.Playbook, states: Mapping[str, StepState],
                values: Mapping[str, Any]) -> dict[str, StepState]:
    """The states that follow from `states`: each pending step whose dependencies are all finished becomes
    ready, or not_applicable when its condition is false on `values` (and so on down the graph)."""
    result = dict(states)
    for step in topological(pb):
        if result.get(step.id, StepState.PENDING) != StepState.PENDING:
            continue
        if not all(result.get(d) in FINISHED_STATES for d in step.depends_on):
            continue
        applies = step.condition is None or conditions.parse(step.condition).evaluate(values)
        result[step.id] = StepState.READY if applies else StepState.NOT_APPLICABLE
    return result


def case_values(case: Case, fields: Mapping[str, Any]) -> dict[str, Any]:
    """What `case.<name>` and `case.fields.<code>` read: enums as their values, the team as its name."""
    values: dict[str, Any] = {}
    for name in conditions.CASE_NAMES:
        raw: Any = case.team_name if name == "team" else getattr(case, name)
        values[f"case.{name}"] = raw.value if isinstance(raw, enum.Enum) else raw
    for code, value in fields.items():
        values[f"case.fields.{code}"] = value
    return values


def input_values(steps: list[RunStep]) -> dict[str, Any]:
    """What `<step>.<input>` reads: the inputs recorded on the run's steps."""
    return {f"{s.step_id}.{k}": v for s in steps for k, v in (s.inputs or {}).items()}


# ---------------------------------------------------------------- loading


def _run_query(actor: Actor) -> Any:
    return (select(PlaybookRun).join(Case, PlaybookRun.case_id == Case.id).where(access.visible_filter(actor))
            .options(selectinload(PlaybookRun.steps).selectinload(RunStep.assignee),
                     selectinload(PlaybookRun.playbook_version).selectinload(PlaybookVersion.playbook),
                     selectinload(PlaybookRun.case)))


def get_run(session: Session, actor: Actor, run_id: int) -> PlaybookRun:
    """One run with its steps. Raises NotFound (also when its case is hidden from the actor)."""
    if not access.sees_cases(actor):
        raise NotFound(access.ADMIN_NO_CASES, field="id")
    run = session.scalars(_run_query(actor).where(PlaybookRun.id == run_id)).one_or_none() \
        if 1 <= run_id <= 2**31 - 1 else None
    if run is None:
        raise NotFound(f"playbook run {run_id} does not exist", field="id")
    return run


def runs_of_case(session: Session, actor: Actor, case_id: int) -> list[PlaybookRun]:
    """The case's runs, oldest first. Raises NotFound for a hidden case."""
    case = access.get_case_or_404(session, actor, case_id)
    return list(session.scalars(_run_query(actor).where(PlaybookRun.case_id == case.id).order_by(PlaybookRun.id)))


def _locked_run(session: Session, actor: Actor, run_id: int) -> PlaybookRun:
    """The run, its row locked until the transaction ends, read afresh (with its steps) under the lock."""
    get_run(session, actor, run_id)  # NotFound first, without a lock
    run = session.scalars(_run_query(actor).where(PlaybookRun.id == run_id).with_for_update(of=PlaybookRun)
                          .execution_options(populate_existing=True)).one()
    session.scalars(select(RunStep).where(RunStep.run_id == run.id).execution_options(populate_existing=True)).all()
    session.refresh(run.case)
    return run


def _require_runner(actor: Actor, case: Case) -> None:
    if not allowed(actor, Permission.PLAYBOOK_RUN):
        if access.sees_cases(actor) and not allowed(actor, Permission.CASE_EDIT):
            raise Forbidden("auditors have read-only access to cases and their playbook runs")
        raise Forbidden("only analysts and managers run playbooks (playbook.run)")
    access.require_edit(actor, case)


# ---------------------------------------------------------------- starting a run


def start_run(session: Session, actor: Actor, case_id: int, cmd: StartRun) -> PlaybookRun:
    """Start a playbook on the case, pinned to its current version (or `cmd.version`) and content hash.

    Raises NotFound (case, playbook, version); Forbidden; Conflict (a run of this playbook is active or paused
    on the case, the case is resolved or closed, the playbook is retired); Conflict from a ready action."""
    case = access.get_case_or_404(session, actor, case_id, for_update=True)  # one start of a playbook at a time
    _require_runner(actor, case)
    if not case.is_open:
        raise Conflict(f"case {case.reference} is {case.status}; reopen it before you start a playbook on it",
                       field="case")
    playbook = session.scalars(select(Playbook).where(Playbook.code == cmd.playbook)).one_or_none()
    if playbook is None:
        raise NotFound(f"there is no playbook {cmd.playbook!r} (GET /api/v1/playbooks lists them)", field="playbook")
    if playbook.retired_at is not None:
        raise Conflict(f"the playbook {playbook.code} is retired; it starts no new run", field="playbook")
    if cmd.version is None:
        version = playbook.current_version
        if version is None:
            raise NotFound(f"the playbook {playbook.code} has no version yet", field="playbook")
    else:
        version = session.scalars(select(PlaybookVersion).where(PlaybookVersion.playbook_id == playbook.id,
                                                                PlaybookVersion.version == cmd.version)).one_or_none()
        if version is None:
            have = ", ".join(v.version for v in playbook.versions)
            raise NotFound(f"the playbook {playbook.code} has no version {cmd.version} (it has: {have})",
                           field="version")
    running = session.scalars(select(PlaybookRun).join(PlaybookVersion).where(
        PlaybookRun.case_id == case.id, PlaybookVersion.playbook_id == playbook.id,
        PlaybookRun.status.in_(OPEN_RUN))).first()
    if running is not None:
        raise Conflict(f"case {case.reference} has a {running.status} run of {playbook.code} already (run "
                       f"{running.id}); finish or abort it before starting another", field="playbook",
                       details={"run_id": running.id})
    pb = definition_of(version)
    now = clock(session).now()
    run = PlaybookRun(case_id=case.id, version_id=version.id, content_hash=version.content_hash,
                      status=RunStatus.ACTIVE, started_at=now, started_by_id=_user_id(actor),
                      started_by_name=actor.name)
    run.steps = [RunStep(step_id=s.id, position=i, state=StepState.PENDING, inputs={}, updated_at=now)
                 for i, s in enumerate(pb.steps)]
    session.add(run)
    session.flush()
    _entry(session, actor, case, f"Playbook {pb.title} {pb.version} started (run {run.id})",
           {"playbook": [None, f"{pb.id} {pb.version}"]})
    audit.record(session, actor, "playbook.run_start", "playbook_run", run.id,
                 {"case": case.reference, "playbook": pb.id, "version": pb.version,
                  "content_hash": version.content_hash})
    _advance(session, actor, run, pb, case)
    session.flush()
    return run


# ---------------------------------------------------------------- advancing the states


def _advance(session: Session, actor: Actor, run: PlaybookRun, pb: definition.Playbook, case: Case) -> None:
    """Open what can open now, run the `ready` actions of the steps that opened, complete the run when every
    step is finished."""
    steps = {s.step_id: s for s in run.steps}
    values = case_values(case, custom_fields.values_by_case(session, [case.id])[case.id]) | input_values(run.steps)
    after = next_states(pb, {k: s.state for k, s in steps.items()}, values)
    now = clock(session).now()
    for step_def in pb.steps:
        row = steps[step_def.id]
        if after[step_def.id] == row.state:
            continue
        row.state, row.updated_at = after[step_def.id], now
        if row.state == StepState.NOT_APPLICABLE:
            row.completed_at = now
            _entry(session, actor, case, f"Playbook step {step_def.title}: not applicable (its condition is "
                   "false)", {"step": [step_def.id, row.state.value]})
        else:
            _entry(session, actor, case, f"Playbook step {step_def.title}: ready",
                   {"step": [step_def.id, row.state.value]})
            _fire(session, actor, case, step_def, Trigger.READY)
    if all(s.state in FINISHED_STATES for s in run.steps) and run.status == RunStatus.ACTIVE:
        run.status, run.finished_at = RunStatus.COMPLETED, now
        _entry(session, actor, case, f"Playbook {pb.title} {pb.version} completed (run {run.id})",
               {"run": [RunStatus.ACTIVE.value, RunStatus.COMPLETED.value]})
        audit.record(session, actor, "playbook.run_complete", "playbook_run", run.id,
                     {"case": case.reference, "playbook": pb.id})


def _fire(session: Session, actor: Actor, case: Case, step_def: definition.Step, trigger: Trigger) -> None:
    for action in step_def.actions:
        if action.at != trigger or action.require_approval is not None:
            continue
        try:
            _perform(session, actor, case, step_def, action)
        except DomainError as exc:
            exc.message = f"step {step_def.id}: the automated action {action.kind} failed: {exc.message}"
            exc.args = (exc.message,)
            raise


def _perform(session: Session, actor: Actor, case: Case, step_def: definition.Step,
             action: definition.Action) -> None:
    from casemgr.cases import service as cases
    from casemgr.cases.schemas import CaseUpdate, NewEvent, Transition

    if action.transition is not None:
        target = CaseStatus(action.transition)
        order = list(CaseStatus)  # the lifecycle's forward order: new ... closed
        if order.index(case.status) >= order.index(target):
            return  # there already, or past it: a playbook never moves a case back (a person reopens it)
        if target not in lifecycle.allowed_next(case.status):
            raise Conflict(f"a {case.status} case cannot move to {target}; it can move to: "
                           f"{', '.join(lifecycle.allowed_next(case.status))}", field="step",
                           details={"current_status": case.status.value})
        cases.transition(session, actor, case.id, Transition(to=target))
    elif action.set_field is not None:
        name, value = action.set_field.field, action.set_field.value
        reason = f"set by playbook step {step_def.id}"
        update: dict[str, Any]
        if name in {"severity", "priority"}:
            update = {f"{name}_override": value, f"{name}_reason": reason}
        elif name in CaseUpdate.model_fields and name not in {"version", "custom_fields"}:
            update = {name: value}
        else:
            update = {"custom_fields": {name: value}}
        cases.update_case(session, actor, case.id, CaseUpdate.model_validate({"version": case.version, **update}))
    elif action.timeline is not None:
        cases.add_event(session, actor, case.id, NewEvent.model_validate(
            {"occurred_at": clock(session).now(), "summary": action.timeline[:200],
             "body": f"Playbook step {step_def.title}"}))
    # add_indicators: the indicators input is captured as the step completes (_check_inputs); nothing more here.


# ---------------------------------------------------------------- step actions

ALLOWED_FROM: dict[StepActionKind, frozenset[StepState]] = {
    StepActionKind.START: frozenset({StepState.READY, StepState.FAILED}),
    StepActionKind.COMPLETE: frozenset({StepState.READY, StepState.IN_PROGRESS}),
    StepActionKind.SKIP: frozenset({StepState.READY, StepState.IN_PROGRESS, StepState.BLOCKED, StepState.FAILED}),
    StepActionKind.FAIL: frozenset({StepState.READY, StepState.IN_PROGRESS}),
    StepActionKind.BLOCK: frozenset({StepState.READY, StepState.IN_PROGRESS}),
    StepActionKind.ASSIGN: frozenset(StepState) - FINISHED_STATES,
    StepActionKind.APPROVE: frozenset({StepState.BLOCKED}),
    StepActionKind.REJECT: frozenset({StepState.BLOCKED}),
}
NEEDS_REASON = frozenset({StepActionKind.SKIP, StepActionKind.FAIL, StepActionKind.BLOCK, StepActionKind.REJECT})


def act_on_step(session: Session, actor: Actor, run_id: int, step_id: str, cmd: StepAction, *,
                files: Mapping[str, Upload] | None = None) -> RunStep:
    """Start, complete, skip, fail, block, assign, approve or reject one step, based on its `version`.
    `files`: evidence inputs uploaded with the action (input id -> upload; the web form's files).

    Raises NotFound; Forbidden (playbook.run, case access, the step's who rule, playbook.approve); Conflict
    (stale version, run not active, the step's state, an automated action refused); Invalid naming the field."""
    run = _locked_run(session, actor, run_id)
    case = run.case
    _require_runner(actor, case)
    if run.status != RunStatus.ACTIVE:
        raise Conflict(f"run {run.id} is {run.status}" + (f" ({run.reason})" if run.reason else "") +
                       ("; resume it first" if run.status == RunStatus.PAUSED else "; its steps can no longer change"),
                       field="run", details={"run_status": run.status.value})
    pb = definition_of(run.playbook_version)
    step_def = pb.step(step_id)
    row = next((s for s in run.steps if s.step_id == step_id), None)
    if step_def is None or row is None:
        raise NotFound(f"run {run.id} has no step {step_id!r}", field="step")
    if cmd.version != row.version:
        raise Conflict(f"step {step_id} was changed by someone else (you sent version {cmd.version}, it is now at "
                       f"version {row.version}, {row.state}); reload the run and try again", field="version",
                       details={"current_version": row.version, "state": row.state.value})
    if row.state not in ALLOWED_FROM[cmd.action]:
        raise Conflict(f"step {step_id} is {row.state}: it cannot be {_past(cmd.action)} now", field="action",
                       details={"state": row.state.value})
    if cmd.action in NEEDS_REASON and not cmd.reason:
        raise Invalid(f"reason: a reason is required to {cmd.action} a step", field="reason")
    if cmd.action in {StepActionKind.APPROVE, StepActionKind.REJECT}:
        require(actor, Permission.PLAYBOOK_APPROVE, f"only managers (playbook.approve) may {cmd.action} step "
                f"{step_id}", field="action")
        if row.approval_asked is None:
            raise Conflict(f"step {step_id} is blocked by a person ({row.reason}), not waiting for an approval",
                           field="action")
    elif cmd.action != StepActionKind.ASSIGN:
        _require_who(session, actor, case, step_def)
    before = row.state
    now = clock(session).now()
    summary, changes = _apply(session, actor, case, step_def, row=row, cmd=cmd, files=files or {}, now=now)
    row.updated_at = now
    flag_modified(run, "status")  # the run's version moves with every step action
    _entry(session, actor, case, summary, {"step": [step_def.id, row.state.value], **changes},
           body=cmd.note or cmd.reason)
    audit.record(session, actor, f"playbook.step_{cmd.action}", "playbook_run", run.id,
                 {"case": case.reference, "playbook": pb.id, "step": step_id, "from": before.value,
                  "to": row.state.value})
    _advance(session, actor, run, pb, case)
    try:
        session.flush()
    except StaleDataError:
        raise Conflict(f"run {run.id} was changed by someone else meanwhile; reload it and try again",
                       field="version") from None
    return row


def _past(action: StepActionKind) -> str:
    return {"start": "started", "complete": "completed", "skip": "skipped", "fail": "failed", "block": "blocked",
            "assign": "assigned", "approve": "approved", "reject": "rejected"}[action.value]


def _apply(session: Session, actor: Actor, case: Case, step_def: definition.Step, *, row: RunStep,
           cmd: StepAction, files: Mapping[str, Upload], now: dt.datetime) -> tuple[str, dict[str, Any]]:
    title = f"Playbook step {step_def.title}"
    if cmd.action == StepActionKind.START:
        row.state, row.started_at, row.started_by_name, row.reason = StepState.IN_PROGRESS, now, actor.name, None
        return f"{title}: started by {actor.name}", {}
    if cmd.action == StepActionKind.COMPLETE:
        row.inputs = _check_inputs(session, actor, case, step_def, cmd.inputs, files=files)
        row.note = cmd.note
        if row.started_at is None:
            row.started_at, row.started_by_name = now, actor.name
        row.completed_at, row.completed_by_name = now, actor.name
        approval = next((a.require_approval for a in step_def.actions if a.require_approval is not None), None)
        if approval is not None:
            row.state, row.approval_asked, row.reason = StepState.BLOCKED, approval, None
            return f"{title}: completed by {actor.name}, waiting for an approval: {approval}", {}
        row.state = StepState.DONE
        _fire(session, actor, case, step_def, Trigger.COMPLETED)
        return f"{title}: completed by {actor.name}", {}
    if cmd.action in {StepActionKind.SKIP, StepActionKind.FAIL, StepActionKind.BLOCK}:
        row.state = {StepActionKind.SKIP: StepState.SKIPPED, StepActionKind.FAIL: StepState.FAILED,
                     StepActionKind.BLOCK: StepState.BLOCKED}[cmd.action]
        row.reason, row.note = cmd.reason, cmd.note or row.note
        if cmd.action != StepActionKind.BLOCK:
            row.completed_at, row.completed_by_name = now, actor.name
        return f"{title}: {_past(cmd.action)} by {actor.name}", {}
    if cmd.action == StepActionKind.ASSIGN:
        user = _assignee(session, case, cmd.assignee) if cmd.assignee else None
        old = row.assignee.username if row.assignee else None
        row.assignee = user
        return f"{title}: assigned to {user.username if user else 'no one'}", {
            "assignee": [old, user.username if user else None]}
    if cmd.action == StepActionKind.APPROVE:
        row.state, row.approved_at, row.approved_by_name = StepState.DONE, now, actor.name
        _fire(session, actor, case, step_def, Trigger.COMPLETED)
        return f"{title}: approved by {actor.name}", {}
    row.state, row.approval_asked, row.reason = StepState.IN_PROGRESS, None, cmd.reason  # reject
    row.completed_at = row.completed_by_name = None
    return f"{title}: approval refused by {actor.name}", {}


def _require_who(session: Session, actor: Actor, case: Case, step_def: definition.Step) -> None:
    """The step's `who` rule: holders of a permission, members of a team, the case's holder of a role."""
    who = step_def.who
    if who is None or actor.is_system:
        return
    user = actor.user
    if who.permission is not None:
        if not allowed(actor, who.permission):
            raise Forbidden(f"step {step_def.id} may be worked only by holders of the permission {who.permission}",
                            field="step")
    elif who.team is not None:
        team = session.scalars(select(Team).where(Team.name_key == name_key(who.team))
                               .options(selectinload(Team.members))).one_or_none()
        if team is None or user is None or all(m.id != user.id for m in team.members):
            raise Forbidden(f"step {step_def.id} may be worked only by members of the team {who.team}", field="step")
    elif who.incident_role is not None:
        holder = session.scalar(select(IncidentRoleAssignment.user_id).join(IncidentRoleKind).where(
            IncidentRoleAssignment.case_id == case.id, IncidentRoleKind.code == who.incident_role,
            IncidentRoleAssignment.ended_at.is_(None)))
        if user is None or holder != user.id:
            raise Forbidden(f"step {step_def.id} may be worked only by the case's {who.incident_role.replace('_', ' ')}"
                            f" (incident role {who.incident_role})", field="step")


def _assignee(session: Session, case: Case, username: str) -> User:
    user = session.scalars(select(User).where(User.username == username)).one_or_none()
    if user is None or user.is_disabled:
        raise Invalid(f"assignee: there is no active user {username!r}", field="assignee")
    as_them = Actor(user=user, via="check")
    if not holds(user, Permission.PLAYBOOK_RUN) or not access.can_edit(as_them, case):
        raise Invalid(f"assignee: {username} cannot work case {case.reference} (they must be able to see and "
                      "change it, and run playbooks)", field="assignee")
    return user


# ---------------------------------------------------------------- inputs


def _check_inputs(session: Session, actor: Actor, case: Case, step_def: definition.Step, given: Mapping[str, Any],
                  *, files: Mapping[str, Upload]) -> dict[str, Any]:
    """The inputs to record, each checked against its StepInput; evidence and indicators go through their
    services. Raises Invalid naming `inputs.<id>`."""
    known = {i.id for i in step_def.inputs}
    for name in [*given, *files]:
        if name not in known:
            raise Invalid(f"inputs.{name}: step {step_def.id} has no input {name!r}"
                          + (f" (it has: {', '.join(sorted(known))})" if known else " (it takes none)"),
                          field=f"inputs.{name}")
    # Every input is checked before anything is written (evidence, indicators): a refused one changes nothing.
    checked: dict[str, Any] = {}
    for spec in step_def.inputs:
        raw = given.get(spec.id)
        if spec.type is InputType.EVIDENCE and spec.id in files:
            checked[spec.id] = files[spec.id]
            continue
        if raw is None or (isinstance(raw, str) and not raw.strip()) or raw == []:
            if spec.required:
                raise Invalid(f"inputs.{spec.id}: {spec.label} is required to complete step {step_def.id}",
                              field=f"inputs.{spec.id}")
            continue
        checked[spec.id] = _value(session, actor, case, spec, raw)
    recorded: dict[str, Any] = {}
    for name, value in checked.items():
        spec = next(i for i in step_def.inputs if i.id == name)
        if spec.type is InputType.EVIDENCE and not isinstance(value, int):
            from casemgr.evidence import service as evidence

            recorded[name] = evidence.add_evidence(session, actor, case.id, value).id
        elif spec.type is InputType.INDICATORS:
            recorded[name] = _capture(session, actor, case, spec, value)
        else:
            recorded[name] = value
    return recorded


def _bad(spec: definition.StepInput, message: str) -> Invalid:
    return Invalid(f"inputs.{spec.id}: {spec.label} {message}", field=f"inputs.{spec.id}")


def _value(session: Session, actor: Actor, case: Case, spec: definition.StepInput, raw: Any) -> Any:
    kind = spec.type
    if kind is InputType.TEXT:
        if not isinstance(raw, str) or len(raw) > MAX_TEXT:
            raise _bad(spec, f"must be text of at most {MAX_TEXT} characters")
        return raw
    if kind is InputType.BOOLEAN:
        if isinstance(raw, bool):
            return raw
        word = str(raw).strip().lower()
        if word in {"yes", "true", "on", "1", "y"}:
            return True
        if word in {"no", "false", "off", "0", "n"}:
            return False
        raise _bad(spec, "must be yes or no")
    if kind is InputType.CHOICE:
        if not isinstance(raw, str) or raw.strip() not in (spec.choices or []):
            raise _bad(spec, f"must be one of: {', '.join(spec.choices or [])}")
        return raw.strip()
    if kind is InputType.NUMBER:
        return _number(spec, raw)
    if kind is InputType.DATETIME:
        return _datetime(spec, raw)
    if kind is InputType.EVIDENCE:
        return _evidence_id(session, actor, case, spec, raw)
    return _indicator_lines(session, actor, case, spec, raw)


def _number(spec: definition.StepInput, raw: Any) -> int | float:
    if isinstance(raw, bool):
        raise _bad(spec, "must be a number")
    try:
        number = float(raw) if isinstance(raw, str) else raw
    except ValueError:
        raise _bad(spec, "must be a number") from None
    if not isinstance(number, int | float) or not math.isfinite(number):
        raise _bad(spec, "must be a number")
    return int(number) if float(number).is_integer() and abs(number) < 2**53 else float(number)


def _datetime(spec: definition.StepInput, raw: Any) -> str:
    if not isinstance(raw, str):
        raise _bad(spec, "must be a date and time such as 2026-01-02T03:04:05Z")
    try:
        when = dt.datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise _bad(spec, "must be a date and time such as 2026-01-02T03:04:05Z (ISO 8601)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC).isoformat()


def _evidence_id(session: Session, actor: Actor, case: Case, spec: definition.StepInput, raw: Any) -> int:
    from casemgr.evidence import service as evidence

    if isinstance(raw, bool) or not isinstance(raw, int | str) or not str(raw).strip().isdigit():
        raise _bad(spec, "must be the id of an evidence item of this case (or a file uploaded with the step)")
    try:
        item = evidence.get_item(session, actor, int(raw))
    except NotFound:
        item = None
    if item is None or item.case_id != case.id:
        raise _bad(spec, f"must be an evidence item of case {case.reference}; there is no item {raw} on it")
    return item.id


def _indicator_lines(session: Session, actor: Actor, case: Case, spec: definition.StepInput,
                     raw: Any) -> list[tuple[Any, str]]:
    """The values, one per line (defanged forms too), each typed and normalized by the indicators' own reading
    of a typed-in value (casemgr/indicators/observables.py: guess_type, normalize_input)."""
    from casemgr.indicators import observables

    lines = raw if isinstance(raw, list) else str(raw).splitlines()
    if not all(isinstance(v, str) for v in lines):
        raise _bad(spec, "must be values, one per line")
    values = [v.strip() for v in lines if v.strip()]
    if not values:
        raise _bad(spec, "must hold at least one value")
    if len(values) > MAX_INDICATOR_LINES:
        raise _bad(spec, f"may hold at most {MAX_INDICATOR_LINES} values")
    typed = []
    for line, value in enumerate(dict.fromkeys(values), start=1):
        kind = observables.guess_type(value)
        if kind is None:
            raise _bad(spec, f"line {line}: {value!r} is not one indicator value (an address, domain, URL, e-mail "
                       "address or file hash)")
        typed.append((kind, observables.normalize_input(kind, value, hint=False).value))
    return typed


def _capture(session: Session, actor: Actor, case: Case, spec: definition.StepInput,
             values: list[tuple[Any, str]]) -> list[dict[str, str]]:
    """Each value captured on the case through the indicators service; what is recorded is the value, its type
    and the indicator's STIX id."""
    from casemgr.indicators import service as indicators
    from casemgr.indicators.schemas import NewIndicator

    recorded = []
    for line, (kind, value) in enumerate(values, start=1):
        try:
            captured = indicators.add_indicator(session, actor, case.id, NewIndicator(type=kind, value=value))
        except Invalid as exc:
            raise _bad(spec, f"line {line}: {exc.message}") from None
        recorded.append({"type": kind.value, "value": value, "stix_id": captured.indicator.stix_id})
    return recorded


# ---------------------------------------------------------------- pausing, resuming, aborting


def change_run(session: Session, actor: Actor, run_id: int, cmd: RunChange) -> PlaybookRun:
    """Pause, resume or abort a run (abort: with a reason). Raises NotFound; Forbidden; Conflict (stale version,
    a state that does not allow it); Invalid(field="reason")."""
    run = _locked_run(session, actor, run_id)
    case = run.case
    _require_runner(actor, case)
    if cmd.version != run.version:
        raise Conflict(f"run {run.id} was changed by someone else (you sent version {cmd.version}, it is now at "
                       f"version {run.version}); reload it and try again", field="version",
                       details={"current_version": run.version})
    allowed_from = {RunActionKind.PAUSE: {RunStatus.ACTIVE}, RunActionKind.RESUME: {RunStatus.PAUSED},
                    RunActionKind.ABORT: OPEN_RUN}[cmd.action]
    if run.status not in allowed_from:
        raise Conflict(f"run {run.id} is {run.status}: it cannot be {cmd.action}d", field="action",
                       details={"run_status": run.status.value})
    if cmd.action == RunActionKind.ABORT and not cmd.reason:
        raise Invalid("reason: a reason is required to abort a run", field="reason")
    before = run.status
    target = {RunActionKind.PAUSE: RunStatus.PAUSED, RunActionKind.RESUME: RunStatus.ACTIVE,
              RunActionKind.ABORT: RunStatus.ABORTED}[cmd.action]
    run.status = target
    run.reason = cmd.reason if target != RunStatus.ACTIVE else None
    if target == RunStatus.ABORTED:
        run.finished_at = clock(session).now()
    pb = definition_of(run.playbook_version)
    _entry(session, actor, case, f"Playbook {pb.title} {pb.version} {cmd.action}d by {actor.name} (run {run.id})",
           {"run": [before.value, target.value]}, body=cmd.reason)
    audit.record(session, actor, f"playbook.run_{cmd.action}", "playbook_run", run.id,
                 {"case": case.reference, "playbook": pb.id, "from": before.value, "to": target.value})
    if target == RunStatus.ACTIVE:
        _advance(session, actor, run, pb, case)
    session.flush()
    return run


# ---------------------------------------------------------------- the run page


@dataclass
class StepView:
    step: definition.Step
    row: RunStep


@dataclass
class RunView:
    """What the run page shows: the steps by phase (in Phase order), what is ready now, who is on what, the
    progress, and the lifecycle state to offer when every containment step is finished."""

    run: PlaybookRun
    definition: definition.Playbook
    phases: list[tuple[Phase, list[StepView]]]
    ready: list[str]
    working: dict[str, list[str]] = field(default_factory=dict)  # username -> step ids (assigned, not finished)
    finished: int = 0
    total: int = 0
    offer_state: CaseStatus | None = None

    @property
    def states(self) -> dict[str, StepState]:
        return {v.row.step_id: v.row.state for _, views in self.phases for v in views}

    def steps(self) -> Iterator[StepView]:
        for _, views in self.phases:
            yield from views


def run_view(run: PlaybookRun) -> RunView:
    """The run as its page shows it (run: as get_run returns it, its steps loaded)."""
    pb = definition_of(run.playbook_version)
    rows = {s.step_id: s for s in run.steps}
    phases = [(phase, [StepView(s, rows[s.id]) for s in pb.steps if s.phase == phase and s.id in rows])
              for phase in Phase]
    working: dict[str, list[str]] = {}
    for s in run.steps:
        if s.assignee is not None and s.state not in FINISHED_STATES:
            working.setdefault(s.assignee.username, []).append(s.step_id)
    finished = sum(1 for s in run.steps if s.state in FINISHED_STATES)
    containment = [rows[s.id] for s in pb.steps if s.phase == Phase.CONTAINMENT and s.id in rows]
    offer = None
    if containment and all(r.state in FINISHED_STATES for r in containment) \
            and run.case.status == CaseStatus.CONTAINMENT:
        offer = CaseStatus.ERADICATION
    return RunView(run, pb, [(p, v) for p, v in phases if v], [s.step_id for s in run.steps if s.state ==
                   StepState.READY], working, finished, len(run.steps), offer)


# ---------------------------------------------------------------- shared


def _user_id(actor: Actor) -> int | None:
    return actor.user.id if actor.user is not None else None


def _entry(session: Session, actor: Actor, case: Case, summary: str, changes: dict[str, Any] | None = None, *,
           body: str | None = None) -> TimelineEntry:
    now = clock(session).now()
    entry = TimelineEntry(case_id=case.id, kind=EntryKind.PLAYBOOK, occurred_at=now, recorded_at=now,
                          actor_id=_user_id(actor), actor_name=actor.name, summary=summary[:500],
                          changes=changes or None, body=body)
    session.add(entry)
    return entry
