"""The case record: references, optimistic locking, timeline entries, escalations, links, taxonomy."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import select

from casemgr.audit.models import AuditEntry
from casemgr.auth.actor import Actor
from casemgr.cases import service
from casemgr.cases.schemas import NewCase

from .conftest import move


def test_references_are_sequential_per_year(api, open_case):
    analyst = api("analyst")
    year = dt.datetime.now(dt.UTC).year
    refs = [open_case(analyst)["reference"] for _ in range(3)]
    assert refs == [f"IR-{year}-0001", f"IR-{year}-0002", f"IR-{year}-0003"]


def test_concurrent_creators_get_distinct_consecutive_references(db, make_user, is_postgres):
    if not is_postgres:
        pytest.skip("SQLite serializes writers; the race needs PostgreSQL")
    user = make_user("analyst")
    barrier = threading.Barrier(8)
    refs: list[str] = []
    errors: list[BaseException] = []

    def create() -> None:
        try:
            barrier.wait(timeout=30)
            with db.transaction() as s:
                actor = Actor(user=s.merge(user), via="api")
                refs.append(service.create_case(s, actor, NewCase(title="race", category="other",
                                                                  impact="low", urgency="low")).reference)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    year = dt.datetime.now(dt.UTC).year
    assert sorted(refs) == [f"IR-{year}-{n:04d}" for n in range(1, 9)]


def test_stale_version_gets_409_with_the_current_version(api, open_case):
    alice, bob = api("analyst"), api("analyst")
    case = open_case(alice)
    r = alice.patch(f"/api/v1/cases/{case['id']}", json={"version": 1, "title": "Alice's title"})
    assert r.get_json()["version"] == 2
    r = bob.patch(f"/api/v1/cases/{case['id']}", json={"version": 1, "title": "Bob's title"})
    assert r.status_code == 409
    error = r.get_json()["error"]
    assert (error["field"], error["current_version"]) == ("version", 2)
    assert bob.get(f"/api/v1/cases/{case['id']}").get_json()["title"] == "Alice's title"
    r = move(bob, case, "triage", version=1)
    assert (r.status_code, r.get_json()["error"]["current_version"]) == (409, 2)


def test_patch_requires_the_version(api, open_case):
    analyst = api("analyst")
    case = open_case(analyst)
    r = analyst.patch(f"/api/v1/cases/{case['id']}", json={"title": "no version"})
    assert (r.status_code, r.get_json()["error"]["field"]) == (422, "version")


def test_unchanged_patch_keeps_the_version_and_writes_nothing(api, open_case):
    analyst = api("analyst")
    case = open_case(analyst)
    r = analyst.patch(f"/api/v1/cases/{case['id']}", json={"version": 1, "title": case["title"]})
    assert r.get_json()["version"] == 1
    assert analyst.get(f"/api/v1/cases/{case['id']}/timeline").get_json()["total"] == 1


def timeline(client, case):
    r = client.get(f"/api/v1/cases/{case['id']}/timeline")
    assert r.status_code == 200
    return r.get_json()["items"]


def test_every_kind_of_change_lands_on_the_timeline(api, open_case, db, make_team):
    analyst, manager = api("analyst", "ann"), api("manager", "max")
    make_team("CSIRT tier 2")
    case = open_case(analyst)
    other = open_case(analyst, title="Same phishing, second report")
    analyst.patch(f"/api/v1/cases/{case['id']}", json={"version": 1, "title": "Renamed", "tags": ["bec"]})
    move(analyst, case, "triage")
    manager.post(f"/api/v1/cases/{case['id']}/escalate",
                 json={"kind": "functional", "to_team": "CSIRT tier 2", "reason": "needs forensics"})
    analyst.post(f"/api/v1/cases/{case['id']}/notes", json={"body": "Called the **user**."})
    analyst.post(f"/api/v1/cases/{case['id']}/events",
                 json={"occurred_at": "2026-01-01T09:12:00Z", "summary": "First phishing mail delivered"})
    analyst.post(f"/api/v1/cases/{case['id']}/links", json={"case": other["id"]})
    analyst.post(f"/api/v1/cases/{other['id']}/links", json={"case": case["id"], "kind": "duplicate_of"})

    entries = timeline(analyst, case)
    kinds = [e["kind"] for e in entries]
    # the manual event happened before anything was recorded, so it comes first
    assert kinds == ["event", "created", "updated", "transition", "escalation", "note", "link"]
    event, created, updated, moved, escalated, note, link = entries
    assert event["occurred_at"] == "2026-01-01T09:12:00Z"
    assert event["recorded_at"] > event["occurred_at"]
    assert created["actor"] == "ann"
    assert updated["changes"]["title"] == [case["title"], "Renamed"]
    assert updated["changes"]["tags"] == [[], ["bec"]]
    assert moved["changes"]["status"] == ["new", "triage"]
    assert escalated["actor"] == "max"
    assert escalated["changes"]["team"] == [None, "CSIRT tier 2"]
    assert escalated["body"] == "needs forensics"
    assert note["body_html"] == "<p>Called the <strong>user</strong>.</p>\n"
    assert link["changes"]["related"] == [None, other["reference"]]

    dup = timeline(analyst, other)[-1]
    assert dup["kind"] == "transition"
    assert dup["changes"]["duplicate_of"] == [None, case["reference"]]
    assert dup["changes"]["resolution"] == [None, "duplicate"]

    with db.transaction() as s:
        actions = s.scalars(select(AuditEntry.action).where(AuditEntry.object_type == "case",
                                                            AuditEntry.object_id == str(case["id"]))).all()
    assert actions == ["case.create", "case.update", "case.transition", "case.escalate", "case.note",
                       "case.event", "case.link"]


def test_audit_summaries_name_changed_text_without_copying_it(api, open_case, db):
    analyst = api("analyst")
    case = open_case(analyst, restricted=True)
    analyst.patch(f"/api/v1/cases/{case['id']}", json={"version": 1, "description": "secret details",
                                                        "impact": "high"})
    with db.transaction() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "case.update")).one()
        assert entry.summary["text_changed"] == ["description"]
        assert entry.summary["changes"]["impact"] == ["medium", "high"]
        assert "secret details" not in str(entry.summary)


def test_duplicate_resolves_and_points_to_the_survivor(api, open_case):
    analyst = api("analyst")
    survivor, dup = open_case(analyst), open_case(analyst)
    r = analyst.post(f"/api/v1/cases/{dup['id']}/links", json={"case": survivor["id"], "kind": "duplicate_of"})
    assert r.status_code == 201, r.get_json()
    body = analyst.get(f"/api/v1/cases/{dup['id']}").get_json()
    assert (body["status"], body["resolution"]) == ("resolved", "duplicate")
    assert body["duplicate_of"]["reference"] == survivor["reference"]
    related = analyst.get(f"/api/v1/cases/{survivor['id']}").get_json()["related"]
    assert [(x["kind"], x["case"]["id"]) for x in related] == [("duplicated_by", dup["id"])]
    # marking again is refused: the duplicate is resolved already
    r = analyst.post(f"/api/v1/cases/{dup['id']}/links", json={"case": survivor["id"], "kind": "duplicate_of"})
    assert r.status_code == 409


def test_duplicate_through_transition_needs_the_survivor(api, open_case):
    analyst = api("analyst")
    survivor, dup = open_case(analyst), open_case(analyst)
    r = move(analyst, dup, "resolved", resolution="duplicate", summary="same")
    assert (r.status_code, r.get_json()["error"]["field"]) == (422, "duplicate_of")
    r = move(analyst, dup, "resolved", resolution="duplicate", summary="same", duplicate_of=999999)
    assert (r.status_code, r.get_json()["error"]["field"]) == (404, "duplicate_of")
    r = move(analyst, dup, "resolved", resolution="duplicate", summary="same", duplicate_of=survivor["id"])
    assert r.status_code == 200
    assert r.get_json()["duplicate_of"]["id"] == survivor["id"]


def test_linking_twice_or_to_itself_is_refused(api, open_case):
    analyst = api("analyst")
    a, b = open_case(analyst), open_case(analyst)
    assert analyst.post(f"/api/v1/cases/{a['id']}/links", json={"case": b["id"]}).status_code == 201
    r = analyst.post(f"/api/v1/cases/{b['id']}/links", json={"case": a["id"]})
    assert (r.status_code, r.get_json()["error"]["field"]) == (409, "case")
    r = analyst.post(f"/api/v1/cases/{a['id']}/links", json={"case": a["id"]})
    assert (r.status_code, r.get_json()["error"]["field"]) == (422, "case")


def test_escalations(api, open_case):
    analyst, manager = api("analyst"), api("manager", "chief")
    case = open_case(analyst)
    r = analyst.post(f"/api/v1/cases/{case['id']}/escalate",
                     json={"kind": "functional", "to_team": "tier2", "reason": "too hard"})
    assert r.status_code == 403
    r = manager.post(f"/api/v1/cases/{case['id']}/escalate", json={"kind": "functional", "reason": "x"})
    assert (r.status_code, r.get_json()["error"]["field"]) == (422, "to_team")
    r = analyst.post(f"/api/v1/cases/{case['id']}/escalate",
                     json={"kind": "hierarchical", "to_user": analyst.user.username, "reason": "x"})
    assert (r.status_code, r.get_json()["error"]["field"]) == (422, "to_user")
    r = analyst.post(f"/api/v1/cases/{case['id']}/escalate",
                     json={"kind": "hierarchical", "to_user": "chief", "reason": "Data of 10k customers at risk"})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["to_user"] == "chief"
    body = analyst.get(f"/api/v1/cases/{case['id']}").get_json()
    assert body["escalated"] is True
    assert [e["reason"] for e in body["escalations"]] == ["Data of 10k customers at risk"]
    assert analyst.get("/api/v1/cases?escalated=true").get_json()["total"] == 1


def test_taxonomy_lists_categories_with_slug_codes(api):
    r = api("auditor").get("/api/v1/taxonomy")
    assert r.status_code == 200
    categories = {c["code"]: [s["code"] for s in c["subcategories"]] for c in r.get_json()["categories"]}
    assert len(categories) == 10
    assert "ransomware" in categories["malicious-code"]
    assert "phishing" in categories["fraud"]
    for code in [*categories, *(s for subs in categories.values() for s in subs)]:
        assert code == code.lower()
        assert " " not in code


def test_openapi_documents_the_case_endpoints(api):
    doc = api("analyst").get("/api/v1/openapi.json").get_json()
    for path, method in [("/api/v1/cases", "post"), ("/api/v1/cases", "get"), ("/api/v1/cases/{case_id}", "patch"),
                         ("/api/v1/cases/{case_id}/transition", "post"), ("/api/v1/cases/{case_id}/escalate", "post"),
                         ("/api/v1/cases/{case_id}/notes", "post"), ("/api/v1/cases/{case_id}/events", "post"),
                         ("/api/v1/cases/{case_id}/timeline", "get"), ("/api/v1/cases/{case_id}/links", "post"),
                         ("/api/v1/taxonomy", "get")]:
        assert method in doc["paths"][path], (path, method)
    assert "NewCase" in doc["components"]["schemas"]
