"""A real browser signs in, creates an API token, sees it once and signs out, under the strict CSP."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import ConsoleMessage, Page, Response, expect

from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def watch_console(page: Page) -> list[str]:
    """Collect what the browser reports about the page: CSP violations, script errors, failed loads."""
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            problems.append(f"CSP violation: {message.text}")
        elif message.type == "error" and not message.text.startswith("Failed to load resource"):
            problems.append(f"console error: {message.text}")

    def on_response(response: Response) -> None:
        # Chromium asks for /favicon.ico on its own; every other failed load is one of our pages' assets.
        if response.status >= 400 and not response.url.endswith("/favicon.ico"):
            problems.append(f"HTTP {response.status} for {response.url}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("response", on_response)
    return problems


def test_sign_in_create_a_token_and_sign_out(page: Page, live_server: str, make_user) -> None:
    make_user("analyst", "dana")
    problems = watch_console(page)

    page.goto(f"{live_server}/account")
    expect(page).to_have_url(re.compile(r"/login\?next="))  # not signed in yet
    page.get_by_label("Username").fill("dana")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server}/account")  # back where we were going
    expect(page.get_by_test_id("account-link")).to_contain_text("dana (analyst)")

    page.get_by_label("Name", exact=True).fill("laptop")
    page.get_by_role("button", name="Create token").click()
    shown = page.get_by_test_id("new-token")
    expect(shown).to_have_text(re.compile(r"^cm_\S{20,}$"))
    token = shown.inner_text()
    expect(page.get_by_text("it is shown only once")).to_be_visible()
    expect(page.get_by_test_id("token-row").filter(has_text="laptop")).to_contain_text(token[:9])

    me = page.request.get(f"{live_server}/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status == 200
    assert me.json()["username"] == "dana"

    page.goto(f"{live_server}/account")  # seen once: never again
    expect(page.get_by_test_id("token-row").filter(has_text="laptop")).to_contain_text("active")
    expect(page.get_by_test_id("new-token")).to_have_count(0)
    assert token not in page.content()

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    page.goto(f"{live_server}/account")
    expect(page).to_have_url(re.compile(r"/login\?next=(/|%2F)account"))
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()

    # the token outlives the browser session: signing out revokes nothing
    assert page.request.get(f"{live_server}/api/v1/me",
                            headers={"Authorization": f"Bearer {token}"}).status == 200
    assert problems == []


def test_a_hostile_next_stays_on_this_site(page: Page, live_server: str, make_user) -> None:
    """Chromium itself drops the tab of `/<tab>/evil.example/`: the app must never send it on."""
    make_user("analyst", "erin")
    problems = watch_console(page)
    page.goto(f"{live_server}/login?next=/%09/evil.example/")
    page.get_by_label("Username").fill("erin")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server}/")
    assert problems == []


def test_an_admin_resets_a_password_and_the_user_chooses_a_new_one(page: Page, live_server: str, make_user,
                                                                  browser) -> None:
    make_user("admin", "root")
    make_user("analyst", "frank")
    problems = watch_console(page)
    page.goto(f"{live_server}/login")
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{live_server}/admin/users")
    page.get_by_test_id("user-frank").get_by_role("button", name="Reset password").click()
    temporary = page.get_by_test_id("temporary-password").inner_text().strip()
    expect(page.get_by_text("must choose a new one at the next sign-in")).to_be_visible()

    context = browser.new_context()
    user = context.new_page()
    problems += watch_console(user)
    user.goto(f"{live_server}/cases")
    user.get_by_label("Username").fill("frank")
    user.get_by_label("Password").fill(temporary)
    user.get_by_role("button", name="Sign in").click()
    expect(user).to_have_url(f"{live_server}/account/password/new")  # before anything else
    user.goto(f"{live_server}/cases")
    expect(user).to_have_url(f"{live_server}/account/password/new")
    user.get_by_label("Current password").fill(temporary)
    user.get_by_label("New password").fill("Summer2026!!")
    user.get_by_role("button", name="Change password").click()
    expect(user.get_by_role("alert")).to_contain_text("too easy to guess")
    user.get_by_label("Current password").fill(temporary)
    user.get_by_label("New password").fill("frank's quite long phrase of words")
    user.get_by_role("button", name="Change password").click()
    expect(user).to_have_url(f"{live_server}/")
    expect(user.get_by_text("Your password was changed.")).to_be_visible()
    context.close()
    assert problems == []
