"""The commands of `casemgr role` (the group is casemgr.auth.cli.role): custom roles, for operators (the CLI
acts as the system). Thin over casemgr.auth.roles."""

from __future__ import annotations

import click

from casemgr.auth import roles
from casemgr.auth.cli import role
from casemgr.auth.role_schemas import NewRole, RoleUpdate
from casemgr.cli import CliContext, pass_ctx, reports_errors
from casemgr.fields import parse


def _line(view: roles.RoleView) -> str:
    kind = "built-in" if view.built_in else "custom"
    return f"{view.code:<20} {kind:<8} {view.users:>4} account(s)  {view.name}"


@role.command("list")
@pass_ctx
@reports_errors
def list_roles(ctx: CliContext) -> None:
    """List the roles: code, built-in or custom, how many accounts have it, name."""
    with ctx.transaction() as s:
        for view in roles.list_roles(s, ctx.actor()):
            click.echo(_line(view))


@role.command("show")
@click.argument("code")
@pass_ctx
@reports_errors
def show(ctx: CliContext, code: str) -> None:
    """Show role CODE with its permissions."""
    with ctx.transaction() as s:
        view = roles.get_role(s, ctx.actor(), code)
    click.echo(_line(view))
    if view.description:
        click.echo(view.description)
    for p in view.permissions:
        click.echo(f"  {p.value:<30} {p.description}")


@role.command("create")
@click.argument("code")
@click.option("--name", required=True)
@click.option("--description", default="")
@click.option("--permission", "permission_names", multiple=True, metavar="NAME",
              help="A permission from the registry (docs/permissions.md); repeat for more.")
@pass_ctx
@reports_errors
def create(ctx: CliContext, code: str, name: str, description: str, permission_names: tuple[str, ...]) -> None:
    """Define the custom role CODE."""
    cmd = parse(NewRole, {"code": code, "name": name, "description": description,
                          "permissions": list(permission_names)})
    with ctx.transaction() as s:
        view = roles.create_role(s, ctx.actor(), cmd)
    click.echo(f"created role {view.code} with {len(view.permissions)} permission(s)")


@role.command("update")
@click.argument("code")
@click.option("--name")
@click.option("--description")
@click.option("--permission", "permission_names", multiple=True, metavar="NAME",
              help="The role's whole new set of permissions; repeat for more.")
@click.option("--grant", multiple=True, metavar="NAME", help="Add a permission; repeat for more.")
@click.option("--revoke", multiple=True, metavar="NAME", help="Take a permission away; repeat for more.")
@pass_ctx
@reports_errors
def update(ctx: CliContext, code: str, *, name: str | None, description: str | None,
           permission_names: tuple[str, ...], grant: tuple[str, ...], revoke: tuple[str, ...]) -> None:
    """Change custom role CODE (only what the options give); its accounts hold it from their next request."""
    with ctx.transaction() as s:
        fields: dict[str, object] = {k: v for k, v in (("name", name), ("description", description)) if v is not None}
        if permission_names or grant or revoke:
            base = list(permission_names) or roles.get_role(s, ctx.actor(), code).permission_names
            fields["permissions"] = [p for p in [*base, *grant] if p not in set(revoke)]
        view = roles.update_role(s, ctx.actor(), code, parse(RoleUpdate, fields))
    click.echo(f"role {view.code}: {len(view.permissions)} permission(s), {view.users} account(s)")


@role.command("delete")
@click.argument("code")
@pass_ctx
@reports_errors
def delete(ctx: CliContext, code: str) -> None:
    """Delete custom role CODE (only when no account has it)."""
    with ctx.transaction() as s:
        view = roles.delete_role(s, ctx.actor(), code)
    click.echo(f"deleted role {view.code}")
