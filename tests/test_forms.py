"""Every POST form of the web UI, submitted as the page renders it (tests/forms.py).

Each test loads the page, takes the form from it and submits it with the rendered defaults,
filling only what a user would type or choose, then checks what the user sees next. The crawl
test signs in as each role, walks the pages of a case that has evidence and indicators, and fails
when it meets a POST form whose endpoint no test here covers: a new form needs a test.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pyotp
import pytest
from flask import Flask

from casemgr.evidence.keyring import KEYRING_FILE, Keyring
from tests.conftest import PASSWORD, WebClient
from tests.evidence.conftest import multipart
from tests.forms import form_on, forms_of

COVERED: set[str] = set()  # endpoints of the forms the tests below submit


def covers(*endpoints: str) -> Callable[[Any], Any]:
    COVERED.update(endpoints)
    return lambda test: test


@pytest.fixture(autouse=True)
def keyring(instance_dir: Path) -> Keyring:
    return Keyring.create(instance_dir / KEYRING_FILE)


@pytest.fixture
def world(app: Flask, api: Callable[..., Any], make_user: Callable[..., Any],
          make_team: Callable[..., Any]) -> dict[str, Any]:
    """A case owned by ann with an evidence item and an indicator, a second case, and one
    signed-in web client per role."""
    ann = api("analyst", "ann")
    make_user("manager", "mia")
    make_user("auditor", "aud")
    make_user("admin", "adm")
    make_user("analyst", "bob")
    fields = {"description": "Fake invoices.", "category": "fraud", "subcategory": "phishing",
              "impact": "medium", "urgency": "high", "owner": "ann"}
    case = ann.post("/api/v1/cases", json={"title": "Phishing wave", **fields}).get_json()
    other = ann.post("/api/v1/cases", json={"title": "Same phishing, reported twice", **fields}).get_json()
    body, content_type = multipart(b"From: ceo@evil.example\r\n\r\nPay now.", "mail.eml",
                                   description="the reported mail")
    upload = ann.post(f"/api/v1/cases/{case['id']}/evidence", data=body, content_type=content_type)
    assert upload.status_code == 201, upload.get_json()
    added = ann.post(f"/api/v1/cases/{case['id']}/indicators", json={"type": "domain-name", "value": "evil.example"})
    assert added.status_code == 201, added.get_json()
    noted = ann.post(f"/api/v1/cases/{case['id']}/notes", json={"body": "Three users clicked."})
    assert noted.status_code == 201, noted.get_json()  # a note, so that its edit and retract forms are shown

    def signed_in(username: str) -> WebClient:
        client = WebClient(app.test_client())
        assert client.login(username).status_code == 302
        return client

    team = make_team("Night shift", members=["bob"])  # so that the crawl meets a team's page and its forms

    return {"case": case, "other": other, "evidence_id": upload.get_json()["id"], "web": signed_in,
            "team_id": team.id,
            "analyst": signed_in("ann"), "manager": signed_in("mia"), "auditor": signed_in("aud"),
            "admin": signed_in("adm")}


def followed(client: WebClient, response: Any) -> str:
    """The page a browser shows after the form: the redirect's target, or the response itself."""
    if response.status_code in (302, 303):
        return client.get(response.headers["Location"]).get_data(as_text=True)  # type: ignore[no-any-return]
    return response.get_data(as_text=True)  # type: ignore[no-any-return]


def _alerts(html: str) -> list[str]:
    """The error boxes of a page (for a failure's message)."""
    return [" ".join(re.sub(r"<[^>]+>", " ", m).split()) for m in re.findall(r'role="alert"[^>]*>(.*?)</', html, re.S)]


def ok(client: WebClient, response: Any) -> str:
    shown = _alerts(response.get_data(as_text=True))
    assert response.status_code in (200, 201, 302, 303), (response.status_code, shown)
    return followed(client, response)


# ---------------------------------------------------------------- cases


@covers("cases.create")
def test_new_case(world):
    web = world["analyst"]
    form = form_on(web, "/cases/new", action="/cases/new")
    page = ok(web, form.submit(web, {"title": "Laptop stolen", "category": "other", "impact": "low",
                                     "urgency": "low"}))
    assert "Laptop stolen" in page
    assert "opened." in page


@covers("cases.edit")
def test_edit_case(world):
    web, case = world["analyst"], world["case"]
    form = form_on(web, f"/cases/{case['id']}/edit", testid="case-form")
    page = ok(web, form.submit(web, {"title": "Phishing wave (finance)"}))
    assert "Case saved." in page
    assert "Phishing wave (finance)" in page


