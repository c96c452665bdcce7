"""Sharing a case more widely is a manager's decision with a reason: lowering its TLP, lifting its restriction.
Raising the TLP or restricting a case stays with anyone who may change it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.cases.test_views import _edit_form, text

REASON = "customer asked to share with the sector ISAC 8812"


def patch(client: Any, case: dict[str, Any], **fields: Any) -> Any:
    version = client.get(f"/api/v1/cases/{case['id']}").get_json()["version"]
    return client.patch(f"/api/v1/cases/{case['id']}", json={"version": version, **fields})


@pytest.mark.parametrize(("fields", "field"), [({"tlp": "green"}, "tlp"), ({"restricted": False}, "restricted")])
def test_lowering_the_tlp_or_lifting_the_restriction_needs_a_manager_and_a_reason(api, open_case, fields, field):
    member, manager = api("analyst"), api("manager")
    case = open_case(member, tlp="amber", restricted=True)
    refused = patch(member, case, **fields, reason=REASON)
    assert refused.status_code == 403
    assert refused.get_json()["error"]["field"] == field
    assert "only managers" in refused.get_json()["error"]["message"]
    missing = patch(manager, case, **fields)
    assert missing.status_code == 422
    assert missing.get_json()["error"]["field"] == "reason"
    assert patch(manager, case, **fields, reason="  ").get_json()["error"]["field"] == "reason"
    unchanged = manager.get(f"/api/v1/cases/{case['id']}").get_json()
    assert (unchanged["tlp"], unchanged["restricted"]) == ("amber", True)

    done = patch(manager, case, **fields, reason=REASON)
    assert done.status_code == 200, done.get_json()
    assert done.get_json()[field] == fields[field]
    entries = manager.get(f"/api/v1/cases/{case['id']}/timeline").get_json()["items"]
    assert entries[-1]["changes"]["reason"] == [None, REASON]
    assert field in entries[-1]["changes"]
    audit = api("admin").get("/api/v1/audit?action=case.update").get_json()["items"][0]
    assert "reason" in audit["summary"]["text_changed"]
    assert REASON not in str(audit)


def test_raising_the_tlp_and_restricting_stay_with_whoever_may_change_the_case(api, open_case):
    member = api("analyst")
    case = open_case(member, tlp="green")
    assert patch(member, case, tlp="red").status_code == 200
    assert patch(member, case, restricted=True).status_code == 200
    assert patch(member, case, tlp="red", title="Same TLP again").status_code == 200  # not lowered: no reason
    both = patch(api("manager"), case, tlp="clear", restricted=False)
    assert both.status_code == 422
    assert "lower the TLP from RED to CLEAR and lift the restriction" in both.get_json()["error"]["message"]


def test_the_edit_form_asks_managers_for_the_reason(api, login, open_case):
    member = api("analyst")
    case = open_case(member, tlp="amber", restricted=True, members=[])
    manager = login("manager")
    form = _edit_form(manager, case["id"])
    assert form["reason"] == ""  # rendered, empty
    assert form["restricted"] == "on"
    form["tlp"] = "green"
    missing = manager.post(f"/cases/{case['id']}/edit", form)
    assert missing.status_code == 422
    assert 'data-field="reason"' in missing.get_data(as_text=True)
    form = _edit_form(manager, case["id"])
    form["tlp"], form["reason"] = "green", REASON
    saved = manager.post(f"/cases/{case['id']}/edit", form)
    assert saved.status_code == 302, text(saved)
    assert REASON in text(manager.get(f"/cases/{case['id']}/timeline"))
    assert member.get(f"/api/v1/cases/{case['id']}").get_json()["tlp"] == "green"


def test_the_edit_form_refuses_an_analyst_lowering_the_tlp(api, login, open_case):
    case = open_case(api("analyst"), tlp="amber")
    analyst = login("analyst")
    form = _edit_form(analyst, case["id"])
    assert "reason" not in form  # the field is for managers
    form["tlp"] = "clear"
    refused = analyst.post(f"/cases/{case['id']}/edit", form)
    assert refused.status_code == 403
    assert "only managers may lower the TLP from AMBER to CLEAR" in text(refused)
