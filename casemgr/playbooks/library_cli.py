"""`casemgr playbook import|list|show|export`: the library for operators (the CLI acts as the system)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from casemgr.cli import CliContext, pass_ctx, reports_errors
from casemgr.playbooks.cli import playbook


def _yaml(version: object) -> str:
    from casemgr.playbooks import library

    return library.canonical_yaml(version)  # type: ignore[arg-type]


def _cacao(version: object) -> str:
    """The version as a CACAO 2.0 JSON playbook (docs/cacao.md), dated when it was imported, so that
    exporting it again gives the same document."""
    import json

    from casemgr.playbooks import cacao, library

    stamp = version.imported_at.strftime("%Y-%m-%dT%H:%M:%S.000Z")  # type: ignore[attr-defined]
    doc = cacao.to_cacao(library.definition_of(version), created=stamp)  # type: ignore[arg-type]
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


# --format NAME -> what writes a version in it
EXPORTS: dict[str, Callable[[object], str]] = {"yaml": _yaml, "cacao": _cacao}


@playbook.command("import")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@pass_ctx
@reports_errors
def import_(ctx: CliContext, path: Path) -> None:
    """Import playbook FILE, or every playbook of folder DIR (shared steps from DIR/steps)."""
    from casemgr.playbooks import library

    with ctx.transaction() as s:
        if path.is_dir():
            results = library.sync_folder(s, ctx.actor(), path)
        else:
            results = [library.import_text(s, ctx.actor(), library.ImportPlaybook(path.read_text(encoding="utf-8"),
                                                                                  path.name))]
        for r in results:
            click.echo(f"imported {r.version.playbook.code} {r.version.version} "
                       f"({'new' if r.created else 'unchanged'})")


@playbook.command("list")
@pass_ctx
@reports_errors
def list_(ctx: CliContext) -> None:
    """List the playbooks: id, current version, title."""
    from casemgr.playbooks import library

    with ctx.transaction() as s:
        for p in library.list_playbooks(s, ctx.actor()):
            current = p.current_version.version if p.current_version else "-"
            click.echo(f"{p.code}\t{current}\t{p.title}")


@playbook.command("show")
@click.argument("code")
@click.option("--version", "version", help="A version (default: the current one).")
@pass_ctx
@reports_errors
def show(ctx: CliContext, code: str, version: str | None) -> None:
    """Show playbook CODE: its versions and the steps of one."""
    from casemgr.playbooks import library

    with ctx.transaction() as s:
        chosen = library.get_version(s, ctx.actor(), code, version)
        click.echo(f"{code} {chosen.version}: {chosen.title}")
        for v in chosen.playbook.versions:
            mark = " (current)" if v.id == chosen.playbook.current_version_id else ""
            click.echo(f"  version {v.version}{mark}\t{v.content_hash[:12]}\t{v.imported_at:%Y-%m-%d %H:%M}")
        for step in library.definition_of(chosen).steps:
            click.echo(f"  step {step.id} [{step.phase}]: {step.title}")


@playbook.command("export")
@click.argument("code")
@click.option("--version", "version", help="A version (default: the current one).")
@click.option("--format", "fmt", type=click.Choice(sorted(EXPORTS)), default="yaml", show_default=True)
@pass_ctx
@reports_errors
def export(ctx: CliContext, code: str, version: str | None, fmt: str) -> None:
    """Write a version of playbook CODE to standard output."""
    from casemgr.playbooks import library

    with ctx.transaction() as s:
        click.echo(EXPORTS[fmt](library.get_version(s, ctx.actor(), code, version)), nl=False)