@covers("cases.transition")
def test_move_case_to_triage(world):
    web, case = world["analyst"], world["case"]
    form = form_on(web, f"/cases/{case['id']}", action="/transition", has="to")
    page = ok(web, form.submit(web))
    assert "Case moved to" in page


def test_resolve_case(world):
    web, case = world["analyst"], world["case"]
    forms = [f for f in forms_of(web.get(f"/cases/{case['id']}").get_data(as_text=True), f"/cases/{case['id']}")
             if f.attrs.get("data-to") == "resolved"]
    assert forms, "no resolve form"
    page = ok(web, forms[0].submit(web, {"resolution": "remediated", "summary": "Mails purged, passwords reset."}))
    assert "Case moved to resolved." in page


def test_resolve_as_duplicate_by_reference(world):
    web, case, other = world["analyst"], world["case"], world["other"]
    url = f"/cases/{other['id']}"
    resolve = next(f for f in forms_of(web.get(url).get_data(as_text=True), url)
                   if f.attrs.get("data-to") == "resolved")
    page = ok(web, resolve.submit(web, {"resolution": "duplicate", "summary": "Reported twice.",
                                        "duplicate_of": case["reference"]}))
    assert f'data-testid="duplicate-of">{case["reference"]}' in page


@covers("cases.escalate")
def test_escalate(world):
    web, case = world["analyst"], world["case"]
    form = form_on(web, f"/cases/{case['id']}", testid="escalate-form")
    page = ok(web, form.submit(web, {"reason": "Finance director targeted."}))
    assert "Case escalated." in page


@covers("cases.acknowledge_escalation")
def test_acknowledge_an_escalation_from_the_home_page(world):
    web, case = world["analyst"], world["case"]
    ok(web, form_on(web, f"/cases/{case['id']}", testid="escalate-form").submit(web, {"reason": "CFO targeted."}))
    manager = world["manager"]
    form = form_on(manager, "/", testid="acknowledge-form")
    page = ok(manager, form.submit(manager))
    assert "Escalation acknowledged; it is on the case&#39;s timeline." in page
    assert "Escalation acknowledged by mia" in manager.get(f"/cases/{case['id']}/timeline").get_data(as_text=True)


@covers("cases.bulk")
def test_bulk_tag_from_the_case_list(world):
    web, case, other = world["manager"], world["case"], world["other"]
    form = form_on(web, "/cases", testid="bulk-form")
    page = ok(web, form.submit(web, {"cases": True, "action": "tag", "tag": "finance"}))
    assert "2 cases changed, 0 already so, 0 refused." in page
    for c in (case, other):
        assert '<span class="tag">finance</span>' in web.get(f"/cases/{c['id']}").get_data(as_text=True)


@covers("cases.assign_role", "cases.release_role")
def test_assign_hand_over_and_release_an_incident_role(world):
    web, case = world["analyst"], world["case"]  # ann owns the case: she names its incident roles
    form = form_on(web, f"/cases/{case['id']}", testid="role-form-scribe")
    page = ok(web, form.submit(web, {"user": "bob"}))
    assert "Incident role assigned." in page
    row = page.split('data-role="scribe"')[1].split("</tr>")[0]
    assert "bob" in row
    page = ok(web, form_on(web, f"/cases/{case['id']}", testid="role-form-scribe").submit(web, {"user": "ann"}))
    row = page.split('data-role="scribe"')[1].split("</tr>")[0]
    assert "1 before" in row
    page = ok(web, form_on(web, f"/cases/{case['id']}", testid="release-form-scribe").submit(web))
    assert "Incident role released." in page
    assert "no one" in page.split('data-role="scribe"')[1].split("</tr>")[0]


def test_assigning_a_role_without_choosing_someone_says_so_in_its_panel(world):
    web, case = world["analyst"], world["case"]
    response = form_on(web, f"/cases/{case['id']}", testid="role-form-deputy").submit(web)
    assert response.status_code == 422
    row = response.get_data(as_text=True).split('data-role="deputy"')[1].split("</tr>")[0]
    assert 'role="alert" data-field="user"' in row
    assert "<details class=\"action\" open>" in row


@covers("cases.link")
def test_link_related_case_by_reference(world):
    web, case, other = world["analyst"], world["case"], world["other"]
    form = form_on(web, f"/cases/{case['id']}", testid="link-form")
    page = ok(web, form.submit(web, {"case": other["reference"]}))
    assert "Cases linked." in page
    assert other["reference"] in page.split('data-testid="related-cases"')[1].split("</ul>")[0]


def test_link_to_an_unknown_reference_says_so(world):
    web, case = world["analyst"], world["case"]
    form = form_on(web, f"/cases/{case['id']}", testid="link-form")
    response = form.submit(web, {"case": "IR-1999-0042"})
    assert response.status_code == 422
    assert "there is no case IR-1999-0042" in response.get_data(as_text=True)


