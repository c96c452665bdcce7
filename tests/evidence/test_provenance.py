"""Correcting where an evidence item comes from: on its page, until its first custody transfer; the custody
log keeps the earlier values and the reason, the audit log names the fields only."""

from __future__ import annotations

import json
import re
from html import unescape

from sqlalchemy import select

from casemgr.audit.models import AuditEntry
from tests.forms import form_on

PROVENANCE = {"description": "the reported mail", "collected_by": "ann", "collected_at": "2026-03-02T09:15:00Z",
              "source": "laptop-7", "acquisition_method": "Outlook export"}


def page_text(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def custody_log(html: str) -> str:
    return page_text(html.split('data-testid="custody-timeline"', 1)[1].split("</ol>", 1)[0])


def test_provenance_is_corrected_with_the_earlier_values_kept(add_item, login, db):
    analyst, item = add_item(b"From: ceo@evil.example\r\n\r\nPay now.", filename="mail.eml", **PROVENANCE)
    web = login("analyst")
    url = f"/evidence/{item['id']}"
    form = form_on(web, url, testid="provenance-form")
    assert dict(form.data())["collected_by"] == "ann"  # the form shows the current values
    assert dict(form.data())["collected_at"] == "2026-03-02T09:15:00"

    done = form.submit(web, {"collected_by": "bob", "source": "", "reason": "bob exported it, not ann"})
    assert done.status_code == 302
    html = web.get(url).get_data(as_text=True)
    assert "Provenance corrected; the earlier values are kept in the chain of custody." in page_text(html)
    assert "Collected by bob, 2026-03-02 09:15 UTC , from —, using Outlook export" in page_text(html)
    log = custody_log(html)
    assert "corrected by " in log
    assert "bob exported it, not ann" in log
    assert "collected by: “ann” → “bob”" in log
    assert "source: “laptop-7” → none" in log
    assert "description" not in log.split("corrected by", 1)[1]  # unchanged fields are not listed
    assert 'data-testid="evidence-chain">valid' in html
    custody = analyst.get(f"/api/v1/evidence/{item['id']}/custody").get_json()
    assert custody["chain_valid"] is True
    assert custody["events"][-1]["kind"] == "corrected"
    assert custody["events"][-1]["details"]["changes"]["collected_by"] == ["ann", "bob"]
    assert custody["events"][0]["details"]["collected_by"] == "ann"  # the acquisition record stays as it was
    with db.transaction() as s:
        audited = s.scalars(select(AuditEntry).where(AuditEntry.action == "evidence.corrected")).one().summary
    assert audited["corrected"] == ["collected_by", "source"]
    assert "bob" not in json.dumps(audited)
    assert "laptop-7" not in json.dumps(audited)

    unchanged = form_on(web, url, testid="provenance-form").submit(web, {"reason": "just checking"})
    assert unchanged.status_code == 422
    shown = unchanged.get_data(as_text=True)
    assert "nothing changed: change where the item comes from before saving" in page_text(shown)
    assert '<details open><summary>Correct where it comes from…</summary>' in shown

    no_reason = form_on(web, url, testid="provenance-form").submit(web, {"source": "laptop-8"})
    assert no_reason.status_code == 422
    assert 'data-field="reason"' in no_reason.get_data(as_text=True)


def test_after_the_first_transfer_provenance_is_refused(add_item, login, make_user, api):
    make_user("analyst", "dave")
    analyst, item = add_item(**PROVENANCE)
    url = f"/evidence/{item['id']}"
    auditor = login("auditor")
    assert 'data-testid="provenance-form"' not in auditor.get(url).get_data(as_text=True)
    assert auditor.post(f"{url}/provenance", {"collected_by": "x", "reason": "typo"}).status_code == 403

    web = login("analyst")
    assert 'data-testid="provenance-form"' in web.get(url).get_data(as_text=True)
    moved = analyst.post(f"/api/v1/evidence/{item['id']}/transfer", json={"to": "dave", "reason": "handover"})
    assert moved.status_code == 200, moved.get_json()
    assert 'data-testid="provenance-form"' not in web.get(url).get_data(as_text=True)
    refused = web.post(f"{url}/provenance", {**PROVENANCE, "collected_by": "bob", "reason": "typo in name"})
    assert refused.status_code == 409
    assert re.search(r"evidence item \d+ was transferred to dave on \d{4}-\d\d-\d\d \d\d:\d\d UTC; its provenance "
                     r"can no longer be corrected \(add a note to the case's timeline instead\)",
                     page_text(refused.get_data(as_text=True)))
    assert analyst.get(f"/api/v1/evidence/{item['id']}").get_json()["collected_by"] == "ann"
