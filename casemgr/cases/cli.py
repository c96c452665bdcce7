"""`casemgr case list`, `casemgr case export` and `casemgr case show REF`.

The CLI operator acts as the system and sees every case; `--as USERNAME` shows what that user
would see (their access rules apply).
"""

from __future__ import annotations

from typing import IO, Any

import click
from sqlalchemy.orm import Session

from casemgr.auth.actor import Actor
from casemgr.cases import service
from casemgr.cases.models import CaseStatus, Priority, Tlp
from casemgr.cases.schemas import CaseQuery
from casemgr.cli import CliContext, pass_ctx, reports_errors
from casemgr.errors import Invalid, NotFound
from casemgr.fields import parse

as_user = click.option("--as", "as_username", metavar="USERNAME",
                       help="Show only what USERNAME may see (default: everything).")


def _actor(ctx: CliContext, session: Session, username: str | None) -> Actor:
    if username is None:
        return ctx.actor()
    from casemgr.auth import service as auth  # argon2, pyotp and the rest of sign-in: only for --as

    try:
        user = auth.get_user(session, username)
    except NotFound:
        user = None
    if user is None or user.is_disabled:
        raise Invalid(f"there is no active user {username!r}", field="--as")
    return Actor(user=user, via="cli", system_name=ctx.actor().system_name)


def case_filters(command: Any) -> Any:
    """The case list's filters (CaseQuery), shared by `case list` and `case export`."""
    for option in reversed(_FILTERS):
        command = option(command)
    return command


_FILTERS = [
    click.option("--status", help="One or more states, comma-separated: " + ", ".join(CaseStatus)),
    click.option("--priority", help="One or more of " + ", ".join(Priority) + ", comma-separated."),
    click.option("--category", help="A taxonomy category code, e.g. malicious-code."),
    click.option("--owner", help="A username, or 'none' for unassigned cases."),
    click.option("--team"),
    click.option("--tag"),
    click.option("--tlp", type=click.Choice(list(Tlp))),
    click.option("--open", "state", flag_value="open", help="Only open cases."),
    click.option("--closed", "state", flag_value="closed", help="Only resolved and closed cases."),
    click.option("--since", help="Created at or after (ISO 8601)."),
    click.option("--until", help="Created before (ISO 8601)."),
    click.option("-q", "--search", "q", help="Words to find in title, description and notes."),
    click.option("--no-commander", "no_commander", is_flag=True, default=None,
                  help="Only open P1 cases with no incident commander (the list's 'no incident commander' flag)."),
    click.option("--sort", default="-created", show_default=True,
                  help="created, updated, age, priority, occurred or reference; '-' for descending "
                       "(-updated: last updated first; -age: oldest first)."),
    click.option("--field", "fields", multiple=True, metavar="CODE=VALUE",
                 help="A custom field's value; repeat for more."),
]


@click.group()
def case() -> None:
    """List, show and export cases."""


@case.command("list")
@case_filters
@click.option("--page", default=1, show_default=True, type=int)
@click.option("--per-page", default=50, show_default=True, type=int)
@as_user
@pass_ctx
@reports_errors
def list_cases(ctx: CliContext, as_username: str | None, fields: tuple[str, ...], **filters: Any) -> None:
    """List cases: reference, status, priority, owner, title."""
    wanted = {f"field.{code}": value for code, value in _custom_fields(fields).items()}
    query = parse(CaseQuery, {**{k: v for k, v in filters.items() if v is not None}, **wanted})
    with ctx.transaction() as s:
        page = service.list_cases(s, _actor(ctx, s, as_username), query)
        for c in page.items:
            owner = c.owner.username if c.owner else "-"
            flag = " [restricted]" if c.restricted else ""
            click.echo(f"{c.reference:<14} {c.status.value:<13} {c.priority.value:<3} {owner:<16} {c.title}{flag}")
    shown = f"{page.offset + 1}-{page.offset + len(page.items)}"
    click.echo(f"{page.total} case(s)" + (f", showing {shown}" if page.items and page.total > len(page.items) else ""))


