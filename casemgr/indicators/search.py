"""Searching indicators by value across the cases the actor may see (an IP address also finds the
networks holding it, a network the addresses inside it)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Integer, and_, bindparam, func, or_, select
from sqlalchemy.orm import Session

from casemgr import paging
from casemgr.auth.actor import Actor
from casemgr.auth.permissions import granted
from casemgr.cases import access
from casemgr.cases.models import Case
from casemgr.errors import Invalid
from casemgr.indicators import red, rows
from casemgr.indicators.models import StixObject
from casemgr.indicators.observables import Observable, ObservableType, normalize_input, not_any_type
from casemgr.indicators.schemas import SearchQuery
from casemgr.paging import Page


@dataclass(frozen=True)
class FoundIndicator:
    id: int
    stix_id: str
    value_type: str | None
    value: str | None
    pattern: str | None


@dataclass(frozen=True)
class CaseBrief:
    id: int
    reference: str
    title: str


@dataclass(frozen=True)
class SearchHit:
    obj: FoundIndicator
    case: CaseBrief
    match: str  # "value", "in-network" (a stored network holds the address) or "within" (inside the network asked)


@dataclass(frozen=True)
class SearchResult(Page[SearchHit]):
    # every visible case where the value was seen (indicators or observables)
    cases: list[CaseBrief] = field(default_factory=list)


# Plain columns, not ORM objects: a lookup is a handful of rows and building entities was most of its time.
HIT_COLUMNS = (StixObject.id, StixObject.stix_id, StixObject.value_type, StixObject.value, StixObject.pattern,
               StixObject.value_digest, StixObject.ip_start)
CASE_BRIEF_COLUMNS = (Case.id, Case.reference, Case.title)


def search(session: Session, actor: Actor, query: SearchQuery) -> SearchResult:
    """Indicators with this value in the cases the actor may see; an IP address also finds the stored CIDR
    networks that hold it, and a CIDR the addresses inside it. Raises Invalid(field="value") when the value
    is not valid as any (or as the given) indicator type."""
    readings = _readings(query)
    digests = sorted({rows.value_digest(o.value) for o in readings})
    network = next((ipaddress.ip_network(o.value, strict=False) for o in readings
                    if o.type in {ObservableType.IPV4_ADDR, ObservableType.IPV6_ADDR}), None)
    values: dict[str, Any] = {"digests": digests, "offset": paging.offset(query.page, query.per_page),
                              "limit": query.per_page}
    start = ""
    shape = "value"
    if network is not None:
        start, end = rows.network_range(network)
        values.update(start=start, end=end, holders=rows.holder_starts(network))
        shape = "network" if network.num_addresses > 1 else "address"
    statements = _lookup_statements(actor, shape)
    # Run on the connection: plain rows need none of the ORM's execution machinery (a third of a lookup).
    connection = session.connection()
    page_rows = connection.execute(statements.page, values).all()
    if page_rows:
        total = page_rows[0][-1]
    elif query.page == 1:
        total = 0
    else:  # a page past the end: count on its own
        total = connection.scalar(statements.count, values) or 0
    cases = [CaseBrief(*row) for row in connection.execute(statements.cases, values)]
    digest_set = set(digests)
    hits = []
    for row in page_rows:
        object_id, stix_id, value_type, value, pattern, digest, ip_start, case_id, reference, title, _ = row
        match = ("value" if digest in digest_set
                 else "in-network" if network is not None and ip_start is not None and ip_start <= start
                 else "within")
        hits.append(SearchHit(FoundIndicator(object_id, stix_id, value_type, value, pattern),
                              CaseBrief(case_id, reference, title), match))
    return SearchResult(hits, total, query.page, query.per_page, cases)


@dataclass(frozen=True)
class _LookupStatements:
    page: Any  # the page of hits with the total (a window count)
    count: Any  # the total alone, for a page past the end
    cases: Any  # the visible cases where the value was seen


# Built once per (user, what they hold, shape of the value) and executed with the value's parameters: building
# the statement and its cache key again for every lookup (the access and TLP:RED filters, a dozen comparisons)
# was about a third of a lookup's Python time. The actor's filters depend on nothing else (their subqueries
# read membership and case TLP when executed). A plain memo of immutable statements, not a collaborator;
# cleared when full.
_STATEMENTS: dict[tuple[Any, ...], _LookupStatements] = {}
_STATEMENTS_MAX = 512


def _lookup_statements(actor: Actor, shape: str) -> _LookupStatements:
    key = (actor.user.id if actor.user is not None else None, granted(actor), shape)
    found = _STATEMENTS.get(key)
    if found is None:
        if len(_STATEMENTS) >= _STATEMENTS_MAX:
            _STATEMENTS.clear()
        found = _STATEMENTS[key] = _build_lookup_statements(actor, shape)
    return found


def _build_lookup_statements(actor: Actor, shape: str) -> _LookupStatements:
    """The lookup's statements for `shape`: "value" (no address), "address" (one IP address: the stored
    networks holding it) or "network" (a CIDR: also the addresses inside it); parameters `digests`,
    `holders`, `start`, `end`, `offset`, `limit`."""
    conditions: list[ColumnElement[bool]] = [StixObject.value_digest.in_(bindparam("digests", expanding=True))]
    if shape != "value":
        end = bindparam("end", type_=StixObject.ip_end.type)
        conditions.append(and_(StixObject.ip_start.in_(bindparam("holders", expanding=True)),
                               StixObject.ip_end >= end))
        if shape == "network":
            start = bindparam("start", type_=StixObject.ip_start.type)
            conditions.append(and_(StixObject.ip_start >= start, StixObject.ip_start <= end,
                                   StixObject.ip_end <= end))
    # `type || ''` keeps the planner on the value and address indexes: with a plain `type = 'indicator'`
    # SQLite prefers the (type, ...) index and walks every indicator.
    indicators = (select(*HIT_COLUMNS, *CASE_BRIEF_COLUMNS).join(Case, Case.id == StixObject.case_id)
                  .where(or_(*conditions), access.visible_filter(actor), red.visible_filter(actor),
                         StixObject.type.op("||")("") == "indicator"))
    # The total comes with the page (a window count over every match, before LIMIT): one query, not two.
    page = (indicators.add_columns(func.count().over()).order_by(StixObject.case_id.desc(), StixObject.id)
            .offset(bindparam("offset", type_=Integer)).limit(bindparam("limit", type_=Integer)))
    case_ids = (select(StixObject.case_id).where(or_(*conditions), red.visible_filter(actor))
                .distinct().scalar_subquery())
    cases = (select(*CASE_BRIEF_COLUMNS).where(Case.id.in_(case_ids), access.visible_filter(actor))
             .order_by(Case.id.desc()).limit(200))
    return _LookupStatements(page, select(func.count()).select_from(indicators.subquery()), cases)


def _readings(query: SearchQuery) -> list[Observable]:
    if query.type is not None:
        return [normalize_input(query.type, query.value)]
    found: dict[tuple[ObservableType, str], Observable] = {}
    for kind in ObservableType:
        try:
            observable = normalize_input(kind, query.value, hint=False)
        except Invalid:
            continue
        found[(observable.type, observable.value)] = observable
    if not found:
        raise not_any_type(query.value)
    return list(found.values())
