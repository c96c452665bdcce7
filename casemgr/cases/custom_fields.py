"""Custom case fields: admins define them (per taxonomy category, or for all), cases hold their values.

Definitions (casemgr/cases/field_definitions.py, named here too: this is the module adapters call): everyone
signed in reads them; `case.configure_fields` (admins) creates, changes and retires them, audited; a
field's code and type never change; `export_config` and `apply_config` give and take them as plain data.
Retiring a field or
removing a choice option keeps every value already recorded: the case page shows it (marked retired,
or as recorded), the API returns it; a retired field takes no new value and is required of no case.

Values: `clean` is the one function that checks values, whatever the path (the case forms, the API, the
CLI, and later alert rules and playbook actions through the cases service): each error names the field
as `custom_fields.CODE` in words for people (Invalid, 422). A blank value means "not given" (on an update:
clear the value). The cases service calls `prepare_new` before it creates a case (nothing is written
when a value is refused), `record_new` after, `apply_update` in an update, and `check_required` before
a lifecycle move: a field required from a state (say containment) must have a value before the case
enters that state or a later one (in the order of casemgr.cases.models.CaseStatus).

Errors: NotFound for an unknown field code; Forbidden for a non-admin managing fields; Conflict for a
code taken; Invalid naming the field.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from casemgr.auth.models import User
from casemgr.cases.field_definitions import (  # noqa: F401 (the definitions' use cases, named here for the adapters)
    TYPE_LABELS,
    _ordered,
    _query,
    _require_admin,
    apply_config,
    create_field,
    export_config,
    get_field,
    list_fields,
    page_fields,
    retire_field,
    update_field,
)
from casemgr.cases.field_models import (
    KEY_MAX,
    TEXT_TYPES,
    CaseFieldDefinition,
    CaseFieldValue,
    FieldType,
)
from casemgr.cases.models import Case, CaseStatus
from casemgr.errors import Invalid

_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")  # long text may hold line breaks (\n), nothing else
DEFAULT_MAX = {FieldType.TEXT: 500, FieldType.LONG_TEXT: 20_000, FieldType.URL: 2_000}
STATES = list(CaseStatus)
_YES = {"yes", "true", "on", "1", "y"}
_NO = {"no", "false", "off", "0", "n"}


def _name(code: str) -> str:
    return f"custom_fields.{code}"


def _invalid(code: str, message: str) -> Invalid:
    return Invalid(f"{_name(code)}: {message}", field=_name(code))


# ---------------------------------------------------------------- values


def fields_for(session: Session, category: str) -> list[CaseFieldDefinition]:
    """The fields a case of `category` is offered (not retired), in the forms' order."""
    return [f for f in session.scalars(_query(False, category))]


def clean(session: Session, category: str, raw: Mapping[str, Any] | None) -> dict[CaseFieldDefinition, Any]:
    """Check custom field values given for a case of `category`: field code -> value as sent (from a form or
    the CLI, text; from the API, JSON). Returns field -> the value to store, None for a blank one (not given,
    or on an update: clear it). Raises Invalid naming `custom_fields.CODE` for an unknown, retired or
    other category's field, or a value its field refuses."""
    cleaned: dict[CaseFieldDefinition, Any] = {}
    for code, value in (raw or {}).items():
        found = session.scalars(select(CaseFieldDefinition).where(CaseFieldDefinition.code == str(code).lower())
                                ).one_or_none()
        if found is None:
            raise _invalid(str(code), "there is no such custom field (GET /api/v1/case-fields lists them)")
        if _blank(value) and not (found.applies_to(category) and not found.is_retired):
            continue  # a blank value is not given (the create form shows every category's fields)
        if found.is_retired:
            raise _invalid(found.code, f"{found.label} is retired: it takes no new value")
        if not found.applies_to(category):
            raise _invalid(found.code, f"{found.label} is a field of {found.category} cases, not of {category}")
        cleaned[found] = _value(session, found, value)
    return cleaned


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


