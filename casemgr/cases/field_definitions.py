"""Custom case fields: their definitions. Everyone signed in reads them (the case forms show them);
`case.configure_fields` (admins) creates, changes and retires them, audited. A field's code and type
never change, so that the values recorded under them stay readable. `export_config` and `apply_config`
give and take the definitions as plain data (configuration as files).

The values and their rules are in casemgr/cases/custom_fields.py, which names these functions too (the
one module the adapters call).

Errors: NotFound for an unknown code; Forbidden for a non-admin; Conflict for a code taken; Invalid
naming the setting.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from casemgr import paging
from casemgr.audit import trail as audit
from casemgr.auth.actor import Actor
from casemgr.auth.permissions import Permission, require
from casemgr.cases.field_models import TEXT_TYPES, CaseFieldDefinition, FieldType
from casemgr.cases.field_schemas import CaseFieldUpdate, NewCaseField
from casemgr.cases.models import CaseStatus
from casemgr.collaborators import clock
from casemgr.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from casemgr.fields import parse
from casemgr.paging import Page

TYPE_LABELS = {FieldType.TEXT: "text", FieldType.LONG_TEXT: "long text", FieldType.NUMBER: "number",
               FieldType.CHOICE: "choice", FieldType.MULTI_CHOICE: "multi-choice",
               FieldType.DATETIME: "date and time", FieldType.YES_NO: "yes/no", FieldType.USER: "user",
               FieldType.URL: "URL"}


def _require_admin(actor: Actor) -> None:
    require(actor, Permission.CASE_CONFIGURE_FIELDS, "only admins define the custom fields of cases")


def _require_signed_in(actor: Actor) -> None:
    if not actor.is_system and actor.user is None:
        raise Forbidden("sign in to see the custom fields")


def _ordered() -> Any:
    return select(CaseFieldDefinition).order_by(CaseFieldDefinition.position, CaseFieldDefinition.label,
                                                CaseFieldDefinition.id)


def list_fields(session: Session, actor: Actor, *, retired: bool = True, category: str | None = None
                ) -> list[CaseFieldDefinition]:
    """Every custom field in the order the forms show them (with `category`: only those its cases have)."""
    _require_signed_in(actor)
    return list(session.scalars(_query(retired, category)))


def page_fields(session: Session, actor: Actor, *, retired: bool = True, category: str | None = None,
                page: int = 1, per_page: int = 50) -> Page[CaseFieldDefinition]:
    """One page of `list_fields`."""
    _require_signed_in(actor)
    return paging.fetch(session, _query(retired, category), page, per_page)


def _query(retired: bool, category: str | None) -> Any:
    query = _ordered()
    if not retired:
        query = query.where(CaseFieldDefinition.retired_at.is_(None))
    if category is not None:
        query = query.where((CaseFieldDefinition.category.is_(None)) | (CaseFieldDefinition.category == category))
    return query


def get_field(session: Session, actor: Actor, code: str) -> CaseFieldDefinition:
    """The field with `code`. Raises NotFound."""
    _require_signed_in(actor)
    return _by_code(session, code)


def _by_code(session: Session, code: str) -> CaseFieldDefinition:
    found = session.scalars(select(CaseFieldDefinition).where(CaseFieldDefinition.code == code.strip().lower())
                            ).one_or_none()
    if found is None:
        raise NotFound(f"there is no custom field {code!r}", field="code")
    return found


def create_field(session: Session, actor: Actor, cmd: NewCaseField) -> CaseFieldDefinition:
    """Define a custom field. Raises Forbidden (not an admin); Conflict (code taken); Invalid naming the
    setting that does not fit the type (options of a choice, limits of a number, a pattern that is no
    regular expression, an unknown category)."""
    _require_admin(actor)
    if session.scalar(select(CaseFieldDefinition.id).where(CaseFieldDefinition.code == cmd.code)) is not None:
        raise Conflict(f"code: there is a custom field {cmd.code} already (codes are unique and stable)",
                       field="code")
    settings = {name: getattr(cmd, name) for name in _SETTINGS}
    _check_settings(session, cmd.type, settings)
    field = CaseFieldDefinition(code=cmd.code, label=cmd.label, type=cmd.type, help_text=cmd.help_text,
                                created_at=clock(session).now(), **settings)
    session.add(field)
    session.flush()
    audit.record(session, actor, "case_field.create", "case_field", field.id,
                 {"code": field.code, "type": field.type.value, "category": field.category,
                  "required": field.required, "required_from": field.required_from.value})
    return field


_SETTINGS = ("category", "required", "required_from", "options", "max_length", "pattern", "min_value",
             "max_value", "position")


def update_field(session: Session, actor: Actor, code: str, cmd: CaseFieldUpdate) -> CaseFieldDefinition:
    """Change the settings `cmd` sends, or retire the field (`retired`). Values recorded stay as they are,
    readable, also those a removed option or a narrower limit would refuse now.

    Raises NotFound; Forbidden (not an admin); Invalid naming the setting."""
    _require_admin(actor)
    field = _by_code(session, code)
    sent = cmd.changed()
    settings = {name: getattr(field, name) for name in _SETTINGS}
    settings |= {name: getattr(cmd, name) for name in _SETTINGS if name in sent}
    if settings["options"] is None:
        settings["options"] = []
    _check_settings(session, field.type, settings)
    changes: dict[str, list[Any]] = {}
    for name, given in [*settings.items(), *((n, getattr(cmd, n)) for n in ("label", "help_text") if n in sent)]:
        value = "" if name == "help_text" and given is None else given
        old = getattr(field, name)
        if old != value:
            changes[name] = [_plain(old), _plain(value)]
            setattr(field, name, value)
    if "retired" in sent and cmd.retired is not None and cmd.retired != field.is_retired:
        changes["retired"] = [field.is_retired, cmd.retired]
        field.retired_at = clock(session).now() if cmd.retired else None
    if changes:
        session.flush()
        audit.record(session, actor, "case_field.update", "case_field", field.id,
                     {"code": field.code, "changes": changes})
    return field


def retire_field(session: Session, actor: Actor, code: str, *, undo: bool = False) -> CaseFieldDefinition:
    """Retire the field (no new values; those recorded stay readable), or with `undo` bring it back."""
    return update_field(session, actor, code, CaseFieldUpdate(retired=not undo))


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, CaseStatus) else value


def _check_settings(session: Session, kind: FieldType, s: dict[str, Any]) -> None:
    """Refuse settings that do not fit the field's type, naming the setting."""
    if s["category"] is not None:
        from casemgr.cases.taxonomy import load as load_taxonomy  # (not loaded by `casemgr case list`)

        load_taxonomy(session).check(s["category"], None)
    choice = kind in {FieldType.CHOICE, FieldType.MULTI_CHOICE}
    if choice and not s["options"]:
        raise Invalid("options: a choice field needs at least one option (one a line)", field="options")
    if not choice and s["options"]:
        raise Invalid(f"options: only choice fields have options, not a {TYPE_LABELS[kind]} field", field="options")
    if len(set(s["options"])) != len(s["options"]):
        raise Invalid("options: each option may be listed once", field="options")
    if s["max_length"] is not None and kind not in TEXT_TYPES:
        raise Invalid(f"max_length: only text fields have a maximum length, not a {TYPE_LABELS[kind]} field",
                      field="max_length")
    if s["pattern"] is not None:
        if kind != FieldType.TEXT:
            raise Invalid(f"pattern: only text fields have a pattern, not a {TYPE_LABELS[kind]} field",
                          field="pattern")
        try:
            re.compile(s["pattern"])
        except re.error as exc:
            raise Invalid(f"pattern: not a regular expression ({exc})", field="pattern") from None
    for name in ("min_value", "max_value"):
        if s[name] is not None and kind != FieldType.NUMBER:
            raise Invalid(f"{name}: only number fields have limits, not a {TYPE_LABELS[kind]} field", field=name)
    if s["min_value"] is not None and s["max_value"] is not None and s["min_value"] > s["max_value"]:
        raise Invalid("max_value: the largest value is smaller than the smallest (min_value)", field="max_value")