@case.command("export")
@case_filters
@click.option("--format", "format_", type=click.Choice(["csv", "json"]), required=True,
              help="csv (a header row, custom fields as field.CODE) or json (JSON lines, one case a line).")
@click.option("-o", "--output", type=click.File("w", encoding="utf-8", lazy=True), default="-",
              help="The file to write (default: standard output).")
@as_user
@pass_ctx
@reports_errors
def export_cases(ctx: CliContext, as_username: str | None, fields: tuple[str, ...], format_: str, output: IO[str],
                 **filters: Any) -> None:
    """Export every case the filters match (as `case list`, all pages; at most 10,000) as CSV or JSON lines."""
    wanted = {f"field.{code}": value for code, value in _custom_fields(fields).items()}
    query = parse(CaseQuery, {**{k: v for k, v in filters.items() if v is not None}, **wanted})
    with ctx.transaction() as s:  # the export's audit entry
        plan = service.start_export(s, _actor(ctx, s, as_username), query, format_)
    with ctx.db.session(write=False) as s, s.begin():
        for chunk in service.export_chunks(s, plan):
            output.write(chunk)
    click.echo(f"exported {len(plan.case_ids)} case(s)", err=True)


@case.command("show")
@click.argument("reference")
@as_user
@pass_ctx
@reports_errors
def show_case(ctx: CliContext, reference: str, as_username: str | None) -> None:
    """Show case REFERENCE (e.g. IR-2026-0001) with its timeline."""
    with ctx.transaction() as s:
        actor = _actor(ctx, s, as_username)
        c = service.get_case_by_reference(s, actor, reference)
        entries = service.timeline(s, actor, c.id).items
        rows = [
            ("Title", c.title),
            ("Status", c.status.value + (f" ({c.resolution.value})" if c.resolution else "")),
            ("Priority", f"{c.priority.value} (impact {c.impact.value}, urgency {c.urgency.value})"
             + (" overridden" if c.priority_overridden else "")),
            ("Severity", c.severity.value),
            ("Category", service.taxonomy(s).label(c.category, c.subcategory)),
            ("TLP / PAP", f"{c.tlp.value.upper()} / {c.pap.value.upper()}"),
            ("Restricted", "yes" if c.restricted else "no"),
            ("Owner", c.owner.username if c.owner else "unassigned"),
            ("Team", c.team_name or "-"),
            ("Members", ", ".join(c.member_names) or "-"),
            ("Tags", ", ".join(c.tag_names) or "-"),
            ("Source", c.source.value if c.source else "-"),
            ("Created", c.created_at.isoformat(timespec="seconds")),
            ("Version", str(c.version)),
        ]
        click.echo(c.reference)
        for label, value in rows:
            click.echo(f"  {label + ':':<12} {value}")
        from casemgr.cases import custom_fields

        for shown in custom_fields.shown_fields(s, c):
            if shown.value is not None:
                mark = " (retired)" if shown.retired else ""
                click.echo(f"  {shown.field.label + mark + ':':<12} {shown.text}")
        if c.description:
            click.echo("\nDescription:\n" + "\n".join(f"  {line}" for line in c.description.splitlines()))
        click.echo("\nTimeline:")
        for e in entries:
            click.echo(f"  {e.occurred_at.isoformat(timespec='minutes')}  {e.actor_name:<14} {e.summary}")


def _custom_fields(given: tuple[str, ...]) -> dict[str, Any]:
    """`--field CODE=VALUE` options as custom field values; a code given twice is a list (multi-choice)."""
    values: dict[str, Any] = {}
    for item in given:
        code, sep, value = item.partition("=")
        if not sep or not code.strip():
            raise Invalid(f"--field: give CODE=VALUE, not {item!r}", field="--field")
        code = code.strip()
        if code in values:
            values[code] = [*(values[code] if isinstance(values[code], list) else [values[code]]), value]
        else:
            values[code] = value
    return values


field_option = click.option("--field", "fields", multiple=True, metavar="CODE=VALUE",
                            help="A custom field's value (`casemgr field list`); repeat for more, and a code "
                                 "twice for several options of a multi-choice; CODE= clears it (update).")


