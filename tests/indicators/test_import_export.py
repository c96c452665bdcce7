"""Importing bundles (real ones from shared data, invalid ones, versions, duplicates) and exporting cases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
import stix2
from flask.testing import FlaskClient
from sqlalchemy import func, select
from stix2validator import ValidationOptions, validate_parsed_json

from casemgr import create_app, migrate
from casemgr.auth import service as auth
from casemgr.auth.actor import Actor
from casemgr.auth.schemas import NewToken, NewUser
from casemgr.indicators import stix
from casemgr.indicators.models import StixObject
from tests.conftest import PASSWORD, ApiClient
from tests.indicators.conftest import ACCEPTED, add, bundle_of, export, indicator, post_bundle, shared

REFUSED = {
    "invalid/invalid_comma.json": (400, "malformed_json", "line 9"),
    "invalid/invalid_identity.json": (422, "not_a_bundle", "a single 'identity' object"),
    "sco-examples-array.json": (422, "not_a_bundle", "a list, not a STIX bundle"),
}


def count(db, case, **where) -> int:
    with db.transaction() as s:
        query = select(func.count()).select_from(StixObject).where(StixObject.case_id == case["id"])
        for key, value in where.items():
            query = query.where(getattr(StixObject, key) == value)
        return s.scalar(query)


def validate(bundle: dict) -> None:
    stix2.parse(bundle, allow_custom=True)
    results = validate_parsed_json(bundle, ValidationOptions(version="2.1"))
    problems = [str(e) for r in (results if isinstance(results, list) else [results]) for e in r.errors]
    assert results.is_valid if not isinstance(results, list) else all(r.is_valid for r in results), problems


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_real_bundles_import_whole_and_come_back_unchanged(api, open_case, db, name):
    client = api("analyst")
    case = open_case(client)
    data = shared(name).read_bytes()
    response = post_bundle(client, case, data)
    assert response.status_code == 200, response.get_json()
    report = response.get_json()
    assert report["added"] == ACCEPTED[name]
    assert report["rejected"] == []
    exported = export(client, case).get_json()
    by_id = {o["id"]: o for o in exported["objects"]}
    for obj in json.loads(data)["objects"]:
        assert by_id[obj["id"]] == obj  # stored as received, given back unchanged
    assert count(db, case) == sum(ACCEPTED[name].values())


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_other_shared_files_are_refused_with_a_clear_4xx(api, open_case, db, name):
    client = api("analyst")
    case = open_case(client)
    status, code, message = REFUSED[name]
    response = post_bundle(client, case, shared(name).read_bytes())
    assert response.status_code == status
    error = response.get_json()["error"]
    assert error["code"] == code
    assert message in error["message"]
    assert count(db, case) == 0


def test_relationships_and_other_objects_are_kept_and_listed(api, open_case):
    client = api("analyst")
    case = open_case(client)
    post_bundle(client, case, shared("apt1.json").read_bytes())
    objects = client.get(f"/api/v1/cases/{case['id']}/stix/objects?type=threat-actor").get_json()
    assert objects["total"] == 5
    assert all(o["name"] for o in objects["items"])
    relationships = client.get(f"/api/v1/cases/{case['id']}/stix/objects?type=relationship").get_json()
    assert relationships["total"] == 30
    some = relationships["items"][0]["stix"]
    detail = client.get(f"/api/v1/cases/{case['id']}/stix/objects/{some['source_ref']}").get_json()
    assert some["id"] in {r["stix_id"] for r in detail["relationships"]}


def test_a_bundle_with_invalid_objects_is_rejected_whole_with_a_report(api, open_case, db):
    client = api("analyst")
    case = open_case(client)
    good = indicator("[ipv4-addr:value = '203.0.113.1']")
    bad_pattern = indicator("[ipv4-addr:value = ")
    no_type = {"id": "x"}
    data = bundle_of(good, bad_pattern, no_type)
    response = post_bundle(client, case, data)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "bundle_rejected"
    assert error["field"] == "objects"
    rejected = error["rejected"]
    assert [(r["index"], r["id"]) for r in rejected] == [(1, bad_pattern["id"]), (2, "x")]
    assert all(r["reason"] for r in rejected)
    assert count(db, case) == 0
    partial = post_bundle(client, case, data, partial="true")
    assert partial.status_code == 200
    report = partial.get_json()
    assert report["added"] == {"indicator": 1}
    assert [r["index"] for r in report["rejected"]] == [1, 2]
    assert count(db, case) == 1


def test_bad_envelopes_and_bodies_are_4xx(api, open_case):
    client = api("analyst")
    case = open_case(client)
    malformed = post_bundle(client, case, b'{"type": "bundle",\n "objects": [}')
    assert malformed.status_code == 400
    assert malformed.get_json()["error"]["line"] == 2
    assert post_bundle(client, case, b"").status_code == 400
    assert post_bundle(client, case, {"type": "bundle", "id": "nope"}).get_json()["error"]["field"] == "id"
    assert post_bundle(client, case, {"type": "bundle", "id": "bundle--6b2b1c1e-1111-4c4c-8888-123456789abc",
                                      "spec_version": "1.2", "objects": []}).status_code == 422
    assert post_bundle(client, case, b"\xff\xfe").status_code == 400
    assert post_bundle(client, case, bundle_of(), partial="maybe").get_json()["error"]["field"] == "partial"


def test_dedupe_by_id_and_by_value_and_versions(api, open_case, db):
    client = api("analyst")
    case = open_case(client)
    v1 = indicator("[domain-name:value = 'evil.example.com']", modified="2026-01-01T00:00:00.000Z", name="v1")
    first = post_bundle(client, case, bundle_of(v1)).get_json()
    assert first["added"] == {"indicator": 1}
    again = post_bundle(client, case, bundle_of(v1)).get_json()
    assert again["added"] == {}
    assert again["duplicates"] == {"indicator": 1}
    same_value = indicator("[domain-name:value = 'EVIL.example.com']")
    assert post_bundle(client, case, bundle_of(same_value)).get_json()["duplicates"] == {"indicator": 1}
    v3 = {**v1, "modified": "2026-03-01T00:00:00.000Z", "name": "v3"}
    newer = post_bundle(client, case, bundle_of(v3)).get_json()
    assert newer["new_versions"] == {"indicator": 1}
    v2 = {**v1, "modified": "2026-02-01T00:00:00.000Z", "name": "v2"}
    older = post_bundle(client, case, bundle_of(v2)).get_json()
    assert older["old_versions"] == {"indicator": 1}
    detail = client.get(f"/api/v1/cases/{case['id']}/stix/objects/{v1['id']}").get_json()
    assert detail["stix"]["name"] == "v3"  # the older version never overwrote the newer one
    assert [v["stix"]["name"] for v in detail["versions"]] == ["v2", "v1"]
    assert count(db, case, type="indicator") == 1
    # Several versions of one object in one bundle: the newest is current, in any order.
    w = indicator("[ipv4-addr:value = '203.0.113.5']", modified="2026-01-05T00:00:00.000Z", name="w1")
    w2 = {**w, "modified": "2026-01-07T00:00:00.000Z", "name": "w2"}
    mixed = post_bundle(client, case, bundle_of(w2, w, w2)).get_json()
    assert mixed["added"] == {"indicator": 1}
    assert mixed["old_versions"] == {"indicator": 1}
    assert mixed["duplicates"] == {"indicator": 1}
    assert client.get(f"/api/v1/cases/{case['id']}/stix/objects/{w['id']}").get_json()["stix"]["name"] == "w2"


def test_dry_run_counts_without_storing(api, open_case, db):
    client = api("analyst")
    case = open_case(client)
    response = post_bundle(client, case, shared("apt1.json").read_bytes(), dry_run="true")
    assert response.status_code == 200
    assert response.get_json()["added"]["indicator"] == 12
    assert response.get_json()["dry_run"] is True
    assert count(db, case) == 0


def test_import_permissions(api, open_case, db):
    owner = api("analyst")
    case = open_case(owner, restricted=True)
    data = bundle_of(indicator("[file:name = 'x.exe']"))
    assert post_bundle(api("analyst"), case, data).status_code == 404
    assert post_bundle(api("auditor"), case, data).status_code == 403
    assert post_bundle(api("admin"), case, data).status_code == 404
    assert post_bundle(api("manager"), case, data).status_code == 200


def test_export_is_a_valid_bundle_with_everything_the_case_holds(api, open_case):
    client = api("analyst")
    case = open_case(client, tlp="amber")
    add(client, case, "ipv4-addr", "203.0.113.7")
    add(client, case, "sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    add(client, case, "process-name", "evil.exe")
    post_bundle(client, case, shared("indicators-for-C2-with-COA.json").read_bytes())
    response = export(client, case)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/stix+json;version=2.1"
    bundle = response.get_json()
    validate(bundle)
    types = {o["type"] for o in bundle["objects"]}
    assert {"identity", "incident", "indicator", "ipv4-addr", "file", "process", "sighting", "relationship",
            "marking-definition", "malware", "course-of-action"} <= types
    incident = next(o for o in bundle["objects"] if o["type"] == "incident")
    assert incident["external_references"] == [{"source_name": "casemgr", "external_id": case["reference"]}]
    markings = {o["id"] for o in bundle["objects"] if o["type"] == "marking-definition"}
    assert stix.tlp_marking("amber")["id"] in markings
    assert len({o["id"] for o in bundle["objects"]}) == len(bundle["objects"])
    assert export(client, case).get_json()["objects"] == bundle["objects"]  # stable


def test_tlp_red_is_left_out_unless_asked_by_a_member_or_manager(api, open_case):
    member = api("analyst")
    case = open_case(member, tlp="red")
    add(member, case, "domain-name", "red.example.com")
    green = indicator("[domain-name:value = 'green.example.com']",
                      object_marking_refs=[stix.tlp_marking("green")["id"]])
    red_tlp1 = indicator("[domain-name:value = 'red1.example.com']", object_marking_refs=[stix2.TLP_RED.id])
    post_bundle(member, case, bundle_of(green, red_tlp1))
    plain = export(member, case).get_json()
    ids = {o["id"] for o in plain["objects"]}
    assert green["id"] in ids
    assert red_tlp1["id"] not in ids
    assert not [o for o in plain["objects"] if "red" in json.dumps(o.get("pattern", "")) and o["type"] == "indicator"]
    assert stix.tlp_marking("red")["id"] not in ids
    assert all(stix.tlp_marking("red")["id"] not in o.get("object_marking_refs", []) for o in plain["objects"])
    outsider = api("analyst")
    refused = export(outsider, case, include_red="true")
    assert refused.status_code == 403
    assert refused.get_json()["error"]["field"] == "include_red"
    assert export(api("auditor"), case, include_red="true").status_code == 403
    for allowed in (member, api("manager")):
        full = export(allowed, case, include_red="true").get_json()
        full_ids = {o["id"] for o in full["objects"]}
        assert red_tlp1["id"] in full_ids
        assert stix.tlp_marking("red")["id"] in full_ids
        assert {"incident", "sighting"} <= {o["type"] for o in full["objects"]}
        validate(full)


def _fresh_instance(settings, tmp_path: Path) -> tuple[FlaskClient, dict[str, str]]:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    migrate.upgrade(url)
    from dataclasses import replace

    app = create_app(replace(settings, database_url=url))
    db = app.extensions["casemgr.db"]
    with db.transaction() as s:
        system = Actor.system("test")
        auth.create_user(s, system, NewUser(username="fresh", role="analyst", password=PASSWORD))
        secret = auth.create_token(s, system, "fresh", NewToken(name="t")).secret
    return app.test_client(), {"Authorization": f"Bearer {secret}"}


def test_round_trip_through_a_fresh_instance_gives_the_same_objects(api, open_case, settings, tmp_path):
    client = api("analyst")
    case = open_case(client, title="Round trip", tlp="green")
    assert case["reference"].endswith("-0001")
    add(client, case, "ipv4-addr", "203.0.113.7")
    add(client, case, "url", "http://evil.example.com/x")
    add(client, case, "url", "http://evil.example.com/x")  # a sighting with a history
    post_bundle(client, case, shared("apt1.json").read_bytes())
    post_bundle(client, case, shared("using-marking-definitions.json").read_bytes())
    first = export(client, case).get_json()

    fresh, headers = _fresh_instance(settings, tmp_path)
    other = fresh.post("/api/v1/cases", headers=headers, json={
        "title": "Round trip", "category": "malicious-code", "impact": "low", "urgency": "low", "tlp": "green"})
    assert other.get_json()["reference"] == case["reference"]
    imported = fresh.post(f"/api/v1/cases/{other.get_json()['id']}/stix", headers={
        **headers, "Content-Type": "application/json"}, data=json.dumps(first))
    assert imported.status_code == 200, imported.get_json()
    assert imported.get_json()["rejected"] == []
    second = fresh.get(f"/api/v1/cases/{other.get_json()['id']}/stix", headers=headers).get_json()
    fresh.application.extensions["casemgr.db"].dispose()
    assert {o["id"]: o for o in second["objects"]} == {o["id"]: o for o in first["objects"]}


def test_export_of_a_hidden_case_is_404(api, open_case):
    owner = api("analyst")
    case = open_case(owner, restricted=True)
    assert export(api("analyst"), case).status_code == 404
    assert export(api("admin"), case).status_code == 404
    assert export(api("auditor"), case).status_code == 200


def test_timestamps_written_by_other_producers_keep_their_versions_apart(api, open_case):
    client = api("analyst")
    case = open_case(client)
    a = indicator("[file:name = 'a.exe']", modified="2026-01-01T00:00:00Z")
    b = {**a, "modified": "2026-01-01T00:00:00.000001Z", "name": "later by a microsecond"}
    post_bundle(client, case, bundle_of(a))
    assert post_bundle(client, case, bundle_of(b)).get_json()["new_versions"] == {"indicator": 1}


def test_a_large_export_streams_over_a_real_server(api, open_case, live_server):
    # More objects than one database batch (5,000): the bundle is sent in pieces, read from the
    # database while it is being sent, and arrives whole.
    client = api("analyst")
    case = open_case(client)
    objects = [indicator(f"[ipv4-addr:value = '10.{i // 256 % 256}.{i % 256}.{i // 65536 + 1}']")
               for i in range(6000)]
    assert post_bundle(client, case, bundle_of(*objects)).status_code == 200
    response = requests.get(f"{live_server}/api/v1/cases/{case['id']}/stix", stream=True, timeout=60,
                            headers={"Authorization": f"Bearer {client.token}"})
    assert response.status_code == 200
    assert "Content-Length" not in response.headers  # streamed, not built whole first
    bundle = json.loads(b"".join(response.iter_content(64 * 1024)))
    received = {o["id"] for o in bundle["objects"] if o["type"] == "indicator"}
    assert {o["id"] for o in objects} <= received
    assert len(bundle["objects"]) == len({o["id"] for o in bundle["objects"]})


def test_a_bundle_past_the_size_limit_is_413_and_leaves_nothing(api, open_case, make_app, db):
    analyst = api("analyst")
    limited = ApiClient(make_app(max_bundle_bytes=4096).test_client(), analyst.token, analyst.user)
    case = open_case(limited)
    small = bundle_of(indicator("[ipv4-addr:value = '203.0.113.1']"))
    large = bundle_of(*(indicator(f"[ipv4-addr:value = '203.0.113.{n}']") for n in range(20)))
    assert len(json.dumps(small)) < 4096 < len(json.dumps(large))
    refused = post_bundle(limited, case, large)
    assert refused.status_code == 413
    error = refused.get_json()["error"]
    assert error["code"] == "too_large"
    assert error["field"] == "bundle"
    assert "maximum of 4,096 bytes (CASEMGR_MAX_BUNDLE_BYTES)" in error["message"]
    assert count(db, case) == 0
    assert post_bundle(limited, case, small).status_code == 200
