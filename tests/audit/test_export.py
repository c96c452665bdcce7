"""Exporting a filtered range with the chain proof, checked as an outsider would (tests/audit/outside_check.py:
hashlib, rfc8785 and cryptography only) on the files the UI, the API and the CLI give."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from typing import Any

import pytest

from casemgr.audit import service as audit
from casemgr.auth.actor import Actor
from tests.audit.outside_check import check_csv, check_jsonl, script
from tests.forms import form_on


@pytest.fixture
def logged(db) -> dict[str, Any]:
    """Entries by two operators, one named like a formula, with a value that a spreadsheet would run."""
    seqs: dict[str, list[int]] = {"ops-a": [], "=1+2": []}
    for i in range(6):
        name = "ops-a" if i % 2 == 0 else "=1+2"
        with db.transaction() as s:
            entry = audit.record(s, Actor.system(name), "test.event", "thing", i,
                                 {"note": "@SUM(A1:A9)" if i == 1 else f"n{i}", "quote": "it's"})
            seqs[name].append(entry.seq)
    return seqs


def export_api(client, fmt: str, **filters: Any) -> Any:
    return client.post(f"/api/v1/audit/export.{fmt}", json=filters)


def lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.split("\n") if line]


def test_jsonl_export_proves_the_filtered_entries(api, logged, published_key):
    response = export_api(api("auditor"), "jsonl", actor="ops-a")
    assert response.status_code == 200
    assert response.mimetype == "application/x-ndjson"
    assert "attachment" in response.headers["Content-Disposition"]
    text = response.get_data(as_text=True)
    assert check_jsonl(text, published_key) == []
    header, *records, checkpoint = lines(text)
    assert header["filters"] == {"actor": "ops-a"}
    assert [r["entry"]["seq"] for r in records if r["type"] == "entry"] == logged["ops-a"]
    assert header["matching"] == len(logged["ops-a"])
    assert {r["entry"]["actor_name"] for r in records if r["type"] == "link"} >= {"=1+2"}
    assert records[0]["entry"]["seq"] == logged["ops-a"][0]  # from the first match
    assert checkpoint["entry_count"] >= logged["ops-a"][-1]  # to the checkpoint at or after the last


def test_a_tampered_jsonl_line_fails_the_check(api, logged, published_key):
    text = export_api(api("auditor"), "jsonl").get_data(as_text=True)
    header, *records, checkpoint = lines(text)
    target = next(r for r in records if r["entry"]["seq"] == logged["ops-a"][1])

    def rewritten(change) -> str:
        copy = json.loads(json.dumps(records))
        change(next(r for r in copy if r["entry"]["seq"] == target["entry"]["seq"]))
        return "\n".join(json.dumps(x) for x in [header, *copy, checkpoint]) + "\n"

    def edit_field(r):
        r["entry"]["summary"]["note"] = "nothing to see"

    def edit_both(r):
        r["entry"]["action"] = "test.other"
        r["canonical"] = r["canonical"].replace('"test.event"', '"test.other"')

    def edit_and_rehash(r):
        import hashlib
        edit_both(r)
        r["hash"] = hashlib.sha256((r["prev_hash"] + r["canonical"]).encode()).hexdigest()

    assert check_jsonl(rewritten(edit_field), published_key) == [
        f"entry #{target['entry']['seq']}: its fields differ from its canonical form"]
    assert check_jsonl(rewritten(edit_both), published_key) == [
        f"entry #{target['entry']['seq']}: its hash does not cover its content"]
    assert check_jsonl(rewritten(edit_and_rehash), published_key) == [
        f"entry #{target['entry']['seq'] + 1} does not follow entry #{target['entry']['seq']}"]
    forged = dict(checkpoint, head_hash=records[-2]["hash"], entry_count=checkpoint["entry_count"] - 1)
    cut = "\n".join(json.dumps(x) for x in [header, *records[:-1], forged]) + "\n"
    assert "the checkpoint's signed message differs from its members" in check_jsonl(cut, published_key)
    assert "the checkpoint's signature is invalid" in check_jsonl(cut, published_key)


def test_csv_export_from_the_page_is_spreadsheet_safe_and_proven(login, logged, published_key):
    web = login("auditor")
    form = form_on(web, "/audit?actor=%3D1%2B2", testid="audit-export")
    response = form.submit(web, {"format": "csv"})
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    text = response.get_data(as_text=True)
    assert check_csv(text, published_key) == []
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    entries = [r for r in rows if r["kind"] == "entry"]
    assert [int(r["seq"]) for r in entries] == logged["=1+2"]
    assert {r["actor_name"] for r in entries} == {"'=1+2"}  # a formula shown as text
    assert "'@SUM(A1:A9)" not in text  # inside the JSON summary cell, which starts with {
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@")), value
    assert rows[-1]["kind"] == "checkpoint"
    assert rows[-1]["public_key"].startswith("'-----BEGIN PUBLIC KEY-----")


def test_a_tampered_csv_row_fails_the_check(api, logged, published_key):
    text = export_api(api("auditor"), "csv").get_data(as_text=True)
    assert check_csv(text, published_key) == []
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header = rows[0]
    target = next(r for r in rows[1:] if r[header.index("seq")] == str(logged["ops-a"][0]))
    target[header.index("action")] = "test.harmless"
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    assert check_csv(out.getvalue(), published_key) == [
        f"entry #{logged['ops-a'][0]}: its columns differ from its canonical form"]


def test_cli_export_by_time_and_case(run_cli, api, open_case, published_key, tmp_path, logged):
    case = open_case(api("analyst"))
    out = tmp_path / "audit.jsonl"
    result = run_cli("audit", "export", "--format", "jsonl", "--case", case["reference"], "--since", "2020-01-01",
                     "--until", "2999-12-31", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "exported 1 matching entries" in result.stderr
    text = out.read_text()
    assert check_jsonl(text, published_key) == []
    matched = [r["entry"] for r in lines(text) if r["type"] == "entry"]
    assert [(e["action"], e["object_id"]) for e in matched] == [("case.create", str(case["id"]))]
    # As an outsider runs the document's script, on the file and the published key.
    checker, key = tmp_path / "check_audit_export.py", tmp_path / "pub.pem"
    checker.write_text(script())
    key.write_text(published_key)
    proven = subprocess.run([sys.executable, str(checker), str(out), str(key)], capture_output=True, text=True,
                            check=False)
    assert (proven.returncode, proven.stdout) == (0, "the export is proven: its entries are in the chain the "
                                                     "instance signed\n")
    out.write_text(text.replace('"action":"case.create"', '"action":"case.creat"', 1))
    tampered = subprocess.run([sys.executable, str(checker), str(out), str(key)], capture_output=True, text=True,
                              check=False)
    assert tampered.returncode == 1
    assert "its fields differ from its canonical form" in tampered.stdout
    bad = run_cli("audit", "export", "--format", "jsonl", "--since", "last tuesday")
    assert bad.exit_code != 0
    assert "since" in bad.output


def test_an_export_past_the_last_checkpoint_signs_one_and_is_audited(api, logged, db):
    auditor = api("auditor")
    first = lines(export_api(auditor, "jsonl").get_data(as_text=True))
    second = lines(export_api(auditor, "jsonl", until="2999-01-01").get_data(as_text=True))
    # The first export covered the newest entries with a new checkpoint, which includes its own entry.
    assert first[-1]["entry_count"] == first[-2]["entry"]["seq"]
    assert first[-2]["entry"]["action"] == "audit.export"
    assert second[-2]["entry"]["action"] == "audit.export"
    listed = auditor.get("/api/v1/audit?action=audit.export").get_json()["items"]
    assert [e["summary"]["format"] for e in listed] == ["jsonl", "jsonl"]
    assert listed[0]["summary"]["filters"] == {"until": "2999-01-02T00:00:00+00:00"}  # a date: its whole day


@pytest.mark.parametrize("role", ["admin", "manager", "analyst"])
def test_only_auditors_export(api, login, role):
    refused = export_api(api(role), "jsonl", since="not a date")
    assert refused.status_code == 403  # before any word about the filters
    web = login(role)
    if role == "admin":
        assert 'data-testid="audit-export"' not in web.get("/audit").get_data(as_text=True)
    assert web.post("/audit/export", {"format": "csv"}).status_code == 403


def test_bad_export_requests_name_the_field(api, login):
    auditor = api("auditor")
    for body, field in [({"since": "yesterday"}, "since"), ({"case": "IR-1"}, "case"), ({"sort": "seq"}, "sort")]:
        response = export_api(auditor, "csv", **body)
        assert response.status_code == 422
        assert response.get_json()["error"]["field"] == field
    missing = export_api(auditor, "jsonl", case="IR-2026-9999")
    assert missing.status_code == 404
    assert missing.get_json()["error"]["message"] == "case IR-2026-9999 does not exist"
    page = login("auditor").post("/audit/export", {"format": "xls"})
    assert page.status_code == 422
    assert "format" in page.get_data(as_text=True)
