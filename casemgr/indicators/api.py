"""/api/v1 indicators, STIX import/export and value search: thin adapters over the indicator services."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from flask import Response, request
from pydantic import BaseModel

from casemgr.api import ApiBlueprint, body, listing, out, query
from casemgr.indicators import corrections, imports, red, service, sharing
from casemgr.indicators.models import StixObject
from casemgr.indicators.schemas import (
    AcceptCandidates,
    ExportOptions,
    ExtractText,
    ImportOptions,
    IndicatorQuery,
    NewIndicator,
    ObjectQuery,
    Revocation,
    SearchQuery,
    TlpChange,
)
from casemgr.web import BodyLimit, current_actor, db_session, larger_body, stream_with_session

bp = ApiBlueprint("indicators", __name__)
STIX_MEDIA_TYPE = "application/stix+json;version=2.1"


class IndicatorOut(BaseModel):
    id: int
    stix_id: str
    type: str | None  # our indicator type (ipv4-addr, sha256, ...), None for a pattern we cannot read as one value
    value: str | None
    pattern: str | None
    name: str | None
    confidence: int | None
    tlp: str | None  # the effective TLP: the marking it carries, or the case's (then tlp_from_case is true)
    tlp_from_case: bool
    revoked: bool
    valid_from: dt.datetime | None
    valid_until: dt.datetime | None
    known_benign: str | None
    also_seen_in: list[str]
    sightings: int | None
    stix: dict[str, Any]


class CapturedOut(IndicatorOut):
    created: bool  # False: the case had the value already; its sighting was counted again
    sighting: dict[str, Any]


class CandidateOut(BaseModel):
    type: str
    value: str
    known_benign: str | None
    on_case: bool
    caution: str | None = None  # why a finder would have left it out, e.g. "reserved top-level domain .example"


class CandidatesOut(BaseModel):
    items: list[CandidateOut]


class ObjectOut(BaseModel):
    id: int
    stix_id: str
    type: str
    name: str | None
    tlp: str | None  # the effective TLP: the marking it carries, or the case's (then tlp_from_case is true)
    tlp_from_case: bool
    revoked: bool
    modified: dt.datetime | None
    stix: dict[str, Any]


class VersionOut(BaseModel):
    modified: dt.datetime
    stix: dict[str, Any]


class CorrectionOut(BaseModel):
    kind: str  # "revoke" or "tlp"
    from_tlp: str | None
    to_tlp: str | None
    reason: str
    modified: dt.datetime  # of the version the correction made
    at: dt.datetime
    by: str


class ObjectDetailOut(ObjectOut):
    versions: list[VersionOut]
    relationships: list[ObjectOut]
    also_seen_in: list[str]
    known_benign: str | None
    corrections: list[CorrectionOut]


class CaseBriefOut(BaseModel):
    id: int
    reference: str
    title: str


class SearchHitOut(BaseModel):
    id: int
    stix_id: str
    type: str | None
    value: str | None
    pattern: str | None
    match: str
    case: CaseBriefOut


class SearchOut(BaseModel):
    items: list[SearchHitOut]
    total: int
    page: int
    per_page: int
    cases: list[CaseBriefOut]


class ImportReportOut(BaseModel):
    bundle_id: str | None
    converted_from: str | None  # "2.0" when the bundle was converted to STIX 2.1 on import
    conversion: list[str]  # what the conversion changed, in plain words
    markings_mapped: list[dict[str, Any]]  # TLP marking variants (OpenCTI, MISP) mapped to TLP 2.0
    total: int
    stored: int
    added: dict[str, int]
    new_versions: dict[str, int]
    old_versions: dict[str, int]
    duplicates: dict[str, int]
    rejected: list[dict[str, Any]]
    partial: bool
    dry_run: bool


def _marks(obj: StixObject, marking: red.Marking | None) -> dict[str, Any]:
    if marking is None:  # not expected: every service answer carries the effective TLP
        return {"tlp": obj.tlp.value if obj.tlp else None, "tlp_from_case": False, "revoked": obj.revoked}
    return {"tlp": marking.level.value, "tlp_from_case": marking.from_case, "revoked": obj.revoked}


def _indicator(obj: StixObject, *, also_seen_in: list[str], known_benign: str | None,
               sightings: int | None, marking: red.Marking | None) -> dict[str, Any]:
    return {"id": obj.id, "stix_id": obj.stix_id, "type": obj.value_type, "value": obj.value,
            "pattern": obj.pattern, "name": obj.name, "confidence": obj.confidence,
            **_marks(obj, marking), "valid_from": obj.valid_from, "valid_until": obj.valid_until,
            "known_benign": known_benign, "also_seen_in": also_seen_in, "sightings": sightings,
            "stix": json.loads(obj.stix_json)}


def _object(obj: StixObject, marking: red.Marking | None) -> dict[str, Any]:
    return out(ObjectOut, {"id": obj.id, "stix_id": obj.stix_id, "type": obj.type, "name": obj.name,
                           **_marks(obj, marking), "modified": obj.modified, "stix": json.loads(obj.stix_json)})


def _brief(case: Any) -> dict[str, Any]:
    return {"id": case.id, "reference": case.reference, "title": case.title}


@bp.operation("/cases/<int:case_id>/indicators", "POST",
              "Add an indicator from a type and value (or a STIX pattern), with its observables and sighting; "
              "201 when new, 200 when the case had it (its sighting is counted again)",
              body=NewIndicator, response=CapturedOut, status=201, also=(200,))
def add_indicator(case_id: int) -> Any:
    s, actor = db_session(), current_actor()
    captured = service.add_indicator(s, actor, case_id, body(NewIndicator))
    seen = service.also_seen_in(s, actor, case_id, [captured.indicator.value_digest or ""])
    sighting = json.loads(captured.sighting.stix_json)
    payload = {**_indicator(captured.indicator, also_seen_in=seen.get(captured.indicator.value_digest or "", []),
                            known_benign=captured.known_benign, sightings=sighting.get("count"),
                            marking=captured.marking),
               "created": captured.created, "sighting": sighting}
    return out(CapturedOut, payload), 201 if captured.created else 200


@bp.operation("/cases/<int:case_id>/indicators", "GET",
              "The case's indicators with known-benign flags and the other cases that saw each value",
              query=IndicatorQuery, response=IndicatorOut, is_list=True)
def list_indicators(case_id: int) -> Any:
    page = service.list_indicators(db_session(), current_actor(), case_id, query(IndicatorQuery))
    return listing(page, lambda v: out(IndicatorOut, _indicator(v.obj, also_seen_in=v.also_seen_in,
                                                                known_benign=v.known_benign, sightings=v.sightings,
                                                                marking=v.marking)))


@bp.operation("/cases/<int:case_id>/indicators/extract", "POST",
              "Find candidate observables in free text (defanged forms too) for review; nothing is added",
              body=ExtractText, response=CandidatesOut)
def extract(case_id: int) -> Any:
    found = service.extract_candidates(db_session(), current_actor(), case_id, body(ExtractText).text)
    return out(CandidatesOut, {"items": [{"type": c.type.value, "value": c.value, "known_benign": c.known_benign,
                                          "on_case": c.on_case, "caution": c.caution} for c in found]})


@bp.operation("/cases/<int:case_id>/indicators/accept", "POST", "Add the reviewed candidates as indicators",
              body=AcceptCandidates, response=CapturedOut, status=201, is_list=True)
def accept(case_id: int) -> Any:
    s, actor = db_session(), current_actor()
    results = service.add_candidates(s, actor, case_id, body(AcceptCandidates))
    return listing(results, lambda r: out(CapturedOut, {
        **_indicator(r.indicator, also_seen_in=[], known_benign=r.known_benign,
                     sightings=json.loads(r.sighting.stix_json).get("count"), marking=r.marking),
        "created": r.created, "sighting": json.loads(r.sighting.stix_json)})), 201


@bp.operation("/cases/<int:case_id>/stix/objects", "GET",
              "The case's STIX objects of every type (or one type): SDOs, observables, relationships, sightings",
              query=ObjectQuery, response=ObjectOut, is_list=True)
def list_objects(case_id: int) -> Any:
    page = service.list_objects(db_session(), current_actor(), case_id, query(ObjectQuery))
    return listing(page, lambda o: _object(o, page.markings.get(o.id)), types=page.types)


@bp.operation("/cases/<int:case_id>/stix/objects/<string:object_id>", "GET",
              "One STIX object of the case with its older versions and its relationships", response=ObjectDetailOut)
def get_object(case_id: int, object_id: str) -> Any:
    detail = service.get_object(db_session(), current_actor(), case_id, object_id)
    return out(ObjectDetailOut, {
        **_object(detail.obj, detail.marking), "also_seen_in": detail.also_seen_in,
        "known_benign": detail.known_benign,
        "versions": [{"modified": v.modified, "stix": json.loads(v.stix_json)} for v in detail.versions],
        "relationships": [_object(r, red.marking_of(r, detail.case)) for r in detail.relationships],
        "corrections": [{"kind": c.kind, "from_tlp": c.from_tlp.value if c.from_tlp else None,
                         "to_tlp": c.to_tlp.value if c.to_tlp else None, "reason": c.reason, "modified": c.modified,
                         "at": c.at, "by": c.actor_name} for c in detail.corrections]})


@bp.operation("/cases/<int:case_id>/stix/objects/<string:object_id>/revoke", "POST",
              "Revoke a STIX object (SDO or SRO) of the case: a new, last version with revoked=true; the earlier "
              "version stays in its history; 409 when it is revoked already or has no versions",
              body=Revocation, response=ObjectDetailOut, errors=(409,))
def revoke(case_id: int, object_id: str) -> Any:
    s, actor = db_session(), current_actor()
    corrections.revoke(s, actor, case_id, object_id, body(Revocation))
    return get_object(case_id, object_id)


@bp.operation("/cases/<int:case_id>/stix/objects/<string:object_id>/tlp", "POST",
              "Mark a STIX object (SDO or SRO) of the case with another TLP level: a new version carrying that "
              "TLP 2.0 marking; 409 when it is revoked, has no versions or is marked at that level already",
              body=TlpChange, response=ObjectDetailOut, errors=(409,))
def change_tlp(case_id: int, object_id: str) -> Any:
    s, actor = db_session(), current_actor()
    done = corrections.change_tlp(s, actor, case_id, object_id, body(TlpChange))
    if not done.visible:  # marked RED by someone who is no member: the object as they made it, and no more
        return out(ObjectDetailOut, {**_object(done.obj, done.marking), "also_seen_in": [], "known_benign": None,
                                     "versions": [], "relationships": [], "corrections": []})
    return get_object(case_id, object_id)


@bp.operation("/cases/<int:case_id>/stix", "POST",
              "Import a STIX 2.1 bundle (the JSON body); rejected whole when an object is invalid, unless "
              "partial=true; the report lists each rejected object (index, id, reason)",
              query=ImportOptions, response=ImportReportOut,
              raw_body=("application/json", {"type": "object", "description": "a STIX 2.1 bundle"}))
@larger_body(BodyLimit("CASEMGR_MAX_BUNDLE_BYTES", lambda settings: settings.max_bundle_bytes, field="bundle"))
def import_stix(case_id: int) -> Any:
    options: ImportOptions = query(ImportOptions)
    report = imports.import_bundle(db_session(), current_actor(), case_id, request.stream,
                                   partial=options.partial, dry_run=options.dry_run)
    return out(ImportReportOut, report.to_dict())


@bp.operation("/cases/<int:case_id>/stix", "GET",
              "Export the case as a STIX 2.1 bundle; TLP:RED objects only with include_red=true "
              "(managers and case members)", query=ExportOptions, media_type=STIX_MEDIA_TYPE)
def export_stix(case_id: int) -> Any:
    options: ExportOptions = query(ExportOptions)
    chunks = stream_with_session(lambda s: sharing.export_bundle(s, current_actor(session=s), case_id,
                                                                  include_red=options.include_red))
    return Response(chunks, content_type=STIX_MEDIA_TYPE)  # streamed, never whole in memory


@bp.operation("/indicators", "GET",
              "Find a value in every case you may see (an IP address also finds the CIDR networks holding it)",
              query=SearchQuery, response=SearchOut)
def search(**_: Any) -> Any:
    result = service.search(db_session(), current_actor(), query(SearchQuery))
    return listing(result, lambda h: out(SearchHitOut, {
        "id": h.obj.id, "stix_id": h.obj.stix_id, "type": h.obj.value_type, "value": h.obj.value,
        "pattern": h.obj.pattern, "match": h.match, "case": _brief(h.case)}),
        cases=[out(CaseBriefOut, _brief(c)) for c in result.cases])
