"""`casemgr audit ...`."""

from __future__ import annotations

import sys
from typing import IO, Any

import click

from casemgr.audit import export as exports
from casemgr.audit import service
from casemgr.audit.schemas import ExportRequest
from casemgr.cli import CliContext, pass_ctx, reports_errors
from casemgr.fields import parse


@click.group()
def audit() -> None:
    """Verify, checkpoint and export the audit log."""


@audit.command("verify")
@pass_ctx
@reports_errors
def verify(ctx: CliContext) -> None:
    """Walk the hash chain and the signed checkpoints; exit 1 naming the first broken entry."""
    # A read transaction: on SQLite a write one would hold back every writer for the whole walk.
    with ctx.db.session(write=False) as s, s.begin():
        report = service.verify_chain(s, ctx.actor())
    if report.ok:
        click.echo(f"audit chain intact: {report.checked} entries checked, "
                   f"{report.checkpoints_checked} signed checkpoints verified")
        return
    click.echo(f"audit chain BROKEN at entry #{report.first_broken_seq}: {report.reason} "
               f"({report.checked} entries present)", err=True)
    for problem in report.problems[1:]:
        click.echo(f"  also: {problem}", err=True)
    sys.exit(1)


@audit.command("checkpoint")
@pass_ctx
@reports_errors
def checkpoint(ctx: CliContext) -> None:
    """Sign a checkpoint of the current chain head."""
    with ctx.transaction() as s:
        cp = service.checkpoint(s, ctx.actor())
        click.echo(f"checkpoint signed: {cp.entry_count} entries, head {cp.head_hash}, key {cp.key_id}")


@audit.command("export")
@click.option("--format", "format_", type=click.Choice(["csv", "jsonl"]), default="jsonl", show_default=True)
@click.option("--since", help="From this time (ISO 8601, UTC unless given), inclusive.")
@click.option("--until", help="Up to this time, exclusive (a date includes that day).")
@click.option("--actor", help="A username.")
@click.option("--action", help="An action or its prefix, e.g. auth.")
@click.option("--object-type")
@click.option("--object-id")
@click.option("--case", help="A case reference, e.g. IR-2026-0001: the entries about that case.")
@click.option("-o", "--output", type=click.File("w", encoding="utf-8", lazy=True), default="-",
              help="The file to write (default: standard output).")
@pass_ctx
@reports_errors
def export(ctx: CliContext, format_: str, output: IO[str], **filters: Any) -> None:
    """Export the matching entries with the chain proof (docs/audit-log.md says how to check it)."""
    request = parse(ExportRequest, {"format": format_, **{k: v for k, v in filters.items() if v is not None}})
    with ctx.transaction() as s:  # the export's own entry, and a checkpoint when one is needed
        plan = exports.start_export(s, ctx.actor(), service.AuditFilter(**request.model_dump(exclude={"format"})),
                                    request.format)
    with ctx.db.session(write=False) as s, s.begin():
        for chunk in exports.export_chunks(s, plan):
            output.write(chunk)
    click.echo(f"exported {plan.matching} matching entries up to signed checkpoint #{plan.checkpoint.id} "
               f"({plan.checkpoint.entry_count} entries)", err=True)
