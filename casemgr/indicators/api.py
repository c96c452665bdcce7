"""/api/v1 indicators, STIX import/export and value search: thin adapters over the indicator services."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from flask import Response, jsonify, request
from pydantic import BaseModel

from casemgr.api import ApiBlueprint, body, out, query
from casemgr.indicators import imports, service, sharing
from casemgr.indicators.models import StixObject
from casemgr.indicators.schemas import (
    AcceptCandidates,
    ExportOptions,
    ExtractText,
    ImportOptions,
    IndicatorQuery,
    NewIndicator,
    ObjectQuery,
    SearchQuery,
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
    tlp: str | None
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
    tlp: str | None
    modified: dt.datetime | None
    stix: dict[str, Any]


class VersionOut(BaseModel):
    modified: dt.datetime
    stix: dict[str, Any]


class ObjectDetailOut(ObjectOut):
    versions: list[VersionOut]
    relationships: list[ObjectOut]
    also_seen_in: list[str]
    known_benign: str | None


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
    total: int
    stored: int
    added: dict[str, int]
    new_versions: dict[str, int]
    old_versions: dict[str, int]
    duplicates: dict[str, int]
    rejected: list[dict[str, Any]]
    partial: bool
    dry_run: bool


def _indicator(obj: StixObject, *, also_seen_in: list[str], known_benign: str | None,
               sightings: int | None) -> dict[str, Any]:
    return {"id": obj.id, "stix_id": obj.stix_id, "type": obj.value_type, "value": obj.value,
            "pattern": obj.pattern, "name": obj.name, "confidence": obj.confidence,
            "tlp": obj.tlp.value if obj.tlp else None, "valid_from": obj.valid_from, "valid_until": obj.valid_until,
            "known_benign": known_benign, "also_seen_in": also_seen_in, "sightings": sightings,
            "stix": json.loads(obj.stix_json)}


def _object(obj: StixObject) -> dict[str, Any]:
    return out(ObjectOut, {"id": obj.id, "stix_id": obj.stix_id, "type": obj.type, "name": obj.name,
                           "tlp": obj.tlp.value if obj.tlp else None, "modified": obj.modified,
                           "stix": json.loads(obj.stix_json)})


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
                            known_benign=captured.known_benign, sightings=sighting.get("count")),
               "created": captured.created, "sighting": sighting}
    return out(CapturedOut, payload), 201 if captured.created else 200


@bp.operation("/cases/<int:case_id>/indicators", "GET",
              "The case's indicators with known-benign flags and the other cases that saw each value",
              query=IndicatorQuery, response=IndicatorOut, is_list=True)
def list_indicators(case_id: int) -> Any:
    page = service.list_indicators(db_session(), current_actor(), case_id, query(IndicatorQuery))
    return jsonify({"items": [out(IndicatorOut, _indicator(v.obj, also_seen_in=v.also_seen_in,
                                                           known_benign=v.known_benign, sightings=v.sightings))
                              for v in page.items],
                    "total": page.total, "page": page.page, "per_page": page.per_page})


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
    items = [out(CapturedOut, {**_indicator(r.indicator, also_seen_in=[], known_benign=r.known_benign,
                                            sightings=json.loads(r.sighting.stix_json).get("count")),
                               "created": r.created, "sighting": json.loads(r.sighting.stix_json)})
             for r in results]
    return jsonify({"items": items, "total": len(items)}), 201


@bp.operation("/cases/<int:case_id>/stix/objects", "GET",
              "The case's STIX objects of every type (or one type): SDOs, observables, relationships, sightings",
              query=ObjectQuery, response=ObjectOut, is_list=True)
def list_objects(case_id: int) -> Any:
    page = service.list_objects(db_session(), current_actor(), case_id, query(ObjectQuery))
    return jsonify({"items": [_object(o) for o in page.items], "total": page.total, "page": page.page,
                    "per_page": page.per_page, "types": page.types})


@bp.operation("/cases/<int:case_id>/stix/objects/<string:object_id>", "GET",
              "One STIX object of the case with its older versions and its relationships", response=ObjectDetailOut)
def get_object(case_id: int, object_id: str) -> Any:
    detail = service.get_object(db_session(), current_actor(), case_id, object_id)
    return out(ObjectDetailOut, {
        **_object(detail.obj), "also_seen_in": detail.also_seen_in, "known_benign": detail.known_benign,
        "versions": [{"modified": v.modified, "stix": json.loads(v.stix_json)} for v in detail.versions],
        "relationships": [_object(r) for r in detail.relationships]})


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
    return out(SearchOut, {
        "items": [{"id": h.obj.id, "stix_id": h.obj.stix_id, "type": h.obj.value_type, "value": h.obj.value,
                   "pattern": h.obj.pattern, "match": h.match, "case": _brief(h.case)} for h in result.items],
        "total": result.total, "page": result.page, "per_page": result.per_page,
        "cases": [_brief(c) for c in result.cases]})
