"""Correcting indicators: revoking one and changing its TLP (a new STIX version each, the earlier one kept), in
the UI, the API and the CLI; and the TLP an object is shown with (its marking, or its case's)."""

from __future__ import annotations

import json
import re

from tests.forms import form_on
from tests.indicators.conftest import add, bundle_of, export, indicator, post_bundle

RED = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"  # TLP 2.0 RED
GREEN = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"  # TLP 2.0 GREEN


def timeline(client, case) -> list[dict]:
    return client.get(f"/api/v1/cases/{case['id']}/timeline?per_page=100").get_json()["items"]


def test_revoking_in_the_ui_keeps_the_earlier_version_and_leaves_correlation(api, login, open_case):
    analyst = api("analyst")
    case, other = open_case(analyst), open_case(analyst, title="Same domain seen again")
    first = add(analyst, case, "domain-name", "login.evil.example").get_json()
    add(analyst, other, "domain-name", "login.evil.example")
    assert case["reference"] in analyst.get(f"/api/v1/cases/{other['id']}/indicators").get_json()["items"][0][
        "also_seen_in"]
    web = login("analyst")
    page = f"/cases/{case['id']}/stix/objects/{first['stix_id']}"

    blank = form_on(web, page, testid="revoke-form").submit(web)
    assert blank.status_code == 422
    assert 'data-field="reason"' in blank.get_data(as_text=True)

    done = form_on(web, page, testid="revoke-form").submit(web, {"reason": "the domain is our partner's, not evil"})
    assert done.status_code == 302
    html = web.get(page).get_data(as_text=True)
    assert 'data-testid="revoked"' in html
    assert "the domain is our partner&#39;s, not evil" in html  # the correction with its reason
    assert "Older versions (1)" in html
    assert 'data-testid="revoke-form"' not in html  # nothing comes after a revocation
    assert 'data-testid="tlp-form"' not in html
    current = analyst.get(f"/api/v1{page}").get_json()
    assert current["revoked"] is True
    assert current["stix"]["revoked"] is True
    assert current["stix"]["modified"] > first["stix"]["modified"]
    assert [v["stix"] for v in current["versions"]] == [first["stix"]]
    assert current["corrections"][0]["kind"] == "revoke"
    # shown struck through on the list, and no longer "also seen in" the other case
    tab = web.get(f"/cases/{case['id']}/indicators").get_data(as_text=True)
    assert re.search(r'<tr data-testid="indicator-row" class="revoked">', tab)
    assert analyst.get(f"/api/v1/cases/{other['id']}/indicators").get_json()["items"][0]["also_seen_in"] == []
    entry = next(e for e in timeline(analyst, case) if e["summary"].startswith("Indicator revoked"))
    assert entry["summary"] == "Indicator revoked: domain-name: login.evil.example"
    assert entry["changes"]["reason"] == [None, "the domain is our partner's, not evil"]
    # the audit log names the reason, never holds it (admins read it)
    logged = api("admin").get("/api/v1/audit?action=stix.revoke").get_json()["items"][0]
    assert logged["object_type"] == "stix_object"
    assert logged["summary"]["stix_id"] == first["stix_id"]
    assert logged["summary"]["content_fields"] == ["reason"]
    assert "partner" not in json.dumps(logged)
    # STIX: the revoked version is what an export gives, and it is final
    exported = {o["id"]: o for o in export(analyst, case).get_json()["objects"]}
    assert exported[first["stix_id"]]["revoked"] is True
    again = analyst.post(f"/api/v1{page}/revoke", json={"reason": "twice"})
    assert again.status_code == 409
    assert "revoked" in again.get_json()["error"]["message"]
    assert analyst.post(f"/api/v1{page}/tlp", json={"tlp": "green", "reason": "x"}).status_code == 409
    # the value can be captured again: a new indicator, not a version of the revoked one
    fresh = add(analyst, case, "domain-name", "login.evil.example")
    assert fresh.status_code == 201
    assert fresh.get_json()["stix_id"] != first["stix_id"]


