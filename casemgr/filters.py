"""Stored values as people read them, one function per kind, used by every template and by the audit
log's readable entries (casemgr/audit/readable.py), so a value reads the same on every page.

- `label`: an enum member or its stored value (`user_report`, `false_positive`, `duplicate_of`)
  in words (`user report`, `false positive`, `duplicate of`); acronyms stay upper case.
- `field_label`: a field's name in words (`acknowledged_at` is "acknowledged at", `tlp` "TLP").
- `words`: any stored value (a change's before or after, an audit summary's member) in words:
  yes/no, times as the pages show them, lists joined, a coded field's value as its label, a size in
  units, text as typed.
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

if TYPE_CHECKING:  # the audit log's words come from here too, in commands that load no Flask (casemgr case list)
    from flask import Flask

# Values whose words are not simply the value with spaces for underscores.
LABELS: dict[str, str] = {"duplicate_of": "duplicate of", "duplicated_by": "duplicated by"}
# Long free-text fields whose changes the timeline names rather than repeats.
LONG_TEXT = {"title", "description", "resolution_summary", "root_cause", "priority_reason", "severity_reason",
             "time_reason", "reason"}
FIELD_LABELS: dict[str, str] = {"tlp": "TLP", "pap": "PAP", "duplicate_of": "duplicate of"}
# Fields whose stored values are codes (enum values: `user_report`, `false_positive`), read as their labels.
# Any other text (a username, a file name, a reason) is shown as typed, underscores and all.
CODED = frozenset({"status", "priority", "impact", "urgency", "severity", "tlp", "pap", "source", "resolution",
                   "kind", "role", "state", "integrity", "from_tlp", "to_tlp"})
SIZES = frozenset({"size"})  # byte counts, read in units with the exact count
_UNITS = ("KiB", "MiB", "GiB", "TiB")


def label(value: Any) -> str:
    """The words for an enum member or a stored enum value; '—' for none."""
    if value is None or value == "":
        return "—"
    text = str(value.value if isinstance(value, enum.Enum) else value)
    return LABELS.get(text, text.replace("_", " "))


def field_label(name: str) -> str:
    """The words for a field's name: `acknowledged_at` is "acknowledged at", `tlp` is "TLP"."""
    return FIELD_LABELS.get(name, name.replace("_", " "))


def _size(size: int) -> tuple[str, str]:
    """A byte count in units (`50 MiB`) and exactly (`52,428,800 bytes`); the same when under 1 KiB."""
    exact = f"{size:,} byte{'' if size == 1 else 's'}"
    if size < 1024:
        return exact, exact
    amount, unit = size / 1024, _UNITS[0]
    for bigger in _UNITS[1:]:
        if amount < 1024:
            break
        amount, unit = amount / 1024, bigger
    shown = f"{amount:.0f}" if amount >= 100 or amount == int(amount) else f"{amount:.1f}"
    return f"{shown} {unit}", exact


def filesize(value: Any) -> Markup:
    """`52428800` as `50 MiB`, with the exact byte count in a title attribute."""
    if value is None:
        return Markup("—")
    shown, exact = _size(int(value))
    return Markup('<span title="{}">{}</span>').format(exact, shown)


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


def words(value: Any, *, field: str | None = None, seconds: bool = False) -> str:
    """A stored value in words: '—' for nothing, yes/no, a timestamp as the pages show times (with the
    seconds for the audit log), a list joined, an object as "name: value; ...", an enum member or the
    value of a `CODED` field as its label, a `SIZES` field's byte count in units; any other text as typed."""
    if value is None or value in ("", []):
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, enum.Enum):
        return label(value)
    if isinstance(value, list):
        return ", ".join(words(v, field=field, seconds=seconds) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{field_label(str(k))}: {words(v, field=str(k), seconds=seconds)}" for k, v in value.items())
    if (moment := timestamp(value, seconds=seconds)) is not None:
        return moment
    if field in CODED and isinstance(value, str):
        return label(value)
    if field in SIZES and isinstance(value, int):
        shown, exact = _size(value)
        return shown if shown == exact else f"{shown} ({exact})"
    return str(value)


def change(name: str, pair: Any) -> Markup:
    """One change of a timeline entry in words."""
    before, after = (list(pair) + [None, None])[:2] if isinstance(pair, list | tuple) else (None, pair)
    if name in LONG_TEXT and isinstance(after, str) and len(after) > 120:
        said = "changed"
    elif before is None and after is None:
        said = "cleared"
    elif before in (None, "", []):
        said = f"set to {words(after, field=name)}"
    elif after in (None, "", []):
        said = f"cleared (was {words(before, field=name)})"
    else:
        said = f"{words(before, field=name)} → {words(after, field=name)}"
    return Markup("<strong>{}</strong>: {}").format(field_label(name), escape(said))


def register(app: Flask) -> None:
    """Make the filters available to every template."""
    app.add_template_filter(label, "label")
    app.add_template_filter(filesize, "filesize")
    app.add_template_filter(plural, "plural")
    app.add_template_filter(change, "change")
