"""Acknowledging escalations: the recipient's home lists what waits for them, one acknowledgement,
who and when on the escalation, the timeline and the audit log."""

from __future__ import annotations

import datetime as dt
import re
from html import unescape
from typing import Any

import pytest
from flask import Flask

from tests.conftest import WebClient
from tests.forms import form_on


@pytest.fixture
def people(app: Flask, api: Any) -> dict[str, Any]:
    clients = {"ann": api("analyst", "ann"), "mia": api("manager", "mia"), "max": api("manager", "max"),
               "aud": api("auditor", "aud"), "adm": api("admin", "adm")}

    def web(username: str) -> WebClient:
        client = WebClient(app.test_client())
        assert client.login(username).status_code == 302
        return client

    return {**clients, "web": web}


def escalate(client: Any, case: dict[str, Any], **fields: Any) -> dict[str, Any]:
    r = client.post(f"/api/v1/cases/{case['id']}/escalate", json={"kind": "hierarchical", "reason": "Data leaving",
                                                                   **fields})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def words(html: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html)))


def ack(client: Any, case: dict[str, Any], escalation: dict[str, Any]) -> Any:
    return client.post(f"/api/v1/cases/{case['id']}/escalations/{escalation['id']}/acknowledge")


def pending_section(html: str) -> str:
    return html.split('data-testid="pending-escalations"')[1].split("</section>", maxsplit=1)[0]


def test_the_home_says_how_long_an_escalation_waited_and_the_acknowledgement_is_timed_by_the_clock(
        people, open_case, clock):
    ann, mia = people["ann"], people["mia"]
    case = open_case(ann, title="Exfiltration from the HR share")
    raised = clock.set(clock.now().replace(microsecond=0) + dt.timedelta(seconds=1))
    escalation = escalate(ann, case, to_user="mia")
    assert dt.datetime.fromisoformat(escalation["created_at"]) == raised
    clock.advance(minutes=40)
    assert "by ann, 40 min ago" in words(pending_section(people["web"]("mia").get("/").get_data(as_text=True)))
    clock.advance(hours=2)
    assert "by ann, 2 h ago" in words(pending_section(people["web"]("mia").get("/").get_data(as_text=True)))

    done = ack(mia, case, escalation)
    assert done.status_code == 200, done.get_json()
    acknowledged = raised + dt.timedelta(hours=2, minutes=40)
    assert dt.datetime.fromisoformat(done.get_json()["acknowledged_at"]) == acknowledged
    clock.advance(days=1)
    again = ack(mia, case, escalation)
    assert again.status_code == 409
    assert again.get_json()["error"]["message"] == (f"this escalation was acknowledged already by mia at "
                                                     f"{acknowledged:%Y-%m-%d %H:%M} UTC")


