"""Filters for reading the audit log."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field, field_validator


class AuditQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    actor: str | None = Field(default=None, max_length=128, description="username")
    action: str | None = Field(default=None, max_length=64, description="action or its prefix, e.g. 'auth.'")
    object_type: str | None = Field(default=None, max_length=32)
    object_id: str | None = Field(default=None, max_length=64)
    since: dt.datetime | None = Field(default=None, description="ISO 8601, inclusive")
    until: dt.datetime | None = Field(default=None, description="ISO 8601, exclusive")
    page: int = Field(default=1, ge=1, le=1_000_000)
    per_page: int = Field(default=50, ge=1, le=200)

    @field_validator("actor", "action", "object_type", "object_id", "since", "until", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("since", "until")
    @classmethod
    def _aware(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value
