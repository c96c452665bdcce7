"""A real browser: values pasted defanged under a reserved top-level domain are listed for review with the
reason and left unticked; the analyst ticks one; the add box takes a defanged value and says in plain words
what is wrong with a bad one."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_cases import sign_in
from tests.browser.test_sign_in_and_tokens import watch_console
from tests.indicators.conftest import CASE

pytestmark = pytest.mark.browser

PHISH = """From: billing[@]evil[.]example
Log in at hxxp://evil[.]example/login before Friday."""


def test_analyst_reviews_flagged_values_and_adds_a_defanged_one(page: Page, live_server: str, make_user,
                                                                 api) -> None:
    make_user("analyst", "omar")
    case = api("analyst").post("/api/v1/cases", json={**CASE, "title": "Mailbox phishing"}).get_json()
    problems = watch_console(page)
    sign_in(page, live_server, "omar")
    page.goto(f"{live_server}/cases/{case['id']}/indicators")

    page.get_by_label("Alert, email or report text").fill(PHISH)
    page.get_by_role("button", name="Find values to review").click()
    review = page.get_by_test_id("candidate-review")
    for value in ("http://evil.example/login", "billing@evil.example", "evil.example"):
        expect(review.get_by_label(f"add {value}")).not_to_be_checked()
        expect(review.get_by_test_id("candidate").filter(has_text=value).first).to_contain_text(
            "check before adding: reserved top-level domain .example")
    review.get_by_label("add http://evil.example/login").check()
    page.get_by_role("button", name="Add the ticked values").click()
    rows = page.get_by_test_id("indicator-row")
    expect(rows.filter(has_text="http://evil.example/login")).to_have_count(1)
    expect(rows.filter(has_text="billing@evil.example")).to_have_count(0)

    adding = page.get_by_test_id("indicator-add")
    adding.get_by_label("Type").select_option("domain-name")
    adding.get_by_label("Value").fill("collect.evil[.]example")
    adding.get_by_role("button", name="Add indicator").click()
    expect(page.get_by_role("status")).to_contain_text("Indicator added: collect.evil.example")
    expect(rows.filter(has_text="collect.evil.example")).to_have_count(1)

    adding.get_by_label("Type").select_option("domain-name")
    adding.get_by_label("Value").fill("ev il.example")
    adding.get_by_role("button", name="Add indicator").click()
    alert = page.get_by_test_id("indicator-add").get_by_role("alert")
    expect(alert).to_have_attribute("data-field", "value")
    expect(adding.get_by_label("Value")).to_have_attribute("aria-invalid", "true")
    expect(alert).to_contain_text("'ev il.example' is not a valid domain name")
    expect(alert).to_contain_text("cannot be part of a domain name")
    expect(alert).not_to_contain_text("Codepoint")
    assert problems == [f"HTTP 422 for {live_server}/cases/{case['id']}/indicators/add"]  # the refused value only
