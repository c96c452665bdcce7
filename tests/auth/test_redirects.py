"""After sign-in, `next` leads only to a path on this site: never another site, never a 500."""

from __future__ import annotations

import pytest

from casemgr.web import safe_next
from tests.conftest import PASSWORD, WebClient

HOSTILE = [
    "/\t/evil.example/",  # browsers drop the tab: //evil.example/
    "/\n/evil.example/",
    "/\r\n/evil.example/",
    "/%0a\nSet-Cookie: x=1",  # a header injection attempt (and a 500 before)
    "/ /evil.example/",
    " //evil.example/",
    "//evil.example/",
    "///evil.example/",
    "/\\evil.example/",
    "\\/evil.example/",
    "/\x7f/evil.example/",
    "/\u200b/evil.example/",  # zero-width space (a format character)
    "/\u3000/evil.example/",  # ideographic space
    "https://evil.example/",
    "http:/evil.example/",
    "javascript:alert(1)",
    "evil.example",
    "x/../../evil.example",
    "/" + "a" * 3000,
]


@pytest.mark.parametrize("target", HOSTILE, ids=[repr(t)[:40] for t in HOSTILE])
def test_a_hostile_next_leads_home_after_sign_in(app, make_user, target):
    user = make_user("analyst")
    client = WebClient(app.test_client())
    client.get("/login")
    response = client.post("/login", {"username": user.username, "password": PASSWORD, "next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("target", HOSTILE, ids=[repr(t)[:40] for t in HOSTILE])
def test_a_hostile_next_is_not_carried_into_the_sign_in_form(web, target):
    page = web.get("/login", query_string={"next": target})
    assert page.status_code == 200
    assert 'name="next"' not in page.get_data(as_text=True)


def test_a_nul_in_next_is_refused_naming_it_and_signs_no_one_in(app, make_user):
    # no parameter anywhere may hold a NUL (casemgr/web.py refuses it before any view runs)
    user = make_user("analyst")
    client = WebClient(app.test_client())
    page = client.get("/login", query_string={"next": "/\x00/evil.example/"})
    assert page.status_code == 422
    assert "next: must not contain NUL characters" in page.get_data(as_text=True)
    client.get("/login")
    response = client.post("/login", {"username": user.username, "password": PASSWORD, "next": "/\x00/evil/"})
    assert response.status_code == 422
    assert "next: must not contain NUL characters" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302  # still signed out: the home page sends to the sign-in page


SAFE = ["/", "/cases", "/cases/12?tab=evidence&page=2", "/cases/%2F%2Fevil", "/caf\u00e9"]


@pytest.mark.parametrize("target", SAFE)
def test_a_path_on_this_site_is_followed(app, make_user, target):
    user = make_user("analyst")
    client = WebClient(app.test_client())
    client.get("/login")
    response = client.post("/login", {"username": user.username, "password": PASSWORD, "next": target})
    assert response.status_code == 302
    assert safe_next(target) == target
    assert response.headers["Location"] in {target, "/caf%C3%A9"}
