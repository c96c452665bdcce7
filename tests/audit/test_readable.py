"""The audit page shows each entry as readable fields, names and links the case it is about only for readers
who may see that case, and filters by case reference."""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

import pytest

from casemgr.audit import service as audit
from casemgr.auth.actor import Actor


@pytest.fixture
def cases(api, open_case, db) -> dict[str, Any]:
    """Two cases an analyst opened, one changed; an evidence entry and an indicator entry about the first (as
    their services write them), and an entry with a quote and markup in a value."""
    analyst = api("analyst")
    first, second = open_case(analyst), open_case(analyst, restricted=True)
    changed = analyst.patch(f"/api/v1/cases/{first['id']}", json={
        "version": first["version"], "acknowledged_at": "2026-01-02T03:04:05Z", "time_reason": "late"})
    assert changed.status_code == 200, changed.get_json()
    with db.transaction() as s:
        operator = Actor.system("ops-quote")
        audit.record(s, operator, "evidence.verified", "evidence", 41, {"case_id": first["id"], "ok": True})
        audit.record(s, operator, "indicator.create", "indicator", 42,
                     {"case": first["reference"], "stix_id": "indicator--00000000-0000-4000-8000-000000000001"})
        audit.record(s, operator, "test.note", "thing", 1, {"note": "it's <b>bold</b>", "tags": ["a", "b"]})
    return {"first": first, "second": second}


def rows(html: str) -> list[str]:
    return re.findall(r'<tr data-testid="audit-row">(.*?)</tr>', html, re.S)


def cell(row: str, testid: str) -> str:
    found = re.search(rf'data-testid="{testid}">(.*?)</td>', row, re.S)
    assert found, testid
    return found.group(1)


def page(client, **params: str) -> Any:
    return client.get("/audit?" + urllib.parse.urlencode(params))


def test_entries_read_as_fields_not_json(login, cases):
    html = page(login("auditor"), per_page="200").get_data(as_text=True)
    quoted = next(r for r in rows(html) if "test.note" in r)
    details = cell(quoted, "audit-details")
    assert "<b>note</b>: it&#39;s &lt;b&gt;bold&lt;/b&gt;" in details  # shown as typed, inert
    assert "<b>tags</b>: a, b" in details
    assert "\\u0027" not in html
    assert "{&#34;" not in html
    assert '{"' not in details
    change = next(r for r in rows(html) if "case.update" in r)
    assert "<b>acknowledged at</b>: — → 2026-01-02 03:04:05 UTC" in cell(change, "audit-details")
    created = next(r for r in rows(html) if "case.create" in r and cases["first"]["reference"] in r)
    assert "<b>restricted</b>: no" in cell(created, "audit-details")


def test_values_read_as_the_case_pages_word_them(login, db):
    with db.transaction() as s:
        audit.record(s, Actor.system("ops"), "test.words", "thing", 2, {
            "owner": "ann_smith", "source": "user_report", "size": 52428800,
            "changes": {"resolution": [None, "false_positive"], "tlp": ["amber", "red"]}})
    html = page(login("auditor"), action="test.words").get_data(as_text=True)
    details = cell(rows(html)[0], "audit-details")
    assert "<b>owner</b>: ann_smith" in details  # text as typed
    assert "<b>source</b>: user report" in details  # a code as its label, as on the case page
    assert "<b>resolution</b>: — → false positive" in details
    assert "<b>TLP</b>: amber → red" in details
    assert "<b>size</b>: 50 MiB (52,428,800 bytes)" in details


def test_auditors_see_the_case_linked(login, cases):
    first = cases["first"]
    html = page(login("auditor"), per_page="200").get_data(as_text=True)
    link = f'<a href="/cases/{first["id"]}">{first["reference"]}</a>'
    about = [r for r in rows(html) if link in cell(r, "audit-case")]
    assert len(about) == 4  # created, changed, the evidence and the indicator entries
    by_action = {re.search(r"<td>([a-z.]+)</td>", r).group(1): cell(r, "audit-object") for r in about}
    assert by_action["case.create"] == f'<a href="/cases/{first["id"]}">case {first["id"]}</a>'
    assert by_action["evidence.verified"] == '<a href="/evidence/41">evidence 41</a>'
    assert by_action["indicator.create"] == (f'<a href="/cases/{first["id"]}/stix/objects/'
                                             'indicator--00000000-0000-4000-8000-000000000001">indicator 42</a>')


def test_admins_see_no_case_reference_and_no_link(login, cases):
    html = page(login("admin"), per_page="200").get_data(as_text=True)
    table = "".join(rows(html))
    assert len(rows(html)) >= 6
    for case in cases.values():
        assert case["reference"] not in table
    assert 'href="/cases/' not in table
    assert 'href="/evidence/' not in table
    created = [r for r in rows(html) if "case.create" in r]
    # The object's type and id stay.
    assert {cell(r, "audit-object") for r in created} == {f"case {c['id']}" for c in cases.values()}
    assert {cell(r, "audit-case") for r in created} == {""}


def test_filter_by_case_reference(login, api, cases):
    first, second = cases["first"], cases["second"]
    auditor = login("auditor")
    listed = page(auditor, case=first["reference"].lower())  # any letter case
    assert listed.status_code == 200
    actions = [re.search(r"<td>([a-z.]+)</td>", r).group(1) for r in rows(listed.get_data(as_text=True))]
    assert actions == ["indicator.create", "evidence.verified", "case.update", "case.create"]
    assert "4 entries match" in listed.get_data(as_text=True)
    body = api("auditor").get(f"/api/v1/audit?case={second['reference']}").get_json()
    assert [i["action"] for i in body["items"]] == ["case.create"]


def test_a_case_filter_the_reader_may_not_see_or_misspelt(login, api, cases):
    hidden = page(login("admin"), case=cases["first"]["reference"])
    assert hidden.status_code == 404
    assert f"case {cases['first']['reference']} does not exist" in hidden.get_data(as_text=True)
    assert rows(hidden.get_data(as_text=True)) == []
    wrong = api("auditor").get("/api/v1/audit?case=IR-26-1")
    assert wrong.status_code == 422
    assert wrong.get_json()["error"]["field"] == "case"
    assert "give a case reference such as IR-2026-0001" in wrong.get_json()["error"]["message"]
    unknown = api("auditor").get("/api/v1/audit?case=IR-2026-9999")
    assert unknown.status_code == 404
    assert unknown.get_json()["error"]["field"] == "case"


def test_the_api_names_the_case_by_the_same_rule(api, cases):
    first = cases["first"]
    by_auditor = api("auditor").get("/api/v1/audit?per_page=200&action=case.create").get_json()["items"]
    assert {(i["case"]["id"], i["case"]["reference"]) for i in by_auditor} == {
        (c["id"], c["reference"]) for c in cases.values()}
    assert by_auditor[-1]["summary"]["reference"] == first["reference"]  # as recorded
    by_admin = api("admin").get("/api/v1/audit?per_page=200").get_json()["items"]
    assert {i["case"] for i in by_admin} == {None}
    listed = str(by_admin)
    for case in cases.values():
        assert case["reference"] not in listed
    assert any(i["action"] == "case.create" and i["object_id"] == str(first["id"]) for i in by_admin)
