"""Each role's access to the pages and endpoints that exist so far; anonymous callers are sent to sign in."""

from __future__ import annotations

import pytest

from casemgr.auth.models import Role
from tests.auth.helpers import text_of, user_row

ROLES = [r.value for r in Role]
ADMIN_PAGES = ["/admin/users", "/admin/tokens"]
AUDIT_PAGES = ["/audit"]


@pytest.mark.parametrize("role", ROLES)
def test_every_role_sees_home_and_own_account(login, role):
    client = login(role)
    for url in ("/", "/account"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert client.user.username in text_of(response)


@pytest.mark.parametrize("role", ROLES)
def test_admin_pages_only_for_admins(login, role):
    client = login(role)
    for url in ADMIN_PAGES:
        assert client.get(url).status_code == (200 if role == "admin" else 403), url


@pytest.mark.parametrize("role", ROLES)
def test_audit_pages_only_for_auditors_and_admins(login, role):
    client = login(role)
    allowed = role in {"auditor", "admin"}
    assert client.get("/audit").status_code == (200 if allowed else 403)
    assert client.post("/audit/verify").status_code == (200 if allowed else 403)


@pytest.mark.parametrize("role", ["analyst", "manager", "auditor"])
def test_non_admin_cannot_change_users_through_forms(login, make_user, db, role):
    client = login(role)
    victim = make_user("analyst")
    assert client.post("/admin/users", {"username": "mallory", "role": "admin",
                                        "password": "a long enough passphrase"}).status_code == 403
    assert client.post(f"/admin/users/{victim.username}", {"role": "admin"}).status_code == 403
    assert client.post(f"/admin/users/{victim.username}", {"disabled": "true"}).status_code == 403
    assert client.post(f"/admin/users/{victim.username}/tokens", {"name": "x"}).status_code == 403
    assert client.post("/admin/settings/mfa", {"required_roles": "analyst"}).status_code == 403
    row = user_row(db, victim.username)
    assert row.role == Role.ANALYST
    assert not row.is_disabled
    admin = login("admin")
    users_page = text_of(admin.get("/admin/users"))
    assert "mallory" not in users_page
    assert "checked" not in users_page.split("Second factor policy")[1]


def test_admin_manages_users_through_forms(login, db):
    admin = login("admin")
    response = admin.post("/admin/users", {"username": "newbie", "role": "manager", "display_name": "New Bie",
                                           "password": "a long enough passphrase"})
    assert response.status_code == 302
    assert user_row(db, "newbie").role == Role.MANAGER
    assert admin.post("/admin/users/newbie", {"role": "auditor"}).status_code == 302
    assert user_row(db, "newbie").role == Role.AUDITOR
    assert admin.post("/admin/users/newbie", {"disabled": "true"}).status_code == 302
    assert user_row(db, "newbie").is_disabled
    assert admin.post("/admin/users/newbie", {"disabled": "false"}).status_code == 302
    assert not user_row(db, "newbie").is_disabled


@pytest.mark.parametrize("url", ["/", "/account", "/admin/users", "/admin/tokens", "/audit", "/account/mfa"])
def test_anonymous_pages_redirect_to_login(web, url):
    response = web.get(url)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_login_returns_to_the_page_asked_for(web, make_user):
    user = make_user("admin")
    first = web.get("/admin/users")
    web.get("/login")
    target = first.headers["Location"].split("next=")[1]
    from urllib.parse import unquote

    response = web.post("/login", {"username": user.username, "password": "correct horse battery staple 42",
                                   "next": unquote(target)})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/users")


def test_login_never_redirects_off_site(web, make_user):
    user = make_user("analyst")
    web.get("/login")
    response = web.post("/login", {"username": user.username, "password": "correct horse battery staple 42",
                                   "next": "//evil.example/x"})
    assert response.headers["Location"] == "/"


# ---------------------------------------------------------------- API

def _admin_calls(api_client, victim):
    return [
        api_client.get("/api/v1/users"),
        api_client.post("/api/v1/users", json={"username": "mallory", "role": "admin",
                                               "password": "a long enough passphrase"}),
        api_client.patch(f"/api/v1/users/{victim}", json={"role": "admin"}),
        api_client.post(f"/api/v1/users/{victim}/tokens", json={"name": "stolen"}),
        api_client.put("/api/v1/settings/mfa", json={"required_roles": ["analyst"]}),
    ]


@pytest.mark.parametrize("role", ["analyst", "manager", "auditor"])
def test_user_management_api_is_admin_only(api, make_user, db, role):
    client = api(role)
    victim = make_user("analyst")
    for response in _admin_calls(client, victim.username):
        assert response.status_code == 403, response.request.path
        assert response.json["error"]["code"] == "forbidden"
    assert user_row(db, victim.username).role == Role.ANALYST


def test_user_management_api_for_admins(api, make_user, db):
    client = api("admin")
    victim = make_user("analyst")
    statuses = [r.status_code for r in _admin_calls(client, victim.username)]
    assert statuses == [200, 201, 200, 403, 200]  # not even an admin creates a token for someone else
    assert user_row(db, victim.username).role == Role.ADMIN
    listed = client.get("/api/v1/users").json
    assert {u["username"] for u in listed["items"]} >= {victim.username, "mallory", client.user.username}
    assert listed["total"] == len(listed["items"])
    assert all("password" not in key for u in listed["items"] for key in u)


@pytest.mark.parametrize("role", ROLES)
def test_audit_api_for_auditors_and_admins_only(api, role):
    client = api(role)
    expected = 200 if role in {"auditor", "admin"} else 403
    assert client.get("/api/v1/audit").status_code == expected
    assert client.get("/api/v1/audit/verify").status_code == expected
    assert client.post("/api/v1/audit/checkpoints").status_code in ({200, 201} if expected == 200 else {403})


@pytest.mark.parametrize("role", ROLES)
def test_everyone_manages_own_tokens_via_api(api, role):
    client = api(role)
    me = client.get("/api/v1/me")
    assert me.status_code == 200
    assert me.json["username"] == client.user.username
    assert me.json["role"] == role
    created = client.post("/api/v1/tokens", json={"name": "mine"})
    assert created.status_code == 201
    listed = client.get("/api/v1/tokens").json
    assert {t["name"] for t in listed["items"]} == {"test", "mine"}
    assert client.delete(f"/api/v1/tokens/{created.json['id']}").status_code == 200


def test_others_tokens_are_invisible_to_non_admins(api):
    alice, bob = api("analyst"), api("manager")
    bobs = bob.get("/api/v1/tokens").json["items"][0]["id"]
    response = alice.delete(f"/api/v1/tokens/{bobs}")
    assert response.status_code == 404
    assert bob.get("/api/v1/me").status_code == 200


ANON_API = [("GET", "/api/v1/me"), ("GET", "/api/v1/tokens"), ("POST", "/api/v1/tokens"),
            ("DELETE", "/api/v1/tokens/1"), ("GET", "/api/v1/users"), ("POST", "/api/v1/users"),
            ("PATCH", "/api/v1/users/admin"), ("POST", "/api/v1/users/admin/tokens"),
            ("PUT", "/api/v1/settings/mfa"), ("GET", "/api/v1/audit"), ("GET", "/api/v1/audit/verify"),
            ("POST", "/api/v1/audit/checkpoints")]


@pytest.mark.parametrize(("method", "url"), ANON_API)
def test_anonymous_api_gets_401_json(app, method, url):
    response = app.test_client().open(url, method=method, json={})
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthorized"
    assert "Bearer" in response.json["error"]["message"]


def test_session_cookie_does_not_authenticate_the_api(login):
    client = login("admin")
    response = client.client.get("/api/v1/me")
    assert response.status_code == 401