@covers("cases.override_priority")
def test_override_priority(world):
    web, case = world["manager"], world["case"]
    form = form_on(web, f"/cases/{case['id']}", testid="priority-form")
    page = ok(web, form.submit(web, {"priority_override": "P1", "priority_reason": "CFO affected"}))
    assert "P1" in page


@covers("cases.add_note")
def test_add_note(world):
    web, case = world["analyst"], world["case"]
    form = form_on(web, f"/cases/{case['id']}/timeline", testid="note-form")
    page = ok(web, form.submit(web, {"body": "Three users clicked."}))
    assert "Three users clicked." in page


@covers("cases.add_event")
def test_add_event(world):
    web, case = world["analyst"], world["case"]
    form = form_on(web, f"/cases/{case['id']}/timeline", testid="event-form")
    page = ok(web, form.submit(web, {"occurred_at": "2026-01-05T09:12", "summary": "First mail delivered"}))
    assert "First mail delivered" in page


@covers("cases.edit_entry")
def test_edit_a_note_keeps_the_earlier_text(world):
    web, case = world["analyst"], world["case"]
    form = form_on(web, f"/cases/{case['id']}/timeline", testid="edit-entry-form")
    assert form.data()[1] == ("body", "Three users clicked.")  # the form shows the text to correct
    page = ok(web, form.submit(web, {"body": "Four users clicked."}))
    assert "Entry corrected" in page
    assert "Four users clicked." in page
    assert "edited by ann" in page
    revisions = page.split('data-testid="revisions"')[1].split("</details>")[0]
    assert "Three users clicked." in revisions


def test_edit_an_event_as_rendered_changes_only_what_the_user_changed(world):
    web, case = world["analyst"], world["case"]
    form = form_on(web, f"/cases/{case['id']}/timeline", testid="event-form")
    ok(web, form.submit(web, {"occurred_at": "2026-01-05T09:12", "summary": "First mail delivered",
                              "body": "From the gateway log."}))
    url = f"/cases/{case['id']}/timeline"
    edit = next(f for f in forms_of(web.get(url).get_data(as_text=True), url)
                if f.attrs.get("data-testid") == "edit-entry-form" and "occurred_at" in f.names())
    page = ok(web, edit.submit(web, {"summary": "First mail delivered to the CFO"}))
    assert "First mail delivered to the CFO" in page
    assert "2026-01-05 09:12 UTC" in page  # the time, sent back as rendered, is unchanged
    assert "From the gateway log." in page
    future = next(f for f in forms_of(web.get(url).get_data(as_text=True), url)
                  if f.attrs.get("data-testid") == "edit-entry-form" and "occurred_at" in f.names())
    response = future.submit(web, {"occurred_at": "2027-06-01T10:00:00"})
    assert response.status_code == 422
    assert "2027-06-01 10:00 UTC is in the future" in response.get_data(as_text=True)


@covers("cases.retract_entry")
def test_retract_a_note_with_a_reason(world):
    web, case = world["analyst"], world["case"]
    form = form_on(web, f"/cases/{case['id']}/timeline", testid="retract-entry-form")
    refused = form.submit(web)  # as rendered: no reason typed
    assert refused.status_code == 422
    assert 'data-field="reason"' in refused.get_data(as_text=True)
    page = ok(web, form.submit(web, {"reason": "Posted on the wrong case."}))
    assert "Entry retracted" in page
    struck = page.split('data-testid="retracted-text"')[1].split("</del>")[0]
    assert "Three users clicked." in struck
    assert "Retracted by ann" in page
    assert "Posted on the wrong case." in page
    auditor_page = world["auditor"].get(f"/cases/{case['id']}/timeline").get_data(as_text=True)
    assert "Three users clicked." in auditor_page.split('data-testid="retracted-text"')[1]
    assert "Posted on the wrong case." in auditor_page
    assert 'data-testid="retract-entry-form"' not in page  # a retracted entry has no more correction forms


