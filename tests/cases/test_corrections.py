"""Notes and events are corrected, never deleted: edited (the earlier text kept and shown) or
retracted (struck through with the reason, who and when); events are never dated in the future."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from casemgr.audit.models import AuditEntry
from casemgr.cases.models import TimelineEntry, TimelineRevision


def _note(client, case, body="Three users clicked."):
    response = client.post(f"/api/v1/cases/{case['id']}/notes", json={"body": body})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _event(client, case, **fields):
    response = client.post(f"/api/v1/cases/{case['id']}/events",
                           json={"occurred_at": "2026-01-05T09:12:30Z", "summary": "First mail delivered", **fields})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _timeline(client, case):
    return {e["id"]: e for e in client.get(f"/api/v1/cases/{case['id']}/timeline").get_json()["items"]}


def test_the_author_edits_a_note_and_the_earlier_text_stays_in_its_history(api, open_case):
    ann = api("analyst", "ann")
    case = open_case(ann)
    note = _note(ann, case)
    response = ann.patch(f"/api/v1/cases/{case['id']}/timeline/{note['id']}", json={"body": "Four users clicked."})
    assert response.status_code == 200, response.get_json()
    edited = response.get_json()
    assert edited["body"] == "Four users clicked."
    assert edited["edited_by"] == "ann"
    assert edited["edited_at"] is not None
    assert [r["body"] for r in edited["revisions"]] == ["Three users clicked."]
    assert edited["revisions"][0]["written_by"] == "ann"
    again = ann.patch(f"/api/v1/cases/{case['id']}/timeline/{note['id']}", json={"body": "Five users clicked."})
    assert [r["body"] for r in again.get_json()["revisions"]] == ["Three users clicked.", "Four users clicked."]
    assert _timeline(ann, case)[note["id"]]["body"] == "Five users clicked."


def test_an_event_edit_changes_its_time_summary_and_details(api, open_case):
    ann = api("analyst", "ann")
    case = open_case(ann)
    event = _event(ann, case)
    response = ann.patch(f"/api/v1/cases/{case['id']}/timeline/{event['id']}",
                         json={"occurred_at": "2026-01-05T08:55:00Z", "summary": "First mail delivered to CFO",
                               "body": "Per the mail gateway log."})
    assert response.status_code == 200, response.get_json()
    edited = response.get_json()
    assert edited["occurred_at"] == "2026-01-05T08:55:00Z"
    assert edited["summary"] == "First mail delivered to CFO"
    assert edited["revisions"][0]["occurred_at"] == "2026-01-05T09:12:30Z"
    assert edited["revisions"][0]["summary"] == "First mail delivered"


def test_others_may_not_correct_an_entry_but_a_manager_may(api, open_case):
    ann, bob, mia, aud = api("analyst", "ann"), api("analyst", "bob"), api("manager", "mia"), api("auditor", "aud")
    case = open_case(ann)
    note = _note(ann, case)
    url = f"/api/v1/cases/{case['id']}/timeline/{note['id']}"
    refused = bob.patch(url, json={"body": "not mine"})
    assert refused.status_code == 403
    assert "only its author (ann) and managers" in refused.get_json()["error"]["message"]
    assert bob.post(f"{url}/retract", json={"reason": "wrong"}).status_code == 403
    assert aud.patch(url, json={"body": "x"}).status_code == 403
    assert mia.patch(url, json={"body": "Corrected by the manager."}).status_code == 200
    assert _timeline(ann, case)[note["id"]]["edited_by"] == "mia"


def test_automatic_entries_cannot_be_corrected(api, open_case):
    ann = api("analyst", "ann")
    case = open_case(ann)
    created = next(iter(_timeline(ann, case).values()))
    response = ann.post(f"/api/v1/cases/{case['id']}/timeline/{created['id']}/retract", json={"reason": "no"})
    assert response.status_code == 409
    assert response.get_json()["error"]["field"] == "entry"
    missing = ann.patch(f"/api/v1/cases/{case['id']}/timeline/999999", json={"body": "x"})
    assert missing.status_code == 404


def test_bad_edits_name_the_field(api, open_case):
    ann = api("analyst", "ann")
    case = open_case(ann)
    note = _note(ann, case)
    url = f"/api/v1/cases/{case['id']}/timeline/{note['id']}"
    for sent, field in [({"body": ""}, "body"), ({"body": "Three users clicked."}, "body"),
                        ({"summary": "x"}, "summary"), ({}, "body"), ({"color": "red"}, "color")]:
        response = ann.patch(url, json=sent)
        assert response.status_code == 422, (sent, response.get_json())
        assert response.get_json()["error"]["field"] == field, (sent, response.get_json())
    event = _event(ann, case)
    response = ann.patch(f"/api/v1/cases/{case['id']}/timeline/{event['id']}", json={"summary": ""})
    assert response.status_code == 422
    assert response.get_json()["error"]["field"] == "summary"
    assert [r for r in _timeline(ann, case)[note["id"]]["revisions"]] == []


def test_retracting_needs_a_reason_and_keeps_the_entry(api, open_case, db):
    ann, aud = api("analyst", "ann"), api("auditor", "aud")
    case = open_case(ann)
    note = _note(ann, case, "Wrong host isolated.")
    url = f"/api/v1/cases/{case['id']}/timeline/{note['id']}/retract"
    for sent in ({}, {"reason": ""}, {"reason": "   "}):
        response = ann.post(url, json=sent)
        assert response.status_code == 422, sent
        assert response.get_json()["error"]["field"] == "reason"
    response = ann.post(url, json={"reason": "Posted on the wrong case."})
    assert response.status_code == 200, response.get_json()
    seen = _timeline(aud, case)[note["id"]]  # auditors still see it, with the reason
    assert seen["body"] == "Wrong host isolated."
    assert seen["retracted_by"] == "ann"
    assert seen["retraction_reason"] == "Posted on the wrong case."
    again = ann.post(url, json={"reason": "twice"})
    assert again.status_code == 409
    assert ann.patch(f"/api/v1/cases/{case['id']}/timeline/{note['id']}", json={"body": "x"}).status_code == 409
    with db.transaction() as s:
        assert s.get(TimelineEntry, note["id"]) is not None


def test_corrections_are_audited_by_field_name_without_the_text(api, open_case, db):
    ann = api("analyst", "ann")
    case = open_case(ann)
    note = _note(ann, case, "secret host name")
    ann.patch(f"/api/v1/cases/{case['id']}/timeline/{note['id']}", json={"body": "other secret host"})
    ann.post(f"/api/v1/cases/{case['id']}/timeline/{note['id']}/retract", json={"reason": "secret reason"})
    with db.transaction() as s:
        edit = s.scalars(select(AuditEntry).where(AuditEntry.action == "case.entry_edit")).one()
        retract = s.scalars(select(AuditEntry).where(AuditEntry.action == "case.entry_retract")).one()
        assert edit.summary["text_changed"] == ["body"]
        assert edit.summary["entry_id"] == note["id"]
        assert retract.summary["content_fields"] == ["reason"]
        assert "secret" not in str(edit.summary) + str(retract.summary)
        assert s.scalar(select(TimelineRevision.body)) == "secret host name"


def test_an_event_in_the_future_is_refused_naming_the_field(api, open_case, clock):
    ann = api("analyst", "ann")
    case = open_case(ann)
    ahead = clock.now().replace(microsecond=0) + dt.timedelta(minutes=5, seconds=1)
    response = ann.post(f"/api/v1/cases/{case['id']}/events",
                        json={"occurred_at": ahead.isoformat(), "summary": "Mail delivered"})
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["field"] == "occurred_at"
    assert f"{ahead:%Y-%m-%d %H:%M} UTC is in the future" in error["message"]
    assert "at most 5 minutes ahead of the server's clock" in error["message"]
    assert [e["kind"] for e in _timeline(ann, case).values()] == ["created"]
    # a reporter's clock a little ahead is fine
    soon = (clock.now() + dt.timedelta(minutes=4, seconds=59)).isoformat()
    assert ann.post(f"/api/v1/cases/{case['id']}/events",
                    json={"occurred_at": soon, "summary": "Just now"}).status_code == 201
    event = _event(ann, case)
    moved = ann.patch(f"/api/v1/cases/{case['id']}/timeline/{event['id']}", json={"occurred_at": ahead.isoformat()})
    assert moved.status_code == 422
    assert moved.get_json()["error"]["field"] == "occurred_at"
    clock.advance(minutes=1)  # what was too far ahead is now within the margin
    assert ann.patch(f"/api/v1/cases/{case['id']}/timeline/{event['id']}",
                     json={"occurred_at": ahead.isoformat()}).status_code == 200


def test_openapi_documents_the_correction_endpoints(api):
    doc = api("analyst").get("/api/v1/openapi.json").get_json()
    assert "patch" in doc["paths"]["/api/v1/cases/{case_id}/timeline/{entry_id}"]
    assert "post" in doc["paths"]["/api/v1/cases/{case_id}/timeline/{entry_id}/retract"]


def test_who_may_correct_on_the_web(api, login, open_case, app):
    ann = api("analyst", "ann")
    case = open_case(ann)
    note = _note(ann, case)
    url = f"/cases/{case['id']}/timeline/{note['id']}/retract"
    bob = login("analyst", "bob")
    page = bob.get(f"/cases/{case['id']}/timeline").get_data(as_text=True)
    assert "Three users clicked." in page
    assert 'data-testid="retract-entry-form"' not in page  # not bob's note: no correction forms
    refused = bob.post(url, {"reason": "not mine"})
    assert refused.status_code == 403
    assert "only its author (ann) and managers may retract this note" in refused.get_data(as_text=True)
    assert login("admin").post(url, {"reason": "x"}).status_code == 404  # admins see no case content
    anonymous = app.test_client().post(url, data={"reason": "x"})
    assert anonymous.status_code in (302, 400, 401)
    assert _timeline(ann, case)[note["id"]]["retracted_at"] is None
    assert api("admin").patch(f"/api/v1/cases/{case['id']}/timeline/{note['id']}",
                              json={"body": "x"}).status_code == 404
