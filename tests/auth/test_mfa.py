"""TOTP second factor: enrollment, sign-in with a code, replay refusal, lockout and the admin's policy."""

from __future__ import annotations

import datetime as dt
import html
import re

import pyotp
import pytest

from tests.auth.helpers import audit_actions, text_of, user_row
from tests.conftest import PASSWORD, WebClient


def _begin(client: WebClient) -> pyotp.TOTP:
    page = client.post("/account/mfa", {"action": "begin"})
    assert page.status_code == 200
    body = text_of(page)
    assert 'src="data:image/svg+xml;base64,' in body  # the QR code
    uri = html.unescape(re.search(r'<p class="secret">(otpauth://[^<]+)</p>', body).group(1))
    totp = pyotp.parse_uri(uri)
    assert isinstance(totp, pyotp.TOTP)
    return totp


def _later(totp: pyotp.TOTP, windows: int = 1) -> str:
    """The code of a later 30-second window (accepted within the allowed clock drift)."""
    return totp.at(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30 * windows))


def _enroll(client: WebClient) -> pyotp.TOTP:
    return _enroll_with_codes(client)[0]


def _enroll_with_codes(client: WebClient) -> tuple[pyotp.TOTP, list[str]]:
    totp = _begin(client)
    done = client.post("/account/mfa", {"action": "confirm", "code": totp.now()})
    assert done.status_code == 200
    assert "Two-factor authentication is on." in text_of(done)
    return totp, _recovery_codes(text_of(done))


def _recovery_codes(page: str) -> list[str]:
    listing = re.search(r'data-testid="recovery-codes">(.*?)</ul>', page, re.S)
    assert listing, "the page shows no recovery codes"
    return re.findall(r"<li>([a-z0-9-]+)</li>", listing.group(1))


