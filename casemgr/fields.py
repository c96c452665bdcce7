"""Validators shared by every domain's input schemas: one place for each rule about a field.

`Input` is the base of every input schema (commands, queries, filter forms), for the web forms,
the API and the CLI alike. It owns the rules every field follows, so that a new field inherits
them: a blank value means "not given", no text holds a NUL character, no whole number is beyond
what a database column holds, and no date-time falls outside the range once it is in UTC.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from casemgr.errors import Invalid

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
NUL = "\x00"
# The largest whole number a signed 64-bit column holds (PostgreSQL BIGINT, SQLite INTEGER):
# an id or count beyond it cannot exist, and the database drivers fail on it rather than compare.
MAX_INT = 2**63 - 1
# The largest id: ids are INTEGER columns, 32 bits on PostgreSQL (which casts a bound id to the
# column's type and fails on a larger one rather than find nothing).
MAX_ID = 2**31 - 1
NUL_MESSAGE = "must not contain NUL characters (\\x00)"


def single_line(value: str) -> str:
    """Refuse line breaks and other control characters (titles, names, summaries)."""
    if _CONTROL.search(value):
        raise ValueError("must be a single line without control characters")
    return value


def aware_utc(value: dt.datetime | None) -> dt.datetime | None:
    """A datetime without a time zone is taken as UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def is_blank(value: Any) -> bool:
    return isinstance(value, str) and not value.strip()


def blank_is_none(value: Any) -> Any:
    """An empty or blank form field means 'not given'."""
    return None if is_blank(value) else value


def strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _leaves(value: Any) -> Iterator[Any]:
    """Every value inside `value` (lists, tuples, sets and dicts, keys included), depth first."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend(item)
        elif isinstance(item, BaseModel):
            continue  # a nested input checked itself
        else:
            yield item


def has_nul(value: Any) -> bool:
    """Whether any text in `value` holds a NUL character (PostgreSQL cannot store one in text)."""
    return any(isinstance(v, str) and NUL in v for v in _leaves(value))


def storable_problem(value: Any) -> str | None:
    """What in an already validated `value` no database column can hold, in plain words, or None."""
    for leaf in _leaves(value):
        if isinstance(leaf, int) and not isinstance(leaf, bool) and not -MAX_INT - 1 <= leaf <= MAX_INT:
            return f"must be a whole number no larger than {MAX_INT}"
        if isinstance(leaf, dt.datetime) and leaf.tzinfo is not None:
            try:
                leaf.astimezone(dt.UTC)
            except OverflowError:
                return "is out of range: in UTC it must fall between the years 1 and 9999"
    return None


class Input(BaseModel):
    """The base of every input schema. Subclasses set their own `model_config` (pydantic merges it
    with this one)."""

    # A schema's validator is built when it first validates something (`parse`), not when its module
    # is imported: building all of a domain's schemas cost `casemgr case list` about 0.1 s for the one
    # it uses. The web app builds them all when it is made (`build_validators`).
    model_config = ConfigDict(defer_build=True)

    @model_validator(mode="before")
    @classmethod
    def _blank_is_not_given(cls, data: Any) -> Any:
        """A blank value (empty, or only spaces) means the field was not given: a required field
        is then missing, an optional one takes its default (None where that is the default, which
        is how an update command clears a field)."""
        if not isinstance(data, dict):
            return data
        names = {(f.alias or name): f for name, f in cls.model_fields.items()}
        given: dict[Any, Any] = {}
        for key, value in data.items():
            field = names.get(key)
            if field is None or not is_blank(value):
                given[key] = value
            elif not field.is_required() and field.default is None and field.default_factory is None:
                given[key] = None
        return given

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if has_nul(value):
            raise ValueError(NUL_MESSAGE)
        return value

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        problem = storable_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value


# ---------------------------------------------------------------- validating input into a command

# pydantic's deferred build is not safe across threads: two requests validating with a schema not built
# yet made one of them fail inside pydantic (AttributeError: no __pydantic_core_schema__), found by
# tests/test_serve.py on a threaded server just started. One build at a time, each once.
_BUILD_LOCK = threading.Lock()


def build_validators() -> None:
    """Build the validator of every input schema defined so far (the web app, when it is made: before a
    server forks its workers and starts their threads, and so that no request pays for a build)."""
    stack: list[type[BaseModel]] = [Input]
    while stack:
        model = stack.pop()
        stack.extend(model.__subclasses__())
        _build(model)


def _build(model: type[BaseModel]) -> None:
    if not model.__pydantic_complete__:
        with _BUILD_LOCK:
            model.model_rebuild()  # a no-op when another thread built it while this one waited


def parse(model: type[BaseModel], data: Any) -> Any:
    """Validate input into a command; a bad field raises Invalid naming it once, in plain words."""
    _build(model)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [problem(model, e) for e in exc.errors()]
        field, message = errors[0]
        raise Invalid(f"{field}: {message}" if field else message, field=field,
                      details={"errors": [{"field": f or "", "message": m} for f, m in errors]}) from None


_PLAIN = {
    "missing": "is required",
    "extra_forbidden": "unknown field",
    "string_type": "must be text",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "int_parsing_size": f"must be a whole number no larger than {MAX_INT}",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "datetime_type": "must be a date and time such as 2026-01-02T03:04:05Z",
    "datetime_parsing": "must be a date and time such as 2026-01-02T03:04:05Z",
    "datetime_from_date_parsing": "must be a date and time such as 2026-01-02T03:04:05Z",
    "datetime_object_invalid": "must be a date and time such as 2026-01-02T03:04:05Z",
    "date_type": "must be a date such as 2026-01-02",
    "date_parsing": "must be a date such as 2026-01-02",
    "date_from_datetime_parsing": "must be a date such as 2026-01-02",
    "list_type": "must be a list",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "uuid_type": "must be a UUID",
    "uuid_parsing": "must be a UUID",
    "string_pattern_mismatch": "is not in the accepted form",
}


def problem(model: type[BaseModel], error: Any) -> tuple[str | None, str]:
    """One pydantic error as (field, message): the field's dotted path, the message in plain words."""
    kind, ctx = error["type"], error.get("ctx") or {}
    field = ".".join(str(p) for p in error["loc"]) or None
    if kind in {"value_error", "assertion_error"}:
        message = str(ctx.get("error", error["msg"]))
        named = re.match(r"([a-z_][a-z0-9_.]*): (.+)", message, re.S)
        if field is None and named and named.group(1).split(".")[0] in model.model_fields:
            return named.group(1), named.group(2)  # a rule over several fields names the one it is about
        return field, message
    if kind == "string_too_short":
        least = ctx.get("min_length", 1)
        return field, "must not be empty" if least == 1 else f"must be at least {least} characters long"
    if kind == "string_too_long":
        return field, f"must be at most {ctx.get('max_length')} characters long"
    if kind == "too_short":
        return field, f"must have at least {ctx.get('min_length')} item(s)"
    if kind == "too_long":
        return field, f"may have at most {ctx.get('max_length')} items"
    bounds = {"greater_than_equal": ("at least", "ge"), "less_than_equal": ("at most", "le"),
              "greater_than": ("more than", "gt"), "less_than": ("less than", "lt")}
    if kind in bounds:
        words, key = bounds[kind]
        return field, f"must be {words} {ctx.get(key)}"
    if kind in {"enum", "literal_error"}:
        return field, f"must be one of {ctx.get('expected')}"
    if kind == "string_pattern_mismatch":
        declared = model.model_fields.get(str(error["loc"][0])) if error["loc"] else None
        hint = declared.description if declared is not None and declared.description else None
        return field, f"is not in the accepted form ({hint})" if hint else "is not in the accepted form"
    if kind in _PLAIN:
        return field, _PLAIN[kind]
    return field, str(error["msg"])


class FileItem(Input):
    """The base of the schemas of configuration-file items (casemgr/configfiles): every key known, and
    values of the type written (strict: `retired: "yes"` or `name: 12` is a mistake, not a guess)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True, strict=True)
