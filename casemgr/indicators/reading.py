"""Reading a case's indicators: the list (with where else each value was seen and its sightings),
the object list and one object's detail, and whether an object may be corrected."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from casemgr import collaborators, paging
from casemgr.auth.actor import Actor
from casemgr.cases import access
from casemgr.cases.models import Case
from casemgr.errors import NotFound
from casemgr.indicators import extract, red
from casemgr.indicators._helpers import loads, may_import
from casemgr.indicators.models import StixObject, StixObjectCorrection, StixObjectVersion
from casemgr.indicators.observables import Observable, ObservableType
from casemgr.indicators.schemas import IndicatorQuery, ObjectQuery
from casemgr.paging import Page


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


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