def test_the_event_form_refuses_a_future_date(world):
    web, case = world["analyst"], world["case"]
    form = form_on(web, f"/cases/{case['id']}/timeline", testid="event-form")
    response = form.submit(web, {"occurred_at": "2027-06-01T10:00", "summary": "Mail delivered"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'data-field="occurred_at"' in html
    assert "2027-06-01 10:00 UTC is in the future" in html
    assert "Mail delivered</td>" not in html


# ---------------------------------------------------------------- evidence


@covers("evidence.download")
def test_download_evidence(world):
    web, item = world["analyst"], world["evidence_id"]
    form = form_on(web, f"/evidence/{item}", action="/download")
    response = form.submit(web, {"purpose": "read the headers"})
    assert response.status_code == 200
    assert response.get_data() == b"From: ceo@evil.example\r\n\r\nPay now."


@covers("evidence.verify")
def test_verify_evidence(world):
    web, item = world["auditor"], world["evidence_id"]
    form = form_on(web, f"/evidence/{item}", action="/verify")
    page = ok(web, form.submit(web))
    assert "verified" in page


def test_a_new_item_shows_it_was_hashed_at_intake_until_verified(world):
    web, item, case = world["analyst"], world["evidence_id"], world["case"]
    page = web.get(f"/evidence/{item}").get_data(as_text=True)
    integrity = page.split('data-testid="evidence-integrity">')[1].split("</td>")[0]
    assert integrity.startswith("hashed at intake, <time datetime=")
    assert "nverified" not in integrity
    listed = web.get(f"/cases/{case['id']}/evidence").get_data(as_text=True)
    assert ">hashed at intake</span>" in listed.split('data-testid="integrity"')[1]
    verified = ok(web, form_on(web, f"/evidence/{item}", action="/verify").submit(web))
    integrity = verified.split('data-testid="evidence-integrity">')[1].split("</td>")[0]
    assert "hashed at intake" not in integrity
    assert "(checked <time" in integrity


@covers("evidence.custody_action")
def test_custody_actions(world):
    web, item = world["analyst"], world["evidence_id"]
    page = ok(web, form_on(web, f"/evidence/{item}", action="/seal").submit(web, {"reason": "keep as is"}))
    assert "sealed" in page
    page = ok(web, form_on(web, f"/evidence/{item}", action="/release").submit(web, {"reason": "need it"}))
    page = ok(web, form_on(web, f"/evidence/{item}", action="/transfer").submit(web, {"to": "bob",
                                                                                    "reason": "night shift"}))
    assert "bob" in page
    manager = world["manager"]
    dispose = form_on(manager, f"/evidence/{item}", action="/dispose")
    page = ok(manager, dispose.submit(manager, {"reason": "retention"}))
    assert "disposed" in page


@covers("evidence.correct_provenance")
def test_correct_evidence_provenance(world):
    web, item = world["analyst"], world["evidence_id"]
    form = form_on(web, f"/evidence/{item}", testid="provenance-form")
    page = ok(web, form.submit(web, {"collected_by": "ann", "reason": "ann exported the mail"}))
    assert "Provenance corrected" in page
    assert "collected by: <span class=\"muted\">none</span> → “ann”" in page


@covers("evidence.export_case")
def test_export_evidence(world):
    web, case = world["manager"], world["case"]
    form = form_on(web, f"/cases/{case['id']}/evidence", action="/evidence/export")
    response = form.submit(web)
    assert response.status_code == 200
    assert response.mimetype == "application/zip"


@covers("evidence.settings")
def test_evidence_settings(world):
    web = world["admin"]
    form = form_on(web, "/admin/evidence", action="/admin/evidence")
    page = ok(web, form.submit(web))
    assert "auditor" in page.lower()


# ---------------------------------------------------------------- indicators


@covers("indicators.add")
def test_add_indicator_value_and_pattern(world):
    web, case = world["analyst"], world["case"]
    url = f"/cases/{case['id']}/indicators"
    form = form_on(web, url, action="/indicators/add", has="value")
    page = ok(web, form.submit(web, {"type": "ipv4-addr", "value": "203.0.113.7"}))
    assert "203.0.113.7" in page
    form = form_on(web, url, action="/indicators/add", has="pattern")
    page = ok(web, form.submit(web, {"pattern": "[ipv4-addr:value = '198.51.100.9']"}))
    assert "198.51.100.9" in page


@covers("indicators.extract", "indicators.accept")
def test_extract_then_accept(world):
    web, case = world["analyst"], world["case"]
    form = form_on(web, f"/cases/{case['id']}/indicators", action="/indicators/extract")
    response = form.submit(web, {"text": "Callback to 45.77.12.9 and collect.evil-payments.com"})
    assert response.status_code == 200, response.get_data(as_text=True)
    review = next(f for f in forms_of(response.get_data(as_text=True), f"/cases/{case['id']}/indicators/extract")
                  if f.attrs.get("data-testid") == "candidate-review")
    page = ok(web, review.submit(web))
    assert "45.77.12.9" in page
    assert "collect.evil-payments.com" in page


@covers("indicators.upload", "indicators.confirm")
def test_upload_then_confirm_a_bundle(world):
    web, case = world["analyst"], world["case"]
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    bundle = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": [{
        "type": "indicator", "spec_version": "2.1", "id": f"indicator--{uuid.uuid4()}", "created": now,
        "modified": now, "pattern": "[ipv4-addr:value = '192.0.2.77']", "pattern_type": "stix", "valid_from": now}]}
    form = form_on(web, f"/cases/{case['id']}/indicators", action="/stix/upload")
    response = form.submit(web, {"bundle": (json.dumps(bundle).encode(), "bundle.json")})
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    confirm = next(f for f in forms_of(response.get_data(as_text=True), f"/cases/{case['id']}/stix/upload")
                   if f.attrs.get("data-testid") == "import-confirm")
    page = ok(web, confirm.submit(web))
    assert "192.0.2.77" in page


