"""Full-text search over case titles, descriptions, notes and manual timeline events.

The indexes are built by migration 0002: on SQLite two FTS5 tables kept in step by triggers
(`cases_fts` over cases.title + description, `case_timeline_fts` over notes and events), on
PostgreSQL GIN indexes on tsvector expressions. Both split text into runs of letters and
digits (so `evil-domain.example` is `evil domain example`) and every word of the query must
match the start of a word in the same place (title/description, or one note/event): `ransom`
finds "ransomware". The expressions below must stay identical to the ones in the migration,
or PostgreSQL stops using the index (tests/cases/test_search.py checks the plan).
"""

from __future__ import annotations

import re

from sqlalchemy import ColumnElement, Integer, column, false, text
from sqlalchemy.orm import Session

from casemgr.cases.models import Case

MAX_TERMS = 12
_WORD = re.compile(r"[^\W_]+")

PG_CASE_DOCUMENT = ("to_tsvector('simple'::regconfig, regexp_replace(coalesce(title, '') || ' ' || "
                    "coalesce(description, ''), '[^[:alnum:]]+', ' ', 'g'))")
PG_ENTRY_DOCUMENT = ("to_tsvector('simple'::regconfig, regexp_replace(CASE WHEN kind = 'event' THEN summary "
                     "ELSE '' END || ' ' || coalesce(body, ''), '[^[:alnum:]]+', ' ', 'g'))")
PG_ENTRY_KINDS = "kind IN ('note', 'event')"


def terms(query: str) -> list[str]:
    """The words of a search query, lower-cased, at most MAX_TERMS."""
    return [w.lower() for w in _WORD.findall(query)][:MAX_TERMS]


def matching(session: Session, query: str) -> ColumnElement[bool]:
    """A WHERE clause on `Case` keeping the cases whose text matches every word of `query`."""
    words = terms(query)
    if not words:
        return false()
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        ids = text(
            f"SELECT id FROM cases WHERE {PG_CASE_DOCUMENT} @@ to_tsquery('simple'::regconfig, :tsq) "  # noqa: S608
            f"UNION SELECT case_id FROM case_timeline WHERE {PG_ENTRY_KINDS} "
            f"AND {PG_ENTRY_DOCUMENT} @@ to_tsquery('simple'::regconfig, :tsq)"
        ).bindparams(tsq=" & ".join(f"{w}:*" for w in words))
    elif dialect == "sqlite":
        ids = text(
            "SELECT rowid FROM cases_fts WHERE cases_fts MATCH :fts "
            "UNION SELECT case_id FROM case_timeline WHERE id IN "
            "(SELECT rowid FROM case_timeline_fts WHERE case_timeline_fts MATCH :fts)"
        ).bindparams(fts=" ".join(f'"{w}"*' for w in words))
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise RuntimeError(f"no full-text search for {dialect}")
    return Case.id.in_(ids.columns(column("id", Integer)))
