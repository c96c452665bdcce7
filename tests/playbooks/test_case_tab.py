"""The case's Playbooks tab: the playbooks suggested for its category, starting one with the form as rendered,
the runs listed with their progress; read-only roles see the runs without the form."""

from __future__ import annotations

import pytest

from casemgr.auth.actor import Actor
from casemgr.db import Database
from casemgr.playbooks import library, loader
from tests.forms import form_on


@pytest.fixture
def shipped(db: Database, system: Actor) -> None:
    with db.transaction() as s:
        library.sync_folder(s, system, loader.SHIPPED)


def test_start_the_suggested_playbook_from_the_case_tab(api, login, open_case, shipped):
    case = open_case(api("analyst"), category="fraud", title="Payroll <script>alert(1)</script> lure")
    ana = login("analyst")
    url = f"/cases/{case['id']}/playbooks"
    html = ana.get(url).get_data(as_text=True)
    assert 'data-testid="case-no-runs"' in html
    assert "Suggested for fraud" in html
    assert "Phishing email reported or detected" in html
    assert "<script>alert(1)</script>" not in html  # the title is data
    started = form_on(ana, url, testid="start-playbook").submit(ana)  # the suggestion is selected as rendered
    assert started.status_code == 302
    run_page = ana.get(started.headers["Location"]).get_data(as_text=True)
    assert "Triage the reported message" in run_page
    assert 'data-testid="run-graph"' in run_page
    listed = ana.get(url).get_data(as_text=True)
    assert 'data-testid="case-runs"' in listed
    assert "0/11" in listed

    again = form_on(ana, url, testid="start-playbook").submit(ana)  # the same playbook while its run is active
    assert again.status_code == 409
    assert "phishing" in again.get_data(as_text=True)


def test_read_only_roles_see_the_runs_but_no_start_form(api, login, open_case, shipped):
    case = open_case(api("analyst"), category="fraud")
    html = login("auditor").get(f"/cases/{case['id']}/playbooks").get_data(as_text=True)
    assert 'data-testid="case-no-runs"' in html
    assert 'data-testid="start-playbook"' not in html
