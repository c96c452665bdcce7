"""Getting back in: recovery codes, and an admin's unlock, password reset and second-factor reset
(UI and CLI), each audited; a reset (or printed) password must be changed at the next sign-in."""

from __future__ import annotations

import re

import pytest

from tests.auth.helpers import audit_actions, text_of, user_row
from tests.auth.test_mfa import _enroll_with_codes, _recovery_codes, _sign_in
from tests.conftest import PASSWORD, WebClient

NEW_PASSWORD = "a fresh long passphrase"


def _lock(app, username: str) -> None:
    client = WebClient(app.test_client())
    for i in range(5):
        client.login(username, f"wrong password {i}")
    assert client.login(username).status_code == 429


def _recovery_code_count(db) -> int:
    from sqlalchemy import func, select

    from casemgr.auth.models import RecoveryCode

    with db.transaction() as s:
        return s.scalar(select(func.count()).select_from(RecoveryCode)) or 0


def _temporary_password(page: str) -> str:
    match = re.search(r'data-testid="temporary-password">([^<]+)<', page)
    assert match, "the page shows no temporary password"
    return match.group(1).strip()


# ---------------------------------------------------------------- recovery codes

def test_a_recovery_code_signs_in_once_instead_of_a_totp_code(app, login, db):
    client = login("analyst")
    _totp, codes = _enroll_with_codes(client)
    assert len(codes) == len(set(codes)) == 10
    assert all(re.fullmatch(r"[a-z2-9]{4}(-[a-z2-9]{4}){3}", c) for c in codes)

    first = _sign_in(app, client.user.username)
    ok = first.post("/login/mfa", {"code": codes[0].upper().replace("-", " ")})  # as typed from paper
    assert ok.status_code == 302
    assert first.get("/").status_code == 200
    assert ">9 unused recovery codes</span>" in text_of(first.get("/account"))
    [used] = audit_actions(db, "auth.recovery_code_used")
    assert used.summary["remaining"] == 9

    again = _sign_in(app, client.user.username)
    refused = again.post("/login/mfa", {"code": codes[0]})
    assert refused.status_code == 401
    assert again.get("/").headers["Location"] == "/login/mfa"


def test_recovery_codes_are_stored_hashed(login, db):
    from sqlalchemy import select

    from casemgr.auth.models import RecoveryCode

    client = login("analyst")
    _totp, codes = _enroll_with_codes(client)
    with db.transaction() as s:
        stored = " ".join(f"{r.code_hash} {r.user_id}" for r in s.scalars(select(RecoveryCode)))
    assert all(c not in stored and c.replace("-", "") not in stored for c in codes)


def test_new_recovery_codes_replace_the_old_ones(app, login, db):
    client = login("analyst")
    _totp, old = _enroll_with_codes(client)
    wrong = client.post("/account/mfa", {"action": "recovery_codes", "password": "not my password!"})
    assert wrong.status_code == 422
    page = client.post("/account/mfa", {"action": "recovery_codes", "password": PASSWORD})
    assert page.status_code == 200
    new = _recovery_codes(text_of(page))
    assert len(new) == 10
    assert not set(new) & set(old)
    assert _sign_in(app, client.user.username).post("/login/mfa", {"code": old[1]}).status_code == 401
    assert _sign_in(app, client.user.username).post("/login/mfa", {"code": new[1]}).status_code == 302
    assert len(audit_actions(db, "user.recovery_codes_regenerated")) == 1


# ---------------------------------------------------------------- admin: UI

def test_admin_unlocks_an_account_in_the_ui(app, login, make_user, db):
    admin = login("admin")
    user = make_user("analyst")
    _lock(app, user.username)
    page = text_of(admin.get("/admin/users"))
    assert f'/admin/users/{user.username}/unlock"' in page
    assert admin.post(f"/admin/users/{user.username}/unlock").status_code == 302
    assert user_row(db, user.username).locked_until is None
    assert WebClient(app.test_client()).login(user.username).status_code == 302
    [entry] = audit_actions(db, "user.unlock")
    assert (entry.actor_name, entry.summary) == (admin.user.username, {"username": user.username, "was_locked": True})


