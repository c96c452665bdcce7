"""Linking cases and marking duplicates name the other case by its reference (IR-2026-0002)."""

from __future__ import annotations

import pytest

from .conftest import move


@pytest.fixture
def pair(api, open_case):
    analyst = api("analyst", "ann")
    return analyst, open_case(analyst, title="Phishing wave"), open_case(analyst, title="Same phishing, reported twice")


def related_refs(client, case):
    related = client.get(f"/api/v1/cases/{case['id']}").get_json()["related"]
    return [(r["kind"], r["case"]["reference"]) for r in related]


def test_the_api_links_a_related_case_by_reference(pair):
    analyst, first, second = pair
    r = analyst.post(f"/api/v1/cases/{first['id']}/links", json={"case": second["reference"].lower()})
    assert r.status_code == 201, r.get_json()
    assert related_refs(analyst, first) == [("related", second["reference"])]


def test_the_api_marks_a_duplicate_by_reference(pair):
    analyst, survivor, dup = pair
    r = analyst.post(f"/api/v1/cases/{dup['id']}/links", json={"case": survivor["reference"], "kind": "duplicate_of"})
    assert r.status_code == 201, r.get_json()
    body = analyst.get(f"/api/v1/cases/{dup['id']}").get_json()
    assert (body["status"], body["duplicate_of"]["reference"]) == ("resolved", survivor["reference"])


def test_a_transition_takes_the_survivor_by_reference(pair):
    analyst, survivor, dup = pair
    r = move(analyst, dup, "resolved", resolution="duplicate", summary="same", duplicate_of=survivor["reference"])
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["duplicate_of"]["reference"] == survivor["reference"]


def test_the_id_is_still_accepted(pair):
    analyst, first, second = pair
    assert analyst.post(f"/api/v1/cases/{first['id']}/links", json={"case": second["id"]}).status_code == 201
    r = move(analyst, second, "resolved", resolution="duplicate", summary="same", duplicate_of=str(first["id"]))
    assert r.status_code == 200, r.get_json()


def test_an_unknown_reference_is_422_naming_the_field(pair):
    analyst, first, second = pair
    r = analyst.post(f"/api/v1/cases/{first['id']}/links", json={"case": "IR-1999-0042"})
    error = r.get_json()["error"]
    assert (r.status_code, error["field"]) == (422, "case")
    assert "there is no case IR-1999-0042" in error["message"]
    r = move(analyst, second, "resolved", resolution="duplicate", summary="same", duplicate_of="IR-1999-0042")
    assert (r.status_code, r.get_json()["error"]["field"]) == (422, "duplicate_of")
    assert analyst.get(f"/api/v1/cases/{second['id']}").get_json()["status"] == "new"  # nothing half-done


@pytest.mark.parametrize("value", ["IR-2026", "case two", "IR-2026-0002; DROP TABLE cases", "0", -3])
def test_a_malformed_reference_is_422_naming_the_field(pair, value):
    analyst, first, _ = pair
    r = analyst.post(f"/api/v1/cases/{first['id']}/links", json={"case": value})
    assert (r.status_code, r.get_json()["error"]["field"]) == (422, "case")


def test_a_case_one_may_not_see_is_answered_as_one_that_does_not_exist(api, open_case):
    owner, outsider = api("analyst", "ann"), api("analyst", "bob")
    hidden = open_case(owner, title="HR investigation", restricted=True)
    mine = open_case(outsider, title="Phishing wave")
    missing_reference = hidden["reference"][:-4] + "9999"
    seen = outsider.post(f"/api/v1/cases/{mine['id']}/links", json={"case": hidden["reference"]})
    unknown = outsider.post(f"/api/v1/cases/{mine['id']}/links", json={"case": missing_reference})
    assert seen.status_code == unknown.status_code == 422
    assert seen.get_json()["error"]["message"].replace(hidden["reference"], "X") \
        == unknown.get_json()["error"]["message"].replace(missing_reference, "X")
    assert related_refs(outsider, mine) == []


def test_linking_a_case_to_itself_by_reference_is_refused(pair):
    analyst, first, _ = pair
    r = analyst.post(f"/api/v1/cases/{first['id']}/links", json={"case": first["reference"]})
    assert (r.status_code, r.get_json()["error"]["field"]) == (422, "case")


def test_the_case_page_asks_for_a_reference(pair, login):
    _, first, _ = pair
    page = login("analyst").get(f"/cases/{first['id']}").get_data(as_text=True)
    assert "Other case (its reference)" in page
    assert "Surviving case, for a duplicate (its reference)" in page
    assert " id " not in page.split('data-testid="link-form"')[1].split("</form>")[0]
