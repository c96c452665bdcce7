"""Browser sessions: cookie flags, a new id at login, logout and expiry enforced on the server."""

from __future__ import annotations

import pytest

from casemgr.auth.models import Role
from tests.auth.helpers import ago, audit_actions, set_sessions, set_user, text_of
from tests.conftest import PASSWORD, WebClient

COOKIE = "casemgr_session"


def _set_cookie(response) -> str:
    [header] = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(COOKIE + "=")]
    return header


def _cookie_value(client: WebClient) -> str:
    cookie = client.client.get_cookie(COOKIE)
    assert cookie is not None
    return cookie.value


def _sid(app, client: WebClient) -> str | None:
    data = app.session_interface.get_signing_serializer(app).loads(_cookie_value(client))
    return data.get("sid")


def _replay(app, cookie_value: str, url: str = "/"):
    other = app.test_client()
    other.set_cookie(COOKIE, cookie_value)
    return other.get(url)


def test_cookie_flags_over_http(web, make_user):
    user = make_user("analyst")
    web.get("/login")
    header = _set_cookie(web.post("/login", {"username": user.username, "password": PASSWORD}))
    assert "HttpOnly" in header
    assert "SameSite=Lax" in header
    assert "Secure" not in header


def test_cookie_is_secure_over_https(app, make_user):
    user = make_user("analyst")
    client = WebClient(app.test_client())
    client.client.environ_base["wsgi.url_scheme"] = "https"
    client.get("https://localhost/login")
    response = client.post("https://localhost/login", {"username": user.username, "password": PASSWORD},
                           headers={"Referer": "https://localhost/login"})
    assert response.status_code == 302
    header = _set_cookie(response)
    assert "Secure" in header
    assert "HttpOnly" in header
    assert "SameSite=Lax" in header
    home = client.get("https://localhost/")
    assert home.status_code == 200
    assert home.headers["Strict-Transport-Security"].startswith("max-age=")


def test_https_form_posts_need_a_same_origin_referer(app, make_user):
    # Flask-WTF checks the Referer over HTTPS; our Referrer-Policy must let browsers send it.
    user = make_user("analyst")
    client = WebClient(app.test_client())
    page = client.get("https://localhost/login")
    assert page.headers["Referrer-Policy"] in {"same-origin", "strict-origin", "strict-origin-when-cross-origin"}
    foreign = client.post("https://localhost/login", {"username": user.username, "password": PASSWORD},
                          headers={"Referer": "https://evil.example/login"})
    assert foreign.status_code == 400


def test_new_session_id_at_login(app, make_user):
    user = make_user("analyst")
    client = WebClient(app.test_client())
    client.get("/login")
    before = _cookie_value(client)
    assert _sid(app, client) is None
    client.post("/login", {"username": user.username, "password": PASSWORD})
    first_sid = _sid(app, client)
    assert first_sid is not None
    assert _cookie_value(client) != before
    assert _replay(app, before).status_code == 302  # the pre-login cookie grants nothing
    client.post("/logout")
    client.login(user.username)
    assert _sid(app, client) not in {None, first_sid}


def test_logout_ends_the_session_on_the_server(app, login):
    client = login("analyst")
    captured = _cookie_value(client)
    assert _replay(app, captured).status_code == 200
    client.post("/logout")
    replay = _replay(app, captured)
    assert replay.status_code == 302
    assert replay.headers["Location"].startswith("/login")


def test_idle_sessions_expire(app, login, clock):
    client = login("analyst")
    clock.advance(minutes=29)
    assert client.get("/").status_code == 200  # which counts as use: the idle time starts again
    clock.advance(minutes=29)
    assert client.get("/").status_code == 200
    clock.advance(minutes=31)
    response = client.get("/")
    assert response.status_code == 302
    assert "expired" in text_of(client.get(response.headers["Location"]))
    set_sessions(app.extensions["casemgr.db"], client.user.username, last_seen_at=clock.now())
    assert client.get("/").status_code == 302  # an ended session stays ended, whatever its row says


