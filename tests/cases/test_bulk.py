"""Bulk actions on the case list: each case under the rules of the same change made alone, refused
cases left exactly as they were and reported with the reason, in the API and the web UI."""

from __future__ import annotations

from typing import Any

import pytest

from tests.forms import form_on

from .conftest import move


@pytest.fixture
def world(api: Any, open_case: Any) -> dict[str, Any]:
    ann, bob, mia = api("analyst", "ann"), api("analyst", "bob"), api("manager", "mia")
    return {"ann": ann, "bob": bob, "mia": mia, "aud": api("auditor", "aud"),
            "free": open_case(ann, title="Nobody owns this"),
            "bobs": open_case(bob, title="Bob's case", owner="bob"),
            "secret": open_case(mia, title="Restricted, ann is not a member", restricted=True),
            "survivor": open_case(ann, title="The first report")}


def bulk(client: Any, **body: Any) -> Any:
    return client.post("/api/v1/cases/bulk", json=body)


def outcomes(response: Any) -> dict[str, tuple[str, int, str]]:
    assert response.status_code == 200, response.get_json()
    return {o["case"]: (o["outcome"], o["status"], o["message"]) for o in response.get_json()["outcomes"]}


def test_assign_follows_the_one_by_one_rules_per_case(world):
    ann = world["ann"]
    free, bobs, secret = world["free"], world["bobs"], world["secret"]
    got = outcomes(bulk(ann, action="assign", owner="ann",
                        cases=[free["reference"], bobs["reference"], secret["reference"], "IR-1999-0001"]))
    assert got[free["reference"]] == ("done", 200, "assigned to ann")
    assert got[bobs["reference"]][:2] == ("refused", 403)
    assert got[bobs["reference"]][2].startswith("only managers assign cases")
    # hidden from ann: reported exactly like a case that does not exist
    assert got[secret["reference"]] == ("refused", 404, f"there is no case {secret['reference']}")
    assert got["IR-1999-0001"] == ("refused", 404, "there is no case IR-1999-0001")
    manager = world["mia"]
    assert manager.get(f"/api/v1/cases/{free['id']}").get_json()["owner"] == "ann"
    refused = manager.get(f"/api/v1/cases/{bobs['id']}").get_json()
    assert (refused["owner"], refused["version"]) == ("bob", bobs["version"])  # left exactly as it was
    again = outcomes(bulk(ann, action="assign", owner="ann", cases=[free["reference"]]))
    assert again[free["reference"]] == ("unchanged", 200, "already so; nothing to change")


def test_tag_writes_the_same_timeline_and_audit_records_as_one_by_one(world):
    mia = world["mia"]
    cases = [world["free"], world["bobs"], world["secret"]]
    result = bulk(mia, action="tag", tag="Phishing", cases=[c["reference"] for c in cases])
    assert result.get_json()["done"] == 3
    for c in cases:
        shown = mia.get(f"/api/v1/cases/{c['id']}").get_json()
        assert "phishing" in shown["tags"]
        entry = mia.get(f"/api/v1/cases/{c['id']}/timeline").get_json()["items"][-1]
        assert (entry["actor"], entry["summary"], entry["changes"]["tags"][1]) == ("mia", "Changed tags", ["phishing"])
    audit = world["aud"].get("/api/v1/audit?action=case.update&actor=mia").get_json()
    assert sorted(int(a["object_id"]) for a in audit["items"]) == sorted(c["id"] for c in cases)


def test_resolve_as_duplicate_refuses_what_the_case_page_refuses(world):
    ann, survivor, free, bobs = world["ann"], world["survivor"], world["free"], world["bobs"]
    move(ann, bobs, "resolved", resolution="false_positive", summary="a test mail")
    got = outcomes(bulk(ann, action="duplicate", duplicate_of=survivor["reference"],
                        cases=[free["reference"], bobs["reference"], survivor["reference"]]))
    assert got[free["reference"]] == ("done", 200, f"resolved as a duplicate of {survivor['reference']}")
    assert got[bobs["reference"]][:2] == ("refused", 409)
    assert got[bobs["reference"]][2] == "a resolved case cannot move to resolved; it can move to: closed, investigating"
    assert got[survivor["reference"]] == ("refused", 422, "duplicate_of: a case cannot be linked to itself")
    shown = ann.get(f"/api/v1/cases/{free['id']}").get_json()
    assert (shown["status"], shown["resolution"], shown["duplicate_of"]["reference"]) == (
        "resolved", "duplicate", survivor["reference"])


@pytest.mark.parametrize(("body", "status", "field", "message"), [
    ({"action": "tag", "cases": ["IR-2026-0001"]}, 422, "tag", "tag: the tag to add is required to tag cases"),
    ({"action": "close", "cases": ["IR-2026-0001"]}, 422, "action", None),
    ({"action": "tag", "tag": "x", "cases": []}, 422, "cases", "cases: select at least one case"),
    ({"action": "tag", "tag": "x", "cases": ["not a case"]}, 422, "cases.0", None),
])
def test_bad_bulk_input_names_the_field(world, body, status, field, message):
    r = bulk(world["mia"], **body)
    assert r.status_code == status
    error = r.get_json()["error"]
    assert error["field"] == field
    if message:
        assert error["message"] == message


def test_auditors_change_no_case_in_bulk_either(world):
    r = bulk(world["aud"], action="tag", tag="x", cases=[world["free"]["reference"]])
    assert r.status_code == 403
    assert r.get_json()["error"]["message"] == "auditors have read-only access to cases"


def test_the_bulk_bar_as_rendered_reports_each_case(world, app):
    from tests.conftest import WebClient

    web = WebClient(app.test_client())
    web.login("ann")
    listed = web.get("/cases?state=open").get_data(as_text=True)
    assert 'data-testid="bulk-form"' in listed
    form = form_on(web, "/cases?state=open", testid="bulk-form")
    response = form.submit(web, {"cases": True, "action": "assign", "owner": "ann"})  # every row ticked
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    rows = {r.split('data-reference="')[1].split('"')[0]: r.split('data-outcome="')[1].split('"')[0]
            for r in page.split('data-testid="bulk-outcome"')[1:]}
    assert rows == {world["free"]["reference"]: "done", world["survivor"]["reference"]: "done",
                    world["bobs"]["reference"]: "refused"}
    assert "2 cases changed, 0 already so, 1 refused (left exactly as they were)." in page
    assert "only managers assign cases" in page
    assert 'href="/cases?state=open"' in page  # back to the list as it was


def test_the_bulk_bar_with_nothing_ticked_says_so(world, app):
    from tests.conftest import WebClient

    web = WebClient(app.test_client())
    web.login("mia")
    form = form_on(web, "/cases", testid="bulk-form")
    response = form.submit(web, {"action": "tag", "tag": "x"})
    assert response.status_code == 422
    assert "<strong>cases</strong>: select at least one case" in response.get_data(as_text=True)
