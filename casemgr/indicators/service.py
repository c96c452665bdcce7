"""Indicators on a case: capture, free-text extraction, listing, object detail, correlation and search.

Every function takes (session, actor, ...) and flushes, never commits. Case access is decided by
casemgr/cases/access.py only: a case the actor may not see does not exist (NotFound), also in correlation
and search results, where it is left out without a trace (not even a count). TLP:RED objects are visible only
to the case's members and managers (casemgr/indicators/red.py), and every read below goes through that rule,
counts included. Changes need edit rights on the
case (auditors read only, admins see no case content) and write one audit record each; the audit record names
the indicator type and STIX id but not the value, which is case content.

Import is in casemgr/indicators/imports.py, export and TAXII reads in casemgr/indicators/sharing.py.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, cast

from sqlalchemy import ColumnElement, Integer, Table, and_, bindparam, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from casemgr import collaborators, paging
from casemgr.audit import service as audit
from casemgr.auth.actor import Actor
from casemgr.auth.permissions import Permission, allowed, granted, require
from casemgr.cases import access
from casemgr.cases.models import Case
from casemgr.collaborators import clock
from casemgr.errors import Forbidden, Invalid, NotFound
from casemgr.indicators import extract, red, rows, stix
from casemgr.indicators.bundle import sco_observables
from casemgr.indicators.models import IndicatorCollection, StixObject, StixObjectCorrection, StixObjectVersion
from casemgr.indicators.observables import (
    Observable,
    ObservableType,
    normalize_input,
    not_any_type,
    observable_from_pattern,
)
from casemgr.indicators.schemas import AcceptCandidates, IndicatorQuery, NewIndicator, ObjectQuery, SearchQuery
from casemgr.paging import Page

# ---------------------------------------------------------------- collaborators and shared helpers

@cache
def _identity(name: str) -> dict[str, Any]:
    return stix.organization_identity(name)


def identity_of(session: Session) -> dict[str, Any]:
    """The organization's identity SDO (a fresh copy)."""
    return dict(_identity(collaborators.settings(session).organization_name))


def case_ref(session: Session, case: Case) -> stix.CaseRef:
    """The case as STIX sees it. The stable id is the organization's identity and the case reference, so
    that the same organization's IR-2026-0001 is the same incident in every export and on every instance."""
    return stix.CaseRef(id=f"{identity_of(session)['id']}:{case.reference}", reference=case.reference,
                        title=case.title)


def case_for_change(session: Session, actor: Actor, case_id: int) -> Case:
    """The case, locked, if the actor may change it. Raises NotFound or Forbidden."""
    case = access.get_case_or_404(session, actor, case_id, for_update=True)
    _require_import(actor, case)
    return case


def _require_import(actor: Actor, case: Case) -> None:
    access.require_edit(actor, case)
    require(actor, Permission.INDICATOR_IMPORT, "only analysts and managers record indicators")


def may_import(actor: Actor, case: Case) -> bool:
    """Whether `actor` may record and correct indicators on `case`, which they see (the tab's forms)."""
    return access.can_edit(actor, case) and allowed(actor, Permission.INDICATOR_IMPORT)


def ensure_collection(session: Session, case: Case) -> None:
    """Give the case its TAXII collection id, once."""
    table = cast(Table, IndicatorCollection.__table__)
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    session.execute(insert(table).values(case_id=case.id, collection_id=uuid.uuid4(), created_at=clock(session).now())
                    .on_conflict_do_nothing(index_elements=["case_id"]))


def user_id(actor: Actor) -> int | None:
    return actor.user.id if actor.user is not None else None


def loads(obj: StixObject) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(obj.stix_json)
    return result


# ---------------------------------------------------------------- capture

@dataclass
class Captured:
    """The indicator on the case; `created` is False when the value was already there (its sighting counted)."""

    indicator: StixObject
    created: bool
    sighting: StixObject
    known_benign: str | None = None
    marking: red.Marking | None = None  # the indicator's effective TLP


