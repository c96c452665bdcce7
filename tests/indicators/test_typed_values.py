"""A value typed or pasted into the add box, the API or the search is refanged (hxxp://, [.], [@]) by the same
function as the free-text extraction, and a value no type accepts is refused in plain words naming the field."""

from __future__ import annotations

import html
import re

import pytest

from tests.forms import form_on
from tests.indicators.conftest import add


@pytest.mark.parametrize(("type_", "typed", "stored"), [
    ("domain-name", "evil[.]example", "evil.example"),
    ("url", "hxxp://evil[.]example/x", "http://evil.example/x"),
    ("email-addr", "billing[@]evil[.]example", "billing@evil.example"),
    ("ipv4-addr", "45.33.32[.]156", "45.33.32.156"),
])
def test_the_add_box_refangs_what_is_pasted(api, login, open_case, type_, typed, stored):
    case = open_case(api("analyst"))
    web = login("analyst")
    url = f"/cases/{case['id']}/indicators"
    form = form_on(web, url, action="/indicators/add", has="value")
    response = form.submit(web, {"type": type_, "value": typed})
    assert response.status_code == 302, response.get_data(as_text=True)
    listing = web.get(url).get_data(as_text=True)
    assert f"Indicator added: {stored}" in listing
    assert f"<code>{stored}</code>" in listing
    assert typed not in listing


def test_the_api_refangs_a_typed_value_too(api, open_case):
    analyst = api("analyst")
    case = open_case(analyst)
    response = add(analyst, case, "url", "hxxps://collect.evil[.]example/a")
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["value"] == "https://collect.evil.example/a"
    assert response.get_json()["pattern"] == "[url:value = 'https://collect.evil.example/a']"
    again = add(analyst, case, "url", "https://collect.evil.example/a")
    assert again.get_json()["created"] is False  # the same indicator, its sighting counted


def test_a_user_agent_is_not_refanged(api, open_case):
    """The refanger rewrites " dot " and "(dot)": plain text in a user agent, kept as typed."""
    analyst = api("analyst")
    response = add(analyst, open_case(analyst), "user-agent", "EvilBot (dot) 1.0 [.] beta")
    assert response.get_json()["value"] == "EvilBot (dot) 1.0 [.] beta"


@pytest.mark.parametrize(("type_", "typed", "words"), [
    ("domain-name", "ev il.example",
     "'ev il.example' is not a valid domain name: the character U+0020 at position 3 cannot be part of a domain "
     "name (letters, digits and hyphens, separated by dots)"),
    ("domain-name", "evil..example", "it has an empty part (two dots in a row, or a dot at the start)"),
    ("ipv4-addr", "hxxp://evil[.]example/x",
     "'http://evil.example/x' is not a valid IPv4 address or CIDR network; it looks like a url: choose the type url"),
    ("url", "http://[evil]/x", "the host in square brackets is not an IPv6 address"),
])
def test_a_bad_value_is_refused_in_plain_words_naming_the_field(api, login, open_case, type_, typed, words):
    analyst = api("analyst")
    case = open_case(analyst)
    response = add(analyst, case, type_, typed)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["field"] == "value"
    assert words in error["message"]
    for library in ("Codepoint", "does not appear to be", "IDNA", "Empty Label"):
        assert library not in error["message"]
    web = login("analyst")
    form = form_on(web, f"/cases/{case['id']}/indicators", action="/indicators/add", has="value")
    page = form.submit(web, {"type": type_, "value": typed})
    assert page.status_code == 422
    box = re.search(r'<p class="error-box" role="alert" data-field="value">(.*?)</p>', page.get_data(as_text=True))
    assert box is not None
    assert words in html.unescape(box.group(1))


def test_a_search_for_nothing_recognisable_says_what_a_value_may_be(login):
    page = login("analyst").get("/indicators/search", query_string={"value": "bad\x01value"})
    assert page.status_code == 422
    assert "is not an IP address, domain name, URL, e-mail address or hash" in html.unescape(
        page.get_data(as_text=True))


def test_a_search_finds_a_value_typed_defanged(api, login, open_case):
    analyst = api("analyst")
    case = open_case(analyst)
    add(analyst, case, "domain-name", "evil.example")
    page = login("analyst").get("/indicators/search", query_string={"value": "evil[.]example"})
    assert page.status_code == 200
    assert case["reference"] in page.get_data(as_text=True)


def test_a_valid_value_is_never_rewritten_by_the_refanger(api, open_case):
    """ioc-fanger reads the `::/` of an IPv6 network as a defanged `://`: a value valid as typed is kept."""
    analyst = api("analyst")
    response = add(analyst, open_case(analyst), "ipv6-addr", "2001:db8::/32")
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["value"] == "2001:db8::/32"
