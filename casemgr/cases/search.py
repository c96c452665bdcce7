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

The case list counts first (`count`), then asks for its page with that count (`matching`), because
the best plan for the page depends on how many cases match, which PostgreSQL cannot estimate for a
prefix outside its most common words (it guesses 0.5% of the cases for any of them):
- Many matches: the page walks the cases newest first and stops after a page (a merge join with
  `case_search` on PostgreSQL); for a word in a third of the cases that is 150 cases read for 50.
- A few (PAGE_FROM_IDS or fewer): walking newest first would read every case back to the oldest
  match; on PostgreSQL the page instead starts from the matching ids (`id = ANY(ARRAY(...))`, one
  index lookup each) and sorts them. SQLite already starts from the FTS5 rows for an `IN`. Only a
  search with no other filter is paged so: with filters the count says how many cases match all of
  them, not how many ids the page would look up (a common word's, in a few open cases).
On PostgreSQL the count of a search with no other filter goes from the matching ids and drops those
of the cases the actor may not see (an anti-join with the hidden cases, a few percent of them),
instead of joining the matches to every visible case (which hashed 95,000 visible cases for a common
word's 30,000 matches, or read all of `case_search` to join it).
"""

from __future__ import annotations

import re

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    SelectBase,
    String,
    any_,
    case,
    cast,
    column,
    exists,
    false,
    func,
    literal,
    not_,
    select,
    text,
    union,
)
from sqlalchemy.orm import Session

from casemgr.cases.models import Case, CaseReferenceCounter

MAX_TERMS = 12
# At most this many matches and the PostgreSQL page starts from the matching ids rather than walking
# the cases newest first. At 100,000 cases (bench/README.md, "cases") the two plans of the first page
# cost about the same near 1,000 matches: from the ids the cost grows with the matches (1,100: 40 ms
# under load), walking it grows with the cases read per match (1,100 matches: about 4,500 cases read;
# 30,000 matches: 150 cases, 1 ms, where from the ids took 300 ms).
PAGE_FROM_IDS = 1_000
_WORD = re.compile(r"[^\W_]+")
# IR-<year>-<number> (cases.changes._next_reference): the number is zero-padded to four digits.
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


def matching(session: Session, query: str, total: int | None = None) -> ColumnElement[bool]:
    """A WHERE clause on `Case` keeping the cases whose text matches every word of `query`, or
    whose reference `query` names or begins (`reference_match`). `total`, the number of cases that
    match `query` alone (`count` with no other filter), picks the plan of a page on PostgreSQL (see the
    module's docstring)."""
    ids = _matching_ids(session, query)
    if ids is None:
        return false()
    if total is not None and total <= PAGE_FROM_IDS and session.get_bind().dialect.name == "postgresql":
        # ARRAY(subquery) is computed once, before the page, and PostgreSQL then looks each id up in the
        # primary key: unlike `IN (subquery)`, it cannot be turned back into a join walking the cases.
        return Case.id == any_(func.array(ids.scalar_subquery()))
    return Case.id.in_(ids)


def count(session: Session, query: str, visible: ColumnElement[bool], filters: list[ColumnElement[bool]]) -> int:
    """How many cases match `query` (as `matching`) and every one of `filters`, among the cases that
    `visible` (access.visible_filter) keeps."""
    statement = count_query(session, query, visible, filters)
    return 0 if statement is None else session.scalar(statement) or 0


def count_query(session: Session, query: str, visible: ColumnElement[bool],
                filters: list[ColumnElement[bool]]) -> Select[int] | None:
    """The statement of `count`, or None when `query` has no word to look for."""
    ids = _matching_ids(session, query)
    if ids is None:
        return None
    if filters or session.get_bind().dialect.name != "postgresql":
        # SQLite looks every matching id up in the primary key whichever the form, this one the fastest.
        return select(func.count(Case.id)).where(visible, *filters, Case.id.in_(ids))
    # Every matching id is a case's (a case's search row is deleted with it), so the count is the
    # matches less those of the cases hidden from the actor, a few percent of the cases.
    found = ids.subquery("found")
    hidden = select(Case.id).where(Case.id == found.c.id, not_(visible))
    return select(func.count()).select_from(found).where(~exists(hidden))


def _matching_ids(session: Session, query: str) -> SelectBase | None:
    """The ids of the cases that match `query` by text or reference, or None when `query` has no word."""
    by_text = _text_matching(session, query)
    by_reference = reference_match(query)
    if by_reference is None:
        return by_text
    named = select(Case.id).where(by_reference).correlate(None)
    # One set of ids out of two index lookups: `reference = … OR id IN (…)` made PostgreSQL test both on
    # every case.
    return named if by_text is None else union(named, by_text)


def _text_matching(session: Session, query: str) -> SelectBase | None:
    """The ids of the cases whose text has every word of `query` (as a prefix), or None for no words."""
    words = terms(query)
    if not words:
        return None
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        # One document per case (title, description, notes, events): every word, as a prefix.
        ids = text("SELECT case_id AS id FROM case_search WHERE document @@ to_tsquery('simple'::regconfig, :pg_fts)")
        found = ids.bindparams(pg_fts=" & ".join(f"{w}:*" for w in words)).columns(column("id", Integer))
    elif dialect == "sqlite":
        ids = text("SELECT rowid AS id FROM cases_fts WHERE cases_fts MATCH :fts").bindparams(
            fts=" ".join(f'"{w}"*' for w in words))
        found = ids.columns(column("id", Integer))
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise RuntimeError(f"no full-text search for {dialect}")
    return _with_custom_fields(session, found, words)


def _with_custom_fields(session: Session, found: SelectBase, words: list[str]) -> SelectBase:
    """`found` and the cases whose text custom fields hold every word (one value holding them all:
    casemgr.cases.custom_fields.text_matching). Only while a text field is defined, so that an instance
    without one keeps the plans above."""
    from casemgr.cases.field_models import TEXT_TYPES, CaseFieldDefinition

    if not session.scalar(select(exists().where(CaseFieldDefinition.type.in_(sorted(TEXT_TYPES))))):
        return found
    from casemgr.cases import custom_fields

    by_text = found.subquery("by_text")
    return union(select(by_text.c.id), custom_fields.text_matching(words))
