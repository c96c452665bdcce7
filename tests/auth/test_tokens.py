"""API token lifecycle through the UI, the API and the CLI: create, list, use, revoke, expire."""

from __future__ import annotations

import hashlib
import re

import pytest
from sqlalchemy import inspect

from tests.auth.helpers import ago, audit_actions, new_token_on_page, set_user, text_of, token_rows


def _me(app, token: str):
    return app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})


def _assert_only_hash_stored(db, secret: str) -> None:
    rows = [t for t in token_rows(db) if t.token_hash == hashlib.sha256(secret.encode()).hexdigest()]
    assert len(rows) == 1
    row = rows[0]
    values = [str(getattr(row, c.key)) for c in inspect(row).mapper.column_attrs]
    assert all(secret not in v for v in values)


def _assert_401(response) -> None:
    assert response.status_code == 401
    assert response.is_json
    assert response.json["error"]["code"] == "unauthorized"


def test_token_lifecycle_in_the_ui(app, login, db):
    client = login("analyst")
    created = client.post("/account/tokens", {"name": "laptop", "expires_days": "30"})
    assert created.status_code == 201
    secret = new_token_on_page(text_of(created))
    assert secret.startswith("cm_")
    _assert_only_hash_stored(db, secret)
    page = text_of(client.get("/account"))
    assert secret not in page  # shown once only
    row = re.search(r'<tr data-testid="token-row">(.*?)</tr>', page, re.S)
    assert row is not None
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)
    assert cells[0] == "laptop"
    assert cells[1] == client.user.username  # issued by its owner
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", cells[3])  # created
    assert cells[4] == "never"  # last used
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", cells[5])  # expires
    assert _me(app, secret).json["username"] == client.user.username
    page = text_of(client.get("/account"))
    assert "never" not in re.search(r'<tr data-testid="token-row">(.*?)</tr>', page, re.S).group(1)
    [token] = token_rows(db)
    assert client.post(f"/account/tokens/{token.id}/revoke").status_code == 302
    assert "revoked" in text_of(client.get("/account"))
    _assert_401(_me(app, secret))


def test_ui_token_without_expiry(app, login, db):
    client = login("analyst")
    created = client.post("/account/tokens", {"name": "forever", "expires_days": ""})
    assert created.status_code == 201
    [token] = token_rows(db)
    assert token.expires_at is None


def test_ui_rejects_bad_token_input(login, db):
    client = login("analyst")
    response = client.post("/account/tokens", {"name": "x", "expires_days": "0"})
    assert response.status_code == 422
    assert 'data-field="expires_days"' in text_of(response)
    assert token_rows(db) == []


def test_token_lifecycle_in_the_api(api, app, db):
    client = api("manager")
    created = client.post("/api/v1/tokens", json={"name": "ci", "expires_days": 7})
    assert created.status_code == 201
    body = created.json
    secret = body["token"]
    assert body["name"] == "ci"
    assert body["owner"] == client.user.username
    assert body["last_used_at"] is None
    assert body["expires_at"] is not None
    _assert_only_hash_stored(db, secret)
    assert _me(app, secret).status_code == 200
    listed = {t["name"]: t for t in client.get("/api/v1/tokens").json["items"]}
    assert set(listed["ci"]) >= {"name", "created_at", "last_used_at", "expires_at", "revoked_at"}
    assert "token" not in listed["ci"]
    assert "token_hash" not in listed["ci"]
    assert listed["ci"]["last_used_at"] is not None
    revoked = client.delete(f"/api/v1/tokens/{body['id']}")
    assert revoked.status_code == 200
    assert revoked.json["revoked_at"] is not None
    _assert_401(_me(app, secret))
    again = client.delete(f"/api/v1/tokens/{body['id']}")
    assert again.status_code == 409
    assert [e.summary["name"] for e in audit_actions(db, "token.revoke")] == ["ci"]