def _value(session: Session, f: CaseFieldDefinition, value: Any) -> Any:  # noqa: PLR0911, PLR0912 (one branch a type)
    """`value` checked against `f` and in its stored form, or None for a blank one."""
    if _blank(value):
        return None
    code, label = f.code, f.label
    if f.type in TEXT_TYPES:
        if not isinstance(value, str):
            raise _invalid(code, f"{label} must be text")
        value = value.strip()
        if f.type == FieldType.LONG_TEXT:
            value = value.replace("\r\n", "\n")
        bad = _CONTROL.search(value) if f.type == FieldType.LONG_TEXT else re.search(r"[\x00-\x1f\x7f]", value)
        if bad:
            raise _invalid(code, f"{label} must be " + ("text without control characters"
                                                        if f.type == FieldType.LONG_TEXT else
                                                        "a single line without control characters"))
        limit = f.max_length or DEFAULT_MAX[f.type]
        if len(value) > limit:
            raise _invalid(code, f"{label} may be at most {limit} characters long (this is {len(value)})")
        if f.type == FieldType.URL:
            parts = urlsplit(value)
            if parts.scheme.lower() not in {"http", "https"} or not parts.netloc or " " in value:
                raise _invalid(code, f"{label} must be a web address starting with http:// or https://")
        if f.pattern and re.fullmatch(f.pattern, value) is None:
            raise _invalid(code, f"{label} must match the pattern {f.pattern}")
        return value
    if f.type == FieldType.NUMBER:
        number = _number(value)
        if number is None:
            raise _invalid(code, f"{label} must be a number")
        if f.min_value is not None and number < f.min_value:
            raise _invalid(code, f"{label} must be at least {_show_number(f.min_value)}")
        if f.max_value is not None and number > f.max_value:
            raise _invalid(code, f"{label} must be at most {_show_number(f.max_value)}")
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    if f.type == FieldType.CHOICE:
        if not isinstance(value, str) or value.strip() not in f.options:
            raise _invalid(code, f"{label} must be one of: {', '.join(f.options)}")
        return value.strip()
    if f.type == FieldType.MULTI_CHOICE:
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise _invalid(code, f"{label} must be a list of options")
        chosen = list(dict.fromkeys(v.strip() for v in values if v.strip()))
        unknown = [v for v in chosen if v not in f.options]
        if unknown:
            raise _invalid(code, f"{label}: {unknown[0]!r} is not an option; choose from: {', '.join(f.options)}")
        return chosen or None
    if f.type == FieldType.DATETIME:
        when = _datetime(value)
        if when is None:
            raise _invalid(code, f"{label} must be a date and time, e.g. 2026-12-01T14:30 (UTC if no offset)")
        return when.isoformat()
    if f.type == FieldType.YES_NO:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _YES | _NO:
            return value.strip().lower() in _YES
        raise _invalid(code, f"{label} must be yes or no")
    # FieldType.USER
    if not isinstance(value, str):
        raise _invalid(code, f"{label} must be a username")
    user = session.scalars(select(User).where(User.username == value.strip().lower())).one_or_none()
    if user is None or user.is_disabled:
        raise _invalid(code, f"{label}: there is no active user {value.strip()!r}")
    return user.username


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip().replace("_", "x"))
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) and abs(number) <= 1e15 else None