@case.command("create")
@click.option("--title", required=True)
@click.option("--category", required=True, help="A taxonomy category code, e.g. malicious-code.")
@click.option("--subcategory")
@click.option("--impact", default="medium", show_default=True)
@click.option("--urgency", default="medium", show_default=True)
@click.option("--description")
@click.option("--tlp")
@click.option("--owner", help="A username.")
@field_option
@as_user
@pass_ctx
@reports_errors
def create_case(ctx: CliContext, as_username: str | None, fields: tuple[str, ...], **given: Any) -> None:
    """Open a case (as --as USERNAME, or as the system)."""
    from casemgr.cases.schemas import NewCase

    cmd = parse(NewCase, {**{k: v for k, v in given.items() if v is not None},
                          "custom_fields": _custom_fields(fields)})
    with ctx.transaction() as s:
        click.echo(f"opened {service.create_case(s, _actor(ctx, s, as_username), cmd).reference}")


@case.command("update")
@click.argument("reference")
@click.option("--title")
@click.option("--category")
@click.option("--subcategory")
@click.option("--description")
@field_option
@as_user
@pass_ctx
@reports_errors
def update_case(ctx: CliContext, reference: str, as_username: str | None, fields: tuple[str, ...],
                **given: Any) -> None:
    """Change case REFERENCE: only the options given."""
    from casemgr.cases.schemas import CaseUpdate

    data: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    if fields:
        data["custom_fields"] = _custom_fields(fields)
    with ctx.transaction() as s:
        actor = _actor(ctx, s, as_username)
        c = service.get_case_by_reference(s, actor, reference)
        service.update_case(s, actor, c.id, parse(CaseUpdate, {**data, "version": c.version}))
        click.echo(f"{c.reference} saved (version {c.version})")


@case.command("escalations")
@as_user
@pass_ctx
@reports_errors
def list_escalations(ctx: CliContext, as_username: str | None) -> None:
    """List escalations not acknowledged yet on open cases (for --as: those waiting for that user)."""
    with ctx.transaction() as s:
        pending = service.pending_escalations(s, _actor(ctx, s, as_username), per_page=200)
        for p in pending.items:
            e = p.escalation
            to = e.to_user.username if e.to_user else (f"team {e.to_team}" if e.to_team else "management")
            click.echo(f"{p.case.reference:<14} #{e.id:<6} {e.kind.value:<13} to {to:<16} "
                       f"by {e.created_by_name} {e.created_at:%Y-%m-%d %H:%M}")
    click.echo(f"{pending.total} pending escalation(s)")


@case.command("acknowledge")
@click.argument("reference")
@click.argument("escalation_id", type=int)
@as_user
@pass_ctx
@reports_errors
def acknowledge(ctx: CliContext, reference: str, escalation_id: int, as_username: str | None) -> None:
    """Acknowledge escalation ESCALATION_ID of case REFERENCE (as --as USERNAME, its recipient)."""
    with ctx.transaction() as s:
        actor = _actor(ctx, s, as_username)
        c = service.get_case_by_reference(s, actor, reference)
        e = service.acknowledge_escalation(s, actor, c.id, escalation_id)
        click.echo(f"{c.reference}: escalation #{e.id} acknowledged by {e.acknowledged_by_name}")


# ---------------------------------------------------------------- incident roles (casemgr/cases/incident_roles.py)


@case.group("role")
def role() -> None:
    """Incident roles on a case, and the role kinds."""


@role.command("list")
@click.argument("reference")
@as_user
@pass_ctx
@reports_errors
def list_roles(ctx: CliContext, reference: str, as_username: str | None) -> None:
    """Show who holds each incident role on case REFERENCE now, and before."""
    from casemgr.cases import incident_roles

    with ctx.transaction() as s:
        actor = _actor(ctx, s, as_username)
        c = service.get_case_by_reference(s, actor, reference)
        for h in incident_roles.case_roles(s, actor, c.id):
            holder = h.current.user.username if h.current else "-"
            before = ", ".join(a.user.username for a in h.before)
            click.echo(f"{h.kind.code:<22} {holder:<16}" + (f" (before: {before})" if before else ""))


