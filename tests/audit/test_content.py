"""Admins see no case content in the audit log: entries name the field (filename, purpose, reason, tags, free
text), never its value; entries recorded with content before this rule are shown to admins without it too.
Auditors keep what they need: the entry as recorded, pinned to the custody entry that holds the values."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from casemgr.audit import service as audit
from casemgr.audit.models import AuditEntry
from tests.evidence.conftest import keyring, upload  # noqa: F401 - keyring: the evidence vault's keys

FILENAME = "payroll-leak-7731.xlsx"
SECRETS = [FILENAME, "purpose-look-for-exfil-4242", "seal-reason-court-order-5151", "release-reason-6161",
           "transfer-reason-night-shift-7171", "secret-op-tag", "new-tag-ultra-9", "Agent Smithee qq1",
           "ceo laptop qq9", "dd-method-zz1", "description changed zz7", "time reason qq5"]


@pytest.fixture
def history(api, open_case, db, system) -> dict[str, Any]:
    """A restricted case with tags, an evidence item uploaded, downloaded with a purpose, transferred, sealed
    and released, tags and free text changed; and entries written with content the way they used to be."""
    analyst, manager = api("analyst"), api("manager")
    case = open_case(analyst, restricted=True, tags=["secret-op-tag"], members=[], owner=None)
    response = upload(analyst, case["id"], b"cells", FILENAME, description="the leaked sheet",
                      collected_by="Agent Smithee qq1", source="ceo laptop qq9", acquisition_method="dd-method-zz1")
    assert response.status_code == 201, response.get_json()
    item = response.get_json()
    base = f"/api/v1/evidence/{item['id']}"
    assert analyst.get(f"{base}/content?purpose=purpose-look-for-exfil-4242").status_code == 200
    assert analyst.post(f"{base}/transfer", json={"to": manager.user.username,
                                                   "reason": "transfer-reason-night-shift-7171"}).status_code == 200
    assert analyst.post(f"{base}/seal", json={"reason": "seal-reason-court-order-5151"}).status_code == 200
    assert analyst.post(f"{base}/release", json={"reason": "release-reason-6161"}).status_code == 200
    version = analyst.get(f"/api/v1/cases/{case['id']}").get_json()["version"]
    changed = analyst.patch(f"/api/v1/cases/{case['id']}", json={
        "version": version, "tags": ["new-tag-ultra-9"], "description": "description changed zz7",
        "acknowledged_at": "2026-01-02T03:04:05Z", "time_reason": "time reason qq5"})
    assert changed.status_code == 200, changed.get_json()
    with db.transaction() as s:  # as the services wrote them before: the chain keeps them as they are
        audit.record(s, system, "evidence.downloaded", "evidence", item["id"],
                     {"case_id": case["id"], "filename": FILENAME, "purpose": "purpose-look-for-exfil-4242"})
        audit.record(s, system, "evidence.sealed", "evidence", item["id"],
                     {"case_id": case["id"], "filename": FILENAME, "reason": "seal-reason-court-order-5151"})
        audit.record(s, system, "case.update", "case", case["id"],
                     {"reference": case["reference"], "changes": {"tags": [["secret-op-tag"], ["new-tag-ultra-9"]]}})
    return {"case": case, "item": item, "analyst": analyst}


def test_admins_read_no_case_content_in_the_audit_pages_or_api(history, api, login):
    admin_api, admin_web = api("admin"), login("admin")
    listed = admin_api.get("/api/v1/audit?per_page=200")
    assert listed.status_code == 200
    text = listed.get_data(as_text=True)
    pages = [admin_web.get(f"/audit?per_page={n}").get_data(as_text=True) for n in (200, 5)]
    pages.append(admin_web.get(f"/audit?object_type=evidence&object_id={history['item']['id']}").get_data(
        as_text=True))
    for secret in SECRETS:
        assert secret not in text, secret
        for page in pages:
            assert secret not in page, secret
    entries = listed.get_json()["items"]
    by_action: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        by_action.setdefault(entry["action"], []).append(entry["summary"])
    downloaded = by_action["evidence.downloaded"]
    assert all(set(s["content_fields"]) == {"filename", "purpose"} for s in downloaded)  # the field is named
    assert {"filename", "collected_by", "source", "acquisition_method"} <= set(
        by_action["evidence.acquired"][0]["content_fields"])
    assert "reason" in by_action["evidence.sealed"][0]["content_fields"]
    transferred = by_action["evidence.transferred"][0]
    assert transferred["to"] in text  # who holds it now is not case content
    updates = by_action["case.update"]
    assert all("tags" in s["text_changed"] for s in updates)
    assert {"description", "time_reason"} <= set(updates[-1]["text_changed"])
    assert "acknowledged_at" in updates[-1]["changes"]  # what is not content stays
    assert admin_api.get("/api/v1/audit/verify").get_json()["ok"] is True


def test_new_entries_are_recorded_without_content(history, db):
    with db.engine.connect() as conn:
        recorded = conn.execute(select(AuditEntry.__table__.c.summary, AuditEntry.__table__.c.actor_type)
                                .order_by(AuditEntry.__table__.c.seq)).all()
    written_by_services = [str(summary) for summary, actor_type in recorded if actor_type != "system"]
    assert written_by_services
    for secret in SECRETS:
        assert all(secret not in summary for summary in written_by_services), secret


def test_auditors_see_entries_as_recorded_and_find_the_values_in_the_custody_log(history, api):
    auditor = api("auditor")
    entries = auditor.get("/api/v1/audit?per_page=200&object_type=evidence").get_json()["items"]
    downloads = [e for e in entries if e["action"] == "evidence.downloaded"]
    old, new = downloads[0], downloads[1]  # newest first: the one written as before, then the service's
    assert old["summary"]["purpose"] == "purpose-look-for-exfil-4242"
    assert new["summary"]["content_fields"] == ["filename", "purpose"]
    custody = auditor.get(f"/api/v1/evidence/{history['item']['id']}/custody").get_json()["events"]
    pinned = next(e for e in custody if e["seq"] == new["summary"]["custody_seq"])
    assert pinned["hash"] == new["summary"]["custody_hash"]
    assert pinned["details"]["purpose"] == "purpose-look-for-exfil-4242"
