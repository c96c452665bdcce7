"""`casemgr config export|check|apply DIR`: the configuration as a folder of YAML files (the CLI acts as
the system, with admin rights). check and apply print every problem as FILE:LINE: FIELD: WHAT."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from casemgr.cli import CliContext, pass_ctx, reports_errors
from casemgr.configfiles import service
from casemgr.configfiles.service import ConfigRefused, Report

FOLDER = click.argument("folder", metavar="DIR", type=click.Path(file_okay=False, path_type=Path))


@click.group()
def config() -> None:
    """Export, check and apply the configuration files (YAML)."""


@config.command("export")
@FOLDER
@pass_ctx
@reports_errors
def export(ctx: CliContext, folder: Path) -> None:
    """Write the configuration into DIR, one file per section (files of the same name are replaced)."""
    with ctx.transaction() as s:
        written = service.export_folder(s, ctx.actor(), folder)
    for path, count in written:
        click.echo(f"wrote {path} ({count} items)")


@config.command("check")
@FOLDER
@pass_ctx
@reports_errors
def check(ctx: CliContext, folder: Path) -> None:
    """Report every problem in the files of DIR, and what apply would change. Changes nothing;
    exits with status 1 when there are problems."""
    with ctx.transaction() as s:
        report = service.check_folder(s, ctx.actor(), folder)
        s.rollback()
    if report.problems:
        _problems(report)
    _summary(report, would=True)


@config.command("apply")
@FOLDER
@pass_ctx
@reports_errors
def apply(ctx: CliContext, folder: Path) -> None:
    """Make the configuration what the files of DIR say, all or nothing (check first; exits with status 1
    and changes nothing when there are problems). Nothing is deleted: what the files leave out is kept."""
    try:
        with ctx.transaction() as s:
            report = service.apply_folder(s, ctx.actor(), folder)
    except ConfigRefused as exc:
        _problems(Report(problems=exc.problems))
    _summary(report, would=False)


def _problems(report: Report) -> None:
    for problem in report.problems:
        click.echo(str(problem), err=True)
    click.echo(f"casemgr: {len(report.problems)} problem(s); nothing was changed", err=True)
    sys.exit(1)


def _summary(report: Report, *, would: bool) -> None:
    for change in report.changes:
        click.echo(("would change: " if would else "") + change)
    for name, items in report.left_out.items():
        if items:
            click.echo(f"kept as they are, not in the {name} file: {', '.join(items)}")
    if report.absent:
        click.echo(f"not in the folder, left alone: {', '.join(report.absent)}")
    if not report.changes:
        click.echo("nothing to change: the database already says what the files say")
    elif would:
        click.echo(f"no problems; {len(report.changes)} change(s) to make (casemgr config apply)")
    else:
        click.echo(f"applied {len(report.changes)} change(s)")
