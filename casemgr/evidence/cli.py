"""`casemgr evidence verify|gc|export` and `casemgr keys rotate|retire|list|public`."""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from casemgr.cli import CliContext, pass_ctx, reports_errors
from casemgr.errors import DomainError

# The services are imported by the commands that use them: `casemgr --help` and the other
# commands must not pay for python-magic and the evidence store (tests/test_cli_startup.py).
if TYPE_CHECKING:
    from casemgr.evidence.vault import EvidenceVault


def _vault(ctx: CliContext) -> EvidenceVault:
    from casemgr import collaborators
    from casemgr.evidence.vault import check_master_keys

    vault = collaborators.vault(ctx.db)
    check_master_keys(ctx.db, vault)
    return vault


@click.group()
def evidence() -> None:
    """Verify, export and clean the evidence store."""


@evidence.command("verify")
@click.option("--all", "all_items", is_flag=True, help="Verify every item that still has content.")
@click.argument("ids", nargs=-1, type=int)
@pass_ctx
@reports_errors
def verify(ctx: CliContext, all_items: bool, ids: tuple[int, ...]) -> None:
    """Decrypt and hash items (without writing content anywhere); one line per item.

    Exits 1 naming the items that failed."""
    from casemgr.evidence import service

    if bool(all_items) == bool(ids):
        raise click.UsageError("give item ids or --all (not both)")
    _vault(ctx)
    with ctx.transaction() as s:
        results = service.verify_many(s, ctx.actor(), None if all_items else list(ids))
        for r in results:
            status = "OK    " if r.ok else "FAILED"
            click.echo(f"{status} #{r.item.id} {r.item.case.reference} {r.item.filename} sha256={r.item.sha256}"
                       + (f": {r.detail}" if r.detail else ""))
        failed = [f"#{r.item.id}" for r in results if not r.ok]
    click.echo(f"{len(results)} item(s) verified, {len(failed)} failed")
    if failed:
        click.echo(f"casemgr: integrity failure in {', '.join(failed)}", err=True)
        sys.exit(1)


@evidence.command("gc")
@click.option("--delete", is_flag=True, help="Remove the orphans and stale temporary files found.")
@click.option("--min-age", default=0, show_default=True, type=click.IntRange(0),
              help="Also leave alone orphans younger than this many seconds.")
@pass_ctx
@reports_errors
def gc(ctx: CliContext, delete: bool, min_age: int) -> None:
    """List files in the evidence store that no record refers to (and remove them with --delete).

    Every orphan is listed, whatever its age, except a file an upload in progress holds (its record
    is about to be committed). Exits 1 when orphans or stale temporary files were found and left in
    place; with --delete, 0 once every one is removed. Entries that are not the store's are listed
    and left alone; they do not change the exit status."""
    from casemgr.evidence import service

    vault = _vault(ctx)
    with ctx.transaction() as s:
        report = service.gc(s, ctx.actor(), delete=delete, min_age=dt.timedelta(seconds=min_age))
    for object_id in report.orphans:
        click.echo(f"orphan {vault.store.path_for(object_id)}")
    for path in report.stale_temp:
        click.echo(f"stale temporary file {path}")
    for path in report.foreign:
        click.echo(f"not ours (left alone) {path}")
    found = len(report.orphans) + len(report.stale_temp)
    if not found:
        click.echo(f"the evidence store {vault.store.root} is clean")
    elif delete:
        click.echo(f"deleted {report.deleted} file(s)")
    else:
        click.echo(f"{found} file(s) without a record; run with --delete to remove them")
        sys.exit(1)


@evidence.command("export")
@click.argument("reference")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The ZIP file to write.")
@pass_ctx
@reports_errors
def export_case(ctx: CliContext, reference: str, output: Path) -> None:
    """Write a signed export package of a case's evidence (see the package's README.txt)."""
    from casemgr.cases import service as cases_service
    from casemgr.evidence import export, service

    _vault(ctx)
    if output.exists():
        raise click.UsageError(f"{output} exists already; choose another name")
    tmp = output.with_name(f".{output.name}.part")
    try:
        with ctx.transaction() as s:
            case = cases_service.get_case_by_reference(s, ctx.actor(), reference)
            package = export.export_case(s, ctx.actor(), case.id)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            for chunk in package.chunks:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, output)
    except service.ContentIntegrityError as exc:
        tmp.unlink(missing_ok=True)
        raise DomainError(str(exc)) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    click.echo(f"wrote {output}")


@evidence.command("settings")
@click.option("--auditor-can-download", type=click.Choice(["yes", "no"]), help="Let auditors download content.")
@pass_ctx
@reports_errors
def settings(ctx: CliContext, auditor_can_download: str | None) -> None:
    """Show (or change) the evidence settings."""
    from casemgr.evidence import service

    with ctx.transaction() as s:
        if auditor_can_download is not None:
            service.set_auditor_can_download(s, ctx.actor(), auditor_can_download == "yes")
        click.echo(f"auditor_can_download: {'yes' if service.auditor_can_download(s) else 'no'}")


@click.group()
def keys() -> None:
    """Evidence master keys and the instance signing key."""


@keys.command("rotate")
@click.option("--resume", is_flag=True, help="Only finish re-wrapping under the current key (no new key).")
@click.option("--batch", default=500, show_default=True, type=click.IntRange(1, 100_000),
              help="Data keys re-wrapped per committed transaction.")
@pass_ctx
@reports_errors
def rotate(ctx: CliContext, resume: bool, batch: int) -> None:
    """Make a new master key current and re-wrap every data key under it (content is untouched).

    Commits every --batch items; if interrupted, run `casemgr keys rotate --resume`."""
    from casemgr.evidence import service

    vault = _vault(ctx)
    if not resume:
        click.echo(f"new current master key {vault.keyring.rotate()}")
    total = 0
    while True:
        with ctx.transaction() as s:
            done = service.rewrap_batch(s, ctx.actor(), batch)
        if not done:
            break
        total += done
        click.echo(f"re-wrapped {total} data key(s)")
    click.echo(f"every data key is wrapped under {vault.keyring.current_id} ({total} re-wrapped now)")


@keys.command("retire")
@click.argument("key_id")
@pass_ctx
@reports_errors
def retire(ctx: CliContext, key_id: str) -> None:
    """Remove a master key that no data key uses any more."""
    from casemgr.evidence import service

    _vault(ctx)
    with ctx.transaction() as s:
        service.retire_key(s, ctx.actor(), key_id)
    click.echo(f"retired master key {key_id}")


@keys.command("list")
@pass_ctx
@reports_errors
def list_keys(ctx: CliContext) -> None:
    """The master keys, which is current, and how many data keys each wraps."""
    from casemgr.evidence import service

    vault = _vault(ctx)
    with ctx.transaction() as s:
        used = service.keys_in_use(s)
    current = vault.keyring.current_id
    for key_id in vault.keyring.key_ids():
        click.echo(f"{key_id} {'current' if key_id == current else '       '} wraps {used.get(key_id, 0)} data key(s)")


@keys.command("public")
@pass_ctx
@reports_errors
def public(ctx: CliContext) -> None:
    """Print the instance's Ed25519 public key (PEM): it verifies export manifests and audit checkpoints."""
    from casemgr.signing import Signer

    click.echo(Signer.load(ctx.settings.signing_key_path).public_pem(), nl=False)
