"""Exporting the cases a case-list query matches, as CSV or JSON lines (docs/case-export.md).

The export is the case list without its pages: the same filters, search, sort and visibility
(`queries.matching_cases`, so `access.visible_filter`: restricted cases only for their members and those who
see all; admins, who see no case content, are refused). One row a case: its fields, then one column per
custom field ever defined (retired ones too, so values already recorded stay readable), the custom values
fetched a batch of cases at a time (`custom_fields.values_by_case`), never a query per case.

Bounded: at most MAX_ROWS cases. Past that the export is refused (TooLarge, 413) before any row is read,
with how many matched, rather than a file silently cut short. Starting an export (`start_export`) records
it in the audit log (who, the filters, how many rows; no case content: search words, tags and custom field
values are named, not copied) in the caller's transaction and fixes the matching case ids then; the caller
commits, then streams the rows (`export_chunks`) from a read session, BATCH cases at a time.

CSV cells that a spreadsheet would read as a formula (starting with = + - @, a tab or a carriage return) get
a leading ' (OWASP "CSV injection"; `casemgr.audit.export.safe_cell`, the one place that does it). JSON lines
hold every value verbatim.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from casemgr.audit import trail as audit
from casemgr.auth.actor import Actor
from casemgr.cases import access, custom_fields
from casemgr.cases._helpers import list_options
from casemgr.cases.field_models import CaseFieldDefinition
from casemgr.cases.models import Case
from casemgr.cases.queries import matching_cases
from casemgr.cases.schemas import CaseQuery
from casemgr.collaborators import clock
from casemgr.errors import Forbidden, TooLarge

FORMATS = ("csv", "json")
MAX_ROWS = 10_000
BATCH = 500
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/x-ndjson"}
EXTENSIONS = {"csv": "csv", "json": "jsonl"}
COLUMNS = ["reference", "title", "status", "priority", "impact", "urgency", "category", "subcategory", "owner",
           "team", "tags", "created_at", "updated_at", "occurred_at", "detected_at", "resolved_at", "closed_at",
           "resolution", "tlp"]
_TIMES = {"created_at", "updated_at", "occurred_at", "detected_at", "resolved_at", "closed_at"}
# Filters recorded as given: what they hold may be case content (search words, tags, custom values), which
# admins, who read the audit log, may not read (casemgr/audit/content.py).
_CONTENT_FILTERS = ("q", "tag")


@dataclass(frozen=True)
class CaseExport:
    format: str
    case_ids: list[int]  # the matching cases in the list's order, fixed when the export started
    fields: list[CaseFieldDefinition]  # every custom field defined, retired ones too, in their order
    exported_at: dt.datetime

    @property
    def filename(self) -> str:
        return f"cases-{self.exported_at:%Y%m%dT%H%M%SZ}.{EXTENSIONS[self.format]}"

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.format]

    @property
    def header(self) -> list[str]:
        return COLUMNS + [f"field.{f.code}" for f in self.fields]


def start_export(session: Session, actor: Actor, query: CaseQuery, fmt: str, *, limit: int = MAX_ROWS) -> CaseExport:
    """Record an export of the cases `query` matches for `actor` and fix which they are.
    Raises Forbidden for those who see no case content (admins), TooLarge past MAX_ROWS cases,
    Invalid for a bad filter (as the case list). `limit`: MAX_ROWS unless a test asks for fewer."""
    if not access.sees_cases(actor):
        raise Forbidden("admins run the instance and do not see case content: they cannot export cases")
    where, order, total = matching_cases(session, actor, query)
    if total > limit:
        raise TooLarge(f"{total} cases match; an export holds at most {limit}: narrow the filters "
                       "(e.g. a date range with since and until) and export in parts")
    ids = list(session.scalars(select(Case.id).where(*where).order_by(*order)).all())
    fields = list(session.scalars(custom_fields._ordered()).all())
    audit.record(session, actor, "case.export", "case", None,
                 {"format": fmt, "filters": _recorded_filters(query), "rows": len(ids)})
    return CaseExport(format=fmt, case_ids=ids, fields=fields, exported_at=clock(session).now())


def _recorded_filters(query: CaseQuery) -> dict[str, Any]:
    given = query.model_dump(exclude_none=True, exclude={"page", "per_page", "fields"}, mode="json")
    recorded: dict[str, Any] = {k: v for k, v in given.items() if k not in _CONTENT_FILTERS}
    named = [k for k in _CONTENT_FILTERS if k in given] + [f"field.{code}" for code in sorted(query.fields)]
    if named:
        recorded["content_filters"] = named  # given, not copied
    return recorded


def export_chunks(session: Session, plan: CaseExport) -> Iterator[str]:
    """The export's text, BATCH cases at a time: a CSV header row then a row a case, or a JSON object a line."""
    if plan.format == "csv":
        yield _csv_rows([plan.header])
    for start in range(0, len(plan.case_ids), BATCH):
        ids = plan.case_ids[start:start + BATCH]
        loaded = {c.id: c for c in session.scalars(select(Case).where(Case.id.in_(ids)).options(*list_options()))}
        values = custom_fields.values_by_case(session, ids)
        cases = [loaded[i] for i in ids if i in loaded]  # a case deleted since the start is left out
        if plan.format == "csv":
            yield _csv_rows([_csv_row(plan.fields, c, values[c.id]) for c in cases])
        else:
            yield "".join(_json_line(c, values[c.id]) for c in cases)
        session.expunge_all()  # keep memory flat over a long export


def _fields(case: Case) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for column in COLUMNS:
        if column == "owner":
            row[column] = case.owner.username if case.owner else None
        elif column == "team":
            row[column] = case.team_name
        elif column == "tags":
            row[column] = case.tag_names
        elif column in _TIMES:
            when = getattr(case, column)
            row[column] = when.astimezone(dt.UTC).isoformat() if when else None
        else:
            value = getattr(case, column)
            row[column] = value.value if hasattr(value, "value") else value
    return row


def _csv_row(fields: Sequence[CaseFieldDefinition], case: Case, values: dict[str, Any]) -> list[Any]:
    row = _fields(case)
    row["tags"] = ", ".join(row["tags"])
    return [row[c] for c in COLUMNS] + [custom_fields.display(f, values.get(f.code)) for f in fields]


def _csv_rows(rows: list[list[Any]]) -> str:
    from casemgr.audit.export import safe_cell  # with the audit export's models: only when a CSV is written

    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows([[safe_cell(v) for v in row] for row in rows])
    return out.getvalue()


def _json_line(case: Case, values: dict[str, Any]) -> str:
    # ASCII only, as the audit export: no character in a case (U+2028 and the like) is taken for a line break.
    return json.dumps({**_fields(case), "custom_fields": values}, ensure_ascii=True, separators=(",", ":")) + "\n"
