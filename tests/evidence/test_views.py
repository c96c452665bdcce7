"""The evidence tab and item page: list with hashes, upload with the CSRF header, download with a
purpose, custody forms, role rules and the admin setting."""

from __future__ import annotations

import re

from .conftest import multipart, upload


def _text(response):
    return response.get_data(as_text=True)


def test_tab_lists_items_with_hashes(api, login, open_case):
    analyst = api("analyst")
    case = open_case(analyst)
    item = upload(analyst, case["id"], b"GET /admin HTTP/1.1\n", "access.log").get_json()
    page = login("analyst").get(f"/cases/{case['id']}/evidence")
    assert page.status_code == 200
    html = _text(page)
    assert 'data-tab="evidence" aria-current="page"' in html
    assert "access.log" in html
    assert item["sha256"] in html
    assert 'data-testid="evidence-upload"' in html
    assert "evidence.js" in html
    auditor_page = _text(login("auditor").get(f"/cases/{case['id']}/evidence"))
    assert "access.log" in auditor_page
    assert 'data-testid="evidence-upload"' not in auditor_page
    assert 'data-testid="export-button"' not in auditor_page
    assert 'data-testid="export-button"' in _text(login("manager").get(f"/cases/{case['id']}/evidence"))


def test_upload_route_needs_the_csrf_header(api, login, open_case, settings):
    case = open_case(api("analyst"))
    web = login("analyst")
    web.get(f"/cases/{case['id']}/evidence")
    body, content_type = multipart(b"screenshot", "shot.png")
    url = f"/cases/{case['id']}/evidence/upload"
    refused = web.client.post(url, data=body, content_type=content_type)
    assert refused.status_code == 400
    wrong = web.client.post(url, data=body, content_type=content_type, headers={"X-CSRFToken": "nope"})
    assert wrong.status_code == 400
    ok = web.client.post(url, data=body, content_type=content_type, headers={"X-CSRFToken": web.token})
    assert ok.status_code == 201
    assert ok.get_json()["url"] == f"/evidence/{ok.get_json()['id']}"
    anonymous = web.client.application.test_client().post(url, data=body, content_type=content_type)
    assert anonymous.status_code == 302  # to the login page, body never read


def test_item_page_download_needs_a_purpose(api, login, open_case):
    analyst = api("analyst")
    case = open_case(analyst)
    item = upload(analyst, case["id"], b"phish", "invoice.eml").get_json()
    web = login("analyst")
    page = _text(web.get(f"/evidence/{item['id']}"))
    assert item["md5"] in page
    assert 'name="purpose"' in page
    missing = web.post(f"/evidence/{item['id']}/download", {"purpose": ""})
    assert missing.status_code == 422
    assert 'data-field="purpose"' in _text(missing)
    got = web.post(f"/evidence/{item['id']}/download", {"purpose": "extract the sender's infrastructure"})
    assert got.status_code == 200
    assert got.get_data() == b"phish"
    assert 'filename="invoice.eml"' in got.headers["Content-Disposition"]
    timeline = _text(web.get(f"/evidence/{item['id']}"))
    assert "extract the sender&#39;s infrastructure" in timeline
    assert re.search(r'data-kind="downloaded"', timeline)


def test_auditor_verifies_but_does_not_download_until_allowed(api, login, open_case):
    analyst = api("analyst")
    item = upload(analyst, open_case(analyst)["id"], b"log").get_json()
    auditor = login("auditor")
    page = _text(auditor.get(f"/evidence/{item['id']}"))
    assert 'name="purpose"' not in page
    assert "may verify this item but not download" in page
    assert auditor.post(f"/evidence/{item['id']}/download", {"purpose": "audit sample"}).status_code == 403
    verified = auditor.post(f"/evidence/{item['id']}/verify", follow_redirects=True)
    assert "The content verified" in _text(verified)

    admin = login("admin")
    assert login("analyst").get("/admin/evidence").status_code == 403
    assert admin.post("/admin/evidence", {"auditor_can_download": "on"}).status_code == 302
    assert auditor.post(f"/evidence/{item['id']}/download", {"purpose": "audit sample"}).get_data() == b"log"


def test_custody_forms(api, login, open_case, make_user):
    analyst = api("analyst")
    make_user("analyst", "dave")
    case = open_case(analyst)
    item = upload(analyst, case["id"], b"disk").get_json()
    web = login("analyst")
    bad = web.post(f"/evidence/{item['id']}/transfer", {"to": "ghost", "reason": "handover"})
    assert bad.status_code == 422
    assert 'data-field="to"' in _text(bad)
    moved = web.post(f"/evidence/{item['id']}/transfer", {"to": "dave", "reason": "handover"}, follow_redirects=True)
    assert 'data-testid="evidence-custodian">dave' in _text(moved)
    sealed = web.post(f"/evidence/{item['id']}/seal", {"reason": "legal hold"}, follow_redirects=True)
    assert 'data-testid="evidence-state">sealed' in _text(sealed)
    assert web.post(f"/evidence/{item['id']}/dispose", {"reason": "done with it"}).status_code == 403
    manager = login("manager")
    page = _text(manager.get(f"/evidence/{item['id']}"))
    assert 'data-testid="dispose-held"' in page
    assert f'action="/evidence/{item["id"]}/dispose"' not in page
    held = manager.post(f"/evidence/{item['id']}/dispose", {"reason": "retention period ended"})
    assert held.status_code == 409
    assert "sealed (legal hold)" in _text(held)
    assert 'data-testid="evidence-state">sealed' in _text(manager.get(f"/evidence/{item['id']}"))
    manager.post(f"/evidence/{item['id']}/release", {"reason": "hold lifted by counsel"})
    gone = manager.post(f"/evidence/{item['id']}/dispose", {"reason": "retention period ended"}, follow_redirects=True)
    assert 'data-testid="evidence-state">disposed' in _text(gone)
    assert 'data-kind="disposed"' in _text(gone)


def test_restricted_case_evidence_is_404_to_outsiders(api, login, open_case):
    owner = api("analyst")
    case = open_case(owner, restricted=True)
    item = upload(owner, case["id"], b"insider").get_json()
    outsider = login("analyst")
    assert outsider.get(f"/cases/{case['id']}/evidence").status_code == 404
    assert outsider.get(f"/evidence/{item['id']}").status_code == 404
    assert outsider.post(f"/evidence/{item['id']}/download", {"purpose": "curious"}).status_code == 404