def _sign_in(app, username: str) -> WebClient:
    client = WebClient(app.test_client())
    client.get("/login")
    response = client.post("/login", {"username": username, "password": PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == "/login/mfa"
    client.get("/login/mfa")  # the form with the new session's CSRF token
    return client


def test_enrollment_then_sign_in_needs_the_code(app, login, db):
    client = login("analyst")
    totp = _enroll(client)
    assert user_row(db, client.user.username).totp_enabled
    assert "on</span>" in text_of(client.get("/account"))
    assert len(audit_actions(db, "user.mfa_enabled")) == 1

    fresh = _sign_in(app, client.user.username)
    for url in ("/", "/account", "/admin/users", "/audit"):
        response = fresh.get(url)
        assert response.status_code == 302, url
        assert response.headers["Location"] == "/login/mfa"
    wrong = fresh.post("/login/mfa", {"code": "000000" if totp.now() != "000000" else "111111"})
    assert wrong.status_code == 401
    assert fresh.get("/").headers["Location"] == "/login/mfa"
    ok = fresh.post("/login/mfa", {"code": _later(totp)})
    assert ok.status_code == 302
    assert fresh.get("/").status_code == 200
    assert len(audit_actions(db, "auth.mfa_failed")) == 1


def test_a_code_is_accepted_once_only(app, login):
    client = login("analyst")
    totp = _enroll(client)
    code = _later(totp)
    first = _sign_in(app, client.user.username)
    assert first.post("/login/mfa", {"code": code}).status_code == 302
    second = _sign_in(app, client.user.username)
    replay = second.post("/login/mfa", {"code": code})
    assert replay.status_code == 401
    assert "not valid" in text_of(replay)
    assert second.get("/").status_code == 302
    # The enrollment code cannot be replayed either.
    assert second.post("/login/mfa", {"code": totp.now()}).status_code == 401


def test_wrong_codes_lock_the_account(app, login, db):
    client = login("analyst")
    totp = _enroll(client)
    pending = _sign_in(app, client.user.username)
    bad = "123456" if _later(totp) != "123456" else "654321"
    statuses = [pending.post("/login/mfa", {"code": bad}).status_code for _ in range(5)]
    assert statuses == [401, 401, 401, 401, 429]
    assert len(audit_actions(db, "auth.lockout")) == 1
    assert pending.get("/").headers["Location"].startswith("/login")
    assert WebClient(app.test_client()).login(client.user.username).status_code == 429


def test_pending_sign_in_cannot_replace_or_remove_the_factor(app, login, db):
    client = login("analyst")
    _enroll(client)
    pending = _sign_in(app, client.user.username)
    for action in ({"action": "begin"}, {"action": "disable", "password": PASSWORD}):
        response = pending.post("/account/mfa", action)
        assert response.headers["Location"] == "/login/mfa"
    assert user_row(db, client.user.username).totp_enabled
    assert pending.get("/").headers["Location"] == "/login/mfa"


def test_an_enrolled_factor_is_not_replaced_without_the_password(login, db):
    client = login("analyst")
    _enroll(client)
    secret_before = user_row(db, client.user.username).totp_secret
    response = client.post("/account/mfa", {"action": "begin"})
    assert response.status_code == 409
    assert user_row(db, client.user.username).totp_secret == secret_before
    assert user_row(db, client.user.username).totp_enabled


def test_confirm_with_a_wrong_code_keeps_it_off(login, db):
    client = login("analyst")
    totp = _begin(client)
    bad = "000000" if totp.now() != "000000" else "111111"
    response = client.post("/account/mfa", {"action": "confirm", "code": bad})
    assert response.status_code == 422
    assert not user_row(db, client.user.username).totp_enabled


def test_turning_it_off_needs_the_password(app, login, db):
    client = login("analyst")
    _enroll(client)
    assert client.post("/account/mfa", {"action": "disable", "password": "wrong password!"}).status_code == 422
    assert user_row(db, client.user.username).totp_enabled
    assert client.post("/account/mfa", {"action": "disable", "password": PASSWORD}).status_code == 302
    assert not user_row(db, client.user.username).totp_enabled
    assert WebClient(app.test_client()).login(client.user.username).status_code == 302


def test_secret_is_stored_encrypted(login, db):
    client = login("analyst")
    totp = _enroll(client)
    assert totp.secret not in (user_row(db, client.user.username).totp_secret or "")


@pytest.mark.parametrize("via", ["api", "form"])
def test_admin_policy_forces_enrollment_at_next_sign_in(app, api, login, make_user, db, via):
    manager = make_user("manager")
    analyst = make_user("analyst")
    already_open = WebClient(app.test_client())
    already_open.login(manager.username)
    if via == "api":
        response = api("admin").put("/api/v1/settings/mfa", json={"required_roles": ["manager"]})
        assert response.status_code == 200
        assert response.json == {"required_roles": ["manager"]}
    else:
        admin = login("admin")
        assert admin.post("/admin/settings/mfa", {"required_roles": "manager"}).status_code == 302
        assert "checked" in text_of(admin.get("/admin/users")).split("Second factor policy")[1]
    [entry] = audit_actions(db, "settings.mfa_required_roles")
    assert entry.summary["to"] == ["manager"]

    # Other roles are unaffected.
    assert WebClient(app.test_client()).login(analyst.username).status_code == 302

    for client in (_sign_in(app, manager.username), already_open):
        assert client.get("/login/mfa").headers["Location"] == "/account/mfa"
        for url in ("/", "/account", "/audit"):
            assert client.get(url).headers["Location"] == "/login/mfa", url
        page = client.get("/account/mfa")
        assert page.status_code == 200
        assert "requires a second factor" in text_of(page)
        assert client.post("/account/tokens", {"name": "x"}).headers["Location"] == "/login/mfa"

    forced = already_open
    totp = _begin(forced)
    confirmed = forced.post("/account/mfa", {"action": "confirm", "code": totp.now()})
    assert confirmed.status_code == 200
    assert len(_recovery_codes(text_of(confirmed))) == 10
    assert forced.get("/").status_code == 200
    # Required by policy: it cannot be turned off.
    refused = forced.post("/account/mfa", {"action": "disable", "password": PASSWORD})
    assert refused.status_code == 409
    assert user_row(db, manager.username).totp_enabled


def test_mfa_policy_input_is_validated(api):
    response = api("admin").put("/api/v1/settings/mfa", json={"required_roles": ["wizard"]})
    assert response.status_code == 422
    assert response.json["error"]["field"].startswith("required_roles")
