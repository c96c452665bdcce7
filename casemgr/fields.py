"""Validators shared by every domain's input schemas: one place for each rule about a field."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


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


def blank_is_none(value: Any) -> Any:
    """An empty or blank form field means 'not given'."""
    return None if isinstance(value, str) and not value.strip() else value


def strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value
