"""Capturing indicators on a case: typed values, raw patterns, free text, sightings, permissions, audit."""

from __future__ import annotations

import pytest
import stix2
from sqlalchemy import select

from casemgr.audit.models import AuditEntry
from casemgr.indicators import stix
from tests.indicators.conftest import add

VALID = [
    ("ipv4-addr", "203.0.113.7", "203.0.113.7", "[ipv4-addr:value = '203.0.113.7']"),
    ("ipv4-addr", "198.51.100.0/24", "198.51.100.0/24", "[ipv4-addr:value = '198.51.100.0/24']"),
    ("ipv6-addr", "2001:DB8::1", "2001:db8::1", "[ipv6-addr:value = '2001:db8::1']"),
    ("domain-name", "Evil.Example.COM.", "evil.example.com", "[domain-name:value = 'evil.example.com']"),
    ("url", "HTTP://evil.example.com/a?b=c", "http://evil.example.com/a?b=c",
     "[url:value = 'http://evil.example.com/a?b=c']"),
    ("email-addr", "Boss@Evil.Example.com", "Boss@evil.example.com", "[email-addr:value = 'Boss@evil.example.com']"),
    ("md5", "D41D8CD98F00B204E9800998ECF8427E", "d41d8cd98f00b204e9800998ecf8427e",
     "[file:hashes.'MD5' = 'd41d8cd98f00b204e9800998ecf8427e']"),
    ("sha1", "da39a3ee5e6b4b0d3255bfef95601890afd80709", "da39a3ee5e6b4b0d3255bfef95601890afd80709",
     "[file:hashes.'SHA-1' = 'da39a3ee5e6b4b0d3255bfef95601890afd80709']"),
    ("sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
     "[file:hashes.'SHA-256' = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855']"),
    ("sha512", "a" * 128, "a" * 128, f"[file:hashes.'SHA-512' = '{'a' * 128}']"),
    ("file-name", "invoice.pdf.exe", "invoice.pdf.exe", "[file:name = 'invoice.pdf.exe']"),
    ("windows-registry-key", r"HKLM\Software\Run", r"HKEY_LOCAL_MACHINE\Software\Run",
     r"[windows-registry-key:key = 'HKEY_LOCAL_MACHINE\\Software\\Run']"),
    ("user-account", "svc_backup", "svc_backup", "[user-account:account_login = 'svc_backup']"),
    ("mutex", "Global\\evil", "Global\\evil", "[mutex:name = 'Global\\\\evil']"),
    ("process-name", "evil.exe", "evil.exe", "[process:image_ref.name = 'evil.exe']"),
    ("user-agent", "Mozilla/5.0 (evil)", "Mozilla/5.0 (evil)",
     "[network-traffic:extensions.'http-request-ext'.request_header.'User-Agent' = 'Mozilla/5.0 (evil)']"),
    ("autonomous-system", "AS64500", "64500", "[autonomous-system:number = 64500]"),
]


@pytest.mark.parametrize(("type_", "raw", "normalized", "pattern"), VALID, ids=[v[0] + ":" + v[1][:20] for v in VALID])
def test_each_type_gives_a_valid_stix_indicator_observables_and_a_sighting(api, open_case, type_, raw, normalized,
                                                                          pattern):
    client = api("analyst")
    case = open_case(client, tlp="green")
    response = add(client, case, type_, raw, confidence=80)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["type"] == type_
    assert body["value"] == normalized
    assert body["created"] is True
    indicator = body["stix"]
    assert indicator["id"] == body["stix_id"]
    assert indicator["pattern"] == pattern
    assert indicator["pattern_type"] == "stix"
    assert indicator["confidence"] == 80
    assert indicator["indicator_types"] == ["malicious-activity"]
    assert indicator["object_marking_refs"] == [stix.tlp_marking("green")["id"]]
    assert indicator["created_by_ref"].startswith("identity--")
    stix2.parse(indicator)  # validates the pattern again
    sighting = body["sighting"]
    assert sighting["sighting_of_ref"] == indicator["id"]
    assert sighting["count"] == 1
    assert sighting["external_references"] == [{"source_name": "casemgr", "external_id": case["reference"]}]
    objects = client.get(f"/api/v1/cases/{case['id']}/stix/objects").get_json()
    types = objects["types"]
    assert types["indicator"] == 1
    assert types["sighting"] == 1
    if type_ != "user-agent":  # a bare User-Agent has no observable object
        assert sum(n for t, n in types.items() if t not in {"indicator", "sighting"}) >= 1


