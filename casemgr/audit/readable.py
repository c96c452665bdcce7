"""Audit entries as people read them: the summary as labelled fields in words, and the case each entry is
about, named and linked only for a reader who may see that case (casemgr/cases/access.py).

The summary is the one the reader may read (casemgr/audit/content.py: without case content for admins);
this only words it. The case an entry is about is the one it is filed under (`AuditEntry.case_id`, by the
rule of casemgr.audit.service.case_named, as the case filter reads it): its object is the case, or its
summary names the case by id (`case_id`, evidence) or by reference (`case`, indicators; `reference`,
cases). Where the reader may not see that case (admins see none), those names are left out too: the entry
shows its object's type and id, never the case's reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from casemgr.audit.content import EntryView
from casemgr.auth.actor import Actor
from casemgr.cases import access
from casemgr.cases.models import Case
from casemgr.filters import field_label, words

# Summary members that name the case an entry is about.
CASE_KEYS = ("case_id", "case", "reference")
_NAMED = {"text_changed": "changed (the text is on the case, not here)",
          "content_fields": "named (the values are on the case, not here)"}


@dataclass(frozen=True)
class CaseRef:
    id: int
    reference: str


@dataclass(frozen=True)
class ReadableEntry:
    entry: EntryView
    case: CaseRef | None  # the case it is about, when the reader may see it
    summary: dict[str, Any]  # as the reader may read it, without the case's names where they may not see it
    fields: list[tuple[str, str]]  # (label, value in words)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.entry, name)


def readable(session: Session, actor: Actor, entries: Sequence[EntryView]) -> list[ReadableEntry]:
    """`entries` in words, each with the case it is about where `actor` may see it (one query for them all)."""
    ids = {e.case_id for e in entries if e.case_id is not None}
    by_id: dict[int, CaseRef] = {}
    if ids:
        rows = session.execute(select(Case.id, Case.reference).where(Case.id.in_(ids), access.visible_filter(actor)))
        by_id = {row.id: CaseRef(row.id, row.reference) for row in rows}
    result = []
    for e in entries:
        case = by_id.get(e.case_id) if e.case_id is not None else None
        summary = dict(e.summary or {})
        if case is None:
            for key in CASE_KEYS:
                summary.pop(key, None)
        result.append(ReadableEntry(e, case, summary, summary_fields(summary)))
    return result


def summary_fields(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """The summary as (label, words), worded as the pages word them (casemgr.filters.words, with seconds):
    a change as 'from → to', lists joined, yes/no, '—' for nothing."""
    fields: list[tuple[str, str]] = []
    for key, value in summary.items():
        if key == "changes" and isinstance(value, dict):
            fields.extend((field_label(name), _change(name, change)) for name, change in value.items())
        elif key in _NAMED and isinstance(value, list):
            fields.append((_NAMED[key], ", ".join(field_label(str(v)) for v in value)))
        else:
            fields.append((field_label(key), words(value, field=key, seconds=True)))
    return fields


def _change(name: str, change: Any) -> str:
    if isinstance(change, list) and len(change) == 2:  # noqa: PLR2004 - [from, to]
        return " → ".join(words(side, field=name, seconds=True) for side in change)
    return words(change, field=name, seconds=True)
