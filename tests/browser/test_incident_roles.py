"""Incident roles in a real browser: a manager names the incident commander of a P1 case from the
case page's roles panel (a disclosure, no script), and the case list's flag goes."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_cases import sign_in
from tests.browser.test_sign_in_and_tokens import watch_console

pytestmark = pytest.mark.browser


def test_naming_an_incident_commander_clears_the_p1_flag(page: Page, live_server: str, api, open_case,
                                                         make_user) -> None:
    make_user("analyst", "ann")
    case = open_case(api("manager", "mona"), title="Ransomware on the file server", impact="high", urgency="high")
    problems = watch_console(page)
    sign_in(page, live_server, "mona")
    page.goto(f"{live_server}/cases")
    row = page.locator(f'tr[data-testid="case-row"][data-reference="{case["reference"]}"]')
    expect(row.get_by_test_id("no-commander")).to_have_text("no incident commander")

    row.locator("td.reference a").click()
    roles = page.get_by_test_id("incident-roles")
    expect(page.get_by_test_id("role-form-incident_commander")).to_be_hidden()
    page.get_by_test_id("assign-incident_commander").click()
    form = page.get_by_test_id("role-form-incident_commander")
    form.get_by_label("Incident commander").select_option("ann")
    form.get_by_role("button", name="Assign").click()
    expect(page.get_by_text("Incident role assigned.")).to_be_visible()
    expect(roles.locator('tr[data-role="incident_commander"] [data-testid="role-holder"]')).to_contain_text("ann")
    expect(page.get_by_test_id("no-commander")).to_have_count(0)

    page.goto(f"{live_server}/cases")
    expect(row).to_be_visible()
    expect(row.get_by_test_id("no-commander")).to_have_count(0)
    assert problems == []
