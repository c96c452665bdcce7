"""Capturing indicators on a case: one value (a new indicator, or a sighting of one already there),
and the candidates found in pasted free text."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from casemgr import collaborators
from casemgr.audit import service as audit
from casemgr.auth.actor import Actor
from casemgr.cases import access
from casemgr.cases.models import Case
from casemgr.collaborators import clock
from casemgr.errors import Forbidden, Invalid
from casemgr.indicators import extract, red, rows, stix
from casemgr.indicators._helpers import (
    _require_import,
    case_for_change,
    case_ref,
    ensure_collection,
    identity_of,
    loads,
    user_id,
)
from casemgr.indicators.bundle import sco_observables
from casemgr.indicators.models import StixObject, StixObjectVersion
from casemgr.indicators.observables import Observable, ObservableType, normalize_input, observable_from_pattern
from casemgr.indicators.reading import _chunks
from casemgr.indicators.schemas import AcceptCandidates, NewIndicator


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