@pytest.mark.parametrize(("payload", "field"), [
    ({"name": None}, "name"),  # a blank name is "not given": the token gets the default name
    ({"name": "x" * 65}, "name"),
    ({"expires_days": 0}, "expires_days"),
    ({"expires_days": 5000}, "expires_days"),
    ({"expires_days": "soon"}, "expires_days"),
    ({"owner": "someone"}, "owner"),
])
def test_api_rejects_bad_token_input(api, payload, field):
    response = api("analyst").post("/api/v1/tokens", json=payload)
    assert response.status_code == 422
    assert response.json["error"]["field"] == field


def test_expired_token_is_refused(api, clock):
    client = api("analyst")  # a token for 90 days (the default)
    clock.advance(days=89, hours=23)
    assert client.get("/api/v1/me").status_code == 200
    clock.advance(hours=1, seconds=1)
    _assert_401(client.get("/api/v1/me"))


@pytest.mark.parametrize("header", ["Bearer cm_not-a-real-token", "Bearer nothing", "Basic dXNlcjpwYXNz",
                                    "Bearer ", "cm_abc"])
def test_unknown_tokens_are_refused(app, api, header):
    api("admin")
    _assert_401(app.test_client().get("/api/v1/me", headers={"Authorization": header}))


def test_disabled_users_tokens_are_refused_at_once(api, db):
    client = api("analyst")
    assert client.get("/api/v1/me").status_code == 200
    set_user(db, client.user.username, disabled_at=ago(seconds=1))
    _assert_401(client.get("/api/v1/me"))


def test_token_acts_with_its_users_current_role(api):
    client = api("analyst")
    admin = api("admin")
    assert client.get("/api/v1/users").status_code == 403
    assert admin.patch(f"/api/v1/users/{client.user.username}", json={"role": "admin"}).status_code == 200
    assert client.get("/api/v1/users").status_code == 200
    assert client.get("/api/v1/me").json["role"] == "admin"


def test_admins_cannot_create_tokens_for_others(api, app, make_user, db):
    """A token for someone else would let the admin act as them (read their cases, download evidence)."""
    admin = api("admin")
    analyst = make_user("analyst")
    response = admin.post(f"/api/v1/users/{analyst.username}/tokens", json={"name": "handed-over"})
    assert response.status_code == 403
    assert "only create tokens for yourself" in response.json["error"]["message"]
    assert [t.name for t in token_rows(db)] == ["test"]
    assert [e.summary["name"] for e in audit_actions(db, "token.create")] == ["test"]


def test_a_token_created_for_yourself_is_personal(login, app, db):
    admin = login("admin")
    secret = new_token_on_page(text_of(admin.post("/account/tokens", {"name": "mine", "expires_days": "30"})))
    client = app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}
    response = client.post(f"/api/v1/users/{admin.user.username}/tokens", headers=headers, json={"name": "more"})
    assert response.status_code == 201
    assert (response.json["kind"], response.json["issued_by"]) == ("personal", admin.user.username)
    listed = {t["name"]: t for t in client.get("/api/v1/tokens", headers=headers).json["items"]}
    assert {(t["kind"], t["issued_by"]) for t in listed.values()} == {("personal", admin.user.username)}
    assert set(listed) == {"mine", "more"}


def test_a_token_made_with_an_operators_token_stays_the_operators(api, app, db):
    client = api("analyst")  # its token was issued by the operator "test"
    response = client.post("/api/v1/tokens", json={"name": "second"})
    assert response.status_code == 201
    assert (response.json["kind"], response.json["issued_by"]) == ("operator", "test")


def test_entries_made_with_a_token_name_who_issued_it(run_cli, app, make_user, db, open_case):
    user = make_user("analyst")
    result = run_cli("token", "create", user.username, "--name", "soar")
    assert result.exit_code == 0, result.output
    assert "issued by cli:" in result.stdout
    secret = result.stdout.strip().splitlines()[-1]
    client = app.test_client()
    case = client.post("/api/v1/cases", headers={"Authorization": f"Bearer {secret}"},
                       json={"title": "From the SOAR", "description": "", "category": "intrusion-attempts",
                             "impact": "low", "urgency": "low"})
    assert case.status_code == 201, case.get_json()
    [entry] = audit_actions(db, "case.create")
    assert entry.actor_name == user.username
    assert entry.token_issued_by == result.stdout.split("issued by ")[1].split(",")[0]
    assert entry.token_issued_by.startswith("cli:")
    assert all(e.token_issued_by is None for e in audit_actions(db) if e.token_id is None)
    listing = run_cli("token", "list", user.username).stdout
    assert f"operator by {entry.token_issued_by}" in listing
    verified = run_cli("audit", "verify")
    assert verified.exit_code == 0, verified.output


