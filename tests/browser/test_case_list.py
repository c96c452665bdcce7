"""The case list in a real browser: the filters take one line until unfolded, a reference stays on
one line, and the bulk bar tags the ticked cases and says what happened to each."""

from __future__ import annotations

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
