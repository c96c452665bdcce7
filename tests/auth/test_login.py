"""Signing in: generic errors, lockout after repeated failures, per-IP rate limit, logout."""

from __future__ import annotations

import re

from casemgr.auth.models import Role
from tests.auth.helpers import ago, audit_actions, set_user, text_of, user_row
from tests.conftest import PASSWORD, WebClient

GENERIC = "wrong username or password"


def same_page(response, username: str) -> tuple[int, list[str], bytes]:
    """What a sign-in answer tells the client, but the CSRF token (signed with a time stamp) and the
    username echoed into the form: status, header names and the body byte for byte."""
    body = re.sub(rb'name="csrf_token" value="[^"]+"', b'name="csrf_token" value=""', response.get_data())
    return (response.status_code, sorted(k for k, _ in response.headers if k != "X-Request-ID"),
            body.replace(username.encode(), b"X"))


def test_unknown_user_and_wrong_password_look_the_same(web, make_user, db):
    user = make_user("analyst")
    unknown = web.login("nobody-here", PASSWORD)
    wrong = WebClient(web.client.application.test_client()).login(user.username, "not the password at all")
    assert unknown.status_code == wrong.status_code == 401
    assert GENERIC in text_of(unknown)
    assert GENERIC in text_of(wrong)
    assert same_page(unknown, "nobody-here") == same_page(wrong, user.username)
    unknown_entry, known_entry = audit_actions(db, "auth.login_failed")
    assert known_entry.summary["username"] == user.username
    # an unknown name may be a mistyped password: only a keyed digest of it is kept
    assert "nobody-here" not in str(unknown_entry.summary)
    assert len(unknown_entry.summary["unknown_username_hmac"]) == 16
    web.login("nobody-here", PASSWORD)
    again = audit_actions(db, "auth.login_failed")[-1]
    assert again.summary["unknown_username_hmac"] == unknown_entry.summary["unknown_username_hmac"]


def test_successful_login_is_audited_with_source(web, make_user, db):
    user = make_user("manager")
    assert web.login(user.username).status_code == 302
    [entry] = audit_actions(db, "auth.login")
    assert entry.actor_name == user.username
    assert entry.source_ip == "127.0.0.1"
    assert entry.via == "web"


def test_lockout_after_repeated_failures(web, make_user, db):
    user = make_user("analyst")
    statuses = [web.login(user.username, f"wrong password {i}").status_code for i in range(5)]
    assert statuses == [401, 401, 401, 401, 429]
    locked = web.login(user.username, PASSWORD)  # the right password does not help while locked
    assert locked.status_code == 429
    assert "locked" in text_of(locked)
    assert web.get("/").status_code == 302
    assert user_row(db, user.username).locked_until is not None
    [lockout] = audit_actions(db, "auth.lockout")
    assert lockout.object_id == str(user.id)
    assert lockout.summary["username"] == user.username
    assert len(audit_actions(db, "auth.login_refused_locked")) == 1


def test_lock_expires(web, make_user, db, clock):
    user = make_user("analyst")
    for i in range(5):
        web.login(user.username, f"wrong password {i}")
    assert web.login(user.username, PASSWORD).status_code == 429
    clock.advance(minutes=14, seconds=59)
    assert web.login(user.username, PASSWORD).status_code == 429  # the lockout lasts 15 minutes
    clock.advance(seconds=2)
    assert web.login(user.username, PASSWORD).status_code == 302
    assert web.get("/").status_code == 200
    assert user_row(db, user.username).locked_until is None


def test_failures_count_again_from_zero_after_the_lock(web, make_user, db, clock):
    user = make_user("analyst")
    for i in range(5):
        web.login(user.username, f"wrong password {i}")
    clock.advance(minutes=15, seconds=1)
    statuses = [web.login(user.username, f"wrong again {i}").status_code for i in range(5)]
    assert statuses == [401, 401, 401, 401, 429]
    assert len(audit_actions(db, "auth.lockout")) == 2


def test_a_successful_login_resets_the_failure_count(make_user, app, db):
    user = make_user("analyst")
    client = WebClient(app.test_client())
    for i in range(4):
        client.login(user.username, f"wrong password {i}")
    assert client.login(user.username).status_code == 302
    other = WebClient(app.test_client())
    for i in range(4):
        assert other.login(user.username, f"wrong password {i}").status_code == 401
    assert user_row(db, user.username).locked_until is None


def test_lockout_threshold_is_configurable(make_app, make_user):
    app = make_app(login_max_failures=2)
    user = make_user("analyst")
    client = WebClient(app.test_client())
    assert [client.login(user.username, f"nope nope {i}").status_code for i in range(2)] == [401, 429]