def add_indicator(session: Session, actor: Actor, case_id: int, cmd: NewIndicator) -> Captured:
    """Add an indicator from a type and value, or from a STIX pattern, with its observables and its sighting
    in the case. A value (or pattern) the case already has is sighted again instead.

    Raises NotFound, Forbidden, Invalid naming the field ("value", "type", "pattern" with its position,
    "valid_until"); Forbidden(field="value") when the case holds the value as TLP:RED and the actor may not
    see it (the RED object is not handed out, nor sighted again by someone who cannot see it).
    """
    case = case_for_change(session, actor, case_id)
    return _capture(session, actor, case, cmd, now=clock(session).now())


def _capture(session: Session, actor: Actor, case: Case, cmd: NewIndicator, *, now: dt.datetime) -> Captured:
    observable: Observable | None
    pattern: str | None = None
    if cmd.pattern is not None:
        pattern = stix.validate_pattern(cmd.pattern)
        observable = observable_from_pattern(pattern)
    else:
        assert cmd.type is not None
        observable = normalize_input(cmd.type, cmd.value)
    existing = _existing_indicator(session, case, observable, pattern)
    if existing is not None and not red.can_see(actor, existing, case):
        raise Forbidden(f"case {case.reference} holds this value marked TLP:RED, which only its members and "
                        "managers see; ask one of them to record the sighting", field="value")
    own_domains = frozenset(collaborators.settings(session).own_domains)
    benign = extract.benign_reason(observable, own_domains) if observable else None
    if existing is not None:
        sighting = sight(session, actor, case, existing, now=now)
        audit.record(session, actor, "indicator.sight", "indicator", existing.id,
                     {"case": case.reference, "stix_id": existing.stix_id, "count": loads(sighting).get("count")})
        return Captured(existing, False, sighting, benign, red.marking_of(existing, case))
    identity_id = identity_of(session)["id"]
    tlp = case.tlp
    indicator = stix.build_indicator(
        observable=observable if pattern is None else None, pattern=pattern, identity_id=identity_id, tlp=tlp,
        now=now, confidence=cmd.confidence, indicator_types=cmd.indicator_types, name=cmd.name,
        description=cmd.description, valid_from=cmd.valid_from, valid_until=cmd.valid_until)
    row = _store(session, actor, case, indicator, [observable] if observable else [], now=now)
    if observable is not None:
        scos = stix.build_observables(observable, tlp=tlp)
        present = set(session.scalars(select(StixObject.stix_id).where(
            StixObject.case_id == case.id, StixObject.stix_id.in_([s["id"] for s in scos]))))
        for sco in scos:
            if sco["id"] not in present:
                _store(session, actor, case, sco, sco_observables(sco), now=now)
    sighting = _store(session, actor, case, stix.build_sighting(
        indicator["id"], identity_id=identity_id, case=case_ref(session, case), tlp=tlp, now=now, first_seen=now),
        [], now=now)
    ensure_collection(session, case)
    session.flush()
    audit.record(session, actor, "indicator.create", "indicator", row.id,
                 {"case": case.reference, "stix_id": row.stix_id, "type": row.value_type or "pattern"})
    return Captured(row, True, sighting, benign, red.marking_of(row, case))


def _existing_indicator(session: Session, case: Case, observable: Observable | None,
                        pattern: str | None) -> StixObject | None:
    # A revoked indicator gets no new version (STIX 2.1 section 3.6.2): the value is captured afresh.
    query = select(StixObject).where(StixObject.case_id == case.id, StixObject.type == "indicator",
                                     StixObject.revoked.is_(False))
    if observable is not None:
        query = query.where(StixObject.value_digest == rows.value_digest(observable.value),
                            StixObject.value_type == observable.type.value)
    else:
        query = query.where(StixObject.pattern == pattern)
    return session.scalars(query.order_by(StixObject.id).limit(1)).first()


def _store(session: Session, actor: Actor, case: Case, obj: dict[str, Any], observables: Sequence[Observable], *,
           now: dt.datetime) -> StixObject:
    row = StixObject(case_id=case.id, added_at=now, added_by_id=user_id(actor), **rows.object_row(obj, observables))
    session.add(row)
    return row