@covers("indicators.change_tlp", "indicators.revoke")
def test_change_the_tlp_then_revoke_an_indicator(world):
    web, case = world["analyst"], world["case"]
    tab = web.get(f"/cases/{case['id']}/indicators").get_data(as_text=True)
    stix_id = re.search(r"/stix/objects/(indicator--[0-9a-f-]+)", tab).group(1)  # the seeded evil.example
    url = f"/cases/{case['id']}/stix/objects/{stix_id}"
    page = ok(web, form_on(web, url, testid="tlp-form").submit(web, {"tlp": "amber+strict",
                                                                     "reason": "internal only"}))
    assert ">TLP:AMBER+STRICT</span>" in page
    page = ok(web, form_on(web, url, testid="revoke-form").submit(web, {"reason": "a partner's domain"}))
    assert 'data-testid="revoked"' in page
    assert "a partner&#39;s domain" in page


# ---------------------------------------------------------------- audit


@covers("audit.verify", "audit.checkpoint")
def test_audit_forms(world):
    web = world["auditor"]
    page = ok(web, form_on(web, "/audit", action="/audit/verify").submit(web))
    assert "intact" in page.lower()
    page = ok(web, form_on(web, "/audit", action="/audit/checkpoints").submit(web))
    assert "checkpoint" in page.lower()


@covers("audit.export")
def test_audit_export_form(world):
    web, case = world["auditor"], world["case"]
    form = form_on(web, f"/audit?case={case['reference']}", testid="audit-export")
    response = form.submit(web)  # JSON lines, the format the page selects
    assert response.status_code == 200
    assert response.mimetype == "application/x-ndjson"
    records = [json.loads(line) for line in response.get_data(as_text=True).splitlines()]
    assert records[0]["filters"] == {"case": case["reference"]}
    assert {r["entry"]["action"] for r in records if r["type"] == "entry"} >= {"case.create", "evidence.acquired"}
    assert records[-1]["type"] == "checkpoint"


# ---------------------------------------------------------------- accounts


@covers("auth.login", "auth.logout")
def test_login_and_logout(app, world):
    web = WebClient(app.test_client())
    form = form_on(web, "/login", action="/login")
    response = form.submit(web, {"username": "ann", "password": PASSWORD})
    assert response.status_code == 302
    page = followed(web, response)
    assert "Phishing wave" in page
    response = form_on(web, "/", action="/logout").submit(web)
    assert response.status_code == 302
    assert web.get("/").status_code == 302  # signed out: sent to the sign-in page


@covers("auth.create_token", "auth.revoke_token")
def test_create_and_revoke_a_token(world):
    web = world["analyst"]
    page = ok(web, form_on(web, "/account", action="/account/tokens", has="name").submit(web))
    assert 'data-testid="new-token"' in page
    page = ok(web, form_on(web, "/account", action="/revoke").submit(web))
    assert "revoked" in page


def test_create_a_token_that_never_expires(world):
    web = world["analyst"]
    page = ok(web, form_on(web, "/account", action="/account/tokens", has="name").submit(web, {"expires_days": ""}))
    assert 'data-testid="new-token"' in page


@covers("auth.change_password")
def test_change_password(world):
    web = world["analyst"]
    form = form_on(web, "/account", action="/account/password")
    page = ok(web, form.submit(web, {"current_password": PASSWORD, "new_password": "another long passphrase 7"}))
    assert "Your password was changed." in page
    fresh = world["web"]
    with pytest.raises(AssertionError):
        fresh("ann")  # the old password no longer signs in


