"""Full-text search over case titles, descriptions, notes and manual timeline events.

A case matches when every word of the query starts a word somewhere in its text (title,
description, notes, events): `ransom` finds "ransomware", `lockbit fs01` finds a case whose title
names LockBit and whose note names fs01. Text is split into runs of letters and digits on both
databases, so `evil-domain.example` is `evil domain example`.

A query that is a case reference matches that case too, and the case list puts such matches ahead
of the full-text hits (`reference_match`): the whole reference in any case (`ir-2026-0001`), its
number with or without leading zeros (`0001`, `1`, any year), its year and number (`2026-1`), or
the start of a reference (`IR`, `IR-2026`, `IR-2026-00`: a number shorter than four digits
with a leading zero is a start), which matches references by prefix.
References are not in the full-text index: `IR-2026-0001` there would be the three words `ir`,
`2026` and `0001`, found in any note that mentions the reference.

The indexes are built by migration 0002, one document per case on both databases: on SQLite an
FTS5 row (rowid = case id), on PostgreSQL a `case_search` row (the words of the title, description,
notes and events, kept by triggers) with a GIN index. Either way the case
list's filters, order and count run on the matching cases alone (tests/cases/test_list.py checks
the PostgreSQL plan).
"""

from __future__ import annotations

import re

from sqlalchemy import (
    ColumnElement,
    Integer,
    SelectBase,
    String,
    case,
    cast,
    column,
    false,
    literal,
    select,
    text,
    union,
)
from sqlalchemy.orm import Session

from casemgr.cases.models import Case, CaseReferenceCounter

MAX_TERMS = 12
_WORD = re.compile(r"[^\W_]+")
# IR-<year>-<number> (cases.service._next_reference): the number is zero-padded to four digits.
_YEAR_AND_NUMBER = re.compile(r"(?:IR-?)?(\d{4})-(\d{1,9})", re.IGNORECASE)
_NUMBER = re.compile(r"\d{1,9}")
_PREFIX = re.compile(r"IR(?:-(?:\d{1,4}(?:-\d{0,9})?)?)?", re.IGNORECASE)


def terms(query: str) -> list[str]:
    """The words of a search query, lower-cased, at most MAX_TERMS."""
    return [w.lower() for w in _WORD.findall(query)][:MAX_TERMS]


def reference_match(query: str) -> ColumnElement[bool] | None:
    """A WHERE clause on `Case` keeping the cases whose reference `query` names or begins, or None
    when `query` does not look like a reference (or a part of one)."""
    query = query.strip()
    found = _YEAR_AND_NUMBER.fullmatch(query)
    if found and (len(found[2]) >= 4 or not found[2].startswith("0")):
        return Case.reference == f"IR-{found[1]}-{int(found[2]):04d}"
    if _NUMBER.fullmatch(query):
        # IR-<any year>-<the number as references write it>: one lookup in the unique index per year that
        # has references (a LIKE 'IR-____-0001' would read every reference).
        return Case.reference.in_(select(literal("IR-") + cast(CaseReferenceCounter.year, String)
                                         + f"-{int(query):04d}"))
    if _PREFIX.fullmatch(query):
        return Case.reference.like(f"{query.upper()}%")
    return None


def reference_first(query: str) -> ColumnElement[int] | None:
    """An ORDER BY term putting the cases `query` names by reference ahead of the full-text hits."""
    by_reference = reference_match(query)
    return None if by_reference is None else case((by_reference, 0), else_=1)


def matching(session: Session, query: str) -> ColumnElement[bool]:
    """A WHERE clause on `Case` keeping the cases whose text matches every word of `query`, or
    whose reference `query` names or begins (`reference_match`)."""
    by_text = _text_matching(session, query)
    by_reference = reference_match(query)
    if by_reference is None:
        return false() if by_text is None else Case.id.in_(by_text)
    named = select(Case.id).where(by_reference).correlate(None)
    # One set of ids out of two index lookups: `reference = … OR id IN (…)` made PostgreSQL test both on
    # every case.
    return Case.id.in_(named if by_text is None else union(named, by_text))


def _text_matching(session: Session, query: str) -> SelectBase | None:
    """The ids of the cases whose text has every word of `query` (as a prefix), or None for no words."""
    words = terms(query)
    if not words:
        return None
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        # One document per case (title, description, notes, events): every word, as a prefix.
        ids = text("SELECT case_id FROM case_search WHERE document @@ to_tsquery('simple'::regconfig, :pg_fts)")
        return ids.bindparams(pg_fts=" & ".join(f"{w}:*" for w in words)).columns(column("id", Integer))
    if dialect != "sqlite":  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise RuntimeError(f"no full-text search for {dialect}")
    ids = text("SELECT rowid FROM cases_fts WHERE cases_fts MATCH :fts").bindparams(
        fts=" ".join(f'"{w}"*' for w in words))
    return ids.columns(column("id", Integer))
