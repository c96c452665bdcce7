"""The shipped phishing playbook run on a case in a real browser, from the case's Playbooks tab to the run's
completion: the inputs typed as an analyst would, a manager approving the purge in a second browser, and the
graph drawn by Graphviz shown on the run page."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from casemgr.auth.actor import Actor
from casemgr.db import Database
from casemgr.playbooks import library, loader
from tests.browser.test_cases import sign_in
from tests.browser.test_sign_in_and_tokens import watch_console

pytestmark = pytest.mark.browser
GRAPH_DRAWN = ("() => { const g = document.querySelector('[data-testid=run-graph]'); "
               "return g.complete && g.naturalWidth > 0; }")


def _complete(page: Page, step_id: str) -> None:
    page.get_by_test_id(f"complete-{step_id}").get_by_role("button", name="Complete").click()
    expect(page.get_by_text(f"Step {step_id}: ")).to_be_visible()


def test_phishing_playbook_from_start_to_end(page: Page, browser: Browser, live_server: str, api, open_case,
                                             db: Database, system: Actor) -> None:
    with db.transaction() as s:
        library.sync_folder(s, system, loader.SHIPPED)
    api("manager", "mona")
    case = open_case(api("analyst", "ann"), category="fraud", title="Invoice lure reported by finance")
    problems = watch_console(page)
    sign_in(page, live_server, "ann")
    page.goto(f"{live_server}/cases/{case['id']}/playbooks")
    page.get_by_test_id("start-playbook").get_by_role("button", name="Start").click()
    expect(page.get_by_text("Playbook phishing 1.0.0 started.")).to_be_visible()
    run_url = page.url
    graph = page.get_by_test_id("run-graph")
    expect(graph).to_be_visible()
    page.wait_for_function(GRAPH_DRAWN)  # the SVG loaded and has a size: Graphviz drew it

    triage = page.get_by_test_id("complete-triage")
    triage.get_by_role("group", name="Is this a phishing message?").get_by_label("Yes").check()
    triage.get_by_label("Kind of lure").select_option("credential harvesting")
    _complete(page, "triage")
    expect(page.get_by_test_id("run-ready")).to_contain_text("Record the sender, URLs and attachment hashes")
    expect(page.get_by_test_id("run-ready")).to_contain_text("Find every recipient and who interacted")

    page.get_by_test_id("complete-record_indicators").locator("textarea[name='input.observables']").fill(
        "hxxp://evil-invoices[.]top/login\nbilling@evil-invoices.top")
    _complete(page, "record_indicators")
    scope = page.get_by_test_id("complete-scope_recipients")
    scope.get_by_label("Number of recipients").fill("12")
    scope.get_by_role("group", name="Did anyone enter credentials or run the attachment?").get_by_label("No").check()
    _complete(page, "scope_recipients")
    expect(page.get_by_test_id("step-reset_exposed_accounts").get_by_test_id("step-state")).to_have_text(
        "not applicable")
    _complete(page, "block_sender_urls")
    page.get_by_test_id("complete-purge_messages").get_by_label("Copies removed").fill("12")
    _complete(page, "purge_messages")
    expect(page.get_by_test_id("step-purge_messages").get_by_test_id("step-state")).to_have_text("blocked")

    manager = browser.new_context().new_page()
    sign_in(manager, live_server, "mona")
    manager.goto(run_url)
    manager.get_by_test_id("step-purge_messages").get_by_role("button", name="Approve").click()
    expect(manager.get_by_text("Step purge_messages: done.")).to_be_visible()
    manager.context.close()

    page.goto(run_url)
    expect(page.get_by_test_id("offer-state")).to_contain_text("eradication")
    page.get_by_test_id("complete-check_follow_on").get_by_role("group", name="Any follow-on activity?").get_by_label(
        "No").check()
    _complete(page, "check_follow_on")
    _complete(page, "notify_users")
    page.get_by_test_id("complete-lessons_learned").locator("textarea[name='input.summary']").fill(
        "Tag external invoices; the report button worked")
    _complete(page, "lessons_learned")
    expect(page.get_by_test_id("run-status")).to_contain_text("Run completed")
    expect(page.get_by_test_id("run-progress")).to_have_attribute("value", "11")
    page.wait_for_function(GRAPH_DRAWN)
    assert problems == []