@covers("auth.mfa_enroll", "auth.mfa")
def test_enroll_an_authenticator_then_sign_in_with_it(app, world):
    web = world["analyst"]
    begun = form_on(web, "/account/mfa", has="action").submit(web)
    assert begun.status_code == 200
    html = begun.get_data(as_text=True)
    secret = re.search(r"secret=([A-Z2-7]+)", html)[1]  # type: ignore[index]
    form = next(f for f in forms_of(html, "/account/mfa") if "code" in f.names())
    ok(web, form.submit(web, {"code": pyotp.TOTP(secret).now()}))
    assert 'badge ok">on' in web.get("/account").get_data(as_text=True)
    fresh = WebClient(app.test_client())
    response = form_on(fresh, "/login", action="/login").submit(fresh, {"username": "ann", "password": PASSWORD})
    assert response.headers["Location"].endswith("/login/mfa")
    # The code just used may not be used again: the next one (a code is accepted 30 s early).
    next_code = pyotp.TOTP(secret).at(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30))
    response = form_on(fresh, "/login/mfa", has="code").submit(fresh, {"code": next_code})
    assert response.status_code == 302
    # and turned off again with the password
    form = form_on(web, "/account", testid="mfa-recovery-codes")
    renewed = ok(web, form.submit(web, {"password": PASSWORD}))
    assert len(re.findall(r"<li>[a-z2-9]{4}(?:-[a-z2-9]{4}){3}</li>", renewed)) == 10
    form = form_on(web, "/account", testid="mfa-disable")
    ok(web, form.submit(web, {"password": PASSWORD}))
    assert 'badge">off' in web.get("/account").get_data(as_text=True)


@covers("auth.admin_reset_password", "auth.admin_create_user", "auth.admin_update_user", "auth.admin_mfa_policy")
def test_admin_forms(world):
    web = world["admin"]
    form = form_on(web, "/admin/users", has="username")
    page = ok(web, form.submit(web, {"username": "carl", "password": "a long enough passphrase"}))
    assert 'data-testid="user-carl"' in page
    role = form_on(web, "/admin/users", action="/admin/users/carl", has="role")
    ok(web, role.submit(web, {"role": "manager"}))
    disable = form_on(web, "/admin/users", action="/admin/users/carl", has="disabled")
    page = ok(web, disable.submit(web))
    row = page.split('data-testid="user-carl"')[1].split("</tr>")[0]
    assert "disabled" in row
    assert '<option value="manager" selected' in row
    reset = form_on(web, "/admin/users", action="/admin/users/carl/reset-password")
    page = ok(web, reset.submit(web))
    assert re.search(r'data-testid="temporary-password">\S{12,}<', page)
    assert "carl must choose a new one at the next sign-in" in page
    policy = form_on(web, "/admin/users", action="/admin/settings/mfa")
    page = ok(web, policy.submit(web, {"required_roles": "auditor"}))
    assert 'value="auditor" checked' in page


# ---------------------------------------------------------------- teams


@covers("teams.create", "teams.edit", "teams.add_member", "teams.remove_member", "teams.retire")
def test_team_forms(world):
    web = world["admin"]
    new = form_on(web, "/admin/teams", testid="new-team-form")
    page = ok(web, new.submit(web, {"name": "CERT", "lead": "mia", "members": ["ann"],
                                    "contact_email": "cert@example.org"}))
    assert "Team CERT created." in page
    assert 'data-testid="member-ann"' in page
    assert "mia (lead)" in page
    url = re.search(r'action="(/admin/teams/\d+)"', page).group(1)
    edit = form_on(web, url, testid="team-form")
    page = ok(web, edit.submit(web, {"name": "CERT-EU", "description": "Forensics and malware"}))
    assert "Team CERT-EU saved." in page
    assert "cert@example.org" in page
    add = form_on(web, url, testid="add-member-form")
    page = ok(web, add.submit(web, {"username": "bob"}))
    assert "Member added to team CERT-EU." in page
    assert 'data-testid="member-bob"' in page
    remove = form_on(web, url, action="/members/bob/remove")
    page = ok(web, remove.submit(web))
    assert "bob removed from team CERT-EU." in page
    assert 'data-testid="member-bob"' not in page
    refused = form_on(web, url, action="/members/mia/remove").submit(web)
    assert refused.status_code == 422
    assert "name another lead" in refused.get_data(as_text=True)
    retire = form_on(web, url, testid="retire-form")
    page = ok(web, retire.submit(web))
    assert "Team CERT-EU retired" in page
    assert 'data-testid="team-retired"' in page


def test_a_manager_gives_a_case_a_team_from_the_select_and_hands_it_on(world, app):
    admin, manager, case = world["admin"], world["manager"], world["case"]
    for name in ("SOC", "CERT"):
        ok(admin, form_on(admin, "/admin/teams", testid="new-team-form").submit(admin, {"name": name}))
    edit = form_on(manager, f"/cases/{case['id']}/edit", testid="case-form")
    page = ok(manager, edit.submit(manager, {"team": "SOC"}))
    assert "Case saved." in page
    assert re.search(r"<dt>Team</dt><dd>SOC", page)
    escalate = form_on(manager, f"/cases/{case['id']}", testid="escalate-form")
    page = ok(manager, escalate.submit(manager, {"kind": "functional", "to_team": "CERT", "reason": "forensics"}))
    assert re.search(r"<dt>Team</dt><dd>CERT", page)
    blank = form_on(manager, f"/cases/{case['id']}/edit", testid="case-form")
    page = ok(manager, blank.submit(manager, {"team": ""}))  # the blank choice: no team
    assert re.search(r"<dt>Team</dt><dd>—", page)


