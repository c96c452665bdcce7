"""`casemgr playbook run ...`: start a playbook on a case, show a run, act on a step (as the system, or --as)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from casemgr.cases.cli import _actor, as_user
from casemgr.cli import CliContext, pass_ctx, reports_errors
from casemgr.fields import parse
from casemgr.playbooks.cli import playbook
from casemgr.playbooks.runs_schemas import StartRun, StepAction

if TYPE_CHECKING:
    from casemgr.playbooks.models import PlaybookRun


@playbook.group("run")
def run_group() -> None:
    """Run playbooks on cases."""


def _show(run: PlaybookRun) -> None:
    from casemgr.playbooks import runs

    view = runs.run_view(run)
    click.echo(f"run {run.id}\t{view.definition.id} {view.definition.version}\t{run.status}\t"
               f"{view.finished}/{view.total} finished\tcase {run.case.reference}")
    for phase, steps in view.phases:
        click.echo(f"{phase}:")
        for v in steps:
            assignee = f"\t{v.row.assignee.username}" if v.row.assignee else ""
            click.echo(f"  {v.row.step_id:<32} {v.row.state.value:<15} v{v.row.version}{assignee}")


@run_group.command("start")
@click.argument("case_ref")
@click.argument("playbook_id")
@click.option("--version", help="The version to run (default: the current one).")
@as_user
@pass_ctx
@reports_errors
def start(ctx: CliContext, case_ref: str, playbook_id: str, version: str | None, as_username: str | None) -> None:
    """Start playbook PLAYBOOK_ID on case CASE_REF (e.g. IR-2026-0001)."""
    from casemgr.cases import service as cases
    from casemgr.playbooks import runs

    with ctx.transaction() as s:
        actor = _actor(ctx, s, as_username)
        case = cases.get_case_by_reference(s, actor, case_ref)
        run = runs.start_run(s, actor, case.id, parse(StartRun, {"playbook": playbook_id, "version": version}))
        _show(runs.get_run(s, actor, run.id))


@run_group.command("show")
@click.argument("run_id", type=int)
@as_user
@pass_ctx
@reports_errors
def show(ctx: CliContext, run_id: int, as_username: str | None) -> None:
    """Show run RUN_ID: its steps by phase, their states and versions."""
    from casemgr.playbooks import runs

    with ctx.transaction() as s:
        _show(runs.get_run(s, _actor(ctx, s, as_username), run_id))


@run_group.command("step")
@click.argument("run_id", type=int)
@click.argument("step_id")
@click.argument("action")
@click.option("--input", "inputs", multiple=True, metavar="ID=VALUE", help="An input; repeat for more.")
@click.option("--note")
@click.option("--reason")
@click.option("--assignee")
@as_user
@pass_ctx
@reports_errors
def step(ctx: CliContext, run_id: int, step_id: str, action: str, *, inputs: tuple[str, ...], note: str | None,
         reason: str | None, assignee: str | None, as_username: str | None) -> None:
    """ACTION (start, complete, skip, fail, block, assign, approve, reject) on step STEP_ID of run RUN_ID."""
    from casemgr.playbooks import runs

    given = dict(i.partition("=")[::2] for i in inputs)
    with ctx.transaction() as s:
        actor = _actor(ctx, s, as_username)
        run = runs.get_run(s, actor, run_id)
        row = next((r for r in run.steps if r.step_id == step_id), None)
        cmd = parse(StepAction, {"action": action, "version": row.version if row else 1, "inputs": given,
                                 "note": note, "reason": reason, "assignee": assignee})
        runs.act_on_step(s, actor, run_id, step_id, cmd)
        _show(runs.get_run(s, actor, run_id))
