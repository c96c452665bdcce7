"""ITIL impact x urgency -> priority, severity following priority, and the overrides."""

from __future__ import annotations

import pytest

MATRIX = [
    ("high", "high", "P1", "critical"),
    ("high", "medium", "P2", "high"),
    ("medium", "high", "P2", "high"),
    ("high", "low", "P3", "medium"),
    ("medium", "medium", "P3", "medium"),
    ("low", "high", "P3", "medium"),
    ("medium", "low", "P4", "low"),
    ("low", "medium", "P4", "low"),
    ("low", "low", "P5", "informational"),
]


@pytest.mark.parametrize(("impact", "urgency", "priority", "severity"), MATRIX)
def test_priority_matrix_on_create(api, open_case, impact, urgency, priority, severity):
    case = open_case(api("analyst"), impact=impact, urgency=urgency)
    assert (case["priority"], case["severity"]) == (priority, severity)
    assert case["priority_overridden"] is False


def test_priority_follows_impact_and_urgency_changes(api, open_case):
    analyst = api("analyst")
    case = open_case(analyst, impact="low", urgency="low")
    r = analyst.patch(f"/api/v1/cases/{case['id']}", json={"version": case["version"], "impact": "high",
                                                           "urgency": "high"})
    assert r.status_code == 200, r.get_json()
    assert (r.get_json()["priority"], r.get_json()["severity"]) == ("P1", "critical")


def test_manager_overrides_priority_with_reason_and_severity_follows(api, open_case):
    manager = api("manager")
    case = open_case(api("analyst"), impact="low", urgency="low")
    r = manager.patch(f"/api/v1/cases/{case['id']}", json={
        "version": case["version"], "priority_override": "P1", "priority_reason": "CEO mailbox involved"})
    body = r.get_json()
    assert r.status_code == 200, body
    assert (body["priority"], body["severity"], body["priority_overridden"]) == ("P1", "critical", True)
    assert body["priority_reason"] == "CEO mailbox involved"
    # The matrix no longer moves an overridden priority ...
    r = manager.patch(f"/api/v1/cases/{case['id']}", json={"version": body["version"], "impact": "medium"})
    assert r.get_json()["priority"] == "P1"
    # ... until the override is lifted.
    r = manager.patch(f"/api/v1/cases/{case['id']}", json={"version": r.get_json()["version"],
                                                            "priority_override": None})
    assert (r.get_json()["priority"], r.get_json()["priority_overridden"]) == ("P4", False)


def test_priority_override_needs_a_reason(api, open_case):
    manager = api("manager")
    case = open_case(manager)
    r = manager.patch(f"/api/v1/cases/{case['id']}", json={"version": 1, "priority_override": "P1"})
    assert r.status_code == 422
    assert r.get_json()["error"]["field"] == "priority_reason"


def test_analyst_may_not_override_priority(api, open_case):
    analyst = api("analyst")
    case = open_case(analyst)
    r = analyst.patch(f"/api/v1/cases/{case['id']}", json={"version": 1, "priority_override": "P1",
                                                            "priority_reason": "feels urgent"})
    assert r.status_code == 403
    assert r.get_json()["error"]["field"] == "priority_override"
    assert analyst.get(f"/api/v1/cases/{case['id']}").get_json()["priority"] == "P2"


def test_severity_override_with_reason_then_back_to_following_priority(api, open_case):
    analyst = api("analyst")
    case = open_case(analyst, impact="low", urgency="low")
    r = analyst.patch(f"/api/v1/cases/{case['id']}", json={"version": 1, "severity_override": "high"})
    assert (r.status_code, r.get_json()["error"]["field"]) == (422, "severity_reason")
    r = analyst.patch(f"/api/v1/cases/{case['id']}", json={"version": 1, "severity_override": "high",
                                                            "severity_reason": "regulated data"})
    assert (r.get_json()["priority"], r.get_json()["severity"]) == ("P5", "high")
    r = analyst.patch(f"/api/v1/cases/{case['id']}", json={"version": 2, "severity_override": None})
    assert (r.get_json()["severity"], r.get_json()["severity_overridden"]) == ("informational", False)
