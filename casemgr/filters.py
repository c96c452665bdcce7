"""Jinja filters that show stored values as people read them, one per kind, used by every template.

- `label`: an enum member or its stored value (`user_report`, `false_positive`, `duplicate_of`)
  in words (`user report`, `false positive`, `duplicate of`); acronyms stay upper case.
- `filesize`: a byte count as KiB/MiB/GiB, the exact number of bytes in a title attribute.
- `plural`: `n | plural("entry", "entries")` is "1 entry", "2 entries".
- `change`: one timeline change (`name`, `[before, after]`) as a sentence: "restricted: set to
  yes", "owner: ann → bob", "title: changed" for long text.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from typing import TYPE_CHECKING, Any

from markupsafe import Markup, escape

if TYPE_CHECKING:  # the audit log's words come from here too, in commands that load no Flask
    from flask import Flask

# Values whose words are not simply the value with spaces for underscores.
LABELS: dict[str, str] = {"duplicate_of": "duplicate of", "duplicated_by": "duplicated by"}
# Long free-text fields whose changes the timeline names rather than repeats.
LONG_TEXT = {"title", "description", "resolution_summary", "root_cause", "priority_reason", "severity_reason",
             "time_reason", "reason"}
FIELD_LABELS: dict[str, str] = {"tlp": "TLP", "pap": "PAP", "duplicate_of": "duplicate of"}
_UNITS = ("KiB", "MiB", "GiB", "TiB")


def label(value: Any) -> str:
    """The words for an enum member or a stored enum value; '—' for none."""
    if value is None or value == "":
        return "—"
    text = str(value.value if isinstance(value, enum.Enum) else value)
    return LABELS.get(text, text.replace("_", " "))


def filesize(value: Any) -> Markup:
    """`52428800` as `50 MiB`, with the exact byte count in a title attribute."""
    if value is None:
        return Markup("—")
    size = int(value)
    exact = f"{size:,} byte{'' if size == 1 else 's'}"
    if size < 1024:
        return Markup('<span title="{0}">{0}</span>').format(exact)
    amount, unit = size / 1024, _UNITS[0]
    for bigger in _UNITS[1:]:
        if amount < 1024:
            break
        amount, unit = amount / 1024, bigger
    shown = f"{amount:.0f}" if amount >= 100 or amount == int(amount) else f"{amount:.1f}"
    return Markup('<span title="{}">{} {}</span>').format(exact, shown, unit)


def plural(count: Any, singular: str, many: str | None = None) -> str:
    """`1 entry`, `2 entries` (`many` defaults to singular + 's')."""
    number = int(count)
    return f"{number:,} {singular if number == 1 else (many or singular + 's')}"


# A stored timestamp (what the services record in changes and summaries: isoformat() of an aware datetime).
_ISO_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})")


def timestamp(value: Any, *, seconds: bool = False) -> str | None:
    """`2026-12-01T12:29:11.345451+00:00` as `2026-12-01 12:29 UTC`, as the pages show times (with the
    seconds for the audit log); None when the value is no timestamp with a time zone."""
    if not isinstance(value, str) or not _ISO_TIMESTAMP.fullmatch(value):
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M") + " UTC"


def _shown(value: Any) -> str:
    if (moment := timestamp(value)) is not None:
        return moment
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, list):
        return ", ".join(_shown(v) for v in value) or "none"
    return label(value)


def change(name: str, pair: Any) -> Markup:
    """One change of a timeline entry in words."""
    before, after = (list(pair) + [None, None])[:2] if isinstance(pair, list | tuple) else (None, pair)
    field = FIELD_LABELS.get(name, name.replace("_", " "))
    if name in LONG_TEXT and isinstance(after, str) and len(after) > 120:
        words = "changed"
    elif before is None and after is None:
        words = "cleared"
    elif before in (None, "", []):
        words = f"set to {_shown(after)}"
    elif after in (None, "", []):
        words = f"cleared (was {_shown(before)})"
    else:
        words = f"{_shown(before)} → {_shown(after)}"
    return Markup("<strong>{}</strong>: {}").format(field, escape(words))


def register(app: Flask) -> None:
    """Make the filters available to every template."""
    app.add_template_filter(label, "label")
    app.add_template_filter(filesize, "filesize")
    app.add_template_filter(plural, "plural")
    app.add_template_filter(change, "change")