def test_an_escalation_to_a_named_manager_waits_on_their_home_until_acknowledged(people, open_case):
    ann, mia = people["ann"], people["mia"]
    case = open_case(ann, title="Exfiltration from the HR share")
    escalation = escalate(ann, case, to_user="mia")
    mia_web = people["web"]("mia")

    def state_on_case_page() -> str:
        page = mia_web.get(f"/cases/{case['id']}").get_data(as_text=True)
        return re.sub(r"\s+", " ", page.split('data-testid="escalation-state">')[1].split("</span>")[0])

    assert state_on_case_page() == "(waiting for acknowledgement)"
    mia_home = people["web"]("mia").get("/").get_data(as_text=True)
    pending = pending_section(mia_home)
    assert case["reference"] in pending
    assert "to mia" in pending
    assert 'data-testid="acknowledge-form"' in pending
    # another manager is not its recipient: not on their home, and refused
    assert case["reference"] not in pending_section(people["web"]("max").get("/").get_data(as_text=True))
    refused = ack(people["max"], case, escalation)
    assert refused.status_code == 403
    assert refused.get_json()["error"]["message"] == "only its recipient (mia) may acknowledge this escalation"
    assert ack(ann, case, escalation).status_code == 403  # the analyst who raised it
    assert ack(people["aud"], case, escalation).status_code == 403
    assert ack(people["adm"], case, escalation).status_code == 404  # admins see no case

    done = ack(mia, case, escalation)
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["acknowledged_by"] == "mia"
    assert done.get_json()["acknowledged_at"]
    again = ack(mia, case, escalation)
    assert again.status_code == 409
    assert again.get_json()["error"]["message"].startswith("this escalation was acknowledged already by mia at ")

    assert re.fullmatch(r"\(acknowledged by mia \S.*\)", state_on_case_page())
    shown = mia.get(f"/api/v1/cases/{case['id']}").get_json()["escalations"][0]
    assert shown["acknowledged_by"] == "mia"
    timeline = [e["summary"] for e in mia.get(f"/api/v1/cases/{case['id']}/timeline").get_json()["items"]]
    assert timeline[-1] == "Escalation acknowledged by mia"
    audit = people["aud"].get("/api/v1/audit?action=case.escalation_acknowledge").get_json()["items"]
    assert [(a["actor"], a["summary"]["escalation_id"]) for a in audit] == [("mia", escalation["id"])]
    assert case["reference"] not in pending_section(people["web"]("mia").get("/").get_data(as_text=True))


def test_an_escalation_to_management_any_manager_acknowledges_from_the_home_page(people, open_case):
    ann = people["ann"]
    case = open_case(ann, title="Ransom note on fs01")
    escalate(ann, case)
    analyst_home = people["web"]("ann").get("/").get_data(as_text=True)
    assert case["reference"] in pending_section(analyst_home)  # the analyst sees it waiting
    assert "awaiting a manager" in pending_section(analyst_home)
    assert 'data-testid="acknowledge-form"' not in analyst_home
    listed = people["max"].get("/api/v1/escalations").get_json()
    assert [(e["case"]["reference"], e["can_acknowledge"]) for e in listed["items"]] == [(case["reference"], True)]

    web = people["web"]("max")
    form = form_on(web, "/", testid="acknowledge-form")
    page = web.get(form.submit(web).headers["Location"]).get_data(as_text=True)
    assert "Escalation acknowledged" in page
    assert case["reference"] not in pending_section(page)
    assert people["max"].get("/api/v1/escalations").get_json()["total"] == 0
    # the form sent twice (a second tab): 409, saying who took it
    second = form.submit(web)
    assert second.status_code == 409
    assert re.search(r"acknowledged already by max at \d{4}-\d\d-\d\d \d\d:\d\d UTC", second.get_data(as_text=True))


def test_an_unknown_escalation_is_404_naming_it(people, open_case):
    case = open_case(people["ann"])
    other = open_case(people["ann"], title="Another case")
    escalation = escalate(people["ann"], other)
    wrong_case = ack(people["mia"], case, escalation)
    assert wrong_case.status_code == 404
    assert wrong_case.get_json()["error"]["field"] == "escalation"


def test_the_cli_lists_and_acknowledges_as_the_recipient(people, open_case, run_cli):
    case = open_case(people["ann"])
    escalation = escalate(people["ann"], case, to_user="mia")
    listed = run_cli("case", "escalations", "--as", "mia")
    assert listed.exit_code == 0, listed.output
    assert f"{case['reference']:<14} #{escalation['id']}" in listed.output
    refused = run_cli("case", "acknowledge", case["reference"], str(escalation["id"]), "--as", "max")
    assert refused.exit_code != 0
    assert "only its recipient (mia) may acknowledge this escalation" in refused.output
    done = run_cli("case", "acknowledge", case["reference"], str(escalation["id"]), "--as", "mia")
    assert done.exit_code == 0, done.output
    assert done.output.strip() == f"{case['reference']}: escalation #{escalation['id']} acknowledged by mia"