@pytest.mark.parametrize(("type_", "value", "message"), [
    ("ipv4-addr", "999.1.1.1", "not a valid IPv4"),
    ("ipv4-addr", "10.0.0.1/8", "host bits set"),
    ("ipv6-addr", "1.2.3.4", "use the type ipv4-addr"),
    ("domain-name", "localhost", "no dot"),
    ("url", "evil.example.com/path", "no scheme"),
    ("email-addr", "not-an-address", "not a valid email"),
    ("md5", "xyz", "hexadecimal"),
    ("sha256", "abc", "64 hex digits"),
    ("file-name", "C:\\temp\\evil.exe", "a path"),
    ("windows-registry-key", "Software\\Run", "registry hive"),
    ("autonomous-system", "AS0", "autonomous system number"),
    ("mutex", "bad\x00name", "NUL characters"),
])
def test_invalid_values_are_422_naming_the_value(api, open_case, type_, value, message):
    client = api("analyst")
    case = open_case(client)
    response = add(client, case, type_, value)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["field"] == "value"
    assert message in error["message"]
    assert client.get(f"/api/v1/cases/{case['id']}/indicators").get_json()["total"] == 0


def test_unknown_type_and_missing_fields_name_the_field(api, open_case):
    client = api("analyst")
    case = open_case(client)
    assert add(client, case, "bitcoin", "1abc").get_json()["error"]["field"] == "type"
    missing = client.post(f"/api/v1/cases/{case['id']}/indicators", json={"type": "md5"})
    assert missing.status_code == 422
    assert "value" in missing.get_json()["error"]["message"]
    both = client.post(f"/api/v1/cases/{case['id']}/indicators",
                       json={"type": "md5", "value": "a" * 32, "pattern": "[file:name = 'x']"})
    assert both.status_code == 422
    assert add(client, case, "md5", "a" * 32, confidence=101).get_json()["error"]["field"] == "confidence"
    late = add(client, case, "md5", "a" * 32, valid_from="2026-02-01T00:00:00Z", valid_until="2026-01-01T00:00:00Z")
    assert late.status_code == 422
    assert late.get_json()["error"]["field"] == "valid_until"


@pytest.mark.parametrize("hostile", ["it's", "back\\slash", "quote' OR '1'='1", "\\'", "trail\\"])
def test_hostile_values_are_escaped_in_the_pattern(api, open_case, hostile):
    client = api("analyst")
    case = open_case(client)
    response = add(client, case, "mutex", hostile)
    assert response.status_code == 201
    indicator = response.get_json()["stix"]
    assert stix.pattern_errors(indicator["pattern"]) == []
    escaped = hostile.replace("\\", "\\\\").replace("'", "\\'")
    assert indicator["pattern"] == f"[mutex:name = '{escaped}']"


def test_adding_a_value_again_counts_its_sighting(api, open_case):
    client = api("analyst")
    case = open_case(client)
    first = add(client, case, "domain-name", "evil.example.com").get_json()
    again = add(client, case, "domain-name", "EVIL.example.com.")
    assert again.status_code == 200
    body = again.get_json()
    assert body["created"] is False
    assert body["stix_id"] == first["stix_id"]
    assert body["sighting"]["id"] == first["sighting"]["id"]
    assert body["sighting"]["count"] == 2
    assert body["sighting"]["modified"] > first["sighting"]["modified"]
    assert body["sighting"]["created"] == first["sighting"]["created"]
    listing = client.get(f"/api/v1/cases/{case['id']}/indicators").get_json()
    assert listing["total"] == 1
    assert listing["items"][0]["sightings"] == 2
    detail = client.get(f"/api/v1/cases/{case['id']}/stix/objects/{first['sighting']['id']}").get_json()
    assert [v["stix"]["count"] for v in detail["versions"]] == [1]


def test_raw_pattern_is_validated_with_its_position(api, open_case):
    client = api("analyst")
    case = open_case(client)
    url = f"/api/v1/cases/{case['id']}/indicators"
    good = client.post(url, json={"pattern": "[file:name = 'a.exe'] AND [ipv4-addr:value = '203.0.113.9']"})
    assert good.status_code == 201
    assert good.get_json()["type"] is None
    simple = client.post(url, json={"pattern": "[ipv4-addr:value = '203.0.113.10']"}).get_json()
    assert (simple["type"], simple["value"]) == ("ipv4-addr", "203.0.113.10")
    bad = client.post(url, json={"pattern": "[file:name = 'a.exe' AND]"})
    assert bad.status_code == 422
    error = bad.get_json()["error"]
    assert error["field"] == "pattern"
    assert error["position"]["line"] == 1
    assert "column" in error["message"]


def test_a_pattern_with_a_long_run_of_digits_is_refused_before_parsing(api, open_case):
    # stix2-patterns' parser took minutes on 20,000 zeros (quadratic in such a run): refused unparsed
    client = api("analyst")
    url = f"/api/v1/cases/{open_case(client)['id']}/indicators"
    bad = client.post(url, json={"pattern": "[x:y = " + "0" * 2000 + "]"})
    assert bad.status_code == 422
    error = bad.get_json()["error"]
    assert error["field"] == "pattern"
    assert "a run of more than 64 digits outside a string" in error["message"]
    digest = "0" * 64
    hashed = client.post(url, json={"pattern": f"[file:hashes.'SHA-256' = '{digest}' AND file:size = {'9' * 64}]"})
    assert hashed.status_code == 201, hashed.get_json()


