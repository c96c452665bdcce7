"""Custom fields in a real browser: an admin defines a field for malicious-code cases on the admin page, and an
analyst opening a case sees it only once that category is chosen (with its help text and when it is required),
fills it in from the edit form and sees it on the case page."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_cases import sign_in
from tests.browser.test_sign_in_and_tokens import watch_console

pytestmark = pytest.mark.browser


def test_an_admin_defines_a_field_and_an_analyst_fills_it(page: Page, live_server: str, make_user) -> None:
    make_user("admin", "ada")
    make_user("analyst", "erin")
    problems = watch_console(page)

    sign_in(page, live_server, "ada")
    page.get_by_role("link", name="Case fields").click()
    form = page.get_by_test_id("new-case-field-form")
    form.get_by_role("textbox", name="Code (stable").fill("backup_status")
    form.get_by_role("combobox", name="Type").select_option("choice")
    form.get_by_role("textbox", name="Label", exact=True).fill("Backup status")
    form.get_by_label("Help text").fill("Are the backups of the affected systems intact?")
    form.get_by_role("combobox", name="Category").select_option("malicious-code")
    form.get_by_label("Options").fill("intact\npartial\nencrypted")
    form.get_by_label("Required", exact=True).check()
    form.get_by_label("Required from the state").select_option("containment")
    form.get_by_role("button", name="Create field").click()
    expect(page.get_by_role("status")).to_contain_text("Custom field Backup status created.")
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, live_server, "erin")
    page.get_by_role("link", name="Cases", exact=True).click()
    page.get_by_role("button", name="Open a case").click()
    field = page.get_by_test_id("custom-field-backup_status")
    page.locator("select[name=category]").select_option("fraud")
    expect(field).to_be_hidden()  # not a fraud case's field
    page.locator("input[name=title]").fill("Ransomware on fs01")
    page.locator("select[name=category]").select_option("malicious-code")
    expect(field).to_be_visible()
    expect(field).to_contain_text("(required from containment)")
    expect(field).to_contain_text("Are the backups of the affected systems intact?")
    page.get_by_role("button", name="Open the case").click()
    expect(page.get_by_role("status")).to_contain_text("opened")
    expect(page.get_by_test_id("custom-backup_status")).to_have_text("—")

    page.get_by_test_id("edit-link").click()
    page.get_by_label("Backup status").select_option("partial")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Case saved.")
    facts = page.get_by_test_id("case-custom-fields")
    expect(facts).to_contain_text("Backup status")
    expect(page.get_by_test_id("custom-backup_status")).to_have_text("partial")
    assert problems == []