def test_disabled_user_cannot_sign_in(web, make_user, db):
    user = make_user("analyst")
    set_user(db, user.username, disabled_at=ago(seconds=1))
    response = web.login(user.username)
    assert response.status_code == 401
    assert "disabled" in text_of(response)
    assert web.get("/").status_code == 302


def test_rate_limit_per_ip_on_login_posts(make_app, make_user):
    app = make_app(login_rate_limit="3 per day")
    user = make_user(Role.ANALYST)
    client = WebClient(app.test_client())
    for _ in range(5):
        assert client.get("/login").status_code == 200  # viewing the form is not limited
    statuses = [client.post("/login", {"username": user.username, "password": f"wrong {i}"}).status_code
                for i in range(3)]
    assert statuses == [401, 401, 401]
    limited = client.post("/login", {"username": user.username, "password": PASSWORD})
    assert limited.status_code == 429
    assert "locked" not in text_of(limited)
    assert limited.headers["X-Frame-Options"] == "DENY"
    other_ip = WebClient(app.test_client())
    other_ip.client.environ_base["REMOTE_ADDR"] = "10.0.0.2"
    assert other_ip.login(user.username).status_code == 302


def test_logout_ends_the_session(login, db):
    client = login("analyst")
    response = client.post("/logout")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert client.get("/").status_code == 302
    assert len(audit_actions(db, "auth.logout")) == 1


def test_unknown_names_lock_exactly_like_accounts(web, make_user, db):
    """Nothing in the answers tells which names have an account: the same page, status and headers
    at every attempt, including the lockout and the attempts while locked."""
    user = make_user("analyst")
    other = WebClient(web.client.application.test_client())
    for i in range(7):
        known = web.login(user.username, f"wrong password {i}")
        unknown = other.login("no-such-user", f"wrong password {i}")
        assert same_page(known, user.username) == same_page(unknown, "no-such-user"), f"attempt {i + 1}"
        assert known.status_code == (401 if i < 4 else 429)
    assert "locked" in text_of(unknown)
    assert other.login("no-such-user", PASSWORD).status_code == 429
    lockouts = audit_actions(db, "auth.lockout")
    assert [bool(e.summary.get("unknown_username_hmac")) for e in lockouts] == [False, True]
    assert "no-such-user" not in str([e.summary for e in audit_actions(db)])


def test_an_unknown_names_lock_expires_like_an_accounts(web, db, clock):
    for i in range(5):
        web.login("no-such-user", f"wrong password {i}")
    assert web.login("no-such-user", "wrong again").status_code == 429
    clock.advance(minutes=15, seconds=1)
    assert [web.login("no-such-user", f"wrong {i}").status_code for i in range(5)] == [401, 401, 401, 401, 429]


def test_the_rate_limit_holds_across_app_instances_on_one_database(make_app, make_user, db):
    """Two workers (or hosts) share the count: it lives in the database, not in a process."""
    first, second = make_app(login_rate_limit="4 per day"), make_app(login_rate_limit="4 per day")
    user = make_user(Role.ANALYST)
    clients = [WebClient(first.test_client()), WebClient(second.test_client())]
    statuses = [clients[i % 2].post("/login", {"username": "x", "password": f"wrong {i}"}).status_code
                for i in range(6)]
    assert statuses == [401, 401, 401, 401, 429, 429]
    limited = clients[1].post("/login", {"username": user.username, "password": PASSWORD})
    assert limited.status_code == 429
    assert "too many sign-in attempts" in text_of(limited)
    assert 0 < int(limited.headers["Retry-After"]) <= 86400
    # refused before any password work: the refused attempts reached neither the check nor the audit log
    assert len(audit_actions(db, "auth.login_failed")) == 4
    assert audit_actions(db, "auth.login") == []


def test_concurrent_attempts_are_each_counted_once(make_app, db):
    """Workers counting at the same moment never lose a count: exactly the limit gets through.
    (Limits per day in these tests: a window that ends during a test, at midnight UTC only, is unlikely.)"""
    from concurrent.futures import ThreadPoolExecutor

    from casemgr.auth import service
    from casemgr.auth.actor import Actor

    limited = make_app(login_rate_limit="20 per day").extensions["casemgr.db"]
    actor = Actor.anonymous("web", source_ip="192.0.2.7")

    def attempt(_: int) -> bool:
        with limited.transaction() as s:
            return service.count_sign_in_attempt(s, actor) is None

    with ThreadPoolExecutor(max_workers=4) as pool:
        allowed = list(pool.map(attempt, range(40)))
    assert allowed.count(True) == 20
