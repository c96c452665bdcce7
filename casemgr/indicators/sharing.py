"""Giving STIX out: a case exported as a bundle, and the read side of the TAXII 2.1 collections.

A case's export holds the objects stored on it exactly as stored (current versions), plus what describes the
case itself when the case does not hold it already: the organization's identity, the case's `incident` and
the TLP 2.0 marking definitions its objects use. An object stored on the case always wins over the generated
one with the same id, so importing our own export elsewhere and exporting again gives the same objects.

TLP:RED: objects whose TLP is RED (marked RED, the RED marking definition, or unmarked in a TLP:RED case:
casemgr/indicators/red.py decides) are left out unless asked for explicitly by
someone allowed to have them (casemgr/indicators/red.py: managers, the CLI operator and the members of the
case). TAXII never serves RED, not even an older RED version of an object that is no longer RED. A revoked
object is served as its latest version, `revoked: true` (STIX 2.1 section 3.6.2: revoking is a new version,
and the last one; those who have an earlier version learn of it from that one): never left out for it. The
shareable collection serves the TLP:CLEAR and TLP:GREEN indicators of every case that is not restricted
(to every reader of case content); each case has its own collection for those who may see it.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from casemgr.auth.actor import Actor
from casemgr.auth.permissions import Permission, require
from casemgr.cases import access
from casemgr.cases.models import Case
from casemgr.errors import BadRequest, Forbidden, NotFound
from casemgr.indicators import red, stix
from casemgr.indicators.models import IndicatorCollection, StixObject, StixObjectVersion
from casemgr.indicators.service import case_ref, identity_of

SHAREABLE = (stix.Tlp.CLEAR, stix.Tlp.GREEN)


# ---------------------------------------------------------------- export

def export_bundle(session: Session, actor: Actor, case_id: int, *, include_red: bool = False) -> Iterator[str]:
    """The case as a STIX 2.1 bundle, as chunks of JSON text to write out in order.

    Raises NotFound; Forbidden(field="include_red") when RED objects are asked for by someone not allowed.
    Checks happen at once; the chunks read the database as they are consumed (keep the session open).
    """
    case = access.get_case_or_404(session, actor, case_id)
    require(actor, Permission.INDICATOR_EXPORT, "only those who read case content export indicators")
    if include_red and not red.may_see_red(actor, case):
        raise Forbidden(f"only managers and members of case {case.reference} may export its TLP:RED objects",
                        field="include_red")
    return _chunks(session, case, include_red)


def _chunks(session: Session, case: Case, include_red: bool) -> Iterator[str]:
    yield f'{{"type":"bundle","id":"bundle--{uuid.uuid4()}","objects":['
    first = True
    for text in _generated(session, case, include_red):
        yield text if first else "," + text
        first = False
    query = select(StixObject.stix_json).where(StixObject.case_id == case.id).order_by(StixObject.id)
    if not include_red:
        query = query.where(red.not_red(case))
    batch: list[str] = []
    for text in session.scalars(query.execution_options(yield_per=5000)):
        batch.append(text)
        if len(batch) >= 5000:
            yield ("" if first else ",") + ",".join(batch)
            first, batch = False, []
    if batch:
        yield ("" if first else ",") + ",".join(batch)
    yield "]}"


def _generated(session: Session, case: Case, include_red: bool) -> list[str]:
    """The identity, the incident and the TLP marking definitions in use, unless the case holds them."""
    identity = identity_of(session)
    tlp = case.tlp
    incident = stix.build_incident(case_ref(session, case), identity_id=identity["id"], tlp=tlp,
                                   created=case.created_at, modified=case.created_at)
    levels = set(session.scalars(select(StixObject.tlp).where(StixObject.case_id == case.id,
                                                              StixObject.tlp.is_not(None)).distinct()))
    levels.add(tlp)
    candidates: list[tuple[dict[str, Any], stix.Tlp | None]] = [(identity, None), (incident, tlp)]
    candidates += [(stix.tlp_marking(level), level) for level in stix.Tlp if level in levels]
    held = set(session.scalars(select(StixObject.stix_id).where(
        StixObject.case_id == case.id, StixObject.stix_id.in_([obj["id"] for obj, _ in candidates]))))
    return [json.dumps(obj, ensure_ascii=False, separators=(",", ":")) for obj, level in candidates
            if obj["id"] not in held and (include_red or level is not stix.Tlp.RED)]


# ---------------------------------------------------------------- TAXII collections

@dataclass(frozen=True)
class Collection:
    id: str
    title: str
    description: str
    case: Case | None  # None for the shareable collection


def shareable_collection_id(session: Session) -> str:
    return str(uuid.uuid5(stix.NAMESPACE, "collection:shareable:" + identity_of(session)["id"]))


def _require_reader(actor: Actor) -> None:
    require(actor, Permission.INDICATOR_SHARE,
            "this account does not read case content, so it has no TAXII collections")


def collections(session: Session, actor: Actor) -> list[Collection]:
    """The collections the actor may read: the shareable one, then one per visible case that has objects."""
    _require_reader(actor)
    found = [_shareable(session)]
    query = (select(IndicatorCollection.collection_id, Case).join(Case, Case.id == IndicatorCollection.case_id)
             .where(access.visible_filter(actor)).order_by(Case.id))
    for collection_id, case in session.execute(query):
        found.append(_case_collection(str(collection_id), case))
    return found


def get_collection(session: Session, actor: Actor, collection_id: str) -> Collection:
    """One collection the actor may read. Raises Forbidden (no case content for this role) or NotFound."""
    _require_reader(actor)
    if collection_id == shareable_collection_id(session):
        return _shareable(session)
    try:
        wanted = uuid.UUID(collection_id)
    except ValueError:
        wanted = None
    row = session.execute(select(IndicatorCollection.collection_id, Case)
                          .join(Case, Case.id == IndicatorCollection.case_id)
                          .where(IndicatorCollection.collection_id == wanted, access.visible_filter(actor))
                          ).one_or_none() if wanted else None
    if row is None:
        raise NotFound(f"there is no collection {collection_id}", field="collection_id")
    return _case_collection(str(row[0]), row[1])


def _shareable(session: Session) -> Collection:
    return Collection(shareable_collection_id(session), "Shareable indicators",
                      "TLP:CLEAR and TLP:GREEN indicators of every case that is not restricted", None)


def _case_collection(collection_id: str, case: Case) -> Collection:
    return Collection(collection_id, f"{case.reference}: {case.title}",
                      f"STIX objects of case {case.reference} (TLP:RED left out)", case)


def _objects_query(session: Session, actor: Actor, collection: Collection) -> Select[Any]:
    if collection.case is not None:
        return select(StixObject).where(StixObject.case_id == collection.case.id, red.not_red(collection.case))
    first_of_each = (select(func.min(StixObject.id)).join(Case, Case.id == StixObject.case_id)
                     .where(StixObject.type == "indicator", StixObject.tlp.in_(SHAREABLE),
                            Case.restricted.is_(False), access.visible_filter(actor))
                     .group_by(StixObject.stix_id))
    return select(StixObject).where(StixObject.id.in_(first_of_each))


@dataclass
class Page:
    objects: list[StixObject]
    more: bool
    next: str | None


def page_objects(session: Session, actor: Actor, collection: Collection, *, added_after: dt.datetime | None,
                 limit: int, next_token: str | None, types: Sequence[str] = (), ids: Sequence[str] = ()) -> Page:
    """One page of a collection's objects (current versions) in the order they were added.

    Raises BadRequest(field="next") for a token this server did not hand out.
    """
    query = _objects_query(session, actor, collection)
    if added_after is not None:
        query = query.where(StixObject.added_at > added_after)
    if types:
        query = query.where(StixObject.type.in_(list(types)))
    if ids:
        query = query.where(StixObject.stix_id.in_(list(ids)))
    if next_token:
        after_at, after_id = _decode_next(next_token)
        query = query.where(or_(StixObject.added_at > after_at,
                                and_(StixObject.added_at == after_at, StixObject.id > after_id)))
    found = list(session.scalars(query.order_by(StixObject.added_at, StixObject.id).limit(limit + 1)))
    more = len(found) > limit
    found = found[:limit]
    token = _encode_next(found[-1]) if more and found else None
    return Page(found, more, token)


def object_versions(session: Session, actor: Actor, collection: Collection, stix_id: str) -> list[tuple[str, str]]:
    """(modified or created, JSON text) of every version of one object in a collection, oldest first.

    Raises NotFound when the collection has no such object.
    """
    current = session.scalars(_objects_query(session, actor, collection).where(StixObject.stix_id == stix_id)
                              .order_by(StixObject.id).limit(1)).first()
    if current is None:
        raise NotFound(f"the collection has no object {stix_id}", field="object_id")
    older = session.execute(select(StixObjectVersion.modified, StixObjectVersion.stix_json)
                            .where(StixObjectVersion.object_id == current.id)).all()
    case_tlp = collection.case.tlp if collection.case is not None else session.get_one(Case, current.case_id).tlp
    versions = [(m, text) for m, text in older if not red.version_is_red(text, case_tlp)]
    versions.append((current.modified or current.created or current.added_at, current.stix_json))
    return [(taxii_timestamp(m), text) for m, text in sorted(versions, key=lambda v: v[0])]


def version_of(obj: StixObject) -> str:
    """The TAXII version of an object: its `modified` (an SCO, which has none, its date added)."""
    return taxii_timestamp(obj.modified or obj.created or obj.added_at)


def taxii_timestamp(moment: dt.datetime) -> str:
    """A STIX/TAXII timestamp with as many fraction digits as needed to give the moment back exactly."""
    utc = moment.astimezone(dt.UTC)
    fraction = f"{utc.microsecond:06d}"
    fraction = fraction[:3] if fraction.endswith("000") else fraction
    # The year by hand: strftime's %Y gives year 999 as "999", which is no STIX timestamp.
    return f"{utc.year:04d}-" + utc.strftime("%m-%dT%H:%M:%S.") + fraction + "Z"


def _encode_next(obj: StixObject) -> str:
    raw = f"{obj.added_at.isoformat()}|{obj.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_next(token: str) -> tuple[dt.datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        moment, _, number = raw.partition("|")
        at = dt.datetime.fromisoformat(moment)
        if at.tzinfo is None:
            raise ValueError("naive")
        return at, int(number)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadRequest("the next parameter is not one this server handed out; start again without it",
                         field="next") from None
