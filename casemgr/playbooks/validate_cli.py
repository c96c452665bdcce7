"""`casemgr playbook validate [PATH...]`: check playbook files and folders (default: the shipped playbooks/),
printing every problem as FILE:LINE: FIELD: WHAT. With a database, the teams, incident roles, categories and
custom fields the playbooks name are checked against it too."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from casemgr.cli import CliContext, pass_ctx, reports_errors
from casemgr.playbooks import loader
from casemgr.playbooks.cli import playbook


@playbook.command("validate")
@click.argument("paths", metavar="[PATH]...", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--no-db", is_flag=True, help="Do not read the instance's teams, roles, categories and fields.")
@pass_ctx
@reports_errors
def validate(ctx: CliContext, paths: tuple[Path, ...], no_db: bool) -> None:
    """Check playbook files or folders (a folder's shared steps are in its steps/). Exits with status 1
    when there are problems; changes nothing."""
    registry = None if no_db else _registry(ctx)
    count, shared_count, problems = 0, 0, []
    for path in paths or (loader.SHIPPED,):
        if path.is_dir():
            playbooks, found = loader.load_folder(path, registry=registry)
            count += len(list(path.glob("*.yaml")))
            shared_count += len(list((path / "steps").glob("*.yaml")))
        else:
            shared, found = loader.read_shared_steps(path.parent / "steps")
            shared_count += len(shared)
            _, more = loader.load_text(path.read_text(encoding="utf-8", errors="replace"),
                                       loader.display_name(path), shared, registry=registry)
            found += more
            count += 1
        problems += found
    for problem in problems:
        click.echo(str(problem))
    checked = "" if registry is not None else " (teams, incident roles, categories and custom fields not checked)"
    what = f"{count} playbook(s), {shared_count} shared step(s)"
    click.echo(f"{what}: {len(problems)} problem(s){checked}" if problems else f"{what}: no problems{checked}")
    if problems:
        sys.exit(1)


def _registry(ctx: CliContext) -> loader.Registry | None:
    from sqlalchemy.exc import SQLAlchemyError

    try:
        with ctx.transaction() as session:
            return loader.Registry.from_db(session)
    except SQLAlchemyError:  # no database, or not initialised: the files are checked on their own
        return None