def test_sessions_expire_after_their_absolute_lifetime(login, clock):
    client = login("analyst")
    for _ in range(35):  # in use all along (never idle for 30 minutes), up to 11 h 40 min
        clock.advance(minutes=20)
        assert client.get("/").status_code == 200
    clock.advance(minutes=19)
    assert client.get("/").status_code == 200  # 11 h 59 min
    clock.advance(minutes=2)
    assert client.get("/").status_code == 302  # 12 h 1 min, though last used 2 minutes ago


def test_session_lifetimes_are_configurable(make_app, make_user, clock):
    app = make_app(session_idle_minutes=5, session_max_hours=1)
    user = make_user("analyst")
    client = WebClient(app.test_client())
    client.login(user.username)
    clock.advance(minutes=6)
    assert client.get("/").status_code == 302
    client.login(user.username)
    for _ in range(15):  # used every 4 minutes (never idle for 5), for an hour
        clock.advance(minutes=4)
        assert client.get("/").status_code == 200
    clock.advance(minutes=1, seconds=1)
    assert client.get("/").status_code == 302


@pytest.mark.parametrize("how", ["cli", "admin form", "database"])
def test_disabled_users_open_sessions_stop_at_once(app, login, run_cli, how):
    client = login("analyst")
    db = app.extensions["casemgr.db"]
    assert client.get("/account").status_code == 200
    if how == "cli":
        assert run_cli("user", "disable", client.user.username).exit_code == 0
    elif how == "admin form":
        admin = login(Role.ADMIN)
        assert admin.post(f"/admin/users/{client.user.username}", {"disabled": "true"}).status_code == 302
    else:
        set_user(db, client.user.username, disabled_at=ago(seconds=1))
    assert client.get("/account").status_code == 302
    assert client.post("/account/tokens", {"name": "late"}).status_code == 302


def test_a_password_change_signs_out_every_other_session(app, login, db):
    client = login("analyst")
    laptop = WebClient(app.test_client())
    assert laptop.login(client.user.username).status_code == 302
    assert laptop.get("/").status_code == 200
    changed = client.post("/account/password", {"current_password": PASSWORD,
                                                 "new_password": "a fresh long passphrase"})
    assert changed.status_code == 302
    assert "1 other session(s) of yours were signed out" in text_of(client.get("/account"))
    assert client.get("/").status_code == 200  # the session that changed it stays signed in
    assert laptop.get("/").status_code == 302
    [entry] = audit_actions(db, "user.password_change")
    assert entry.summary == {"sessions_ended": 1}


def test_the_current_password_check_counts_towards_the_lockout(app, login, db):
    client = login("analyst")
    statuses = [client.post("/account/password", {"current_password": f"a wrong guess {i}",
                                                   "new_password": "a fresh long passphrase"}).status_code
                for i in range(6)]
    assert statuses == [422, 422, 422, 422, 429, 429]
    refused = client.post("/account/password", {"current_password": PASSWORD,
                                                 "new_password": "a fresh long passphrase"})
    assert refused.status_code == 429
    assert "locked" in text_of(refused)
    assert WebClient(app.test_client()).login(client.user.username).status_code == 429
    assert len(audit_actions(db, "auth.password_check_failed")) == 5
    assert len(audit_actions(db, "auth.lockout")) == 1


def test_the_current_password_check_counts_towards_the_address_limit(make_app, make_user):
    app = make_app(login_rate_limit="3 per day")
    user = make_user("analyst")
    client = WebClient(app.test_client())
    assert client.login(user.username).status_code == 302
    statuses = [client.post("/account/password", {"current_password": PASSWORD,
                                                   "new_password": "Summer2026!!"}).status_code for _ in range(3)]
    assert statuses == [422, 422, 429]
    assert "too many sign-in attempts" in text_of(client.post("/account/password", {"current_password": PASSWORD}))