def test_raising_to_red_hides_it_and_lowering_takes_someone_who_sees_it(api, open_case):
    member = api("analyst")
    outsider = api("analyst")
    case = open_case(member)
    ip = add(member, case, "ipv4-addr", "198.51.100.23").get_json()
    path = f"/api/v1/cases/{case['id']}/stix/objects/{ip['stix_id']}"
    assert outsider.get(path).status_code == 200
    # one who is no member may raise it to RED (then it is hidden from them too); the answer is what they did
    other = add(member, case, "ipv4-addr", "198.51.100.24").get_json()
    other_path = f"/api/v1/cases/{case['id']}/stix/objects/{other['stix_id']}"
    hid = outsider.post(f"{other_path}/tlp", json={"tlp": "red", "reason": "too sensitive"})
    assert hid.status_code == 200, hid.get_json()
    assert hid.get_json()["tlp"] == "red"
    assert hid.get_json()["versions"] == []
    assert outsider.get(other_path).status_code == 404
    assert member.get(other_path).get_json()["tlp"] == "red"

    raised = member.post(f"{path}/tlp", json={"tlp": "TLP:RED", "reason": "the source asked for RED"})
    assert raised.status_code == 200, raised.get_json()
    body = raised.get_json()
    assert body["tlp"] == "red"
    assert body["tlp_from_case"] is False
    assert RED in body["stix"]["object_marking_refs"]
    assert len(body["stix"]["object_marking_refs"]) == 1
    assert body["versions"][0]["stix"]["object_marking_refs"] == ip["stix"]["object_marking_refs"]
    assert outsider.get(path).status_code == 404
    assert outsider.get(f"/api/v1/cases/{case['id']}/indicators").get_json()["total"] == 0
    # the timeline, which the outsider reads too, names neither the value nor the reason
    entries = timeline(outsider, case)
    corrected = [e for e in entries if "corrected" in e["summary"]]
    assert corrected
    assert "198.51.100.23" not in json.dumps(entries)
    assert "source asked" not in json.dumps(entries)
    assert outsider.post(f"{path}/tlp", json={"tlp": "green", "reason": "share it"}).status_code == 404

    lowered = member.post(f"{path}/tlp", json={"tlp": "green", "reason": "cleared for sharing"})
    assert lowered.status_code == 200
    assert lowered.get_json()["stix"]["object_marking_refs"] == [GREEN]
    assert [c["to_tlp"] for c in lowered.get_json()["corrections"]] == ["red", "green"]
    assert outsider.get(path).get_json()["tlp"] == "green"
    same = member.post(f"{path}/tlp", json={"tlp": "green", "reason": "again"})
    assert same.status_code == 409
    assert same.get_json()["error"]["field"] == "tlp"
    bad = member.post(f"{path}/tlp", json={"tlp": "purple", "reason": "x"})
    assert bad.status_code == 422
    assert bad.get_json()["error"]["field"] == "tlp"
    no_reason = member.post(f"{path}/tlp", json={"tlp": "amber"})
    assert no_reason.status_code == 422
    assert no_reason.get_json()["error"]["field"] == "reason"


def test_observables_and_marking_definitions_have_no_versions_and_auditors_no_forms(api, login, open_case):
    analyst = api("analyst")
    case = open_case(analyst)
    add(analyst, case, "ipv4-addr", "203.0.113.50")
    sco = analyst.get(f"/api/v1/cases/{case['id']}/stix/objects?type=ipv4-addr").get_json()["items"][0]
    refused = analyst.post(f"/api/v1/cases/{case['id']}/stix/objects/{sco['stix_id']}/revoke", json={"reason": "x"})
    assert refused.status_code == 409
    assert "observable (SCO), which has no versions" in refused.get_json()["error"]["message"]
    indicator_id = analyst.get(f"/api/v1/cases/{case['id']}/indicators").get_json()["items"][0]["stix_id"]
    auditor = login("auditor")
    html = auditor.get(f"/cases/{case['id']}/stix/objects/{indicator_id}").get_data(as_text=True)
    assert 'data-testid="revoke-form"' not in html
    assert 'data-testid="tlp-form"' not in html


