"""The lifecycle: every allowed edge, a sample of forbidden ones, what each state needs, who may close."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from casemgr.cases.lifecycle import EDGES
from casemgr.cases.models import CaseStatus

from .conftest import move

DOC = Path(__file__).resolve().parents[2] / "docs" / "case-lifecycle.md"
PATH_TO = {
    "new": [],
    "triage": ["triage"],
    "investigating": ["investigating"],
    "containment": ["investigating", "containment"],
    "eradication": ["investigating", "eradication"],
    "recovery": ["investigating", "containment", "recovery"],
    "resolved": ["resolved"],
    "closed": ["resolved", "closed"],
}
NEEDS = {
    "resolved": {"resolution": "remediated", "summary": "Mailbox rules removed, passwords reset."},
    "closed": {"root_cause": "No MFA on the VPN."},
}
REOPEN = {"reason": "The attacker came back."}


def fields_for(source: str, target: str) -> dict[str, str]:
    if source in {"resolved", "closed"} and target == "investigating":
        return REOPEN
    return NEEDS.get(target, {})


def bring_to(client, case, state):
    current = "new"
    for step in PATH_TO[state]:
        r = move(client, case, step, **fields_for(current, step))
        assert r.status_code == 200, (step, r.get_json())
        current = step
    return client.get(f"/api/v1/cases/{case['id']}").get_json()


ALLOWED = [(s.value, t.value) for s, targets in EDGES.items() for t in targets]


@pytest.mark.parametrize(("source", "target"), ALLOWED)
def test_every_allowed_transition(api, open_case, source, target):
    manager = api("manager")
    case = bring_to(manager, open_case(manager), source)
    assert case["status"] == source
    r = move(manager, case, target, **fields_for(source, target))
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["status"] == target
    assert r.get_json()["version"] == case["version"] + 1


FORBIDDEN = [("new", "closed"), ("new", "containment"), ("triage", "eradication"), ("triage", "recovery"),
             ("containment", "investigating"), ("recovery", "containment"), ("eradication", "new"),
             ("resolved", "triage"), ("closed", "resolved"), ("investigating", "closed"), ("new", "new")]


@pytest.mark.parametrize(("source", "target"), FORBIDDEN)
def test_forbidden_transitions_get_409_with_the_allowed_states(api, open_case, source, target):
    manager = api("manager")
    case = bring_to(manager, open_case(manager), source)
    r = move(manager, case, target, **NEEDS.get(target, {}), **REOPEN)
    assert r.status_code == 409
    error = r.get_json()["error"]
    assert error["field"] == "to"
    assert error["allowed"] == [s.value for s in EDGES[CaseStatus(source)]]
    assert error["current_status"] == source
    assert manager.get(f"/api/v1/cases/{case['id']}").get_json()["status"] == source


@pytest.mark.parametrize("missing", ["resolution", "summary"])
def test_resolving_requires_resolution_and_summary(api, open_case, missing):
    analyst = api("analyst")
    case = open_case(analyst)
    fields = {k: v for k, v in NEEDS["resolved"].items() if k != missing}
    r = move(analyst, case, "resolved", **fields)
    assert r.status_code == 422
    assert r.get_json()["error"]["field"] == missing
    assert analyst.get(f"/api/v1/cases/{case['id']}").get_json()["status"] == "new"


def test_false_positive_goes_from_triage_straight_to_resolved(api, open_case):
    analyst = api("analyst")
    case = bring_to(analyst, open_case(analyst), "triage")
    r = move(analyst, case, "resolved", resolution="false_positive", summary="Legitimate bulk mail from HR.")
    body = r.get_json()
    assert (body["status"], body["resolution"]) == ("resolved", "false_positive")
    assert body["resolved_at"] is not None
    assert body["acknowledged_at"] is not None


def test_closing_requires_a_root_cause_and_a_manager(api, open_case):
    analyst, manager = api("analyst"), api("manager")
    case = bring_to(analyst, open_case(analyst), "resolved")
    assert "closed" not in case["allowed_transitions"]
    r = move(analyst, case, "closed", **NEEDS["closed"])
    assert r.status_code == 403
    r = move(manager, case, "closed")
    assert (r.status_code, r.get_json()["error"]["field"]) == (422, "root_cause")
    r = move(manager, case, "closed", **NEEDS["closed"])
    assert r.status_code == 200
    assert r.get_json()["closed_at"] is not None
    assert r.get_json()["root_cause"] == NEEDS["closed"]["root_cause"]


def test_reopen_needs_a_reason_and_clears_the_resolution(api, open_case):
    manager = api("manager")
    case = bring_to(manager, open_case(manager), "closed")
    r = move(manager, case, "investigating")
    assert (r.status_code, r.get_json()["error"]["field"]) == (422, "reason")
    r = move(manager, case, "investigating", **REOPEN)
    body = r.get_json()
    assert body["status"] == "investigating"
    assert body["resolution"] is body["closed_at"] is body["resolved_at"] is body["root_cause"] is None


def test_lifecycle_sets_the_times(api, open_case):
    analyst = api("analyst")
    case = bring_to(analyst, open_case(analyst), "containment")
    assert case["acknowledged_at"] is not None
    assert case["contained_at"] is None
    r = move(analyst, case, "eradication")
    assert r.get_json()["contained_at"] is not None


def test_lifecycle_times_are_editable_only_with_a_reason(api, open_case):
    analyst = api("analyst")
    case = bring_to(analyst, open_case(analyst), "triage")
    r = analyst.patch(f"/api/v1/cases/{case['id']}", json={"version": case["version"],
                                                            "acknowledged_at": "2026-01-02T03:04:05Z"})
    assert (r.status_code, r.get_json()["error"]["field"]) == (422, "time_reason")
    r = analyst.patch(f"/api/v1/cases/{case['id']}", json={"version": case["version"],
                                                            "acknowledged_at": "2026-01-02T03:04:05Z",
                                                            "time_reason": "Acknowledged by phone first"})
    assert r.status_code == 200
    assert r.get_json()["acknowledged_at"] == "2026-01-02T03:04:05Z"


def test_the_documented_edges_are_the_enforced_edges():
    text = DOC.read_text().split("## What each move needs")[0]
    documented = {}
    for source, targets in re.findall(r"^\|\s*`(\w+)`\s*\|\s*([^|]+?)\s*\|", text, flags=re.MULTILINE):
        documented[source] = re.findall(r"`(\w+)`", targets)
    assert documented == {s.value: [t.value for t in ts] for s, ts in EDGES.items()}
