"""The case list in a real browser: the filters take one line until unfolded, a reference stays on
one line, and the bulk bar tags the ticked cases and says what happened to each."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_cases import sign_in
from tests.browser.test_sign_in_and_tokens import watch_console

pytestmark = pytest.mark.browser


def test_the_list_is_compact_and_the_bulk_bar_tags_the_ticked_cases(page: Page, live_server: str, api,
                                                                    open_case) -> None:
    manager = api("manager", "mona")
    made = [open_case(manager, title=f"Phishing report {n} from the finance department's shared mailbox",
                      description="", category="fraud", subcategory="phishing", impact="medium",
                      urgency="high", tags=["finance", "mail", "reported", "invoice"]) for n in range(3)]
    problems = watch_console(page)
    page.set_viewport_size({"width": 1280, "height": 800})
    sign_in(page, live_server, "mona")
    page.goto(f"{live_server}/cases")

    filters = page.get_by_test_id("case-filters").bounding_box()
    assert filters is not None
    assert filters["height"] < 130, filters  # one bar; the rest folded away
    expect(page.locator("details.more-filters")).not_to_have_attribute("open", "")
    expect(page.locator("select[multiple]")).to_have_count(0)
    for case in made:
        link = page.locator(f'tr[data-reference="{case["reference"]}"] td.reference a')
        assert link.evaluate("a => a.getClientRects().length") == 1, case["reference"]  # never wraps

    page.locator("summary", has_text="More filters").click()
    expect(page.get_by_role("checkbox", name="P2")).to_be_visible()

    for case in made[:2]:
        page.get_by_label(f"Select {case['reference']}").check()
    bar = page.get_by_test_id("bulk-bar")
    bar.get_by_label("Action").select_option("tag")
    bar.get_by_label("Tag (add the tag)").fill("wave-1")
    bar.get_by_role("button", name="Apply").click()
    expect(page.get_by_test_id("bulk-summary")).to_have_text("2 cases changed, 0 already so, 0 refused.")
    expect(page.get_by_test_id("bulk-outcome")).to_have_count(2)
    page.get_by_role("link", name="Back to the case list").click()
    expect(page.locator(f'tr[data-reference="{made[0]["reference"]}"]')).to_contain_text("wave-1")
    expect(page.locator(f'tr[data-reference="{made[2]["reference"]}"]')).not_to_contain_text("wave-1")
    assert problems == []


def outcome_of(page: Page, reference: str) -> Any:
    return page.locator(f'[data-testid="bulk-outcome"][data-reference="{reference}"]')


def row_of(page: Page, reference: str) -> Any:
    return page.locator(f'tr[data-testid="case-row"][data-reference="{reference}"]')


STATUS, OWNER = 3, 7  # columns of the list with its tick boxes: tick, reference, title, status, ..., owner


def column(page: Page, reference: str, index: int) -> Any:
    return row_of(page, reference).locator("td").nth(index)


def test_bulk_assign_then_resolve_as_duplicate_reports_each_case_and_the_list_follows(
        page: Page, live_server: str, api, open_case) -> None:
    """An analyst works a phishing wave from the open-case list: takes the reports (a colleague's is refused),
    then resolves them as duplicates of the first (the first itself is refused), and the list shows what
    changed and what did not."""
    ann, bob = api("analyst", "ann"), api("analyst", "bob")
    first = open_case(ann, title="Phishing wave: first report")
    reports = [open_case(ann, title=f"Phishing wave: report {n}") for n in (2, 3)]
    bobs = open_case(bob, title="Phishing wave: Bob's report", owner="bob")
    problems = watch_console(page)
    page.set_viewport_size({"width": 1280, "height": 800})
    sign_in(page, live_server, "ann")
    page.goto(f"{live_server}/cases?state=open")

    for case in [*reports, bobs]:
        page.get_by_label(f"Select {case['reference']}").check()
    bar = page.get_by_test_id("bulk-bar")
    bar.get_by_label("Action").select_option("assign")
    bar.get_by_label("Owner (assign)").select_option("ann")
    bar.get_by_role("button", name="Apply").click()
    expect(page.get_by_test_id("bulk-summary")).to_have_text(
        "2 cases changed, 0 already so, 1 refused (left exactly as they were).")
    for case in reports:
        expect(outcome_of(page, case["reference"])).to_contain_text("changed")
        expect(outcome_of(page, case["reference"])).to_contain_text("assigned to ann")
    expect(outcome_of(page, bobs["reference"])).to_have_attribute("data-outcome", "refused")
    expect(outcome_of(page, bobs["reference"])).to_contain_text("only managers assign cases")

    page.get_by_role("link", name="Back to the case list").click()
    expect(page).to_have_url(f"{live_server}/cases?state=open")
    for case in reports:
        expect(column(page, case["reference"], OWNER)).to_have_text("ann")
    expect(column(page, bobs["reference"], OWNER)).to_have_text("bob")  # left as it was

    for case in [first, *reports]:  # the first report ticked too, by mistake
        page.get_by_label(f"Select {case['reference']}").check()
    bar.get_by_label("Action").select_option("duplicate")
    bar.get_by_label("Surviving case (resolve as a duplicate)").fill(first["reference"])
    bar.get_by_role("button", name="Apply").click()
    expect(page.get_by_test_id("bulk-summary")).to_have_text(
        "2 cases changed, 0 already so, 1 refused (left exactly as they were).")
    for case in reports:
        expect(outcome_of(page, case["reference"])).to_contain_text(
            f"resolved as a duplicate of {first['reference']}")
    expect(outcome_of(page, first["reference"])).to_have_attribute("data-outcome", "refused")
    expect(outcome_of(page, first["reference"])).to_contain_text("a case cannot be linked to itself")

    page.get_by_role("link", name="Back to the case list").click()
    expect(page.get_by_test_id("case-row")).to_have_count(2)  # the duplicates left the open cases
    expect(column(page, first["reference"], STATUS)).to_have_text("new")
    expect(row_of(page, bobs["reference"])).to_be_visible()
    page.goto(f"{live_server}/cases?status=resolved")
    for case in reports:
        expect(column(page, case["reference"], STATUS)).to_have_text("resolved")
    assert problems == []
