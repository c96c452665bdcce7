"""The `casemgr` command: init, user and token administration, errors on stderr."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import click
import pytest
from sqlalchemy.engine import make_url

from casemgr.cli import cli
from tests.auth.helpers import text_of, user_row

PASSWORD = "a long enough passphrase"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_creates_a_private_instance_and_is_safe_twice(run_cli, tmp_path):
    instance = tmp_path / "inst"
    db_file = tmp_path / "data" / "casemgr.db"
    db_file.parent.mkdir()
    env = {"CASEMGR_INSTANCE_DIR": str(instance), "CASEMGR_DATABASE_URL": f"sqlite:///{db_file}",
           "CASEMGR_EVIDENCE_DIR": str(tmp_path / "evidence")}
    first = run_cli("init", env=env)
    assert first.exit_code == 0, first.stderr
    assert _mode(instance) == 0o700
    assert _mode(instance / "secret_key") == 0o600
    assert _mode(instance / "signing_key.pem") == 0o600
    assert _mode(db_file) == 0o600
    assert _mode(tmp_path / "evidence") == 0o700
    assert "password:" in first.stdout
    secret, signing = (instance / "secret_key").read_text(), (instance / "signing_key.pem").read_bytes()

    second = run_cli("init", env=env)
    assert second.exit_code == 0, second.stderr
    assert "password:" not in second.stdout
    assert "an admin account exists already" in second.stdout
    assert (instance / "secret_key").read_text() == secret  # keys are never replaced
    assert (instance / "signing_key.pem").read_bytes() == signing
    assert _mode(db_file) == 0o600
    listing = run_cli("user", "list", env=env)
    assert listing.stdout.count("admin") == 2  # the username and the role, once


def test_init_tightens_an_evidence_directory_that_existed(run_cli, tmp_path):
    evidence = tmp_path / "evidence"
    evidence.mkdir(mode=0o755)
    evidence.chmod(0o755)
    env = {"CASEMGR_INSTANCE_DIR": str(tmp_path / "inst"), "CASEMGR_EVIDENCE_DIR": str(evidence)}
    result = run_cli("init", "--no-admin", env=env)
    assert result.exit_code == 0, result.stderr
    assert _mode(evidence) == 0o700
    assert f"evidence directory {evidence}: mode 0755 tightened to 0700" in result.stdout
    assert "tightened" not in run_cli("init", "--no-admin", env=env).stdout


def test_init_creates_the_first_admin_once_with_a_working_password(run_cli, tmp_path, web, db):
    env = {"CASEMGR_INSTANCE_DIR": str(tmp_path / "inst")}
    result = run_cli("init", env=env)
    assert result.exit_code == 0, result.stderr
    password = re.search(r"password: (\S+)", result.stdout).group(1)
    assert len(password) >= 12
    assert user_row(db, "admin").role == "admin"
    assert web.login("admin", password).status_code == 302
    assert user_row(db, "admin").must_change_password  # the printed password is for the first sign-in only
    assert web.get("/admin/users").headers["Location"] == "/account/password/new"
    assert web.get("/account/password/new").status_code == 200
    changed = web.post("/account/password/new", {"current_password": password,
                                                 "new_password": "the admin's own long passphrase"})
    assert changed.status_code == 302
    assert web.get("/admin/users").status_code == 200
    again = run_cli("init", env=env)
    assert "password:" not in again.stdout


def test_init_creates_no_admin_when_one_exists(run_cli, make_user, tmp_path):
    make_user("admin", "boss")
    result = run_cli("init", env={"CASEMGR_INSTANCE_DIR": str(tmp_path / "inst")})
    assert result.exit_code == 0
    assert "password:" not in result.stdout
    usernames = [line.split()[0] for line in run_cli("user", "list").stdout.splitlines()]
    assert usernames == ["boss"]


def test_init_without_admin(run_cli, tmp_path):
    result = run_cli("init", "--no-admin", env={"CASEMGR_INSTANCE_DIR": str(tmp_path / "inst")})
    assert result.exit_code == 0
    assert "password:" not in result.stdout
    assert run_cli("user", "list").stdout == ""


def test_init_with_secret_key_in_env_writes_no_key_file(run_cli, tmp_path):
    instance = tmp_path / "inst"
    result = run_cli("init", "--no-admin", env={"CASEMGR_INSTANCE_DIR": str(instance), "CASEMGR_SECRET_KEY": "s" * 40})
    assert result.exit_code == 0
    assert not (instance / "secret_key").exists()
    assert (instance / "signing_key.pem").exists()


def test_user_create_list_disable(run_cli, app, web, db):
    created = run_cli("user", "create", "Carol", "--role", "manager", "--display-name", "Carol C",
                      "--password-stdin", input=PASSWORD + "\n")
    assert created.exit_code == 0, created.stderr
    assert "created carol (manager)" in created.stdout
    assert user_row(db, "carol").display_name == "Carol C"
    assert web.login("carol", PASSWORD).status_code == 302
    token = run_cli("token", "create", "carol").stdout.strip().splitlines()[-1]
    me = app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json["username"] == "carol"

    listing = run_cli("user", "list")
    assert re.search(r"^carol\s+manager\s+active", listing.stdout, re.M)

    disabled = run_cli("user", "disable", "carol")
    assert disabled.exit_code == 0
    assert re.search(r"^carol\s+manager\s+disabled", run_cli("user", "list").stdout, re.M)
    refused = app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401
    assert refused.json["error"]["code"] == "unauthorized"
    assert web.get("/").status_code == 302  # the open session ended too
    assert run_cli("user", "enable", "carol").exit_code == 0
    assert app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_user_create_prompts_for_the_password(run_cli, web):
    result = run_cli("user", "create", "dave", "--role", "analyst", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.stderr
    assert PASSWORD not in result.stdout
    assert web.login("dave", PASSWORD).status_code == 302


@pytest.mark.parametrize(("args", "stdin", "message"), [
    (["user", "create", "erin", "--role", "wizard", "--password-stdin"], PASSWORD, "wizard"),
    (["user", "create", "erin", "--password-stdin"], PASSWORD, "--role"),
    (["user", "create", "bad name!", "--role", "analyst", "--password-stdin"], PASSWORD, "error: username: "),
    (["user", "create", "erin", "--role", "analyst", "--password-stdin"], "", "error: password: "),
    (["user", "disable", "nobody"], None, "no user named"),
    (["token", "create", "nobody"], None, "no user named"),
    (["token", "revoke", "abc"], None, "TOKEN_ID"),
])
def test_cli_errors_go_to_stderr(run_cli, args, stdin, message):
    result = run_cli(*args, input=stdin)
    assert result.exit_code != 0
    assert message in result.stderr
    assert result.stdout == ""


def test_duplicate_user_is_refused(run_cli):
    assert run_cli("user", "create", "frank", "--role", "analyst", "--password-stdin", input=PASSWORD).exit_code == 0
    again = run_cli("user", "create", "FRANK", "--role", "admin", "--password-stdin", input=PASSWORD)
    assert again.exit_code != 0
    assert "taken" in again.stderr


def test_last_admin_cannot_be_disabled(run_cli, make_user):
    make_user("admin", "onlyadmin")
    result = run_cli("user", "disable", "onlyadmin")
    assert result.exit_code != 0
    assert "last active admin" in result.stderr


def _command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and group below `group`, as the words typed to reach it."""
    paths = []
    context = click.Context(group)
    # list_commands/get_command, not .commands: the top group loads each domain's commands lazily
    for name in sorted(group.list_commands(context)):
        command = group.get_command(context, name)
        paths.append((*prefix, name))
        if isinstance(command, click.Group):
            paths.extend(_command_paths(command, (*prefix, name)))
    return paths