# ---------------------------------------------------------------- incident role kinds


@covers("role_kinds.create", "role_kinds.edit", "role_kinds.retire", "role_kinds.restore")
def test_incident_role_kind_forms(world):
    web = world["admin"]
    page = web.get("/admin/incident-roles").get_data(as_text=True)
    assert 'data-testid="kind-incident_commander"' in page
    assert "retire-form-incident_commander" not in page  # a built-in role is never retired
    new = form_on(web, "/admin/incident-roles", testid="new-kind-form")
    page = ok(web, new.submit(web, {"code": "forensics_lead", "label": "Forensics lead",
                                    "description": "Runs the disk imaging."}))
    assert "Incident role Forensics lead added (code forensics_lead)." in page
    assert "Runs the disk imaging." in page.split('data-testid="kind-forensics_lead"')[1].split("</tr>")[0]
    again = form_on(web, "/admin/incident-roles", testid="new-kind-form").submit(
        web, {"code": "forensics_lead", "label": "Again"})
    assert again.status_code == 409
    refused = again.get_data(as_text=True).split("New incident role")[1]
    assert "there is an incident role &#39;forensics_lead&#39; already" in refused
    assert 'value="Again"' in refused  # the user's values stay in the form
    edit = form_on(web, "/admin/incident-roles", testid="kind-form-forensics_lead")
    page = ok(web, edit.submit(web, {"label": "Forensic lead", "description": ""}))
    assert "Incident role Forensic lead saved." in page
    row = page.split('data-testid="kind-forensics_lead"')[1].split("</tr>")[0]
    assert 'value="Forensic lead"' in row
    assert "Runs the disk imaging." not in row
    retire = form_on(web, "/admin/incident-roles", testid="retire-form-forensics_lead")
    page = ok(web, retire.submit(web))
    assert "Incident role Forensic lead retired" in page
    assert 'data-testid="kind-retired"' in page.split('data-testid="kind-forensics_lead"')[1].split("</tr>")[0]
    case_page = world["manager"].get(f"/cases/{world['case']['id']}").get_data(as_text=True)
    assert 'data-role="forensics_lead"' not in case_page  # retired, and this case never had it
    restore = form_on(web, "/admin/incident-roles", testid="restore-form-forensics_lead")
    page = ok(web, restore.submit(web))
    assert "Incident role Forensic lead can be assigned again." in page
    case_page = world["manager"].get(f"/cases/{world['case']['id']}").get_data(as_text=True)
    assert 'data-role="forensics_lead"' in case_page
    audit = web.get("/audit").get_data(as_text=True)
    assert "incident_role_kind.create" in audit
    assert "incident_role_kind.update" in audit
    assert world["manager"].get("/admin/incident-roles").status_code == 403


# ---------------------------------------------------------------- custom roles


@covers("auth.admin_create_role", "auth.admin_update_role", "auth.admin_delete_role")
def test_role_forms(world):
    web = world["admin"]
    new = form_on(web, "/admin/roles", testid="new-role-form")
    page = ok(web, new.submit(web, {"code": "tier-1", "name": "Tier-1 analyst", "description": "First line",
                                    "permissions": ["case.view", "case.edit", "evidence.upload"]}))
    assert "Role Tier-1 analyst (tier-1) was created." in page
    assert 'value="case.edit" checked' in page
    edit = form_on(web, "/admin/roles/tier-1", testid="role-form")
    page = ok(web, edit.submit(web, {"permissions": ["case.view", "case.create"]}))  # the rest as rendered
    assert "Role Tier-1 analyst was saved" in page
    assert 'value="case.create" checked' in page
    assert 'value="case.edit" checked' not in page
    assert "First line" in page
    refused = form_on(web, "/admin/roles", testid="new-role-form").submit(web, {"code": "admin", "name": "Mine"})
    assert refused.status_code == 409
    assert "built-in role" in refused.get_data(as_text=True)
    users = form_on(web, "/admin/users", action="/admin/users/bob", has="role")
    page = ok(web, users.submit(web, {"role": "tier-1"}))
    assert '<option value="tier-1" selected' in page.split('data-testid="user-bob"')[1]
    in_use = form_on(web, "/admin/roles/tier-1", testid="delete-role-form").submit(web)
    assert in_use.status_code == 409
    assert "role of 1 account(s)" in in_use.get_data(as_text=True)
    ok(web, form_on(web, "/admin/users", action="/admin/users/bob", has="role").submit(web, {"role": "analyst"}))
    page = ok(web, form_on(web, "/admin/roles/tier-1", testid="delete-role-form").submit(web))
    assert "Role Tier-1 analyst (tier-1) was deleted." in page