def sight(session: Session, actor: Actor, case: Case, indicator: StixObject, *, now: dt.datetime) -> StixObject:
    """Count one more sighting of the indicator in the case (a new version of its sighting), or make the first."""
    ref = case_ref(session, case)
    identity_id = identity_of(session)["id"]
    # A sighting tells what it is of: it is marked at least as high as the indicator (a RED one stays RED).
    order = list(stix.Tlp)
    tlp = max([case.tlp] + ([indicator.tlp] if indicator.tlp else []), key=order.index)
    current = session.scalars(select(StixObject).where(
        StixObject.case_id == case.id, StixObject.type == "sighting", StixObject.source_ref == indicator.stix_id,
        StixObject.stix_id == stix.sighting_id(indicator.stix_id, ref))).one_or_none()
    if current is None:
        return _store(session, actor, case, stix.build_sighting(
            indicator.stix_id, identity_id=identity_id, case=ref, tlp=tlp, now=now, first_seen=now),
            [], now=now)
    old = loads(current)
    first_seen = rows.parse_timestamp(old.get("first_seen")) or now
    created = rows.parse_timestamp(old.get("created")) or now
    modified = max(now, (current.modified or now) + dt.timedelta(milliseconds=1))
    new = stix.build_sighting(indicator.stix_id, identity_id=identity_id, case=ref, tlp=tlp,
                              now=modified, first_seen=first_seen, last_seen=max(now, first_seen),
                              count=int(old.get("count", 1)) + 1, created=created)
    session.add(StixObjectVersion(object_id=current.id, modified=current.modified or created,
                                  stix_json=current.stix_json, added_at=current.added_at))
    for key, value in rows.object_row(new, []).items():
        setattr(current, key, value)
    current.added_at = now
    session.flush()
    return current


# ---------------------------------------------------------------- free text

@dataclass
class Candidate:
    type: ObservableType
    value: str
    known_benign: str | None
    on_case: bool  # the case has an indicator with this value already
    caution: str | None = None  # why the finder would have dropped it (a reserved or unknown top-level domain)


def extract_candidates(session: Session, actor: Actor, case_id: int, text: str) -> list[Candidate]:
    """The observables found in free text (defanged forms too), flagged known-benign, already on the case, or
    with a caution (a reserved or unknown top-level domain): every value found is listed, none dropped.

    Raises NotFound, Forbidden (the review leads to adding), Invalid(field="text") for a text too long.
    """
    case = access.get_case_or_404(session, actor, case_id)
    _require_import(actor, case)
    found = extract.extract(text, allow_list=collaborators.settings(session).own_domains)
    visible = red.case_filter(actor, case)
    digests = {rows.value_digest(c.value) for c in found}
    present: set[tuple[str | None, str | None]] = set()
    for chunk in _chunks(sorted(digests), 500):
        present.update(session.execute(select(StixObject.value_type, StixObject.value_digest).where(
            StixObject.case_id == case.id, StixObject.type == "indicator", StixObject.value_digest.in_(chunk),
            visible)))
    return [Candidate(c.type, c.value, c.reason, (c.type.value, rows.value_digest(c.value)) in present, c.caution)
            for c in found]


def add_candidates(session: Session, actor: Actor, case_id: int, cmd: AcceptCandidates) -> list[Captured]:
    """Add the accepted candidates as indicators (each validated again). Raises as add_indicator, naming the
    item (field "items.N.value")."""
    case = case_for_change(session, actor, case_id)
    now = clock(session).now()
    results = []
    for index, item in enumerate(cmd.items):
        try:
            results.append(_capture(session, actor, case, NewIndicator(type=item.type, value=item.value,
                                                                       confidence=cmd.confidence), now=now))
        except Invalid as exc:
            raise Invalid(f"item {index + 1}: {exc.message}", field=f"items.{index}.{exc.field or 'value'}") from None
        except Forbidden as exc:
            raise Forbidden(f"item {index + 1}: {exc.message}", field=f"items.{index}.value") from None
    return results


# ---------------------------------------------------------------- reading

@dataclass
class IndicatorView:
    obj: StixObject
    also_seen_in: list[str]  # references of other visible cases holding the same value
    known_benign: str | None
    sightings: int | None = None
    marking: red.Marking | None = None  # the effective TLP (red.effective_tlp)


