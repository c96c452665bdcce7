"""Each role's home page fits its work: what the signed-in user sees, role by role; and what admins
are told instead of an empty case list or a case that "does not exist"."""

from __future__ import annotations

import datetime as dt
import re
from html import unescape
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import update

from casemgr.auth.models import User
from casemgr.clock import ManualClock
from tests.conftest import WebClient

from .conftest import move


@pytest.fixture
def team(app: Flask, api: Any, open_case: Any, db: Any, clock: ManualClock) -> dict[str, Any]:
    ann, mia = api("analyst", "ann"), api("manager", "mia")
    clients = {"ann": ann, "mia": mia, "aud": api("auditor", "aud"), "adm": api("admin", "adm"),
               "bob": api("analyst", "bob")}
    cases = {
        "mine": open_case(ann, title="Ann's open case", owner="ann", impact="low", urgency="low"),
        "free": open_case(ann, title="Waiting for someone", impact="low", urgency="low"),
        "stale": open_case(mia, title="Outage nobody touched", impact="high", urgency="high", owner="ann"),
    }
    clock.advance(hours=5)  # nobody touched the P1 case for five hours (its target: 4 h)
    cases |= {
        "fresh": open_case(mia, title="Outage just opened", impact="high", urgency="high", owner="ann"),
        "done": open_case(ann, title="Finished work", impact="low", urgency="low"),
    }
    move(ann, cases["done"], "resolved", resolution="remediated", summary="Cleaned up")
    with db.transaction() as s:  # bob is locked out (as after too many wrong passwords) for ten more minutes
        locked_until = clock.now() + dt.timedelta(minutes=10)
        s.execute(update(User).where(User.username == "bob").values(locked_until=locked_until))

    def web(username: str) -> WebClient:
        client = WebClient(app.test_client())
        assert client.login(username).status_code == 302
        return client

    return {**clients, "cases": cases, "web": web}


def sections(html: str) -> dict[str, str]:
    """data-testid of each home section -> its text."""
    found = re.findall(r'<section[^>]*data-testid="([\w-]+)"[^>]*>(.*?)</section>', html, re.S)
    return {key: unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))) for key, body in found}


def test_the_analyst_home_lists_their_cases_and_the_ones_to_pick_up(team):
    html = team["web"]("ann").get("/").get_data(as_text=True)
    shown = sections(html)
    assert {"pending-escalations", "dashboard-mine", "dashboard-unassigned"} <= set(shown)
    assert "Ann's open case" in shown["dashboard-mine"]
    assert "Waiting for someone" in shown["dashboard-unassigned"]
    assert "Ann's open case" not in shown["dashboard-unassigned"]
    assert not {"dashboard-overdue", "dashboard-queue", "home-audit", "home-users"} & set(shown)


def test_the_manager_home_shows_what_breaches_its_priority_and_the_team_queue(team):
    shown = sections(team["web"]("mia").get("/").get_data(as_text=True))
    assert "Outage nobody touched" in shown["dashboard-overdue"]
    assert "5 h ago" in shown["dashboard-overdue"]  # when it was last updated, as the clock tells
    assert "Outage just opened" not in shown["dashboard-overdue"]  # updated within its priority's 4 hours
    assert "Overdue for their priority" in shown["dashboard-overdue"]
    assert "Waiting for someone" in shown["dashboard-queue"]
    assert "Outage just opened" in shown["dashboard-urgent"]
    assert "Escalations waiting for your acknowledgement (0)" in shown["pending-escalations"]


def test_the_auditor_home_has_audit_evidence_and_cases_to_review_and_no_action_list(team):
    html = team["web"]("aud").get("/").get_data(as_text=True)
    shown = sections(html)
    assert "Finished work" in shown["dashboard-closed"]
    assert "Ann's open case" not in shown["dashboard-closed"]
    assert "case.create" in shown["home-audit"]
    assert "0 items failed its integrity check; 0 items not verified since intake." in shown["home-evidence"]
    assert "Unassigned open cases" not in html
    assert not {"dashboard-unassigned", "dashboard-queue", "pending-escalations"} & set(shown)
    assert 'data-testid="bulk-form"' not in team["web"]("aud").get("/cases").get_data(as_text=True)


def test_the_admin_home_is_about_accounts_tokens_and_checks(team):
    team["mia"].post("/api/v1/tokens", json={"name": "ci", "expires_days": 3})
    html = team["web"]("adm").get("/").get_data(as_text=True)
    shown = sections(html)
    assert "do not see case content" in html
    assert "2 analysts, 1 manager, 1 auditor, 1 admin; 0 disabled." in shown["home-users"]
    assert re.search(r"Locked accounts \(1\) bob \(analyst\), locked until", shown["home-users"])
    assert "mia: ci, expires" in shown["home-tokens"]
    assert "Database: answering" in shown["home-checks"]
    assert "Audit log:" in shown["home-checks"]
    assert not any(c["reference"] in html for c in team["cases"].values())


def test_admins_are_told_they_see_no_case_content_without_learning_which_exist(team):
    web = team["web"]("adm")
    listed = web.get("/cases").get_data(as_text=True)
    assert "Admins run the instance and do not see case content" in listed
    assert "0 cases match" not in listed
    existing, missing = web.get(f"/cases/{team['cases']['mine']['id']}"), web.get("/cases/987654")
    assert existing.status_code == missing.status_code == 404
    assert "admins run the instance and do not see case content" in existing.get_data(as_text=True)
    assert existing.get_data(as_text=True) == missing.get_data(as_text=True)
    api = team["adm"].get(f"/api/v1/cases/{team['cases']['mine']['id']}")
    assert api.status_code == 404
    assert api.get_json()["error"]["message"].startswith("admins run the instance and do not see case content")
