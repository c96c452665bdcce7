"""`casemgr user ...` and `casemgr token ...`."""

from __future__ import annotations

import sys

import click

from casemgr.auth import service
from casemgr.auth.schemas import NewToken, NewUser, UserUpdate
from casemgr.cli import CliContext, pass_ctx, reports_errors
from casemgr.collaborators import clock
from casemgr.fields import parse


@click.group()
def user() -> None:
    """Manage user accounts."""


@user.command("create")
@click.argument("username")
@click.option("--role", required=True, help="A role's code: analyst, manager, auditor, admin or a custom role's "
              "(`casemgr role list`).")
@click.option("--display-name", default="")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@pass_ctx
@reports_errors
def create_user(ctx: CliContext, username: str, role: str, display_name: str, password_stdin: bool) -> None:
    """Create USERNAME with ROLE; asks for the password unless --password-stdin."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    cmd = parse(NewUser, {"username": username, "role": role, "password": password, "display_name": display_name})
    with ctx.transaction() as s:
        created = service.create_user(s, ctx.actor(), cmd)
        click.echo(f"created {created.username} ({created.role})")


@user.command("list")
@pass_ctx
@reports_errors
def list_users(ctx: CliContext) -> None:
    """List users with their role and state (and whether locked or due to change their password)."""
    with ctx.transaction() as s:
        now = clock(s).now()
        for u in service.list_users(s, ctx.actor()):
            state = "disabled" if u.is_disabled else "active"
            mfa = "totp" if u.totp_enabled else "-"
            notes = [note for note, applies in (("locked", u.locked_until is not None and u.locked_until > now),
                                                ("must-change-password", u.must_change_password)) if applies]
            click.echo(f"{u.username:<24} {u.role:<8} {state:<8} {mfa}{''.join(' ' + n for n in notes)}")


@user.command("set-role")
@click.argument("username")
@click.argument("role")
@pass_ctx
@reports_errors
def set_role(ctx: CliContext, username: str, role: str) -> None:
    """Give USERNAME the role ROLE (a built-in or custom role's code); it holds from their next request."""
    cmd = parse(UserUpdate, {"role": role})
    with ctx.transaction() as s:
        changed = service.update_user(s, ctx.actor(), username, cmd)
        click.echo(f"{changed.username} now has the role {changed.role}")


def _set_disabled(ctx: CliContext, username: str, disabled: bool) -> None:
    with ctx.transaction() as s:
        service.update_user(s, ctx.actor(), username, UserUpdate(disabled=disabled))
    click.echo(f"{username} {'disabled' if disabled else 'enabled'}")


@user.command("disable")
@click.argument("username")
@pass_ctx
@reports_errors
def disable_user(ctx: CliContext, username: str) -> None:
    """Disable USERNAME: open sessions and tokens stop working at once."""
    _set_disabled(ctx, username, True)


@user.command("enable")
@click.argument("username")
@pass_ctx
@reports_errors
def enable_user(ctx: CliContext, username: str) -> None:
    """Enable USERNAME again."""
    _set_disabled(ctx, username, False)


@user.command("unlock")
@click.argument("username")
@pass_ctx
@reports_errors
def unlock_user(ctx: CliContext, username: str) -> None:
    """Lift USERNAME's lockout after failed sign-ins."""
    with ctx.transaction() as s:
        service.unlock_user(s, ctx.actor(), username)
    click.echo(f"{username} unlocked")


@user.command("reset-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the temporary password from standard input "
              "instead of generating one.")
@pass_ctx
@reports_errors
def reset_password(ctx: CliContext, username: str, password_stdin: bool) -> None:
    """Give USERNAME a temporary password, printed once; they must choose a new one at the next sign-in.

    Their sessions end and a lockout is lifted."""
    given = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
    with ctx.transaction() as s:
        reset = service.reset_password(s, ctx.actor(), username, given)
    click.echo(f"password of {username} reset; {reset.sessions_ended} session(s) ended; a new one must be chosen"
               " at the next sign-in")
    if given is None:
        click.echo(f"temporary password: {reset.password}")


@user.command("reset-mfa")
@click.argument("username")
@pass_ctx
@reports_errors
def reset_mfa(ctx: CliContext, username: str) -> None:
    """Turn off USERNAME's second factor and recovery codes (a lost phone); their sessions end."""
    with ctx.transaction() as s:
        service.reset_mfa(s, ctx.actor(), username)
    click.echo(f"second factor of {username} reset; they set up a new one at the next sign-in if their role needs it")


@click.group()
def token() -> None:
    """Manage API tokens."""


@token.command("create")
@click.argument("username")
@click.option("--name", default="api", show_default=True)
@click.option("--expires", "expires_days", type=int, default=90, show_default=True,
              help="Days until the token expires; 0 for never.")
@pass_ctx
@reports_errors
def create_token(ctx: CliContext, username: str, name: str, expires_days: int) -> None:
    """Issue a token for USERNAME, for automation; the token is printed once, alone on the last line.

    It is marked as issued by you (the operator), in token lists and in every audit and custody
    entry made with it."""
    cmd = parse(NewToken, {"name": name, "expires_days": expires_days or None})
    with ctx.transaction() as s:
        issued = service.create_token(s, ctx.actor(), username, cmd)
        expiry = issued.token.expires_at.date().isoformat() if issued.token.expires_at else "never"
    click.echo(f"token {issued.token.id} for {username} ({name}), issued by {issued.token.issued_by}, expires "
               f"{expiry}; store it now:")
    click.echo(issued.secret)


@token.command("list")
@click.argument("username", required=False)
@pass_ctx
@reports_errors
def list_tokens(ctx: CliContext, username: str | None) -> None:
    """List tokens (all, or USERNAME's): id, owner, name, kind and issuer, created, last used, expiry, state."""
    with ctx.transaction() as s:
        tokens = (service.list_tokens(s, ctx.actor(), username) if username
                  else service.all_tokens(s, ctx.actor()))
        for t in tokens:
            state = "revoked" if t.revoked_at else "active"
            last = t.last_used_at.isoformat(timespec="seconds") if t.last_used_at else "never"
            exp = t.expires_at.isoformat(timespec="seconds") if t.expires_at else "never"
            click.echo(f"{t.id:<5} {t.user.username:<20} {t.name:<20} {t.prefix}… {t.kind} by {t.issued_by} "
                       f"created {t.created_at.isoformat(timespec='seconds')} last-used {last} "
                       f"expires {exp} {state}")


@token.command("revoke")
@click.argument("token_id", type=int)
@pass_ctx
@reports_errors
def revoke_token(ctx: CliContext, token_id: int) -> None:
    """Revoke token TOKEN_ID (see `casemgr token list`)."""
    with ctx.transaction() as s:
        t = service.revoke_token(s, ctx.actor(), token_id)
        click.echo(f"revoked token {t.id} ({t.name}) of {t.user.username}")



@click.group()
def role() -> None:
    """Manage custom roles and their permissions."""


# The commands of `casemgr role` are in casemgr.auth.roles_cli, beside their service; they add themselves to the group.
from casemgr.auth import roles_cli  # noqa: E402,F401,I001
