"""TRACE and methods no route knows are answered 405 with the methods that are allowed (RFC 9110 15.5.6)."""

from __future__ import annotations

import pytest

ROUTES = [("/login", {"GET", "HEAD", "OPTIONS", "POST"}), ("/healthz", {"GET", "HEAD", "OPTIONS"}),
          ("/api/v1/cases", {"GET", "HEAD", "OPTIONS", "POST"}), ("/taxii2/", {"GET", "HEAD", "OPTIONS"})]


@pytest.mark.parametrize("method", ["TRACE", "PROPFIND", "BREW"])
@pytest.mark.parametrize(("path", "allowed"), ROUTES, ids=[path for path, _ in ROUTES])
def test_an_unknown_method_is_405_naming_the_allowed_ones(app, path, allowed, method):
    response = app.test_client().open(path, method=method)
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) == allowed
    if path.startswith("/api/"):
        assert response.get_json()["error"]["code"] == "method_not_allowed"
    else:
        assert "that method is not allowed here" in response.get_data(as_text=True)
