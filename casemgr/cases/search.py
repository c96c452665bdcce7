"""Full-text search over case titles, descriptions, notes and manual timeline events.

A case matches when every word of the query starts a word somewhere in its text (title,
description, notes, events): `ransom` finds "ransomware", `lockbit fs01` finds a case whose title
names LockBit and whose note names fs01. Text is split into runs of letters and digits on both
databases, so `evil-domain.example` is `evil domain example`.

The indexes are built by migration 0002: on SQLite one FTS5 row per case (rowid = case id) kept
in step by triggers; on PostgreSQL GIN indexes on tsvector expressions over cases and over
notes/events (stored generated `search_vector` columns built from the expressions below),
intersected word by word (tests/cases/test_list.py checks the plan).
"""

from __future__ import annotations

import re

from sqlalchemy import ColumnElement, Integer, and_, column, false, text
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
        # A word may match in the case's own text or in any of its notes: one id set per word.
        return and_(*(Case.id.in_(text(
            f"SELECT id FROM cases WHERE search_vector @@ to_tsquery('simple'::regconfig, :w{i}) "  # noqa: S608
            f"UNION SELECT case_id FROM case_timeline WHERE {PG_ENTRY_KINDS} "
            f"AND search_vector @@ to_tsquery('simple'::regconfig, :w{i})"
        ).bindparams(**{f"w{i}": f"{w}:*"}).columns(column("id", Integer))) for i, w in enumerate(words)))
    if dialect != "sqlite":  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise RuntimeError(f"no full-text search for {dialect}")
    ids = text("SELECT rowid FROM cases_fts WHERE cases_fts MATCH :fts").bindparams(
        fts=" ".join(f'"{w}"*' for w in words))
    return Case.id.in_(ids.columns(column("id", Integer)))