def test_admin_resets_a_password_and_the_user_must_change_it(app, login, make_user, db):
    admin = login("admin")
    user = make_user("analyst")
    signed_in = WebClient(app.test_client())
    assert signed_in.login(user.username).status_code == 302
    _lock(app, user.username)

    reset = admin.post(f"/admin/users/{user.username}/reset-password")
    assert reset.status_code == 200
    temporary = _temporary_password(text_of(reset))
    assert temporary not in text_of(admin.get("/admin/users"))  # shown once
    assert signed_in.get("/").status_code == 302  # their sessions ended
    assert WebClient(app.test_client()).login(user.username, PASSWORD).status_code == 401

    client = WebClient(app.test_client())
    assert client.login(user.username, temporary).status_code == 302  # the lock was lifted too
    for url in ("/", "/account", "/cases", "/audit"):
        assert client.get(url).headers.get("Location") == "/account/password/new", url
    form = client.get("/account/password/new")
    assert form.status_code == 200
    assert "Choose a new password" in text_of(form)
    weak = client.post("/account/password/new", {"current_password": temporary, "new_password": "Summer2026!!"})
    assert weak.status_code == 422
    assert 'data-field="new_password"' in text_of(weak)
    done = client.post("/account/password/new", {"current_password": temporary, "new_password": NEW_PASSWORD})
    assert done.status_code == 302
    assert client.get("/").status_code == 200
    assert not user_row(db, user.username).must_change_password
    [entry] = audit_actions(db, "user.password_reset")
    assert entry.summary == {"username": user.username, "must_change_password": True, "sessions_ended": 1}
    assert temporary not in str([e.summary for e in audit_actions(db)])


def test_admin_resets_a_second_factor_in_the_ui(app, login, make_user, db):
    admin = login("admin")
    client = login("analyst")
    _enroll_with_codes(client)
    assert f'/admin/users/{client.user.username}/reset-mfa"' in text_of(admin.get("/admin/users"))
    assert admin.post(f"/admin/users/{client.user.username}/reset-mfa").status_code == 302
    row = user_row(db, client.user.username)
    assert not row.totp_enabled
    assert row.totp_secret is None
    assert _recovery_code_count(db) == 0
    assert client.get("/").status_code == 302  # signed out
    fresh = WebClient(app.test_client())
    assert fresh.login(client.user.username).status_code == 302
    assert fresh.get("/").status_code == 200  # no code asked for
    [entry] = audit_actions(db, "user.mfa_reset")
    assert entry.summary == {"username": client.user.username, "had_second_factor": True, "sessions_ended": 1}


@pytest.mark.parametrize("action", ["unlock", "reset-password", "reset-mfa"])
def test_only_admins_reset_accounts(login, make_user, db, action):
    manager = login("manager")
    victim = make_user("analyst")
    assert manager.post(f"/admin/users/{victim.username}/{action}").status_code == 403
    assert audit_actions(db, f"user.{action.replace('-', '_')}") == []
    assert not user_row(db, victim.username).must_change_password


# ---------------------------------------------------------------- admin: CLI

def test_cli_unlocks_resets_a_password_and_a_second_factor(app, run_cli, login, db):
    client = login("analyst")
    name = client.user.username
    _enroll_with_codes(client)
    _lock(app, name)

    assert re.search(rf"^{name} .* totp locked$", run_cli("user", "list").stdout, re.M)
    unlocked = run_cli("user", "unlock", name)
    assert unlocked.exit_code == 0, unlocked.output
    assert user_row(db, name).locked_until is None

    mfa = run_cli("user", "reset-mfa", name)
    assert mfa.exit_code == 0, mfa.output
    assert not user_row(db, name).totp_enabled

    reset = run_cli("user", "reset-password", name)
    assert reset.exit_code == 0, reset.output
    temporary = re.search(r"temporary password: (\S+)", reset.stdout).group(1)
    assert re.search(rf"^{name} .* - must-change-password$", run_cli("user", "list").stdout, re.M)
    fresh = WebClient(app.test_client())
    assert fresh.login(name, temporary).status_code == 302
    assert fresh.get("/").headers["Location"] == "/account/password/new"

    given = run_cli("user", "reset-password", name, "--password-stdin", input="Summer2026!!\n")
    assert given.exit_code != 0
    assert "(password)" in given.stderr
    assert "too easy to guess" in given.stderr

    entries = [e for e in audit_actions(db) if e.action in {"user.unlock", "user.mfa_reset", "user.password_reset"}]
    assert [(e.action, e.via, e.actor_type) for e in entries] == [
        ("user.unlock", "cli", "system"), ("user.mfa_reset", "cli", "system"), ("user.password_reset", "cli", "system")]
    assert run_cli("user", "unlock", "nobody").exit_code != 0