def list_indicators(session: Session, actor: Actor, case_id: int, query: IndicatorQuery) -> Page[IndicatorView]:
    """The case's indicators, oldest first, with correlation and known-benign flags. Raises NotFound."""
    case = access.get_case_or_404(session, actor, case_id)
    where = and_(StixObject.case_id == case.id, StixObject.type == "indicator", red.case_filter(actor, case))
    total = session.scalar(select(func.count()).select_from(StixObject).where(where)) or 0
    found = paging.fetch(session, select(StixObject).where(where).order_by(StixObject.id), query.page,
                         query.per_page, total=total)
    return Page(_views(session, actor, case, found.items), found.total, found.page, found.per_page)


def _views(session: Session, actor: Actor, case: Case, found: list[StixObject]) -> list[IndicatorView]:
    seen = also_seen_in(session, actor, case.id, [o.value_digest for o in found if o.value_digest])
    counts = sighting_counts(session, actor, case, [o.stix_id for o in found])
    allow = frozenset(collaborators.settings(session).own_domains)
    return [IndicatorView(o, seen.get(o.value_digest or "", []), _benign(o, allow), counts.get(o.stix_id),
                          red.marking_of(o, case)) for o in found]


def _benign(obj: StixObject, allow: frozenset[str]) -> str | None:
    if obj.value_type is None or obj.value is None:
        return None
    return extract.benign_reason(Observable(ObservableType(obj.value_type), obj.value), allow)


def also_seen_in(session: Session, actor: Actor, case_id: int, digests: Iterable[str]) -> dict[str, list[str]]:
    """For each value digest, the references of the other cases the actor may see that hold the value.

    Revoked indicators do not count (their creator no longer holds them to be true): a case whose indicators
    of the value are all revoked is left out, even if its observables (SCOs) of the value remain."""
    # (digest, case) -> [held by an indicator that is not revoked, by a revoked indicator, by anything else]
    held: dict[tuple[str, str], list[bool]] = defaultdict(lambda: [False, False, False])
    for chunk in _chunks(sorted(set(digests)), 500):
        query = (select(StixObject.value_digest, Case.reference, StixObject.type == "indicator", StixObject.revoked)
                 .join(Case, Case.id == StixObject.case_id)
                 .where(StixObject.value_digest.in_(chunk), StixObject.case_id != case_id,
                        access.visible_filter(actor), red.visible_filter(actor)).distinct())
        for digest, reference, is_indicator, revoked in session.execute(query):
            if digest is not None:
                held[(digest, reference)][0 if is_indicator and not revoked else 1 if is_indicator else 2] = True
    found: dict[str, set[str]] = defaultdict(set)
    for (digest, reference), (live, revoked, other) in held.items():
        if live or (other and not revoked):
            found[digest].add(reference)
    return {d: sorted(refs) for d, refs in found.items()}


def sighting_counts(session: Session, actor: Actor, case: Case, indicator_ids: Sequence[str]) -> dict[str, int]:
    """The sightings the actor may see of each indicator of the case, counted."""
    counts: dict[str, int] = {}
    visible = red.case_filter(actor, case)
    for chunk in _chunks(list(indicator_ids), 500):
        for ref, text in session.execute(select(StixObject.source_ref, StixObject.stix_json).where(
                StixObject.case_id == case.id, StixObject.type == "sighting", StixObject.source_ref.in_(chunk),
                visible)):
            count = json.loads(text).get("count", 1)
            if ref is not None and isinstance(count, int):
                counts[ref] = counts.get(ref, 0) + count
    return counts


@dataclass(frozen=True)
class ObjectPage(Page[StixObject]):
    types: dict[str, int] = field(default_factory=dict)  # every type on the case -> count
    markings: dict[int, red.Marking] = field(default_factory=dict)  # row id -> effective TLP


