"""The password policy (API, form and CLI) and argon2id hashing."""

from __future__ import annotations

import re

import pytest

from tests.auth.helpers import text_of, user_row
from tests.conftest import PASSWORD, WebClient

COMMON = "qwerty123456"  # in zxcvbn's list of common passwords, and 12 characters long
BAD_PASSWORDS = [
    ("short", "elevenchars", "at least 12"),
    ("too long", "x" * 257, "at most 256"),
    ("common", COMMON, "commonly used"),
    ("common, other case", COMMON.upper(), "commonly used"),
    ("the username", "Longusername1", "must not be the username"),
    ("one letter repeated", "aaaaaaaaaaaa", "too easy to guess: Repeats like"),
    ("a word twice", "passwordpassword", "too easy to guess: Repeats like"),
    ("the username twice", "longusername1longusername1", "too easy to guess: Repeats like"),
    ("a word, a year and symbols", "Summer2026!!", "digits or symbols added at the end"),
    ("the display name and digits", "Ada Lovelace 1815", "too easy to guess"),
]
USERNAME = "longusername1"


@pytest.mark.parametrize(("case", "password", "message"), BAD_PASSWORDS, ids=[c[0] for c in BAD_PASSWORDS])
def test_api_rejects_bad_password_naming_the_field(api, db, case, password, message):
    response = api("admin").post("/api/v1/users", json={"username": USERNAME, "role": "analyst",
                                                        "password": password, "display_name": "Ada Lovelace"})
    assert response.status_code == 422
    assert response.json["error"]["field"] == "password"
    assert message in response.json["error"]["message"]
    assert response.json["error"]["code"] == "invalid"


@pytest.mark.parametrize(("case", "password", "message"), BAD_PASSWORDS, ids=[c[0] for c in BAD_PASSWORDS])
def test_form_rejects_bad_password_naming_the_field(login, case, password, message):
    admin = login("admin")
    response = admin.post("/admin/users", {"username": USERNAME, "role": "analyst", "password": password,
                                           "display_name": "Ada Lovelace"})
    assert response.status_code == 422
    page = text_of(response)
    assert 'data-field="password"' in page
    assert message in page
    assert USERNAME not in text_of(admin.get("/admin/users"))


@pytest.mark.parametrize(("case", "password", "message"), BAD_PASSWORDS, ids=[c[0] for c in BAD_PASSWORDS])
def test_cli_rejects_bad_password_naming_the_field(run_cli, case, password, message):
    result = run_cli("user", "create", USERNAME, "--role", "analyst", "--display-name", "Ada Lovelace",
                     "--password-stdin", input=password + "\n")
    assert result.exit_code != 0
    assert "(password)" in result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert USERNAME not in run_cli("user", "list").stdout


def test_long_passwords_are_accepted(api, web):
    admin = api("admin")
    password = ("plum violin gravel 7 " * 13)[:250] + "end!!!"  # 256 characters
    assert len(password) == 256
    response = admin.post("/api/v1/users", json={"username": "longpass", "role": "analyst", "password": password})
    assert response.status_code == 201
    assert web.login("longpass", password).status_code == 302


def test_password_is_kept_exactly_as_typed(api, web):
    password = "  spaces around the words  "
    response = api("admin").post("/api/v1/users", json={"username": "spacey", "role": "analyst",
                                                        "password": password})
    assert response.status_code == 201
    assert web.login("spacey", password.strip()).status_code == 401
    assert web.login("spacey", password).status_code == 302


def test_own_password_change_checks_policy_and_current_password(login, app):
    client = login("analyst")
    wrong = client.post("/account/password", {"current_password": "not my password", "new_password": "a fresh "
                                              "long passphrase"})
    assert wrong.status_code == 422
    assert 'data-field="current_password"' in text_of(wrong)
    common = client.post("/account/password", {"current_password": PASSWORD, "new_password": COMMON})
    assert common.status_code == 422
    assert 'data-field="new_password"' in text_of(common)
    ok = client.post("/account/password", {"current_password": PASSWORD, "new_password": "a fresh long passphrase"})
    assert ok.status_code == 302
    fresh = WebClient(app.test_client())
    assert fresh.login(client.user.username, PASSWORD).status_code == 401
    assert fresh.login(client.user.username, "a fresh long passphrase").status_code == 302


def _argon2_params(encoded: str) -> dict[str, int]:
    match = re.fullmatch(r"\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$[^$]+\$[^$]+", encoded)
    assert match, f"not an argon2id hash: {encoded[:30]}"
    return {"m": int(match.group(1)), "t": int(match.group(2)), "p": int(match.group(3))}


def test_stored_hash_is_argon2id_at_owasp_parameters(make_user, db):
    user = make_user("analyst")
    stored = user_row(db, user.username).password_hash
    assert PASSWORD not in stored
    params = _argon2_params(stored)
    assert params["m"] >= 19456
    assert params["t"] >= 2
    assert params["p"] >= 1


def test_hash_is_upgraded_at_login_when_parameters_rise(make_user, make_app, db):
    user = make_user("analyst")
    before = user_row(db, user.username).password_hash
    assert _argon2_params(before) == {"m": 19456, "t": 2, "p": 1}
    stronger = make_app(argon2_memory_kib=32768, argon2_time_cost=3)
    assert WebClient(stronger.test_client()).login(user.username).status_code == 302
    after = user_row(db, user.username).password_hash
    assert _argon2_params(after) == {"m": 32768, "t": 3, "p": 1}


def test_weaker_settings_never_downgrade_a_hash(make_user, make_app, db, app):
    user = make_user("analyst")
    stronger = make_app(argon2_memory_kib=32768)
    assert WebClient(stronger.test_client()).login(user.username).status_code == 302
    # An instance still on the old parameters (a rolling upgrade) verifies the hash and leaves it alone.
    assert WebClient(app.test_client()).login(user.username).status_code == 302
    assert _argon2_params(user_row(db, user.username).password_hash)["m"] == 32768
