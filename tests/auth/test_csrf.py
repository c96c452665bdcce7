"""Every form post needs the session's CSRF token; the bearer-token API needs none."""

from __future__ import annotations

import pytest

from tests.auth.helpers import audit_actions, text_of, token_rows, user_row
from tests.conftest import PASSWORD, WebClient

BAD_TOKENS = [None, "", "not-a-token", "IjQ1NmRlZiI.Zz.bad"]


def _post(client: WebClient, url: str, data: dict, token: str | None):
    form = dict(data)
    if token is not None:
        form["csrf_token"] = token
    return client.client.post(url, data=form)


@pytest.mark.parametrize("token", BAD_TOKENS)
def test_login_without_valid_csrf_token_is_rejected(web, make_user, db, token):
    user = make_user("analyst")
    web.get("/login")
    response = _post(web, "/login", {"username": user.username, "password": PASSWORD}, token)
    assert response.status_code == 400
    assert "security token" in text_of(response)
    assert web.get("/").status_code == 302
    assert audit_actions(db, "auth.login") == []


@pytest.mark.parametrize("token", BAD_TOKENS)
def test_admin_forms_without_valid_csrf_token_change_nothing(login, db, token):
    admin = login("admin")
    victim = login("analyst").user
    attempts = [
        ("/admin/users", {"username": "sneaky", "role": "admin", "password": "a long enough passphrase"}),
        (f"/admin/users/{victim.username}", {"disabled": "true"}),
        (f"/admin/users/{victim.username}", {"role": "admin"}),
        (f"/admin/users/{victim.username}/tokens", {"name": "x"}),
        ("/admin/settings/mfa", {"required_roles": "analyst"}),
        ("/account/tokens", {"name": "x"}),
        ("/account/password", {"current_password": PASSWORD, "new_password": "another long passphrase"}),
    ]
    for url, data in attempts:
        assert _post(admin, url, data, token).status_code == 400, url
    row = user_row(db, victim.username)
    assert (row.role, row.is_disabled) == ("analyst", False)
    assert "sneaky" not in text_of(admin.get("/admin/users"))
    assert token_rows(db) == []
    assert WebClient(admin.client.application.test_client()).login(admin.user.username).status_code == 302


def test_logout_without_csrf_token_keeps_the_session(login):
    client = login("analyst")
    assert _post(client, "/logout", {}, None).status_code == 400
    assert client.get("/").status_code == 200


def test_csrf_token_of_another_session_is_rejected(app, login):
    alice = login("analyst")
    bob = login("analyst")
    response = _post(bob, "/account/tokens", {"name": "x"}, alice.token)
    assert response.status_code == 400


def test_api_with_bearer_token_needs_no_csrf_token(api, db):
    client = api("admin")
    response = client.post("/api/v1/users", json={"username": "scripted", "role": "analyst",
                                                  "password": "a long enough passphrase"})
    assert response.status_code == 201
    assert user_row(db, "scripted").role == "analyst"
