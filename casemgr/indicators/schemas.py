"""Input for the indicator use cases, shared by forms, API and CLI."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import ConfigDict, Field, field_validator, model_validator

from casemgr.cases.models import Tlp
from casemgr.cases.schemas import REASON_MAX
from casemgr.fields import Input
from casemgr.indicators.observables import MAX_VALUE_LENGTH, ObservableType

MAX_PATTERN_LENGTH = 20_000


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("give a time zone, e.g. 2026-01-02T03:04:05Z")
    return value


class Command(Input):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class NewIndicator(Command):
    """An indicator from a type and a value, or from a raw STIX pattern."""

    type: ObservableType | None = None
    value: str | None = Field(default=None, max_length=MAX_VALUE_LENGTH)
    pattern: str | None = Field(default=None, max_length=MAX_PATTERN_LENGTH)
    confidence: int = Field(default=50, ge=0, le=100)
    indicator_types: list[str] = Field(default_factory=lambda: ["malicious-activity"], min_length=1, max_length=20)
    name: str | None = Field(default=None, max_length=250)
    description: str | None = Field(default=None, max_length=20_000)
    valid_from: dt.datetime | None = None
    valid_until: dt.datetime | None = None

    _tz = field_validator("valid_from", "valid_until")(_aware)

    @field_validator("type", mode="before")
    @classmethod
    def _type_lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("indicator_types", mode="before")
    @classmethod
    def _csv(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @model_validator(mode="after")
    def _one_way(self) -> NewIndicator:
        if self.pattern is not None and (self.type is not None or self.value is not None):
            raise ValueError("give either a type and a value, or a STIX pattern, not both")
        if self.pattern is None:
            if self.type is None:
                raise ValueError("type: give the indicator type (or a STIX pattern)")
            if self.value is None:
                raise ValueError("value: give the indicator value")
        return self


class ExtractText(Command):
    text: str = Field(min_length=1, max_length=2_000_000)


class CandidateIn(Command):
    type: ObservableType
    value: str = Field(min_length=1, max_length=MAX_VALUE_LENGTH)


class AcceptCandidates(Command):
    items: list[CandidateIn] = Field(min_length=1, max_length=5000)
    confidence: int = Field(default=50, ge=0, le=100)


class ImportOptions(Input):
    model_config = ConfigDict(extra="ignore")
    partial: bool = Field(default=False, description="import the valid objects and report the invalid ones")
    dry_run: bool = Field(default=False, description="check and count only; nothing is stored")


class ExportOptions(Input):
    model_config = ConfigDict(extra="ignore")
    include_red: bool = Field(default=False, description="include TLP:RED objects (managers and case members)")


class IndicatorQuery(Input):
    model_config = ConfigDict(extra="ignore")
    page: int = Field(default=1, ge=1, le=1_000_000)
    per_page: int = Field(default=50, ge=1, le=500)


class ObjectQuery(IndicatorQuery):
    type: str | None = Field(default=None, max_length=250, description="only objects of this STIX type")


class SearchQuery(Input):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)
    value: str = Field(min_length=1, max_length=MAX_VALUE_LENGTH,
                       description="a value to look up; an IP address also finds the CIDR networks holding it")
    type: ObservableType | None = Field(default=None, description="only read the value as this indicator type")
    page: int = Field(default=1, ge=1, le=1_000_000)
    per_page: int = Field(default=50, ge=1, le=200)


class Revocation(Command):
    """Revoke a STIX object: a new version with `revoked: true`, the last one it may have."""

    reason: str = Field(min_length=1, max_length=REASON_MAX, description="why it is revoked (on the timeline)")


class TlpChange(Command):
    """Mark a STIX object with another TLP level: a new version with that TLP 2.0 marking."""

    tlp: Tlp = Field(description="the new TLP level: clear, green, amber, amber+strict or red")
    reason: str = Field(min_length=1, max_length=REASON_MAX, description="why the TLP changes (on the timeline)")

    @field_validator("tlp", mode="before")
    @classmethod
    def _tlp_lower(cls, value: Any) -> Any:
        return value.strip().lower().removeprefix("tlp:") if isinstance(value, str) else value