COMMANDS = _command_paths(cli)


def test_the_cli_has_its_documented_groups():
    assert {path[0] for path in COMMANDS} >= {"init", "serve", "user", "token", "audit", "case", "evidence", "keys",
                                              "stix"}


@pytest.mark.parametrize("command", [(), *COMMANDS], ids=lambda path: " ".join(path) or "casemgr")
def test_every_command_has_help(run_cli, command):
    result = run_cli(*command, "--help")
    assert result.exit_code == 0, result.output
    usage = result.stdout.splitlines()[0]
    assert usage.startswith("Usage: ")
    assert usage.split()[2:2 + len(command)] == list(command), usage
    group: click.Command = cli
    for word in command:
        assert isinstance(group, click.Group)
        found = group.get_command(click.Context(group), word)
        assert found is not None, word
        group = found
    if isinstance(group, click.Group):  # a group's help lists each of its commands
        listed = set(re.findall(r"^  (\S+)", result.stdout.split("Commands:", 1)[1], re.MULTILINE))
        assert listed == set(group.list_commands(click.Context(group))), result.stdout


def test_serve_options(run_cli):
    text = run_cli("serve", "--help").stdout
    for option in ("--host", "--port", "--workers"):
        assert option in text
    assert "127.0.0.1" in text
    bad = run_cli("serve", "--port", "70000")
    assert bad.exit_code != 0
    assert "--port" in bad.stderr


def test_database_url_is_not_leaked_with_password(run_cli, tmp_path, settings):
    url = make_url(settings.database_url)
    if url.get_backend_name() != "postgresql":
        pytest.skip("only PostgreSQL URLs carry a password")
    with_password = url.set(password="hunter2").render_as_string(hide_password=False)
    result = run_cli("init", "--no-admin", env={"CASEMGR_INSTANCE_DIR": str(tmp_path / "inst"),
                                                "CASEMGR_DATABASE_URL": with_password})
    assert "hunter2" not in result.stdout + result.stderr


def test_admin_pages_list_cli_created_users(run_cli, login):
    run_cli("user", "create", "gina", "--role", "auditor", "--password-stdin", input=PASSWORD)
    assert "gina" in text_of(login("admin").get("/admin/users"))