# ---------------------------------------------------------------- configuration as plain data


def export_config(session: Session) -> list[dict[str, Any]]:
    """Every field definition as plain data (the input of `apply_config`), retired ones marked."""
    items = []
    for f in session.scalars(_ordered()):
        item: dict[str, Any] = {"code": f.code, "label": f.label, "type": f.type.value, "help_text": f.help_text,
                                "category": f.category, "required": f.required,
                                "required_from": f.required_from.value, "position": f.position}
        for name in ("options", "max_length", "pattern", "min_value", "max_value"):
            value = getattr(f, name)
            if value is not None and value != []:
                item[name] = list(value) if name == "options" else value
        if f.is_retired:
            item["retired"] = True
        items.append(item)
    return items


def apply_config(session: Session, actor: Actor, items: Iterable[Mapping[str, Any]]) -> list[str]:
    """Make the field definitions those of `items` (as `export_config` gives them), with the same checks as
    one by one: new codes are created, known ones changed (a field's type never changes), retired where an
    item says `retired: true`; fields not listed are kept as they are (configuration files never delete
    nor retire by omission). Returns what was done, a line each. Raises the first refusal naming its
    setting, with `details["index"]`: the item's place in `items` (the caller rolls back: nothing is
    applied)."""
    _require_admin(actor)
    done: list[str] = []
    listed: set[str] = set()
    for i, raw in enumerate(items):
        try:
            data = dict(raw)
            retired = bool(data.pop("retired", False))
            cmd = parse(NewCaseField, data)
            if cmd.code in listed:
                raise Invalid(f"code: {cmd.code} is listed twice", field="code")
            listed.add(cmd.code)
            existing = session.scalars(select(CaseFieldDefinition).where(CaseFieldDefinition.code == cmd.code)
                                       ).one_or_none()
            if existing is None:
                field = create_field(session, actor, cmd)
                done.append(f"case-fields: created custom field {field.code}")
                if retired:
                    retire_field(session, actor, field.code)
                continue
            if existing.type != cmd.type:
                raise Invalid(f"type: {cmd.code} is a {existing.type.value} field; a field's type never changes "
                              "(define a new field instead)", field="type")
            update = parse(CaseFieldUpdate, {**cmd.model_dump(exclude={"code", "type"}), "retired": retired})
            before = export_config_one(existing)
            update_field(session, actor, cmd.code, update)
            if export_config_one(existing) != before:
                done.append(f"case-fields: changed custom field {cmd.code}")
        except DomainError as exc:
            exc.details = {**(exc.details if isinstance(exc.details, dict) else {}), "index": i}
            raise
    return done


def export_config_one(f: CaseFieldDefinition) -> tuple[Any, ...]:
    return (f.label, f.help_text, f.category, f.required, f.required_from, tuple(f.options or ()), f.max_length,
            f.pattern, f.min_value, f.max_value, f.position, f.is_retired)