# ---------------------------------------------------------------- custom case fields


@covers("case_fields.create", "case_fields.edit", "case_fields.retire")
def test_custom_field_forms_and_a_value_on_the_case_forms(world):
    admin, web, case = world["admin"], world["analyst"], world["case"]
    new = form_on(admin, "/admin/case-fields", testid="new-case-field-form")
    page = ok(admin, new.submit(admin, {"code": "employee_id", "type": "text", "label": "Employee id",
                                        "category": "fraud", "max_length": "12",
                                        "help_text": "The HR id of the employee concerned."}))
    assert "Custom field Employee id created." in page
    edit = form_on(admin, "/admin/case-fields/employee_id", testid="case-field-form")
    page = ok(admin, edit.submit(admin, {"label": "Employee number"}))
    assert "Custom field Employee number saved." in page
    assert 'value="12"' in page  # the settings not changed stay as they were

    form = form_on(web, f"/cases/{case['id']}/edit", testid="case-form")
    page = ok(web, form.submit(web, {"field.employee_id": "E-1042"}))
    assert 'data-testid="custom-employee_id">E-1042' in page
    too_long = form_on(web, f"/cases/{case['id']}/edit", testid="case-form").submit(
        web, {"field.employee_id": "E-" + "9" * 20})
    assert too_long.status_code == 422
    shown = too_long.get_data(as_text=True)
    assert 'data-field="custom_fields.employee_id"' in shown
    assert "Employee number may be at most 12 characters long (this is 22)" in shown

    retire = form_on(admin, "/admin/case-fields/employee_id", testid="retire-case-field-form")
    assert "retired: the values recorded stay readable" in ok(admin, retire.submit(admin))
    page = web.get(f"/cases/{case['id']}").get_data(as_text=True)
    assert 'data-testid="custom-employee_id">E-1042' in page
    assert "custom-field-employee_id" not in web.get(f"/cases/{case['id']}/edit").get_data(as_text=True)
    back = form_on(admin, "/admin/case-fields/employee_id", testid="retire-case-field-form")
    assert "in use again" in ok(admin, back.submit(admin))


# ---------------------------------------------------------------- every form has a test


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if tag == "a" and href and href.startswith("/") and not href.startswith("//"):
            self.hrefs.append(href.split("#")[0])


def _crawl(app: Flask, web: WebClient, start: list[str], limit: int = 60) -> dict[str, str]:
    """The POST forms (endpoint -> a page showing one) on the pages reachable from `start`, one
    page per URL path (pagination and sort links add nothing)."""
    adapter = app.url_map.bind("localhost")
    seen: set[str] = set()
    queue = list(start)
    found: dict[str, str] = {}
    while queue and len(seen) < limit:
        url = queue.pop(0)
        path = url.split("?")[0]
        if path in seen or path.startswith(("/static", "/api/")) or path.endswith(("/export", "/content")):
            continue
        seen.add(path)
        response = web.get(url)
        if response.status_code != 200 or response.mimetype != "text/html":
            continue
        html = response.get_data(as_text=True)
        for form in forms_of(html, url):
            if form.method == "post":
                endpoint, _ = adapter.match(form.url.split("?")[0], method="POST")
                found.setdefault(endpoint, url)
        links = _Links()
        links.feed(html)
        queue.extend(links.hrefs)
    return found


def test_every_form_of_every_role_has_a_test(app, world):
    case, item = world["case"], world["evidence_id"]
    start = ["/", f"/cases/{case['id']}", f"/cases/{case['id']}/evidence", f"/evidence/{item}",
             f"/cases/{case['id']}/indicators", "/account", "/admin/users", "/admin/evidence", "/audit",
             "/admin/teams", f"/admin/teams/{world['team_id']}", "/admin/incident-roles", "/admin/roles",
             "/admin/roles/analyst", "/admin/case-fields"]
    found: dict[str, str] = {}
    for role in ("analyst", "manager", "auditor", "admin"):
        for endpoint, page in _crawl(app, world[role], start).items():
            found.setdefault(endpoint, f"{page} as {role}")
    assert {"cases.link", "evidence.custody_action", "indicators.add", "auth.admin_create_user"} <= set(found)
    untested = {endpoint: page for endpoint, page in found.items() if endpoint not in COVERED}
    assert not untested, f"forms without a test in tests/test_forms.py: {untested}"
