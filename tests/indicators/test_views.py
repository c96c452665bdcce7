"""The Indicators tab: list, add by value or pattern, free text review, STIX upload with summary, export."""

from __future__ import annotations

import io
import json
import os
import re
import time

import stix2

from casemgr.indicators import staging
from tests.conftest import WebClient
from tests.indicators.conftest import T, add, bundle_of, indicator, shared


def upload(client, case, data: bytes, name="bundle.json"):
    return client.post(f"/cases/{case['id']}/stix/upload",
                       data={"bundle": (io.BytesIO(data), name)}, content_type="multipart/form-data")


def test_tab_lists_indicators_with_flags_and_correlation(api, login, open_case):
    analyst = api("analyst")
    case = open_case(analyst, title="Tab case", tlp="amber")
    other = open_case(analyst, title="Other case")
    add(analyst, case, "ipv4-addr", "10.9.8.7")
    add(analyst, case, "domain-name", "c2.example.net")
    add(analyst, other, "domain-name", "c2.example.net")
    page = login("auditor").get(f"/cases/{case['id']}/indicators")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-tab="indicators" aria-current="page"' in html
    assert "10.9.8.7" in html
    assert 'data-testid="known-benign"' in html
    assert other["reference"] in html  # also seen in
    assert 'data-testid="indicator-add"' not in html  # auditors read only
    assert "include_red" not in html


def test_add_value_and_pattern_through_the_form(api, login, open_case):
    case = open_case(api("analyst"))
    web = login("analyst")
    web.get(f"/cases/{case['id']}/indicators")
    done = web.post(f"/cases/{case['id']}/indicators/add", {"type": "sha1", "value": "A" * 40, "confidence": "70"})
    assert done.status_code == 302
    html = web.get(f"/cases/{case['id']}/indicators").get_data(as_text=True)
    assert "a" * 40 in html
    bad = web.post(f"/cases/{case['id']}/indicators/add", {"type": "sha1", "value": "xyz", "confidence": "70"})
    assert bad.status_code == 422
    text = bad.get_data(as_text=True)
    assert 'data-field="value"' in text
    assert "hexadecimal" in text
    assert 'value="xyz"' in text  # the form keeps what was typed
    pattern = web.post(f"/cases/{case['id']}/indicators/add", {"pattern": "[file:name = 'a.exe' AND]"})
    assert pattern.status_code == 422
    assert "line 1, column" in pattern.get_data(as_text=True)
    assert web.post(f"/cases/{case['id']}/indicators/add", {"pattern": "[file:name = 'a.exe']"}).status_code == 302
    assert login("auditor").post(f"/cases/{case['id']}/indicators/add",
                                 {"type": "sha1", "value": "b" * 40}).status_code == 403


def test_free_text_review_then_add_the_ticked(api, login, open_case):
    case = open_case(api("analyst"))
    web = login("analyst")
    web.get(f"/cases/{case['id']}/indicators")
    review = web.post(f"/cases/{case['id']}/indicators/extract",
                      {"text": "beacon to hxxps://bad[.]example[.]net/gate from 192.168.1.20 and 45.33.32[.]156"})
    assert review.status_code == 200
    html = review.get_data(as_text=True)
    boxes = re.findall(r'<input type="checkbox" name="item" value="([^"]+)"[^>]*?( checked)?>', html)
    values = {json.loads(v.replace("&#34;", '"'))["value"]: bool(checked) for v, checked in boxes}
    assert values["https://bad.example.net/gate"] is True
    assert values["192.168.1.20"] is False  # known-benign: flagged and not ticked, but listed
    assert "known-benign" in html
    ticked = [v.replace("&#34;", '"') for v, checked in boxes if checked]
    added = web.client.post(f"/cases/{case['id']}/indicators/accept",
                            data={"csrf_token": web.token, "item": ticked})
    assert added.status_code == 302
    listing = web.get(f"/cases/{case['id']}/indicators").get_data(as_text=True)
    assert "https://bad.example.net/gate" in listing
    assert "192.168.1.20" not in listing
    none = web.client.post(f"/cases/{case['id']}/indicators/accept", data={"csrf_token": web.token})
    assert none.status_code == 422
    assert "tick at least one" in none.get_data(as_text=True)
    tampered = web.client.post(f"/cases/{case['id']}/indicators/accept",
                               data={"csrf_token": web.token, "item": [ticked[0], '{"value": "evil.example"']})
    assert tampered.status_code == 422
    assert "ticked value 2 is not one the review page offered" in tampered.get_data(as_text=True)
    assert "evil.example" not in web.get(f"/cases/{case['id']}/indicators").get_data(as_text=True)