def _show_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _datetime(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    try:
        return when.astimezone(dt.UTC)
    except OverflowError:
        return None


def _key(f: CaseFieldDefinition, value: Any) -> str:
    """The canonical text of a stored value: what the list filters compare and the text search reads."""
    if f.type == FieldType.MULTI_CHOICE:
        key = "|" + "|".join(value) + "|"
    elif f.type == FieldType.YES_NO:
        key = "yes" if value else "no"
    elif f.type in TEXT_TYPES or f.type == FieldType.CHOICE:
        key = str(value).casefold()
    else:
        key = str(value)
    return key[:KEY_MAX]


def _search_text(f: CaseFieldDefinition, value: Any) -> str | None:
    """What the text search reads of a text value: the words, lower-cased, space-separated."""
    return " ".join(re.findall(r"[^\W_]+", str(value).casefold())) if f.type in TEXT_TYPES else None


def _require_values(category: str, state: CaseStatus, fields: Iterable[CaseFieldDefinition], have: set[int],
                    moving: bool) -> None:
    """Raise Invalid naming the first field required in `state` (of a `category` case) whose id is not in `have`."""
    for f in fields:
        if f.required and not f.is_retired and f.applies_to(category) and f.id not in have \
                and STATES.index(f.required_from) <= STATES.index(state):
            if moving:
                raise _invalid(f.code, f"{f.label} is required before a case moves to {state}; fill it in first "
                                       "(edit the case)")
            raise _invalid(f.code, f"{f.label} is required" + (f" for a case in {state}"
                                                                if state != CaseStatus.NEW else ""))


def prepare_new(session: Session, category: str, raw: Mapping[str, Any] | None) -> dict[CaseFieldDefinition, Any]:
    """The values of a case about to be opened, checked (`clean`), and every field required from the start
    present. Call it before writing anything. Raises Invalid naming the field."""
    cleaned = {f: v for f, v in clean(session, category, raw).items() if v is not None}
    _require_values(category, CaseStatus.NEW, fields_for(session, category), {f.id for f in cleaned}, moving=False)
    return cleaned


def record_new(session: Session, case: Case, cleaned: dict[CaseFieldDefinition, Any],
               changes: dict[str, list[Any]]) -> None:
    """Store the values `prepare_new` checked on the case just created; adds them to `changes`."""
    for f, value in cleaned.items():
        session.add(CaseFieldValue(case_id=case.id, field_id=f.id, value=value, key=_key(f, value),
                                   search_text=_search_text(f, value)))
        changes[_name(f.code)] = [None, value]


def _stored(session: Session, case_id: int) -> dict[int, CaseFieldValue]:
    return {v.field_id: v for v in session.scalars(select(CaseFieldValue).where(CaseFieldValue.case_id == case_id))}


def apply_update(session: Session, case: Case, raw: Mapping[str, Any] | None, changes: dict[str, list[Any]]) -> None:
    """Set (or with a blank value clear) the values `raw` gives on `case`, after its category is settled;
    each change goes into `changes`. Refuses clearing a value the case's state requires. Raises Invalid."""
    if not raw:
        return
    stored = _stored(session, case.id)
    cleaned = clean(session, case.category, raw)
    have = {fid for fid in stored} | {f.id for f, v in cleaned.items() if v is not None}
    have -= {f.id for f, v in cleaned.items() if v is None}
    _require_values(case.category, case.status, cleaned, have, moving=False)
    for f, value in cleaned.items():
        row = stored.get(f.id)
        old = row.value if row is not None else None
        if old == value:
            continue
        if value is None and row is not None:
            session.delete(row)
        elif row is None:
            session.add(CaseFieldValue(case_id=case.id, field_id=f.id, value=value, key=_key(f, value),
                                       search_text=_search_text(f, value)))
        else:
            row.value, row.key, row.search_text = value, _key(f, value), _search_text(f, value)
        changes[_name(f.code)] = [old, value]


def check_required(session: Session, case: Case, target: CaseStatus) -> None:
    """Refuse moving `case` to `target` while a field required there (or earlier) has no value, naming it."""
    have = set(_stored(session, case.id))
    _require_values(case.category, target, fields_for(session, case.category), have, moving=True)


# ---------------------------------------------------------------- reading values


@dataclass
class ShownField:
    """One custom field on a case page: its definition, the value recorded (None: none) in words."""

    field: CaseFieldDefinition
    value: Any
    text: str
    required_now: bool
    applies: bool

    @property
    def retired(self) -> bool:
        return self.field.is_retired


def display(f: CaseFieldDefinition, value: Any) -> str:
    """A stored value in words (a removed option is shown as recorded)."""
    if value is None:
        return ""
    if f.type == FieldType.MULTI_CHOICE and isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if f.type == FieldType.YES_NO:
        return "yes" if value else "no"
    if f.type == FieldType.DATETIME and isinstance(value, str):
        when = _datetime(value)
        return f"{when:%Y-%m-%d %H:%M} UTC" if when else value
    return str(value)


def shown_fields(session: Session, case: Case) -> list[ShownField]:
    """The custom fields of a case page: those of its category (not retired) with or without a value, and
    every other one the case holds a value of (retired, or of another category since the case changed)."""
    stored = _stored(session, case.id)
    shown = []
    for f in session.scalars(_ordered()):
        row = stored.get(f.id)
        applies = f.applies_to(case.category) and not f.is_retired
        if row is None and not applies:
            continue
        value = row.value if row else None
        required_now = f.required and applies and STATES.index(f.required_from) <= STATES.index(case.status)
        shown.append(ShownField(f, value, display(f, value), required_now, applies))
    return shown


def values_by_case(session: Session, case_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """case id -> {field code: value} of every value recorded (retired fields' too), in one query."""
    ids = list(case_ids)
    result: dict[int, dict[str, Any]] = {i: {} for i in ids}
    if not ids:
        return result
    rows = session.execute(select(CaseFieldValue.case_id, CaseFieldDefinition.code, CaseFieldValue.value)
                           .join(CaseFieldDefinition, CaseFieldDefinition.id == CaseFieldValue.field_id)
                           .where(CaseFieldValue.case_id.in_(ids)).order_by(CaseFieldDefinition.position,
                                                                             CaseFieldDefinition.code))
    for case_id, code, value in rows:
        result[case_id][code] = value
    return result


def form_values(session: Session, case: Case) -> dict[str, str | list[str]]:
    """A case's values as the edit form shows them: `field.CODE` -> text (a list for multi-choice)."""
    shown: dict[str, str | list[str]] = {}
    for s in shown_fields(session, case):
        if not s.applies:
            continue
        key = f"field.{s.field.code}"
        if s.field.type == FieldType.MULTI_CHOICE:
            shown[key] = list(s.value or [])
        elif s.field.type == FieldType.YES_NO:
            shown[key] = "" if s.value is None else ("yes" if s.value else "no")
        elif s.field.type == FieldType.DATETIME and s.value:
            when = _datetime(s.value)
            shown[key] = f"{when:%Y-%m-%dT%H:%M}" if when else ""
        elif s.field.type == FieldType.NUMBER and s.value is not None:
            shown[key] = _show_number(s.value)
        else:
            shown[key] = "" if s.value is None else str(s.value)
    return shown


# ---------------------------------------------------------------- filters and search


def filters(session: Session, wanted: Mapping[str, str]) -> list[ColumnElement[bool]]:
    """WHERE clauses on `Case` for the case list's `field.CODE=value` filters: cases whose value of CODE is
    `value` (text: whatever its letter case; multi-choice: among the options chosen). Retired fields and
    removed options filter too (their values are still recorded). Raises Invalid naming `field.CODE`."""
    where: list[ColumnElement[bool]] = []
    for code, value in wanted.items():
        f = session.scalars(select(CaseFieldDefinition).where(CaseFieldDefinition.code == code.lower())
                            ).one_or_none()
        if f is None:
            raise Invalid(f"field.{code}: there is no custom field {code!r}", field=f"field.{code}")
        rows = select(CaseFieldValue.case_id).where(CaseFieldValue.field_id == f.id)
        text = value.strip()
        if f.type == FieldType.MULTI_CHOICE:
            rows = rows.where(CaseFieldValue.key.contains(f"|{text}|", autoescape=True))
        else:
            try:
                key = _key(f, _filter_value(session, f, text))
            except Invalid:
                raise Invalid(f"field.{code}: not a value {f.label} can hold", field=f"field.{code}") from None
            rows = rows.where(CaseFieldValue.key == key)
        where.append(Case.id.in_(rows))
    return where


def _filter_value(session: Session, f: CaseFieldDefinition, text: str) -> Any:
    if f.type in TEXT_TYPES or f.type in {FieldType.CHOICE, FieldType.USER}:
        return text.lower() if f.type == FieldType.USER else text  # a removed option still filters
    probe = CaseFieldDefinition(code=f.code, label=f.label, type=f.type, options=[])  # no limits: any value
    return _value(session, probe, text)


def text_matching(words: list[str]) -> Any:
    """The ids of the cases whose text custom fields hold every one of `words` at the start of a word of one
    value (the full-text search's rule, casemgr.cases.search), or None for no words."""
    if not words:
        return None
    rows = select(CaseFieldValue.case_id).where(CaseFieldValue.search_text.is_not(None))
    for w in words:
        rows = rows.where((CaseFieldValue.search_text.startswith(w, autoescape=True))
                          | CaseFieldValue.search_text.contains(f" {w}", autoescape=True))
    return rows
