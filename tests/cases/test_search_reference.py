"""Finding a case by its reference: whole, by number, or by its start; such matches come first."""

from __future__ import annotations

import re

import pytest


@pytest.fixture
def cases(api, open_case):
    analyst = api("analyst", "ann")
    first = open_case(analyst, title="Phishing wave", description="Fake invoices")
    second = open_case(analyst, title="Malware on laptop",
                       description="Probably a follow-up: see notes")
    third = open_case(analyst, title="Port scan")
    # A note naming the first case by reference: a full-text hit for its words, listed after the case itself.
    analyst.post(f"/api/v1/cases/{third['id']}/notes", json={"body": f"Same actor as {first['reference']}."})
    return analyst, first, second, third


def refs(response):
    assert response.status_code == 200, response.get_json()
    return [c["reference"] for c in response.get_json()["items"]]


def test_references_are_what_the_tests_expect(cases):
    _, first, second, third = cases
    assert re.fullmatch(r"IR-\d{4}-0001", first["reference"])
    assert second["reference"].endswith("-0002")


@pytest.mark.parametrize("how", ["whole", "lower", "number", "short number", "padded number", "year-number"])
def test_a_reference_finds_its_case_first(cases, how):
    analyst, first, _, third = cases
    year = first["reference"].split("-")[1]
    query = {"whole": first["reference"], "lower": first["reference"].lower(), "number": "0001",
             "short number": "1", "padded number": "00001", "year-number": f"{year}-1"}[how]
    found = refs(analyst.get("/api/v1/cases", query_string={"q": query}))
    assert found[0] == first["reference"]
    if how in ("whole", "lower"):  # the note that names the reference is a full-text hit, after it
        assert found == [first["reference"], third["reference"]]


def test_a_reference_comes_first_whatever_the_sort(cases):
    analyst, first, _, third = cases
    for sort in ("-created", "created", "priority", "-updated"):
        found = refs(analyst.get("/api/v1/cases", query_string={"q": first["reference"], "sort": sort}))
        assert found == [first["reference"], third["reference"]], sort


@pytest.mark.parametrize("prefix", ["IR", "ir", "IR-", "year", "year-0"])
def test_the_start_of_a_reference_matches_references_by_prefix(cases, prefix):
    analyst, first, second, third = cases
    year = first["reference"].split("-")[1]
    query = {"year": f"IR-{year}", "year-0": f"IR-{year}-0"}.get(prefix, prefix)
    found = refs(analyst.get("/api/v1/cases", query_string={"q": query}))
    assert sorted(found) == sorted([first["reference"], second["reference"], third["reference"]])


def test_an_unknown_reference_matches_nothing(cases):
    analyst, *_ = cases
    assert refs(analyst.get("/api/v1/cases", query_string={"q": "IR-1999-0042"})) == []
    assert refs(analyst.get("/api/v1/cases", query_string={"q": "0042"})) == []


def test_words_still_search_the_text(cases):
    analyst, first, second, _ = cases
    assert refs(analyst.get("/api/v1/cases", query_string={"q": "invoices"})) == [first["reference"]]
    assert refs(analyst.get("/api/v1/cases", query_string={"q": "irrelevant"})) == []


def test_a_reference_search_hides_cases_the_user_may_not_see(api, open_case):
    owner = api("analyst", "ann")
    hidden = open_case(owner, title="HR investigation", restricted=True)
    other = api("analyst", "bob")
    assert refs(other.get("/api/v1/cases", query_string={"q": hidden["reference"]})) == []
    assert refs(owner.get("/api/v1/cases", query_string={"q": hidden["reference"]})) == [hidden["reference"]]


def test_the_case_list_page_finds_a_reference(cases, login):
    _, first, _, third = cases
    page = login("analyst").get("/cases", query_string={"q": first["reference"]}).get_data(as_text=True)
    assert "2 cases match" in page
    assert page.index(first["reference"]) < page.index(third["reference"])
    page = login("analyst").get("/cases", query_string={"q": "0001"}).get_data(as_text=True)
    assert "2 cases match" in page  # the case, then the note that names it
    assert page.index(first["reference"]) < page.index(third["reference"])
    page = login("analyst").get("/cases", query_string={"q": "IR"}).get_data(as_text=True)
    assert "3 cases match" in page
