"""`casemgr team ...`: teams by name, for operators (the CLI acts as the system, with admin rights)."""

from __future__ import annotations

import click

from casemgr.cli import CliContext, pass_ctx, reports_errors
from casemgr.fields import parse
from casemgr.teams import service
from casemgr.teams.models import Team
from casemgr.teams.schemas import NewTeam, TeamUpdate


@click.group()
def team() -> None:
    """Manage teams (cases are handed to them)."""


def _line(t: Team) -> str:
    lead = t.lead.username if t.lead else "-"
    state = " (retired)" if t.is_retired else ""
    return f"{t.name}{state}\tlead {lead}\t{len(t.members)} members\t{t.contact_email or '-'}"


@team.command("list")
@click.option("--retired", is_flag=True, help="Include retired teams.")
@pass_ctx
@reports_errors
def list_teams(ctx: CliContext, retired: bool) -> None:
    """List teams by name."""
    with ctx.transaction() as s:
        teams = service.list_teams(s, ctx.actor(), retired=retired)
        for t in teams:
            click.echo(_line(t))


@team.command("show")
@click.argument("name")
@pass_ctx
@reports_errors
def show(ctx: CliContext, name: str) -> None:
    """Show team NAME with its members."""
    with ctx.transaction() as s:
        t = service.get_team(s, ctx.actor(), name)
        click.echo(_line(t))
        if t.description:
            click.echo(t.description)
        for member in t.member_names:
            click.echo(f"  {member}")


@team.command("create")
@click.argument("name")
@click.option("--description", default="")
@click.option("--lead", help="Username of the team lead (made a member).")
@click.option("--member", "members", multiple=True, help="Username; repeat for more.")
@click.option("--email", help="The team's contact address.")
@pass_ctx
@reports_errors
def create(ctx: CliContext, name: str, *, description: str, lead: str | None, members: tuple[str, ...],
           email: str | None) -> None:
    """Create team NAME."""
    cmd = parse(NewTeam, {"name": name, "description": description, "lead": lead, "members": list(members),
                          "contact_email": email})
    with ctx.transaction() as s:
        click.echo(f"created team {service.create_team(s, ctx.actor(), cmd).name}")


@team.command("edit")
@click.argument("name")
@click.option("--rename", help="A new name.")
@click.option("--description")
@click.option("--lead", help="Username of the lead; '' for none.")
@click.option("--email", help="The contact address; '' for none.")
@pass_ctx
@reports_errors
def edit(ctx: CliContext, name: str, *, rename: str | None, description: str | None, lead: str | None,
         email: str | None) -> None:
    """Change team NAME (only the options given)."""
    given = {"name": rename, "description": description, "lead": lead, "contact_email": email}
    cmd = parse(TeamUpdate, {k: v for k, v in given.items() if v is not None})
    with ctx.transaction() as s:
        click.echo(f"changed team {service.update_team(s, ctx.actor(), name, cmd).name}")


@team.command("add-member")
@click.argument("name")
@click.argument("username")
@pass_ctx
@reports_errors
def add_member(ctx: CliContext, name: str, username: str) -> None:
    """Add USERNAME to team NAME."""
    with ctx.transaction() as s:
        t = service.add_member(s, ctx.actor(), name, username)
        click.echo(f"team {t.name}: {', '.join(t.member_names)}")


@team.command("remove-member")
@click.argument("name")
@click.argument("username")
@pass_ctx
@reports_errors
def remove_member(ctx: CliContext, name: str, username: str) -> None:
    """Take USERNAME out of team NAME."""
    with ctx.transaction() as s:
        t = service.remove_member(s, ctx.actor(), name, username)
        click.echo(f"team {t.name}: {', '.join(t.member_names) or 'no members'}")


@team.command("retire")
@click.argument("name")
@pass_ctx
@reports_errors
def retire(ctx: CliContext, name: str) -> None:
    """Retire team NAME: it stays on old cases and can no longer be chosen."""
    with ctx.transaction() as s:
        click.echo(f"retired team {service.retire_team(s, ctx.actor(), name).name}")