def test_the_tlp_change_form_and_the_cli(api, login, open_case, run_cli):
    analyst = api("analyst")
    case = open_case(analyst)
    first = add(analyst, case, "url", "https://collect.evil.example/a").get_json()
    web = login("analyst")
    page = f"/cases/{case['id']}/stix/objects/{first['stix_id']}"
    changed = form_on(web, page, testid="tlp-form").submit(web, {"tlp": "amber+strict", "reason": "internal only"})
    assert changed.status_code == 302
    html = web.get(page).get_data(as_text=True)
    assert ">TLP:AMBER+STRICT</span>" in html
    assert "TLP:AMBER → TLP:AMBER+STRICT" in html

    result = run_cli("stix", "tlp", case["reference"], first["stix_id"], "clear", "--reason", "published by CERT")
    assert result.exit_code == 0, result.output
    assert f"{first['stix_id']} now marked TLP:CLEAR" in result.output
    revoked = run_cli("stix", "revoke", case["reference"], first["stix_id"], "--reason", "false positive")
    assert revoked.exit_code == 0, result.output
    again = run_cli("stix", "revoke", case["reference"], first["stix_id"], "--reason", "false positive")
    assert again.exit_code == 1
    assert "STIX allows no new version of a revoked object" in again.stderr
    no_reason = run_cli("stix", "tlp", case["reference"], first["stix_id"], "red", "--reason", " ")
    assert no_reason.exit_code == 1
    assert "reason: is required" in no_reason.stderr
    summaries = [e["summary"] for e in timeline(analyst, case)]
    assert "Indicator marked TLP:CLEAR: url: https://collect.evil.example/a" in summaries
    assert "Indicator revoked: url: https://collect.evil.example/a" in summaries

    # the signed-in analyst is no member of the case: marking one RED leads back to the list, where it is gone
    second = add(analyst, case, "url", "https://collect.evil.example/b").get_json()
    form = form_on(web, f"/cases/{case['id']}/stix/objects/{second['stix_id']}", testid="tlp-form")
    hidden = form.submit(web, {"tlp": "red", "reason": "the victim's name is in it"})
    assert hidden.headers["Location"].endswith(f"/cases/{case['id']}/indicators")
    tab = web.get(hidden.headers["Location"]).get_data(as_text=True)
    assert "only the case&#39;s members and managers see it" in tab
    assert 'data-testid="indicator-row"' in tab
    assert "/b</code>" not in tab


def test_unmarked_objects_show_the_case_tlp_and_follow_the_red_rule(api, open_case, login):
    member = api("analyst")
    outsider = api("analyst")
    amber = open_case(member)  # TLP:AMBER, the default
    unmarked = indicator("[domain-name:value = 'unmarked.evil.example']")
    marked = indicator("[domain-name:value = 'green.evil.example']", object_marking_refs=[GREEN])
    assert post_bundle(member, amber, bundle_of(unmarked, marked)).status_code == 200
    items = {i["value"]: i for i in member.get(f"/api/v1/cases/{amber['id']}/indicators").get_json()["items"]}
    assert (items["unmarked.evil.example"]["tlp"], items["unmarked.evil.example"]["tlp_from_case"]) == ("amber", True)
    assert (items["green.evil.example"]["tlp"], items["green.evil.example"]["tlp_from_case"]) == ("green", False)
    web = login("analyst")
    tab = web.get(f"/cases/{amber['id']}/indicators").get_data(as_text=True)
    assert re.search(r">TLP:AMBER</span> <small[^>]*>from the case</small>", tab)
    objects = web.get(f"/cases/{amber['id']}/stix/objects?type=indicator").get_data(as_text=True)
    assert ">TLP:AMBER</span>" in objects
    assert ">TLP:GREEN</span>" in objects
    page = web.get(f"/cases/{amber['id']}/stix/objects/{unmarked['id']}").get_data(as_text=True)
    assert 'data-testid="tlp-from-case"' in page

    red_case = open_case(member, tlp="red")
    hidden = indicator("[domain-name:value = 'hidden.evil.example']")
    assert post_bundle(member, red_case, bundle_of(hidden)).status_code == 200
    assert outsider.get(f"/api/v1/cases/{red_case['id']}/stix/objects/{hidden['id']}").status_code == 404
    assert hidden["id"] not in json.dumps(export(outsider, red_case).get_json())
    assert hidden["id"] not in json.dumps(export(member, red_case).get_json())  # RED leaves only when asked for
    assert hidden["id"] in json.dumps(export(member, red_case, include_red="true").get_json())
    assert member.get(f"/api/v1/cases/{red_case['id']}/stix/objects/{hidden['id']}").get_json()["tlp"] == "red"
