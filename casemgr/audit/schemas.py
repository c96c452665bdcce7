"""Filters for reading and exporting the audit log."""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

from pydantic import ConfigDict, Field, field_validator

from casemgr import fields
from casemgr.cases.schemas import REFERENCE

_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")


class AuditRange(fields.Input):
    """Which entries: the filters the audit page, the API and the export share."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    actor: str | None = Field(default=None, max_length=128, description="username")
    action: str | None = Field(default=None, max_length=64, description="action or its prefix, e.g. 'auth.'")
    object_type: str | None = Field(default=None, max_length=32)
    object_id: str | None = Field(default=None, max_length=64)
    case: str | None = Field(default=None, max_length=24,
                             description="a case reference, e.g. IR-2026-0001: the entries about that case")
    since: dt.datetime | None = Field(default=None, description="ISO 8601 date or time (UTC unless given), inclusive")
    until: dt.datetime | None = Field(default=None, description="ISO 8601 time, exclusive; a date includes that day")

    @field_validator("case")
    @classmethod
    def _reference(cls, value: str | None) -> str | None:
        if value is not None and not REFERENCE.fullmatch(value):
            raise ValueError("give a case reference such as IR-2026-0001")
        return value.upper() if value is not None else None

    @field_validator("until", mode="before")
    @classmethod
    def _whole_day(cls, value: object) -> object:
        # The page's date picker sends "2025-03-31" meaning "up to the end of that day".
        if isinstance(value, str) and _DATE_ONLY.fullmatch(value.strip()):
            try:
                return dt.datetime.combine(dt.date.fromisoformat(value.strip()) + dt.timedelta(days=1), dt.time(),
                                           tzinfo=dt.UTC)
            except (ValueError, OverflowError):
                return value  # reported by the datetime validation, naming the field
        return value

    @field_validator("since", "until")
    @classmethod
    def _aware(cls, value: dt.datetime | None) -> dt.datetime | None:
        return fields.aware_utc(value)


class AuditQuery(AuditRange):
    page: int = Field(default=1, ge=1, le=1_000_000)
    per_page: int = Field(default=50, ge=1, le=200)


ExportFormat = Literal["csv", "jsonl"]


class ExportRequest(AuditRange):
    """An export from the audit page's form (its format chosen there)."""

    format: ExportFormat = "jsonl"
