"""Bad input: a clear 4xx naming the field, and nothing written."""

from __future__ import annotations

import pytest

from .conftest import CASE, move

BAD_CASES = [
    ({"category": "alien-invasion"}, "category"),
    ({"subcategory": "ransomware"}, "subcategory"),  # not a subcategory of fraud
    ({"impact": "severe"}, "impact"),
    ({"urgency": 3}, "urgency"),
    ({"title": "x" * 201}, "title"),
    ({"title": ""}, "title"),
    ({"title": "two\nlines"}, "title"),
    ({"colour": "red"}, "colour"),
    ({"tlp": "white"}, "tlp"),
    ({"pap": "amber+strict"}, "pap"),
    ({"source": "rumour"}, "source"),
    ({"tags": ["Not A Tag!"]}, "tags.0"),
    ({"occurred_at": "yesterday"}, "occurred_at"),
    ({"occurred_at": "2026-01-02T00:00:00Z", "detected_at": "2026-01-01T00:00:00Z"}, "detected_at"),
    ({"owner": "nobody"}, "owner"),
]


@pytest.mark.parametrize(("fields", "field"), BAD_CASES)
def test_bad_case_fields_are_refused_naming_the_field(api, fields, field):
    analyst = api("analyst")
    r = analyst.post("/api/v1/cases", json={**CASE, **fields})
    assert r.status_code == 422, r.get_json()
    error = r.get_json()["error"]
    assert error["field"] == field
    assert error["message"].startswith(field.split(".")[0])
    assert analyst.get("/api/v1/cases").get_json()["total"] == 0


def test_missing_required_fields_are_named(api):
    r = api("analyst").post("/api/v1/cases", json={"title": "only a title"})
    assert r.status_code == 422
    assert {e["field"] for e in r.get_json()["error"]["errors"]} == {"category", "impact", "urgency"}


def test_unknown_field_says_so(api):
    r = api("analyst").post("/api/v1/cases", json={**CASE, "colour": "red"})
    assert r.get_json()["error"]["message"] == "colour: unknown field"


def test_not_json_is_400(api):
    r = api("analyst").post("/api/v1/cases", data="{nope", content_type="application/json")
    assert r.status_code == 400


@pytest.mark.parametrize(("method", "path", "payload"), [
    ("get", "", None),
    ("patch", "", {"version": 1, "title": "x"}),
    ("post", "/transition", {"to": "triage"}),
    ("post", "/escalate", {"kind": "hierarchical", "reason": "x"}),
    ("post", "/notes", {"body": "x"}),
    ("post", "/events", {"occurred_at": "2026-01-01T00:00:00Z", "summary": "x"}),
    ("get", "/timeline", None),
    ("post", "/links", {"case": 1}),
])
def test_a_case_that_does_not_exist_is_404(api, method, path, payload):
    client = api("manager")
    kwargs = {"json": payload} if payload is not None else {}
    r = getattr(client, method)(f"/api/v1/cases/424242{path}", **kwargs)
    assert r.status_code == 404
    assert r.get_json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(("patch", "field"), [
    ({"category": "nope"}, "category"),
    ({"category": "malicious-code"}, "subcategory"),  # phishing does not belong to malicious code
    ({"subcategory": "ransomware"}, "subcategory"),
    ({"title": None}, "title"),
    ({"impact": None}, "impact"),
    ({"impact": "extreme"}, "impact"),
    ({"members": ["ghost"]}, "members"),
    ({"version": 0}, "version"),
    ({"status": "closed"}, "status"),  # the lifecycle moves status, not PATCH
])
def test_bad_patches_are_refused_naming_the_field(api, open_case, patch, field):
    manager = api("manager")
    case = open_case(manager)
    r = manager.patch(f"/api/v1/cases/{case['id']}", json={"version": 1, **patch})
    assert r.status_code == 422, r.get_json()
    assert r.get_json()["error"]["field"] == field
    after = manager.get(f"/api/v1/cases/{case['id']}").get_json()
    assert (after["version"], after["category"], after["subcategory"]) == (1, "fraud", "phishing")


def test_category_change_with_a_matching_subcategory_is_accepted(api, open_case):
    manager = api("manager")
    case = open_case(manager)
    r = manager.patch(f"/api/v1/cases/{case['id']}", json={"version": 1, "category": "malicious-code",
                                                            "subcategory": "ransomware"})
    assert (r.status_code, r.get_json()["subcategory"]) == (200, "ransomware")


@pytest.mark.parametrize(("payload", "field"), [
    ({"to": "finished"}, "to"),
    ({}, "to"),
    ({"to": "resolved", "resolution": "fixed", "summary": "x"}, "resolution"),
    ({"to": "resolved", "resolution": "remediated"}, "summary"),
    ({"to": "triage", "duplicate_of": 1}, "duplicate_of"),
])
def test_bad_transitions_name_the_field(api, open_case, payload, field):
    analyst = api("analyst")
    case = open_case(analyst)
    r = analyst.post(f"/api/v1/cases/{case['id']}/transition", json=payload)
    assert r.status_code == 422, r.get_json()
    assert r.get_json()["error"]["field"] == field


@pytest.mark.parametrize(("payload", "field"), [
    ({"summary": "x"}, "occurred_at"),
    ({"occurred_at": "2026-01-01T00:00:00Z", "summary": ""}, "summary"),
    ({"occurred_at": "not a time", "summary": "x"}, "occurred_at"),
])
def test_bad_events_name_the_field(api, open_case, payload, field):
    analyst = api("analyst")
    case = open_case(analyst)
    r = analyst.post(f"/api/v1/cases/{case['id']}/events", json=payload)
    assert (r.status_code, r.get_json()["error"]["field"]) == (422, field)


def test_empty_note_is_refused(api, open_case):
    analyst = api("analyst")
    case = open_case(analyst)
    r = analyst.post(f"/api/v1/cases/{case['id']}/notes", json={"body": "   "})
    assert (r.status_code, r.get_json()["error"]["field"]) == (422, "body")


@pytest.mark.parametrize(("query", "field"), [
    ("status=done", "status.0"), ("priority=P9", "priority.0"), ("sort=colour", "sort"), ("per_page=1000", "per_page"),
    ("page=0", "page"), ("since=soon", "since"), ("state=maybe", "state"), ("frobnicate=1", "frobnicate"),
])
def test_bad_list_queries_name_the_parameter(api, query, field):
    r = api("analyst").get(f"/api/v1/cases?{query}")
    assert r.status_code == 422, r.get_json()
    assert r.get_json()["error"]["field"] == field


def test_a_transition_missing_its_fields_changes_nothing(api, open_case):
    analyst = api("analyst")
    case = open_case(analyst)
    assert move(analyst, case, "resolved").status_code == 422
    assert analyst.get(f"/api/v1/cases/{case['id']}/timeline").get_json()["total"] == 1
