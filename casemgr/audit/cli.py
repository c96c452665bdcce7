"""`casemgr audit ...`."""

from __future__ import annotations

import sys

import click

from casemgr.audit import service
from casemgr.cli import CliContext, pass_ctx, reports_errors


@click.group()
def audit() -> None:
    """Verify and checkpoint the audit log."""


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
