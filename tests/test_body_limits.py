"""Request bodies are limited on every route (CASEMGR_MAX_BODY_BYTES), refused before they are parsed,
before anyone is looked up, and never spooled to disk; evidence uploads and STIX imports keep their own
larger limits."""

from __future__ import annotations

import io
import json
import tempfile

import pytest

from casemgr.evidence.keyring import KEYRING_FILE, Keyring

from .conftest import ApiClient, WebClient
from .evidence.conftest import multipart
from .indicators.conftest import bundle_of, indicator

LIMIT = 64 * 1024


@pytest.fixture
def no_temp_dir(tmp_path, monkeypatch):
    """A temp directory that does not exist: a request that spools anything to a temporary file fails."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-temp-dir"))


def sign_in_form(file_size: int) -> tuple[bytes, str]:
    """The sign-in form's fields with a file part of `file_size` bytes, as an attacker sends it."""
    return multipart(b"x" * file_size, "big.bin", username="someone", password="whatever")


def test_an_anonymous_sign_in_with_a_file_part_over_the_limit_is_refused_unread(make_app, make_user, no_temp_dir):
    app = make_app(max_body_bytes=LIMIT, login_rate_limit="1 per minute")
    client = app.test_client()
    body, content_type = sign_in_form(LIMIT + 1)
    for _ in range(3):
        refused = client.post("/login", data=body, content_type=content_type)
        assert refused.status_code == 413
        page = refused.get_data(as_text=True)
        assert "larger than the maximum of 65,536 bytes (CASEMGR_MAX_BODY_BYTES)" in page
    # Declared, not sent: refused on the header alone.
    declared = client.post("/login", data=b"", content_type=content_type,
                           environ_overrides={"CONTENT_LENGTH": str(2**30)})
    assert declared.status_code == 413
    # None of this counted against the sign-in rate limit (1 per minute).
    user = make_user("analyst")
    assert WebClient(client).login(user.username).status_code == 302


def test_a_file_part_within_the_limit_is_kept_in_memory(make_app, no_temp_dir):
    # Werkzeug spools a file part over 500 KB to a temporary file (here: an error, as there is no temp dir).
    client = make_app(max_body_bytes=1024 * 1024).test_client()
    body, content_type = sign_in_form(600 * 1024)
    answered = client.post("/login", data=body, content_type=content_type)
    assert answered.status_code == 400  # the CSRF check read the form, and found no token
    assert "security token is missing" in answered.get_data(as_text=True)


def test_a_json_body_over_the_limit_is_a_413_json_error(make_app, api, case_fields):
    base = api("analyst")
    client = ApiClient(make_app(max_body_bytes=LIMIT).test_client(), base.token, base.user)
    large = json.dumps({**case_fields, "description": "x" * LIMIT})
    for kwargs in ({"data": large},  # with a Content-Length
                   {"input_stream": io.BytesIO(large.encode()),  # chunked: cut off where it passes the limit
                    "environ_overrides": {"wsgi.input_terminated": True}}):
        refused = client.post("/api/v1/cases", content_type="application/json", **kwargs)
        assert refused.status_code == 413
        assert refused.get_json()["error"] == {
            "code": "too_large", "field": None,
            "message": "the request body is larger than the maximum of 65,536 bytes (CASEMGR_MAX_BODY_BYTES)"}
    assert client.get("/api/v1/cases").get_json()["total"] == 0
    small = client.post("/api/v1/cases", json={**case_fields, "description": "x" * (LIMIT // 2)})
    assert small.status_code == 201


def test_the_limit_comes_before_authentication(make_app):
    client = make_app(max_body_bytes=LIMIT).test_client()
    refused = client.post("/api/v1/cases", data=b"{}", content_type="application/json",
                          environ_overrides={"CONTENT_LENGTH": str(LIMIT + 1)})
    assert refused.status_code == 413  # not 401: nothing was looked up for a body it will not read
    assert refused.get_json()["error"]["code"] == "too_large"


def test_evidence_uploads_and_stix_imports_keep_their_own_limits(make_app, api, open_case, instance_dir):
    Keyring.create(instance_dir / KEYRING_FILE)
    app = make_app(max_body_bytes=LIMIT)
    base = api("analyst")
    client = ApiClient(app.test_client(), base.token, base.user)
    case = open_case(client)

    body, content_type = multipart(b"e" * (2 * LIMIT), "disk.img")
    uploaded = client.post(f"/api/v1/cases/{case['id']}/evidence", data=body, content_type=content_type)
    assert uploaded.status_code == 201, uploaded.get_json()
    assert uploaded.get_json()["size"] == 2 * LIMIT

    bundle = bundle_of(*(indicator(f"[domain-name:value = 'host{n}.example']") for n in range(400)))
    raw = json.dumps(bundle)
    assert len(raw) > LIMIT
    imported = client.post(f"/api/v1/cases/{case['id']}/stix", data=raw, content_type="application/json")
    assert imported.status_code == 200, imported.get_json()
    assert imported.get_json()["added"] == {"indicator": 400}

    web = WebClient(app.test_client())
    web.login(base.user.username)
    web.get(f"/cases/{case['id']}/indicators")
    staged = web.post(f"/cases/{case['id']}/stix/upload", {"bundle": (io.BytesIO(raw.encode()), "bundle.json")},
                      content_type="multipart/form-data")
    assert staged.status_code == 200, staged.get_data(as_text=True)
    assert "bundle.json" in staged.get_data(as_text=True)
