"""Finding cases: filters, full-text search, sort, pagination."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from .conftest import move


@pytest.fixture
def cases(api, open_case):
    manager = api("manager", "boss")
    analyst = api("analyst", "ann")
    made = {
        "ransom": open_case(manager, title="Ransomware on file server", category="malicious-code",
                            subcategory="ransomware", impact="high", urgency="high", tags=["lockbit", "smb"],
                            tlp="red", owner="ann", team="tier2", occurred_at="2026-01-05T00:00:00Z",
                            description="Encrypted shares on fs01; note left by the actor."),
        "phish": open_case(analyst, title="Phishing wave", description="Fake invoices from evil-domain.example",
                           tags=["bec"]),
        "scan": open_case(analyst, title="Port scan from the internet", category="information-gathering",
                          subcategory="scanner", impact="low", urgency="low", tlp="green"),
    }
    move(manager, made["scan"], "resolved", resolution="false_positive", summary="our own scanner")
    analyst.post(f"/api/v1/cases/{made['phish']['id']}/notes",
                 json={"body": "User *Karolina* clicked the link at 09:12."})
    analyst.post(f"/api/v1/cases/{made['scan']['id']}/events",
                 json={"occurred_at": "2026-01-01T00:00:00Z", "summary": "Nightly vulnerability sweep started"})
    return analyst, made


def refs(response):
    assert response.status_code == 200, response.get_json()
    return [c["reference"] for c in response.get_json()["items"]]


@pytest.mark.parametrize(("query", "expected"), [
    ("", ["scan", "phish", "ransom"]),
    ("status=new", ["phish", "ransom"]),
    ("status=new,resolved", ["scan", "phish", "ransom"]),
    ("priority=P1", ["ransom"]),
    ("priority=P1,P2", ["phish", "ransom"]),
    ("category=malicious-code", ["ransom"]),
    ("subcategory=scanner", ["scan"]),
    ("owner=ann", ["ransom"]),
    ("owner=none", ["scan", "phish"]),
    ("team=tier2", ["ransom"]),
    ("tag=lockbit", ["ransom"]),
    ("tlp=green", ["scan"]),
    ("state=open", ["phish", "ransom"]),
    ("state=closed", ["scan"]),
    ("date_field=occurred&since=2026-01-01T00:00:00Z", ["ransom"]),
    ("since=2000-01-01&until=2001-01-01", []),
    ("sort=created", ["ransom", "phish", "scan"]),
    ("sort=priority", ["ransom", "phish", "scan"]),
    ("sort=-priority", ["scan", "phish", "ransom"]),
])
def test_filters_and_sorts(cases, query, expected):
    analyst, made = cases
    assert refs(analyst.get(f"/api/v1/cases?{query}")) == [made[k]["reference"] for k in expected]


@pytest.mark.parametrize(("words", "expected"), [
    ("ransomware", ["ransom"]),
    ("RANSOM", ["ransom"]),  # prefix, any case
    ("encrypted fs01", ["ransom"]),  # description, every word
    ("evil-domain.example", ["phish"]),  # punctuation splits words the same way on both databases
    ("karolina", ["phish"]),  # a note
    ("vulnerability sweep", ["scan"]),  # a manual event
    ("karolina invoices", ["phish"]),  # one word in a note, one in the description
    ("phishing ransomware", []),  # every word must match in the same case
    ("nothing-like-this", []),
    ("'\" OR 1=1 --", []),
    ("*", []),
])
def test_full_text_search(cases, words, expected):
    analyst, made = cases
    assert refs(analyst.get("/api/v1/cases", query_string={"q": words})) == [made[k]["reference"] for k in expected]


def test_search_sees_edits(cases):
    analyst, made = cases
    case = analyst.get(f"/api/v1/cases/{made['phish']['id']}").get_json()
    analyst.patch(f"/api/v1/cases/{case['id']}", json={"version": case["version"], "title": "Smishing wave"})
    assert refs(analyst.get("/api/v1/cases?q=smishing")) == [made["phish"]["reference"]]
    assert refs(analyst.get("/api/v1/cases?q=phishing")) == []


def test_search_follows_notes_changed_or_removed_in_the_database(cases, db):
    # The app never edits notes, but an operator's correction in the database must not leave stale words.
    analyst, made = cases
    with db.transaction() as s:
        s.execute(text("UPDATE case_timeline SET body = 'User Rosalind clicked' WHERE body LIKE '%Karolina%'"))
    assert refs(analyst.get("/api/v1/cases?q=karolina")) == []
    assert refs(analyst.get("/api/v1/cases?q=rosalind")) == [made["phish"]["reference"]]
    with db.transaction() as s:
        s.execute(text("DELETE FROM case_timeline WHERE body LIKE '%Rosalind%'"))
    assert refs(analyst.get("/api/v1/cases?q=rosalind")) == []
    assert refs(analyst.get("/api/v1/cases?q=invoices")) == [made["phish"]["reference"]]


def test_pagination_reports_the_total(cases):
    analyst, made = cases
    first = analyst.get("/api/v1/cases?per_page=2").get_json()
    second = analyst.get("/api/v1/cases?per_page=2&page=2").get_json()
    assert (first["total"], second["total"], first["page"], second["page"]) == (3, 3, 1, 2)
    assert [c["reference"] for c in first["items"] + second["items"]] == [
        made[k]["reference"] for k in ("scan", "phish", "ransom")]


def test_list_items_carry_owner_and_tags(cases):
    analyst, made = cases
    item = analyst.get("/api/v1/cases?tag=lockbit").get_json()["items"][0]
    assert (item["owner"], item["tags"], item["priority"], item["team"]) == ("ann", ["lockbit", "smb"], "P1", "tier2")


def test_postgres_search_uses_the_gin_index(cases, db, is_postgres):
    if not is_postgres:
        pytest.skip("PostgreSQL plan check")
    from sqlalchemy import select

    from casemgr.cases import search
    from casemgr.cases.models import Case

    with db.session(write=False) as s:
        where = search.matching(s, "ransom")
        compiled = str(select(Case.id).where(where).compile(s.get_bind(), compile_kwargs={"literal_binds": True}))
        inner = compiled[compiled.index("SELECT case_id FROM case_search"):compiled.rindex(")")]
        s.execute(text("SET enable_seqscan = off"))
        plan = "\n".join(r[0] for r in s.execute(text(f"EXPLAIN {inner}")))
    assert "ix_case_search_document" in plan, plan
