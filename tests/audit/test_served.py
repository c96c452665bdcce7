"""The audit export as an auditor gets it: from `casemgr serve` as deployed (the `served` fixture: gunicorn,
`casemgr serve`'s default of two workers), signed in on the page, downloaded over HTTP, several at once right
after start, and checked by the script docs/audit-log.md ships, as someone without casemgr checks it."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from tests.audit.outside_check import script
from tests.conftest import PASSWORD
from tests.forms import Form, forms_of

PROVEN = "the export is proven: its entries are in the chain the instance signed\n"


def signed_in(base: str, username: str) -> requests.Session:
    """A browser's session on the served app: the sign-in form posted as the page renders it."""
    browser = requests.Session()
    page = browser.get(f"{base}/login", timeout=30)
    form = next(f for f in forms_of(page.text, "/login") if "password" in f.names())
    signed = browser.post(base + form.url, data=form.data({"username": username, "password": PASSWORD}),
                          allow_redirects=False, timeout=30)
    assert signed.status_code == 302, signed.text
    return browser


def export_form(browser: requests.Session, base: str, page_url: str) -> Form:
    page = browser.get(base + page_url, timeout=30)
    assert page.status_code == 200, page.text
    return next(f for f in forms_of(page.text, page_url) if f.attrs.get("data-testid") == "audit-export")


def checked(checker: Path, key: Path, export: Path) -> tuple[int, str]:
    done = subprocess.run([sys.executable, str(checker), str(export), str(key)], capture_output=True, text=True,
                          timeout=120, check=False)
    return done.returncode, done.stdout + done.stderr


def test_exports_downloaded_from_the_served_app_are_proven_by_the_documented_checker(
        served, api, open_case, make_user, published_key, tmp_path):
    analyst = api("analyst")
    cases = [open_case(analyst, title=f"Served export {n}") for n in range(3)]
    auditor = make_user("auditor")
    token = api("auditor").token
    browser = signed_in(served, auditor.username)
    reference = cases[1]["reference"]
    form = export_form(browser, served, f"/audit?case={reference}")

    def from_the_page(fmt: str) -> requests.Response:
        return browser.post(served + form.url, data=form.data({"format": fmt}), timeout=60)

    def from_the_api(fmt: str) -> requests.Response:
        return requests.post(f"{served}/api/v1/audit/export.{fmt}", json={"case": reference}, timeout=60,
                             headers={"Authorization": f"Bearer {token}"})

    # Several at once, so that both workers answer, each signing or reusing a checkpoint as it goes.
    with ThreadPoolExecutor(4) as pool:
        jobs: dict[str, Any] = {"page.csv": pool.submit(from_the_page, "csv"),
                                "page.jsonl": pool.submit(from_the_page, "jsonl"),
                                "api.csv": pool.submit(from_the_api, "csv"),
                                "api.jsonl": pool.submit(from_the_api, "jsonl")}
        responses = {name: job.result() for name, job in jobs.items()}

    checker, key = tmp_path / "check_audit_export.py", tmp_path / "pub.pem"
    checker.write_text(script())
    key.write_text(published_key)
    for name, response in responses.items():
        assert response.status_code == 200, (name, response.text)
        assert response.headers["Content-Type"].startswith("text/csv" if name.endswith("csv")
                                                           else "application/x-ndjson"), name
        assert "attachment" in response.headers["Content-Disposition"]
        export = tmp_path / name
        export.write_bytes(response.content)
        assert checked(checker, key, export) == (0, PROVEN), name
        if name.endswith("jsonl"):
            records = [json.loads(line) for line in response.text.split("\n") if line]
            matched = [r["entry"] for r in records if r["type"] == "entry"]
            assert records[0]["filters"] == {"case": reference}
        else:
            rows = list(csv.DictReader(io.StringIO(response.text, newline="")))
            matched = [r for r in rows if r["kind"] == "entry"]
        assert ("case.create", str(cases[1]["id"])) in {(e["action"], e["object_id"]) for e in matched}
        assert str(cases[0]["id"]) not in {e["object_id"] for e in matched if e["action"] == "case.create"}

    # A byte changed on the way: the same script says so.
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_text(responses["api.jsonl"].text.replace('"action":"case.create"', '"action":"case.creat"', 1))
    code, said = checked(checker, key, tampered)
    assert code == 1
    assert "its fields differ from its canonical form" in said

    # Analysts may not read the log, on the page or the API.
    assert signed_in(served, make_user("analyst").username).get(f"{served}/audit", timeout=30).status_code == 403
    assert requests.post(f"{served}/api/v1/audit/export.jsonl", json={}, timeout=30,
                         headers={"Authorization": f"Bearer {analyst.token}"}).status_code == 403