def list_objects(session: Session, actor: Actor, case_id: int, query: ObjectQuery) -> ObjectPage:
    """The case's STIX objects (all types, or one), oldest first, and the count of each type. Raises NotFound."""
    case = access.get_case_or_404(session, actor, case_id)
    visible = red.case_filter(actor, case)
    types = dict(session.execute(select(StixObject.type, func.count()).where(StixObject.case_id == case.id, visible)
                                 .group_by(StixObject.type).order_by(StixObject.type)).all())
    where = [StixObject.case_id == case.id, visible] + ([StixObject.type == query.type] if query.type else [])
    total = session.scalar(select(func.count()).select_from(StixObject).where(*where)) or 0
    found = paging.fetch(session, select(StixObject).where(*where).order_by(StixObject.id), query.page,
                         query.per_page, total=total)
    return ObjectPage(found.items, found.total, found.page, found.per_page, types,
                      {o.id: red.marking_of(o, case) for o in found.items})


@dataclass
class ObjectDetail:
    case: Case
    obj: StixObject
    stix: dict[str, Any]
    versions: list[StixObjectVersion]  # older (or, rarely, received later but older) versions, newest first
    relationships: list[StixObject]  # relationships and sightings from or to this object in the case
    names: dict[str, str]  # STIX id -> display name of the objects those refer to (when on the case)
    also_seen_in: list[str]
    known_benign: str | None
    marking: red.Marking
    corrections: list[StixObjectCorrection]  # revocations and TLP changes, oldest first
    can_revoke: bool  # the actor may revoke it, and it can be revoked (a versioned object not revoked yet)
    can_change_tlp: bool


def get_object(session: Session, actor: Actor, case_id: int, object_ref: str | int) -> ObjectDetail:
    """One object of the case by STIX id or row id, with its history and relationships. Raises NotFound."""
    case = access.get_case_or_404(session, actor, case_id)
    key = StixObject.id == object_ref if isinstance(object_ref, int) else StixObject.stix_id == object_ref
    visible = red.case_filter(actor, case)
    obj = session.scalars(select(StixObject).where(StixObject.case_id == case.id, key, visible)).one_or_none()
    if obj is None:
        raise NotFound(f"case {case.reference} has no STIX object {object_ref}", field="object_id")
    versions = red.visible_versions(actor, case, session.scalars(
        select(StixObjectVersion).where(StixObjectVersion.object_id == obj.id)
        .order_by(StixObjectVersion.modified.desc())))
    related = list(session.scalars(select(StixObject).where(
        StixObject.case_id == case.id, or_(StixObject.source_ref == obj.stix_id, StixObject.target_ref == obj.stix_id),
        visible).order_by(StixObject.id).limit(500)))
    refs = {r for rel in related for r in (rel.source_ref, rel.target_ref) if r}
    names = dict(session.execute(select(StixObject.stix_id, StixObject.name).where(
        StixObject.case_id == case.id, StixObject.stix_id.in_(sorted(refs)), visible)).all()) if refs else {}
    seen = also_seen_in(session, actor, case.id, [obj.value_digest] if obj.value_digest else [])
    corrections = list(session.scalars(select(StixObjectCorrection).where(StixObjectCorrection.object_id == obj.id)
                                       .order_by(StixObjectCorrection.id)))
    correctable = may_import(actor, case) and correction_refused(obj) is None
    return ObjectDetail(case, obj, loads(obj), versions, related,
                        {k: v or k for k, v in names.items()}, seen.get(obj.value_digest or "", []),
                        _benign(obj, frozenset(collaborators.settings(session).own_domains)), red.marking_of(obj, case),
                        corrections, correctable, correctable)


def correction_refused(obj: StixObject) -> str | None:
    """Why `obj` cannot be revoked or re-marked, or None: only versioned objects (SDOs and SROs: they have a
    `modified`) get new versions, marking definitions never change, and a revoked object gets no new version
    (STIX 2.1 section 3.6.2)."""
    if obj.revoked:
        return f"{obj.stix_id} is revoked: STIX allows no new version of a revoked object"
    if obj.type == "marking-definition":
        return "a marking definition never changes in STIX; mark the objects instead"
    if obj.modified is None:
        return f"a {obj.type} is an observable (SCO), which has no versions in STIX; correct the indicator instead"
    return None


# ---------------------------------------------------------------- search

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


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
