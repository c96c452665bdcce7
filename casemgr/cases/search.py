"""Full-text search over case titles, descriptions, notes and manual timeline events.

A case matches when every word of the query starts a word somewhere in its text (title,
description, notes, events): `ransom` finds "ransomware", `lockbit fs01` finds a case whose title
names LockBit and whose note names fs01. Text is split into runs of letters and digits on both
databases, so `evil-domain.example` is `evil domain example`.

The indexes are built by migration 0002, one document per case on both databases: on SQLite an
FTS5 row (rowid = case id), on PostgreSQL a `case_search` row (the words of the title, description,
notes and events, kept by triggers) with a GIN index. Either way the case
list's filters, order and count run on the matching cases alone (tests/cases/test_list.py checks
the PostgreSQL plan).
"""

from __future__ import annotations

import re

from sqlalchemy import ColumnElement, Integer, column, false, text
from sqlalchemy.orm import Session

from casemgr.cases.models import Case

MAX_TERMS = 12
_WORD = re.compile(r"[^\W_]+")

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
        # One document per case (title, description, notes, events): every word, as a prefix.
        ids = text("SELECT case_id FROM case_search WHERE document @@ to_tsquery('simple'::regconfig, :pg_fts)")
        return Case.id.in_(ids.bindparams(pg_fts=" & ".join(f"{w}:*" for w in words)).columns(column("id", Integer)))
    if dialect != "sqlite":  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise RuntimeError(f"no full-text search for {dialect}")
    ids = text("SELECT rowid FROM cases_fts WHERE cases_fts MATCH :fts").bindparams(
        fts=" ".join(f'"{w}"*' for w in words))
    return Case.id.in_(ids.columns(column("id", Integer)))