def test_non_admins_cannot_create_tokens_for_others(api, make_user, db):
    client = api("manager")
    other = make_user("analyst")
    response = client.post(f"/api/v1/users/{other.username}/tokens", json={"name": "x"})
    assert response.status_code == 403
    assert [t.name for t in token_rows(db)] == ["test"]


def test_admins_cannot_create_tokens_for_others_in_the_ui(app, login, make_user, db):
    admin = login("admin")
    analyst = make_user("analyst")
    assert f'/admin/users/{analyst.username}/tokens"' not in text_of(admin.get("/admin/users"))
    refused = admin.post(f"/admin/users/{analyst.username}/tokens", {"name": "issued", "expires_days": "30"})
    assert refused.status_code == 403
    assert token_rows(db) == []


def test_admin_sees_and_revokes_every_token_with_its_issuer(app, login, make_user, run_cli, db):
    admin = login("admin")
    analyst = make_user("analyst")
    secret = run_cli("token", "create", analyst.username, "--name", "issued").stdout.strip().splitlines()[-1]
    listing = text_of(admin.get("/admin/tokens"))
    assert analyst.username in listing
    assert "issued" in listing
    assert re.search(r'data-testid="issued-by">cli:[^<]+ <span class="badge">operator</span>', listing)
    assert secret not in listing
    [token] = token_rows(db)
    response = admin.post(f"/account/tokens/{token.id}/revoke", {"back": "admin"})
    assert response.headers["Location"] == "/admin/tokens"
    _assert_401(_me(app, secret))


def test_users_cannot_revoke_others_tokens_in_the_ui(api, login, app):
    victim = api("analyst")
    client = login("manager")
    victim_token = victim.get("/api/v1/tokens").json["items"][0]["id"]
    assert client.post(f"/account/tokens/{victim_token}/revoke").status_code == 404
    assert victim.get("/api/v1/me").status_code == 200


# ---------------------------------------------------------------- CLI

def test_cli_token_lifecycle(run_cli, app, make_user, db):
    user = make_user("auditor")
    result = run_cli("token", "create", user.username, "--name", "siem", "--expires", "7")
    assert result.exit_code == 0, result.stderr
    secret = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"cm_[A-Za-z0-9_-]{40,}", secret)
    _assert_only_hash_stored(db, secret)
    me = _me(app, secret)
    assert (me.json["username"], me.json["role"]) == (user.username, "auditor")
    listing = run_cli("token", "list", user.username)
    assert listing.exit_code == 0
    assert "siem" in listing.stdout
    assert secret not in listing.stdout
    assert "last-used 20" in listing.stdout  # used once above
    token_id = token_rows(db)[0].id
    revoked = run_cli("token", "revoke", str(token_id))
    assert revoked.exit_code == 0
    _assert_401(_me(app, secret))
    again = run_cli("token", "revoke", str(token_id))
    assert again.exit_code != 0
    assert "already revoked" in again.stderr


def test_cli_token_never_expires_with_zero(run_cli, make_user, db):
    user = make_user("analyst")
    assert run_cli("token", "create", user.username, "--expires", "0").exit_code == 0
    assert token_rows(db)[0].expires_at is None


@pytest.mark.parametrize(("args", "message"), [
    (["token", "create", "ghost"], "no user named"),
    (["token", "create", "{user}", "--expires", "-3"], "expires_days"),
    (["token", "revoke", "999999"], "no token"),
])
def test_cli_token_errors(run_cli, make_user, args, message):
    user = make_user("analyst")
    result = run_cli(*[a.replace("{user}", user.username) for a in args])
    assert result.exit_code != 0
    assert message in result.stderr
    assert result.stdout == ""
