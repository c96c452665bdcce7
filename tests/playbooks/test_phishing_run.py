"""The shipped phishing playbook run on a case from start to end through the API, as a team would."""

from __future__ import annotations

from typing import Any

import pytest

from casemgr.auth.actor import Actor
from casemgr.db import Database
from casemgr.playbooks import library, loader


@pytest.fixture
def shipped(db: Database, system: Actor) -> None:
    with db.transaction() as s:
        library.sync_folder(s, system, loader.SHIPPED)


def _steps(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["step_id"]: s for s in run["steps"]}


def test_phishing_from_start_to_end(api, open_case, shipped):
    ana, boss = api("analyst"), api("manager")
    case = open_case(ana, category="fraud", subcategory="phishing", title="Invoice lure reported by finance")
    run = ana.post(f"/api/v1/cases/{case['id']}/playbook-runs", json={"playbook": "phishing"}).get_json()
    assert run["ready"] == ["triage"]

    def act(who: Any, step_id: str, action: str, **body: Any) -> dict[str, Any]:
        version = _steps(run_now())[step_id]["version"]
        response = who.post(f"/api/v1/playbook-runs/{run['id']}/steps/{step_id}",
                            json={"action": action, "version": version, **body})
        assert response.status_code == 200, (step_id, response.get_json())
        return response.get_json()  # type: ignore[no-any-return]

    def run_now() -> dict[str, Any]:
        return ana.get(f"/api/v1/playbook-runs/{run['id']}").get_json()  # type: ignore[no-any-return]

    missing = ana.post(f"/api/v1/playbook-runs/{run['id']}/steps/triage",
                       json={"action": "complete", "version": _steps(run)["triage"]["version"], "inputs": {}})
    assert missing.status_code == 422  # required inputs
    assert "is_phishing" in missing.get_json()["error"]["field"]

    after = act(ana, "triage", "complete", inputs={"is_phishing": True, "lure": "credential harvesting"})
    assert sorted(after["ready"]) == ["record_indicators", "scope_recipients"]  # two at once
    assert ana.get(f"/api/v1/cases/{case['id']}").get_json()["status"] == "investigating"

    after = act(ana, "record_indicators", "complete",
                inputs={"observables": "hxxp://evil-invoices[.]top/login\nbilling@evil-invoices.top"})
    assert "block_sender_urls" in after["ready"]
    assert ana.get(f"/api/v1/cases/{case['id']}").get_json()["status"] == "containment"  # on ready
    stix = ana.get(f"/api/v1/cases/{case['id']}/stix/objects?type=indicator").get_json()
    assert any("evil-invoices.top" in str(o) for o in stix["items"])

    after = act(ana, "scope_recipients", "complete", inputs={"recipients": 12, "credentials_entered": False})
    states = {s["step_id"]: s["state"] for s in after["steps"]}
    assert states["raise_severity"] == "not_applicable"  # 12 recipients, no credentials: no branch
    assert states["reset_exposed_accounts"] == "not_applicable"

    act(ana, "block_sender_urls", "complete", inputs={"change_tickets": "CHG-1042"})
    waiting = act(ana, "purge_messages", "complete", inputs={"purged": 12})
    assert _steps(waiting)["purge_messages"]["state"] == "blocked"  # until a manager approves
    assert "check_follow_on" not in waiting["ready"]
    refused = ana.post(f"/api/v1/playbook-runs/{run['id']}/steps/purge_messages",
                       json={"action": "approve", "version": _steps(waiting)["purge_messages"]["version"]})
    assert refused.status_code == 403
    approved = act(boss, "purge_messages", "approve", note="Checked the purge log")
    assert sorted(approved["ready"]) == ["check_follow_on", "notify_users"]
    assert approved["offer_state"] == "eradication"  # every containment step is finished

    after = act(ana, "check_follow_on", "complete", inputs={"follow_on_found": False})
    assert _steps(after)["escalate_compromise"]["state"] == "not_applicable"
    act(ana, "notify_users", "complete")
    final = act(ana, "lessons_learned", "complete", inputs={"summary": "Tag external invoices; report button works"})
    assert final["status"] == "completed"
    assert final["finished"] == final["total"] == len(final["steps"])

    timeline = ana.get(f"/api/v1/cases/{case['id']}/timeline?per_page=200").get_json()
    summaries = " ".join(e["summary"] for e in timeline["items"])
    assert "Review and record the lessons learned" in summaries or "lessons_learned" in summaries