def test_upload_shows_a_summary_then_imports_on_confirmation(api, login, open_case):
    analyst = api("analyst")
    case = open_case(analyst)
    web = login("analyst")
    web.get(f"/cases/{case['id']}/indicators")
    summary = upload(web, case, shared("apt1.json").read_bytes())
    assert summary.status_code == 200
    html = summary.get_data(as_text=True)
    assert "76 objects in the bundle: 76 would be stored" in html
    assert analyst.get(f"/api/v1/cases/{case['id']}/stix/objects").get_json()["total"] == 0
    token = re.search(r'name="token" value="([^"]+)"', html).group(1)
    confirmed = web.post(f"/cases/{case['id']}/stix/confirm", {"token": token})
    assert confirmed.status_code == 302
    assert analyst.get(f"/api/v1/cases/{case['id']}/stix/objects").get_json()["total"] == 76
    again = web.post(f"/cases/{case['id']}/stix/confirm", {"token": token})
    assert again.status_code == 422
    assert "no longer waiting" in again.get_data(as_text=True)
    objects = web.get(f"/cases/{case['id']}/stix/objects?type=threat-actor").get_data(as_text=True)
    assert "Ugly Gorilla" in objects
    assert "Unit 61398" in objects


def test_an_upload_waiting_for_confirmation_is_sealed_for_its_uploader_only(api, login, open_case, settings):
    analyst = api("analyst")
    case = open_case(analyst)
    other_case = open_case(analyst, title="Another case")
    data = shared("apt1.json").read_bytes()
    web = login("analyst")
    web.get(f"/cases/{case['id']}/indicators")
    uploads = settings.instance_dir / "stix-uploads"
    before = set(uploads.iterdir()) if uploads.is_dir() else set()  # other tests' unconfirmed uploads
    summary = upload(web, case, data)
    token = re.search(r'name="token" value="([^"]+)"', summary.get_data(as_text=True)).group(1)
    staged = list(set(uploads.iterdir()) - before)
    assert len(staged) == 1
    assert oct(staged[0].stat().st_mode & 0o777) == "0o600"
    on_disk = staged[0].read_bytes()
    assert b"Ugly Gorilla" not in on_disk  # neither the text nor anything of the JSON is readable there
    assert b'"type"' not in on_disk
    someone_else = login("analyst")  # another session: it does not hold the key
    someone_else.get(f"/cases/{case['id']}/indicators")
    refused = someone_else.post(f"/cases/{case['id']}/stix/confirm", {"token": token})
    assert refused.status_code == 422
    assert "no longer waiting" in refused.get_data(as_text=True)
    web.get(f"/cases/{other_case['id']}/indicators")
    elsewhere = web.post(f"/cases/{other_case['id']}/stix/confirm", {"token": token})  # not for this case
    assert elsewhere.status_code == 422
    assert analyst.get(f"/api/v1/cases/{other_case['id']}/stix/objects").get_json()["total"] == 0
    web.get(f"/cases/{case['id']}/indicators")
    assert web.post(f"/cases/{case['id']}/stix/confirm", {"token": token}).status_code == 302
    assert analyst.get(f"/api/v1/cases/{case['id']}/stix/objects").get_json()["total"] == 76
    assert set(uploads.iterdir()) == before


def test_upload_errors_and_partial_confirmation(api, login, open_case):
    analyst = api("analyst")
    case = open_case(analyst)
    web = login("analyst")
    web.get(f"/cases/{case['id']}/indicators")
    malformed = upload(web, case, shared("invalid/invalid_comma.json").read_bytes())
    assert malformed.status_code == 400
    assert "line 9" in malformed.get_data(as_text=True)
    no_pattern = {"type": "indicator", "id": "indicator--0f7a4a6e-6d9e-4e3b-9c51-2e6b1d1c8a10", "created": T,
                  "modified": T, "labels": ["malicious-activity"], "valid_from": T}
    stix20 = upload(web, case, json.dumps({"type": "bundle", "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
                                           "spec_version": "2.0", "objects": [no_pattern]}).encode())
    assert stix20.status_code == 422
    assert (f"object 0 ({no_pattern['id']}) could not be converted from STIX 2.0: it has no &#39;pattern&#39; "
            "property") in stix20.get_data(as_text=True)
    bad = indicator("[file:name = ")
    summary = upload(web, case, json.dumps(bundle_of(indicator("[file:name = 'ok.exe']"), bad)).encode())
    html = summary.get_data(as_text=True)
    assert bad["id"] in html
    assert 'data-testid="rejected"' in html
    token = re.search(r'name="token" value="([^"]+)"', html).group(1)
    refused = web.post(f"/cases/{case['id']}/stix/confirm", {"token": token})
    assert refused.status_code == 422
    assert analyst.get(f"/api/v1/cases/{case['id']}/indicators").get_json()["total"] == 0
    assert web.post(f"/cases/{case['id']}/stix/confirm", {"token": token, "partial": "on"}).status_code == 302
    assert analyst.get(f"/api/v1/cases/{case['id']}/indicators").get_json()["total"] == 1
    other_case = open_case(analyst)
    assert web.post(f"/cases/{other_case['id']}/stix/confirm", {"token": token}).status_code == 422


