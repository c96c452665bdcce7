"""Security headers on every response, pages never cached, no inline script or style."""

from __future__ import annotations

import re

import pytest

from tests.auth.helpers import text_of


def _check_headers(response, *, cacheable: bool = False) -> None:
    h = response.headers
    csp = h["Content-Security-Policy"]
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["X-Frame-Options"] == "DENY"
    assert h["Referrer-Policy"]
    if not cacheable:
        assert "no-store" in h["Cache-Control"]


PAGES = ["/", "/account", "/account/mfa", "/admin/users", "/admin/tokens", "/audit"]


def test_headers_on_pages(login):
    client = login("admin")
    for url in PAGES:
        response = client.get(url)
        assert response.status_code == 200, url
        _check_headers(response)


def test_pages_have_no_inline_script_or_style(login, web):
    client = login("admin")
    pages = [text_of(client.get(url)) for url in PAGES] + [text_of(web.get("/login"))]
    for html in pages:
        assert not re.search(r"\sstyle=", html)
        assert not re.search(r"\son[a-z]+=", html)
        assert not re.search(r"<script(?![^>]*\ssrc=)[^>]*>", html)


def test_headers_on_anonymous_and_error_responses(app, web):
    client = app.test_client()
    responses = [
        web.get("/login"),
        client.get("/"),  # redirect to login
        client.get("/no/such/page"),
        client.get("/api/v1/no/such/thing"),
        client.get("/api/v1/me"),  # 401
        client.delete("/login"),  # 405
        client.post("/logout"),  # CSRF 400
        client.get("/healthz"),
    ]
    for response in responses:
        _check_headers(response)


def test_headers_and_no_details_on_unexpected_errors(make_app):
    app = make_app()

    def explode():
        raise RuntimeError("secret internals")

    app.add_url_rule("/explode", "explode", explode)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = app.test_client().get("/explode")
    assert response.status_code == 500
    assert "secret internals" not in text_of(response)
    _check_headers(response)


@pytest.mark.parametrize("url", ["/static/app.css", "/static/vendor/pico/pico.min.css"])
def test_static_assets_are_served_locally_with_headers(app, url):
    response = app.test_client().get(url)
    assert response.status_code == 200
    _check_headers(response, cacheable=True)
    response.close()


def test_request_id_is_echoed_or_generated(app):
    client = app.test_client()
    assert client.get("/healthz", headers={"X-Request-ID": "abcdef123456"}).headers["X-Request-ID"] == "abcdef123456"
    generated = client.get("/healthz", headers={"X-Request-ID": "bad id <script>"}).headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
