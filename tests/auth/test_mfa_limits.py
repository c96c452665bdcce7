"""Second-factor codes and the factor page's password checks count towards the sign-in limits: someone who
has the password cannot guess codes without end, neither by signing in again before each lockout nor by
staying under the address's attempt limit."""

from __future__ import annotations

import re

from tests.auth.helpers import text_of, user_row
from tests.auth.test_mfa import _enroll, _later, _sign_in
from tests.conftest import PASSWORD, WebClient


def _error(response) -> str:
    found = re.search(r'<p class="error-box" role="alert">([^<]*)</p>', text_of(response))
    assert found, "the page shows no error"
    return found.group(1)


def _wrong(totp) -> str:
    return "123456" if "123456" not in {totp.now(), _later(totp), _later(totp, -1)} else "654321"


def test_signing_in_again_does_not_reset_wrong_codes(app, login, make_user):
    client = login("analyst")
    totp = _enroll(client)
    statuses = []
    for _ in range(5):  # the password each time, then one wrong code
        statuses.append(_sign_in(app, client.user.username).post("/login/mfa", {"code": _wrong(totp)}).status_code)
    assert statuses == [401, 401, 401, 401, 429]
    locked = WebClient(app.test_client()).login(client.user.username)
    assert locked.status_code == 429
    # The same words as an account locked by wrong passwords.
    other = make_user("analyst")
    assert [WebClient(app.test_client()).login(other.username, f"wrong {i}").status_code
            for i in range(5)][-1] == 429
    by_password = WebClient(app.test_client()).login(other.username)
    assert by_password.status_code == 429
    assert _error(locked) == _error(by_password)
    assert "locked" in _error(locked)


def test_codes_count_towards_the_address_limit(make_app, make_user, db):
    app = make_app(login_rate_limit="4 per day")
    user = make_user("analyst")
    client = WebClient(app.test_client())
    assert client.login(user.username).status_code == 302  # attempt 1
    totp = _enroll(client)  # the enrollment's own code is not a sign-in
    pending = _sign_in(app, user.username)  # attempt 2
    assert pending.post("/login/mfa", {"code": _wrong(totp)}).status_code == 401  # 3
    assert pending.post("/login/mfa", {"code": _wrong(totp)}).status_code == 401  # 4
    limited = pending.post("/login/mfa", {"code": _later(totp)})  # 5: even the right code is refused
    assert limited.status_code == 429
    assert pending.get("/").headers["Location"].startswith("/login")
    refused_login = WebClient(app.test_client()).login(user.username)
    assert refused_login.status_code == 429
    assert _error(limited) == _error(refused_login)  # indistinguishable from a limited sign-in
    assert "locked" not in _error(limited)
    assert user_row(db, user.username).locked_until is None  # the address is held back, not the account


def test_factor_page_password_checks_count_towards_the_address_limit(make_app, make_user, db):
    app = make_app(login_rate_limit="3 per day")
    user = make_user("analyst")
    client = WebClient(app.test_client())
    assert client.login(user.username).status_code == 302  # attempt 1
    _enroll(client)
    assert client.post("/account/mfa", {"action": "disable", "password": "wrong password!"}).status_code == 422
    assert client.post("/account/mfa", {"action": "recovery_codes", "password": "wrong again!!"}).status_code == 422
    limited = client.post("/account/mfa", {"action": "disable", "password": PASSWORD})  # attempt 4
    assert limited.status_code == 429
    assert "too many sign-in attempts" in _error(limited)
    assert user_row(db, user.username).totp_enabled