def test_export_button_downloads_a_bundle_and_red_needs_membership(api, login, web, open_case):
    analyst = api("analyst")
    case = open_case(analyst, tlp="red")
    add(analyst, case, "domain-name", "red.example.com")
    outsider = login("analyst")
    plain = outsider.get(f"/cases/{case['id']}/stix/export")
    assert plain.status_code == 200
    assert "attachment" in plain.headers["Content-Disposition"]
    bundle = json.loads(plain.get_data())
    stix2.parse(bundle, allow_custom=True)
    assert "indicator" not in {o["type"] for o in bundle["objects"]}
    assert 'name="include_red"' not in outsider.get(f"/cases/{case['id']}/indicators").get_data(as_text=True)
    assert outsider.get(f"/cases/{case['id']}/stix/export?include_red=on").status_code == 403
    web.login(analyst.user.username)  # the case's creator is a member
    assert 'name="include_red"' in web.get(f"/cases/{case['id']}/indicators").get_data(as_text=True)
    full = json.loads(web.get(f"/cases/{case['id']}/stix/export?include_red=on").get_data())
    assert "indicator" in {o["type"] for o in full["objects"]}
    manager = login("manager")
    assert manager.get(f"/cases/{case['id']}/stix/export?include_red=on").status_code == 200


def test_object_page_and_search_page(api, login, open_case):
    analyst = api("analyst")
    case = open_case(analyst)
    created = add(analyst, case, "ipv4-addr", "198.51.100.0/24").get_json()
    web = login("analyst")
    page = web.get(f"/cases/{case['id']}/stix/objects/{created['stix_id']}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert created["stix_id"] in html
    assert "sighting of this object" in html
    found = web.get("/indicators/search?value=198.51.100.9").get_data(as_text=True)
    assert case["reference"] in found
    assert "in-network" in found
    bad = web.get("/indicators/search?value=%20&type=ipv4-addr")
    assert bad.status_code == 200  # an empty value is no search
    wrong = web.get("/indicators/search?value=abc&type=ipv4-addr")
    assert wrong.status_code == 422
    assert 'data-field="value"' in wrong.get_data(as_text=True)
    assert web.get(f"/cases/{case['id']}/stix/objects/indicator--00000000-0000-4000-8000-000000000000"
                   ).status_code == 404


def test_a_session_keeps_its_five_newest_uploads_waiting(api, login, open_case, settings):
    analyst = api("analyst")
    case = open_case(analyst)
    web = login("analyst")
    web.get(f"/cases/{case['id']}/indicators")
    uploads = settings.instance_dir / "stix-uploads"
    before = set(uploads.iterdir()) if uploads.is_dir() else set()
    tokens = []
    for n in range(7):
        data = json.dumps(bundle_of(indicator(f"[ipv4-addr:value = '203.0.113.{n}']"))).encode()
        html = upload(web, case, data).get_data(as_text=True)
        tokens.append(re.search(r'name="token" value="([^"]+)"', html).group(1))
    assert len(set(uploads.iterdir()) - before) == 5  # the two oldest were removed with their tickets
    for token in tokens[:2]:
        assert web.post(f"/cases/{case['id']}/stix/confirm", {"token": token}).status_code == 422
    for token in tokens[2:]:
        assert web.post(f"/cases/{case['id']}/stix/confirm", {"token": token}).status_code == 302
    assert analyst.get(f"/api/v1/cases/{case['id']}/indicators").get_json()["total"] == 5


def test_an_upload_past_the_size_limit_is_413_and_nothing_waits(api, open_case, make_app, make_user, settings):
    analyst = api("analyst")
    case = open_case(analyst)
    make_user("analyst", "limited")
    web = WebClient(make_app(max_bundle_bytes=4096).test_client())
    assert web.login("limited").status_code == 302
    uploads = settings.instance_dir / "stix-uploads"
    before = set(uploads.iterdir()) if uploads.is_dir() else set()
    large = bundle_of(*(indicator(f"[ipv4-addr:value = '203.0.113.{n}']") for n in range(20)))
    refused = upload(web, case, json.dumps(large).encode())
    assert refused.status_code == 413
    assert "larger than the maximum of 4,096 bytes" in refused.get_data(as_text=True)
    assert (set(uploads.iterdir()) if uploads.is_dir() else set()) == before


def test_an_upload_left_waiting_past_its_ttl_cannot_be_confirmed(api, login, open_case, settings):
    analyst = api("analyst")
    case = open_case(analyst)
    web = login("analyst")
    web.get(f"/cases/{case['id']}/indicators")
    uploads = settings.instance_dir / "stix-uploads"
    before = set(uploads.iterdir()) if uploads.is_dir() else set()
    summary = upload(web, case, json.dumps(bundle_of(indicator("[ipv4-addr:value = '203.0.113.5']"))).encode())
    token = re.search(r'name="token" value="([^"]+)"', summary.get_data(as_text=True)).group(1)
    (staged,) = set(uploads.iterdir()) - before
    a_day_ago = time.time() - staging.TTL - 60
    os.utime(staged, (a_day_ago, a_day_ago))
    late = web.post(f"/cases/{case['id']}/stix/confirm", {"token": token})
    assert late.status_code == 422
    assert "no longer waiting" in late.get_data(as_text=True)
    assert analyst.get(f"/api/v1/cases/{case['id']}/indicators").get_json()["total"] == 0
