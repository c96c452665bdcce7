"""`casemgr stix import FILE --case REF` and `casemgr stix export REF`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from casemgr.cli import CliContext, pass_ctx, reports_errors
from casemgr.errors import Invalid

# ioc-finder and stix2 take about a second to import: only the commands that use them do
# (tests/test_cli_startup.py).
if TYPE_CHECKING:
    from casemgr.indicators import imports


@click.group()
def stix() -> None:
    """Import and export STIX 2.1 bundles."""


@stix.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path, allow_dash=True))
@click.option("--case", "reference", required=True, help="The case to import into, e.g. IR-2026-0001.")
@click.option("--partial", is_flag=True, help="Import the valid objects even if some are invalid.")
@click.option("--dry-run", is_flag=True, help="Check and count only; store nothing.")
@pass_ctx
@reports_errors
def import_file(ctx: CliContext, file: Path, reference: str, partial: bool, dry_run: bool) -> None:
    """Import the STIX 2.1 bundle in FILE ('-' for standard input) into a case."""
    from casemgr.cases.service import get_case_by_reference
    from casemgr.indicators import imports
    from casemgr.indicators.bundle import BundleRejected

    bar: Any = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = click.progressbar(length=total, label="importing", file=sys.stderr, show_pos=True)
            bar.__enter__()
        bar.update(done - bar.pos)

    try:
        with _open(file) as source, ctx.transaction() as s:
            case = get_case_by_reference(s, ctx.actor(), reference)
            report = imports.import_bundle(s, ctx.actor(), case.id, source, partial=partial, dry_run=dry_run,
                                           progress=progress)
    except BundleRejected as exc:
        _close(bar)
        for item in exc.details.get("rejected", []):
            click.echo(f"rejected object {item['index']} {item['id'] or '-'}: {item['reason']}", err=True)
        raise
    _close(bar)
    _summary(report, case_reference=case.reference)


def _open(file: Path) -> IO[bytes]:
    if str(file) == "-":
        return click.get_binary_stream("stdin")
    try:
        return file.open("rb")
    except OSError as exc:
        raise Invalid(f"cannot read {file}: {exc.strerror}", field="FILE") from None


def _close(bar: Any) -> None:
    if bar is not None:
        bar.__exit__(None, None, None)


def _summary(report: imports.ImportReport, *, case_reference: str) -> None:
    verb = "would store" if report.dry_run else "stored"
    click.echo(f"{case_reference}: {report.total} object(s) read, {verb} {report.stored}"
               f" ({sum(report.added.values())} new, {sum(report.new_versions.values())} newer versions,"
               f" {sum(report.old_versions.values())} older versions kept as history),"
               f" {sum(report.duplicates.values())} duplicate(s), {len(report.rejected)} rejected")
    for note in report.conversion.notes:
        click.echo(f"converted: {note}")
    for mapping in report.conversion.markings:
        click.echo(f"marking mapped: {mapping.source_id} ({mapping.source}) -> TLP:{mapping.level.value.upper()} "
                   f"{mapping.target_id}, {mapping.references} reference(s)")
    for kind, number in sorted(report.added.items()):
        click.echo(f"  {kind:<24} {number}")
    for item in report.rejected:
        click.echo(f"rejected object {item.index} {item.id or '-'}: {item.reason}", err=True)


@stix.command("export")
@click.argument("reference")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the bundle to this file (default: standard output).")
@click.option("--include-red", is_flag=True, help="Include the objects marked TLP:RED.")
@pass_ctx
@reports_errors
def export_case(ctx: CliContext, reference: str, output: Path | None, include_red: bool) -> None:
    """Export case REFERENCE as a STIX 2.1 bundle."""
    from casemgr.cases.service import get_case_by_reference
    from casemgr.indicators import sharing

    with ctx.transaction() as s:
        case = get_case_by_reference(s, ctx.actor(), reference)
        chunks = sharing.export_bundle(s, ctx.actor(), case.id, include_red=include_red)
        if output is None:
            for chunk in chunks:
                click.echo(chunk, nl=False)
            click.echo()
            return
        partial = output.with_name(output.name + ".part")
        try:
            with partial.open("w", encoding="utf-8") as f:
                for chunk in chunks:
                    f.write(chunk)
            partial.replace(output)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise Invalid(f"cannot write {output}: {exc.strerror}", field="--output") from None
    click.echo(f"{case.reference} exported to {output}", err=True)


@stix.command("revoke")
@click.argument("reference")
@click.argument("object_id")
@click.option("--reason", required=True, help="Why it is revoked (on the case timeline).")
@pass_ctx
@reports_errors
def revoke(ctx: CliContext, reference: str, object_id: str, reason: str) -> None:
    """Revoke STIX object OBJECT_ID of case REFERENCE (a new, last version with revoked: true)."""
    from casemgr.cases.service import get_case_by_reference
    from casemgr.fields import parse
    from casemgr.indicators import corrections
    from casemgr.indicators.schemas import Revocation

    cmd = parse(Revocation, {"reason": reason})
    with ctx.transaction() as s:
        case = get_case_by_reference(s, ctx.actor(), reference)
        obj = corrections.revoke(s, ctx.actor(), case.id, object_id, cmd).obj
        version = obj.modified.isoformat() if obj.modified else "-"
        click.echo(f"{case.reference}: {obj.stix_id} revoked (new version {version})")


@stix.command("tlp")
@click.argument("reference")
@click.argument("object_id")
@click.argument("level")
@click.option("--reason", required=True, help="Why the TLP changes (on the case timeline).")
@pass_ctx
@reports_errors
def change_tlp(ctx: CliContext, reference: str, object_id: str, level: str, reason: str) -> None:
    """Mark STIX object OBJECT_ID of case REFERENCE with TLP LEVEL (clear, green, amber, amber+strict, red)."""
    from casemgr.cases.service import get_case_by_reference
    from casemgr.fields import parse
    from casemgr.indicators import corrections
    from casemgr.indicators.schemas import TlpChange

    cmd = parse(TlpChange, {"tlp": level, "reason": reason})
    with ctx.transaction() as s:
        case = get_case_by_reference(s, ctx.actor(), reference)
        done = corrections.change_tlp(s, ctx.actor(), case.id, object_id, cmd)
        click.echo(f"{case.reference}: {done.obj.stix_id} now marked {done.marking.label}")
