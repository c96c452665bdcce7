"""A real browser works a case: an analyst opens it, adds a note and moves it to containment;
and stored XSS attempts in every case field stay inert text."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Dialog, Page, expect

from tests.browser.test_sign_in_and_tokens import watch_console
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def sign_in(page: Page, live_server: str, username: str) -> None:
    page.goto(f"{live_server}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("account-link")).to_contain_text(username)


def open_case(page: Page, title: str, description: str, tags: str = "") -> None:
    page.get_by_role("link", name="Cases", exact=True).click()
    page.get_by_role("button", name="Open a case").click()
    page.locator("input[name=title]").fill(title)
    page.locator("textarea[name=description]").fill(description)
    page.locator("select[name=category]").select_option("malicious-code")
    page.locator("select[name=subcategory]").select_option("ransomware")
    page.locator("select[name=impact]").select_option("high")
    page.locator("select[name=urgency]").select_option("high")
    page.locator("input[name=tags]").fill(tags)
    page.get_by_role("button", name="Open the case").click()


def test_analyst_opens_a_case_adds_a_note_and_moves_it_to_containment(page: Page, live_server: str,
                                                                       make_user) -> None:
    make_user("analyst", "erin")
    problems = watch_console(page)
    sign_in(page, live_server, "erin")

    open_case(page, "Ransomware on file server fs01", "Files renamed to *.lockbit on `fs01`.", "ransomware, fs01")
    expect(page.get_by_role("status")).to_contain_text(re.compile(r"Case IR-\d{4}-0001 opened"))
    expect(page.get_by_test_id("case-title")).to_have_text("Ransomware on file server fs01")
    expect(page.get_by_test_id("case-status")).to_have_text("new")
    expect(page.get_by_test_id("case-priority")).to_have_text("P1")
    expect(page.get_by_test_id("case-tlp")).to_have_text("TLP:AMBER")
    expect(page.get_by_test_id("case-description")).to_contain_text("Files renamed to")
    expect(page.get_by_test_id("fact-tags")).to_contain_text("fs01")
    expect(page.get_by_test_id("fact-members")).to_contain_text("erin")

    page.get_by_role("link", name="Timeline").click()
    page.get_by_label("Note (Markdown)").fill("Isolated **fs01** from the network.")
    page.get_by_role("button", name="Add the note").click()
    expect(page.get_by_role("status")).to_have_text("Note added.")
    note = page.get_by_test_id("timeline-entry").filter(has_text="Isolated fs01 from the network.")
    expect(note).to_have_count(1)
    expect(note.locator("strong")).to_have_text("fs01")

    page.get_by_role("link", name="Overview").click()
    for state in ("triage", "investigating", "containment"):
        page.get_by_role("button", name=f"Move to {state}").click()
        expect(page.get_by_role("status")).to_have_text(f"Case moved to {state}.")
        expect(page.get_by_test_id("case-status")).to_have_text(state)
    expect(page.get_by_role("button", name="Move to eradication")).to_be_visible()
    expect(page.get_by_role("button", name="Move to triage")).to_have_count(0)

    page.get_by_role("link", name="Timeline").click()
    timeline = page.get_by_test_id("timeline")
    for step in ("new → triage", "triage → investigating", "investigating → containment"):
        expect(timeline).to_contain_text(f"Moved: {step}")
    page.goto(f"{live_server}/")
    # opened without an owner: on the analyst's home among the unassigned open cases to pick up
    expect(page.get_by_test_id("dashboard-unassigned")).to_contain_text("Ransomware on file server fs01")
    assert problems == []


SCRIPT = "<script>alert('title')</script>"
IMG = '<img src=x onerror="alert(\'img\')">'
LINK = "[click me](javascript:alert('link'))"


def test_xss_in_case_fields_stays_text(page: Page, live_server: str, make_user) -> None:
    make_user("analyst", "mallory")
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    sign_in(page, live_server, "mallory")

    # Hostile text is data: the description is accepted as written. A tag cannot hold markup: refused, naming it.
    payload = f"{SCRIPT} {IMG} {LINK} <a href=\"javascript:alert('a')\">a</a>"
    open_case(page, f"Evil {SCRIPT}{IMG}", payload, tags=f"ok, {SCRIPT}")
    expect(page.get_by_role("alert")).to_contain_text("tags")
    expect(page.locator("textarea[name=description]")).to_have_value(payload)
    page.locator("input[name=tags]").fill("ok")
    page.get_by_role("button", name="Open the case").click()
    expect(page.get_by_test_id("case-title")).to_have_text(f"Evil {SCRIPT}{IMG}")

    description = page.get_by_test_id("case-description")
    expect(description).to_contain_text(SCRIPT)
    expect(description).to_contain_text(LINK)
    case_url = page.url

    page.get_by_role("link", name="Timeline").click()
    page.get_by_label("Note (Markdown)").fill(f"{SCRIPT}\n\n{IMG}")
    page.get_by_role("button", name="Add the note").click()
    expect(page.get_by_role("status")).to_have_text("Note added.")
    expect(page.get_by_test_id("timeline")).to_contain_text(SCRIPT)
    page.get_by_label("Note (Markdown)").fill(f"`{SCRIPT}`\n\n`{IMG}`\n\n`{LINK}`")
    page.get_by_role("button", name="Add the note").click()
    page.get_by_label("What happened").fill(f"Event {SCRIPT}{IMG}")
    page.get_by_label("Happened at (UTC)").fill("2026-01-02T09:12")
    page.get_by_role("button", name="Add the event").click()
    expect(page.get_by_test_id("timeline")).to_contain_text(f"Event {SCRIPT}{IMG}")

    pages = [case_url, page.url, f"{live_server}/cases", f"{live_server}/",
             f"{live_server}/cases?q={SCRIPT}", f"{live_server}/cases?tag={IMG}", f"{case_url}/edit"]
    for url in pages:
        page.goto(url)
        expect(page.locator("main")).to_be_visible()
        # Only our own same-origin script files; no image, no javascript: link, no event handler.
        sources = page.locator("script").evaluate_all("els => els.map(e => e.getAttribute('src'))")
        assert all(src and src.startswith("/static/") for src in sources), (url, sources)
        assert page.locator("main img").count() == 0, url
        assert page.locator("a[href^='javascript' i]").count() == 0, url
        assert page.locator("[onerror], [onclick], [onload]").count() == 0, url
    page.goto(case_url)
    expect(page.get_by_test_id("case-title")).to_contain_text(SCRIPT)
    assert dialogs == []


def test_case_page_actions_open_from_a_compact_bar(page: Page, live_server: str, api, make_team) -> None:
    make_team("SOC")
    make_team("CERT")
    manager = api("manager", "mona")
    case = manager.post("/api/v1/cases", json={"title": "Mailbox rule forwarding to outside", "category": "fraud",
                                               "impact": "high", "urgency": "medium", "team": "SOC"}).get_json()
    problems = watch_console(page)
    sign_in(page, live_server, "mona")
    page.goto(f"{live_server}/cases/{case['id']}")
    form = page.get_by_test_id("escalate-form")
    expect(form).to_be_hidden()  # the bar shows buttons; a form opens when its button is pressed
    page.get_by_test_id("escalate-button").click()
    expect(form).to_be_visible()
    expect(form.get_by_test_id("functional-notice")).to_have_text(
        "A functional escalation hands the case over: its team changes from SOC to the team you choose here.")
    form.get_by_label("Kind").select_option("functional")
    form.get_by_label("To team (functional)").select_option("CERT")
    form.get_by_label("Reason").fill("Needs forensics on the mail server")
    form.get_by_role("button", name="Escalate").click()
    expect(page.get_by_role("status")).to_have_text("Case escalated.")
    expect(page.get_by_test_id("escalate-form")).to_be_hidden()
    page.get_by_role("link", name="Timeline").click()
    expect(page.get_by_test_id("timeline")).to_contain_text("Team changed from SOC to CERT (functional escalation)")
    assert problems == []
