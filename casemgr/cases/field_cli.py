"""`casemgr field ...`: the custom fields of cases, for operators (the CLI acts as the system, with admin rights).

The group is `casemgr.cases.cli:field` (casemgr.cases.COMMANDS), which imports this module to add the
commands; it imports only click until a command runs, so that `casemgr case list` does not pay for it.
"""

from __future__ import annotations

from typing import Any

import click

from casemgr.cases.cli import field
from casemgr.cli import CliContext, pass_ctx, reports_errors


def _line(f: Any) -> str:
    required = f"required from {f.required_from}" if f.required else "optional"
    state = " (retired)" if f.is_retired else ""
    return f"{f.code:<24} {f.type.value:<13} {f.category or 'all':<22} {required:<28} {f.label}{state}"


_SETTINGS = [
    click.option("--label"),
    click.option("--help-text"),
    click.option("--category", help="A taxonomy category code, or 'all' (default)."),
    click.option("--required/--optional", default=None, help="Whether a case must have a value."),
    click.option("--required-from", help="With --required: the first state that needs it (default new)."),
    click.option("--option", "options", multiple=True, help="A choice's option; repeat for more (replaces them)."),
    click.option("--max-length", type=int),
    click.option("--pattern", help="Text: a regular expression the whole value matches."),
    click.option("--min", "min_value", type=float),
    click.option("--max", "max_value", type=float),
    click.option("--position", type=int),
]


def settings(command: Any) -> Any:
    for option in reversed(_SETTINGS):
        command = option(command)
    return command


def _given(values: dict[str, Any]) -> dict[str, Any]:
    given = {k: v for k, v in values.items() if v is not None and k != "options"}
    if values.get("options"):
        given["options"] = list(values["options"])
    return given


@field.command("list")
@click.option("--active", is_flag=True, help="Leave retired fields out.")
@pass_ctx
@reports_errors
def list_fields(ctx: CliContext, active: bool) -> None:
    """List the custom fields: code, type, category, required, label."""
    from casemgr.cases import custom_fields

    with ctx.transaction() as s:
        for f in custom_fields.list_fields(s, ctx.actor(), retired=not active):
            click.echo(_line(f))


@field.command("create")
@click.argument("code")
@click.option("--type", "type_", required=True, help="text, long_text, number, choice, multi_choice, datetime, "
                                                       "yes_no, user or url.")
@settings
@pass_ctx
@reports_errors
def create(ctx: CliContext, code: str, type_: str, **values: Any) -> None:
    """Define custom field CODE (lowercase letters, digits, underscores)."""
    from casemgr.cases import custom_fields
    from casemgr.cases.field_schemas import NewCaseField
    from casemgr.fields import parse

    cmd = parse(NewCaseField, {"code": code, "type": type_, **_given(values)})
    with ctx.transaction() as s:
        click.echo(f"created custom field {custom_fields.create_field(s, ctx.actor(), cmd).code}")


@field.command("update")
@click.argument("code")
@settings
@pass_ctx
@reports_errors
def update(ctx: CliContext, code: str, **values: Any) -> None:
    """Change custom field CODE (only the options given; '' clears a setting)."""
    from casemgr.cases import custom_fields
    from casemgr.cases.field_schemas import CaseFieldUpdate
    from casemgr.fields import parse

    cmd = parse(CaseFieldUpdate, _given(values))
    with ctx.transaction() as s:
        click.echo(f"changed custom field {custom_fields.update_field(s, ctx.actor(), code, cmd).code}")


@field.command("retire")
@click.argument("code")
@click.option("--undo", is_flag=True, help="Bring a retired field back.")
@pass_ctx
@reports_errors
def retire(ctx: CliContext, code: str, undo: bool) -> None:
    """Retire custom field CODE: no new values; those recorded stay readable."""
    from casemgr.cases import custom_fields

    with ctx.transaction() as s:
        f = custom_fields.retire_field(s, ctx.actor(), code, undo=undo)
        click.echo(f"custom field {f.code} {'retired' if f.is_retired else 'in use again'}")
