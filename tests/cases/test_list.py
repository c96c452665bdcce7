"""Finding cases: filters, full-text search, sort, pagination."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import text

from .conftest import move


@pytest.fixture
def cases(api, open_case, make_team):
    make_team("tier2")
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
    ("sort=-updated", ["scan", "phish", "ransom"]),  # the scan was resolved after all three were opened
    ("sort=updated", ["ransom", "phish", "scan"]),
    ("sort=age", ["scan", "phish", "ransom"]),  # youngest first
    ("sort=-age", ["ransom", "phish", "scan"]),  # oldest first
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
        inner = compiled[compiled.index("SELECT case_id AS id FROM case_search"):compiled.rindex(")")]
        s.execute(text("SET enable_seqscan = off"))
        plan = "\n".join(r[0] for r in s.execute(text(f"EXPLAIN {inner}")))
    assert "ix_case_search_document" in plan, plan


def test_an_unknown_sort_is_422_naming_it(cases):
    analyst, _made = cases
    r = analyst.get("/api/v1/cases?sort=size")
    assert r.status_code == 422
    error = r.get_json()["error"]
    assert error["field"] == "sort"
    assert error["message"].startswith("sort: is not in the accepted form (created, updated, age, priority")


def test_the_list_page_is_compact_sortable_and_keeps_references_on_one_line(cases, app):
    from tests.conftest import WebClient

    analyst, made = cases
    web = WebClient(app.test_client())
    web.login(analyst.user.username)
    html = web.get("/cases?state=open&priority=P1&priority=P2").get_data(as_text=True)
    assert "<select name=\"status\" multiple" not in html
    assert "multiple" not in html.split('data-testid="case-filters"')[1].split("</form>")[0]
    assert 'type="checkbox" name="priority" value="P1" checked' in html
    assert '<details class="more-filters" open>' in html  # a filter in use is shown, the rest stay folded
    chips = html.split('data-testid="filter-chips"')[1].split("</ul>")[0]
    assert "open" in chips
    assert "priority: P1, P2" in chips
    assert 'href="/cases?state=open"' in chips.replace("&amp;", "&")  # removing the priority chip
    assert f'<td class="reference"><a href="/cases/{made["ransom"]["id"]}">{made["ransom"]["reference"]}</a>' in html
    assert "td.reference" in web.get("/static/lists.css").get_data(as_text=True)  # white-space: nowrap
    head = html.split("<thead>")[1].split("</thead>")[0]
    assert 'data-testid="sort-updated"' in head
    assert 'data-testid="sort-age"' in head
    assert re.search(r'href="/cases\?[^"]*sort=-age[^"]*" data-testid="sort-age"', head)
    ages = re.findall(r'data-testid="age"><time [^>]*>([^<]+)</time>', html)
    updated = re.findall(r'data-testid="updated"><time [^>]*>([^<]+)</time>', html)
    assert len(ages) == len(updated) == 2
    assert all(re.fullmatch(r"\d+ min", a) for a in ages), ages  # opened moments ago
    assert all(re.fullmatch(r"\d+ min ago", u) for u in updated), updated
    oldest = web.get("/cases?sort=-age").get_data(as_text=True)
    assert [made[k]["reference"] for k in ("ransom", "phish", "scan")] == re.findall(
        r'data-testid="case-row" data-reference="([^"]+)"', oldest)
    assert "Age ▼" in oldest.split("<thead>")[1]


def test_the_cli_lists_by_last_update(cases, run_cli):
    _analyst, made = cases
    result = run_cli("case", "list", "--sort", "-updated")
    assert result.exit_code == 0, result.output
    listed = [line.split()[0] for line in result.output.splitlines() if line.startswith("IR-")]
    assert listed == [made[k]["reference"] for k in ("scan", "phish", "ransom")]
    bad = run_cli("case", "list", "--sort", "size")
    assert bad.exit_code != 0
    assert "sort: is not in the accepted form" in bad.output