@role.command("assign")
@click.argument("reference")
@click.argument("code")
@click.argument("username")
@as_user
@pass_ctx
@reports_errors
def assign_role(ctx: CliContext, reference: str, code: str, username: str, as_username: str | None) -> None:
    """Name USERNAME in incident role CODE on case REFERENCE (handing it over from its holder)."""
    from casemgr.cases import incident_roles
    from casemgr.cases.schemas import RoleAssignment

    with ctx.transaction() as s:
        actor = _actor(ctx, s, as_username)
        c = service.get_case_by_reference(s, actor, reference)
        h = incident_roles.assign(s, actor, c.id, code, parse(RoleAssignment, {"user": username}))
        click.echo(f"{c.reference}: {h.kind.label} is {username}")


@role.command("release")
@click.argument("reference")
@click.argument("code")
@as_user
@pass_ctx
@reports_errors
def release_role(ctx: CliContext, reference: str, code: str, as_username: str | None) -> None:
    """Leave incident role CODE on case REFERENCE with no holder."""
    from casemgr.cases import incident_roles

    with ctx.transaction() as s:
        actor = _actor(ctx, s, as_username)
        c = service.get_case_by_reference(s, actor, reference)
        h = incident_roles.release(s, actor, c.id, code)
        click.echo(f"{c.reference}: {h.kind.label} is held by no one")


@role.command("kinds")
@pass_ctx
@reports_errors
def list_kinds(ctx: CliContext) -> None:
    """List the incident role kinds: code, label, built-in or added, retired."""
    from casemgr.cases import incident_roles

    with ctx.transaction() as s:
        for k in incident_roles.list_kinds(s, ctx.actor()):
            flags = ("built-in" if k.builtin else "added") + (", retired" if k.is_retired else "")
            click.echo(f"{k.code:<22} {k.label:<28} {flags}")


@role.command("add-kind")
@click.argument("code")
@click.argument("label")
@click.option("--description", default=None)
@pass_ctx
@reports_errors
def add_kind(ctx: CliContext, code: str, label: str, description: str | None) -> None:
    """Add an incident role kind CODE (lowercase letters, digits, underscores) named LABEL."""
    from casemgr.cases import incident_roles
    from casemgr.cases.schemas import NewRoleKind

    with ctx.transaction() as s:
        k = incident_roles.create_kind(s, ctx.actor(), parse(NewRoleKind, {"code": code, "label": label,
                                                                            "description": description}))
        click.echo(f"incident role {k.code} added")


@role.command("retire-kind")
@click.argument("code")
@click.option("--undo", is_flag=True, help="Bring a retired kind back.")
@pass_ctx
@reports_errors
def retire_kind(ctx: CliContext, code: str, undo: bool) -> None:
    """Retire incident role kind CODE: no new holders; its history on cases stays readable."""
    from casemgr.cases import incident_roles
    from casemgr.cases.schemas import RoleKindUpdate

    with ctx.transaction() as s:
        k = incident_roles.update_kind(s, ctx.actor(), code, parse(RoleKindUpdate, {"retired": not undo}))
        click.echo(f"incident role {k.code} {'retired' if k.is_retired else 'in use again'}")


@click.group()
def taxonomy() -> None:
    """Show the incident categories and subcategories."""


@taxonomy.command("list")
@click.option("--retired", is_flag=True, help="Include retired categories and subcategories.")
@pass_ctx
@reports_errors
def list_taxonomy(ctx: CliContext, retired: bool) -> None:
    """List the categories with their subcategories: code, then name. Change them with `casemgr config apply`
    (docs/configuration-files.md)."""
    with ctx.transaction() as s:
        for c in service.taxonomy(s).categories:
            if c.retired and not retired:
                continue
            click.echo(f"{c.code}\t{c.name}{' (retired)' if c.retired else ''}")
            for sub in c.subcategories:
                if retired or not sub.retired:
                    click.echo(f"  {c.code}/{sub.code}\t{sub.name}{' (retired)' if sub.retired else ''}")


# ---------------------------------------------------------------- custom fields (casemgr/cases/field_cli.py)


@click.group()
def field() -> None:
    """Define the custom fields of cases."""


from casemgr.cases import field_cli  # noqa: E402, F401 (adds its commands to `field`)