def test_free_text_extraction_reviews_then_adds_the_accepted(make_app, make_user, db, open_case, system):
    from flask.testing import FlaskClient

    from casemgr.auth import service as auth
    from casemgr.auth.schemas import NewToken

    app = make_app(own_domains=("example.org",))
    user = make_user("analyst")
    with app.extensions["casemgr.db"].transaction() as s:
        secret = auth.create_token(s, system, user.username, NewToken(name="t")).secret
    client: FlaskClient = app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}
    case = client.post("/api/v1/cases", json={"title": "Phish", "category": "fraud", "impact": "low",
                                              "urgency": "low"}, headers=headers).get_json()
    text = ("Payload from hxxp://evil[.]com/x.exe via 45.33.32[.]156, reply-to boss[@]evil.com; "
            "internal host 10.1.2.3, intranet portal.example.org")
    found = client.post(f"/api/v1/cases/{case['id']}/indicators/extract", json={"text": text}, headers=headers)
    assert found.status_code == 200
    items = {(i["type"], i["value"]): i for i in found.get_json()["items"]}
    assert ("url", "http://evil.com/x.exe") in items
    assert ("ipv4-addr", "45.33.32.156") in items
    assert ("email-addr", "boss@evil.com") in items
    assert "private" in items[("ipv4-addr", "10.1.2.3")]["known_benign"]
    assert "own domain" in items[("domain-name", "portal.example.org")]["known_benign"]
    assert items[("ipv4-addr", "45.33.32.156")]["known_benign"] is None
    assert client.get(f"/api/v1/cases/{case['id']}/indicators", headers=headers).get_json()["total"] == 0
    accepted = client.post(f"/api/v1/cases/{case['id']}/indicators/accept", headers=headers, json={"items": [
        {"type": "ipv4-addr", "value": "45.33.32.156"}, {"type": "domain-name", "value": "portal.example.org"}]})
    assert accepted.status_code == 201
    listing = client.get(f"/api/v1/cases/{case['id']}/indicators", headers=headers).get_json()
    flags = {i["value"]: i["known_benign"] for i in listing["items"]}
    assert flags["45.33.32.156"] is None
    assert "own domain" in flags["portal.example.org"]
    again = client.post(f"/api/v1/cases/{case['id']}/indicators/extract", json={"text": text}, headers=headers)
    on_case = {i["value"] for i in again.get_json()["items"] if i["on_case"]}
    assert on_case == {"45.33.32.156", "portal.example.org"}
    bad = client.post(f"/api/v1/cases/{case['id']}/indicators/accept", headers=headers, json={"items": [
        {"type": "ipv4-addr", "value": "45.33.32.157"}, {"type": "ipv4-addr", "value": "nope"}]})
    assert bad.status_code == 422
    assert bad.get_json()["error"]["field"] == "items.1.value"
    assert client.get(f"/api/v1/cases/{case['id']}/indicators", headers=headers).get_json()["total"] == 2


def test_auditors_read_only_admins_see_nothing_restricted_cases_hidden(api, open_case):
    analyst = api("analyst")
    case = open_case(analyst)
    assert add(analyst, case, "md5", "a" * 32).status_code == 201
    auditor = api("auditor")
    assert auditor.get(f"/api/v1/cases/{case['id']}/indicators").get_json()["total"] == 1
    refused = add(auditor, case, "md5", "b" * 32)
    assert refused.status_code == 403
    admin = api("admin")
    assert admin.get(f"/api/v1/cases/{case['id']}/indicators").status_code == 404
    assert add(admin, case, "md5", "b" * 32).status_code == 404
    secret_case = open_case(analyst, restricted=True)
    outsider = api("analyst")
    assert outsider.get(f"/api/v1/cases/{secret_case['id']}/indicators").status_code == 404
    assert add(outsider, secret_case, "md5", "b" * 32).status_code == 404


def test_every_change_is_audited_without_the_value(api, open_case, db):
    client = api("analyst")
    case = open_case(client)
    created = add(client, case, "domain-name", "secret-c2.example.net").get_json()
    add(client, case, "domain-name", "secret-c2.example.net")
    with db.transaction() as s:
        entries = s.scalars(select(AuditEntry).where(AuditEntry.object_type == "indicator")
                            .order_by(AuditEntry.seq)).all()
        assert [e.action for e in entries] == ["indicator.create", "indicator.sight"]
        assert entries[0].summary["stix_id"] == created["stix_id"]
        assert entries[0].actor_name == client.user.username
        assert all("secret-c2" not in str(e.summary) for e in entries)
