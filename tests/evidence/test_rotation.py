"""Key rotation re-wraps every data key without touching content; old keys retire only when unused;
a missing master key stops the app at start with one clear line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from casemgr import collaborators
from casemgr.evidence.keyring import KEYRING_FILE

from .conftest import stored_files, upload


@pytest.fixture
def own_instance(tmp_path, instance_dir, settings):
    """An instance dir of its own (the rotation must not change the session's shared keyring)."""
    path = tmp_path / "instance"
    path.mkdir()
    for name in ("secret_key", "signing_key.pem"):
        shutil.copy2(instance_dir / name, path / name)
    return path


def test_rotate_rewrap_and_retire(own_instance, make_app, api, open_case, run_cli, settings):
    app = make_app(instance_dir=own_instance)
    run_cli("init", "--no-admin", env={"CASEMGR_INSTANCE_DIR": str(own_instance)})
    from tests.conftest import ApiClient

    base = api("analyst")
    client = ApiClient(app.test_client(), base.token, base.user)
    case = open_case(client)
    items = [upload(client, case["id"], f"content {i}".encode() * 1000).get_json() for i in range(5)]
    files_before = {name: (settings.evidence_dir / name).read_bytes() for name in stored_files(settings)}
    old_key = json.loads((own_instance / KEYRING_FILE).read_text())["current"]
    env = {"CASEMGR_INSTANCE_DIR": str(own_instance)}

    refused = run_cli("keys", "retire", old_key, env=env)
    assert refused.exit_code != 0
    assert "current" in refused.output

    rotated = run_cli("keys", "rotate", "--batch", "2", env=env)
    assert rotated.exit_code == 0, rotated.output
    new_key = json.loads((own_instance / KEYRING_FILE).read_text())["current"]
    assert new_key != old_key
    assert "re-wrapped 5 data key(s)" in rotated.output
    listed = run_cli("keys", "list", env=env).output
    assert f"{new_key} current wraps 5 data key(s)" in listed
    assert f"{old_key}         wraps 0 data key(s)" in listed
    # Content untouched, still readable through the running app (it reloads the keyring).
    assert {name: (settings.evidence_dir / name).read_bytes() for name in stored_files(settings)} == files_before
    for i, item in enumerate(items):
        assert client.get(f"/api/v1/evidence/{item['id']}/content").get_data() == f"content {i}".encode() * 1000

    resumed = run_cli("keys", "rotate", "--resume", env=env)
    assert resumed.exit_code == 0
    assert "0 re-wrapped now" in resumed.output

    retired = run_cli("keys", "retire", old_key, env=env)
    assert retired.exit_code == 0, retired.output
    assert old_key not in (own_instance / KEYRING_FILE).read_text()
    assert client.post(f"/api/v1/evidence/{items[0]['id']}/verify").get_json()["ok"] is True


def test_retire_refuses_a_key_still_in_use(own_instance, make_app, api, open_case, run_cli):
    env = {"CASEMGR_INSTANCE_DIR": str(own_instance)}
    run_cli("init", "--no-admin", env=env)
    app = make_app(instance_dir=own_instance)
    from tests.conftest import ApiClient

    base = api("analyst")
    client = ApiClient(app.test_client(), base.token, base.user)
    upload(client, open_case(client)["id"], b"x")
    old_key = json.loads((own_instance / KEYRING_FILE).read_text())["current"]
    collaborators.vault(app.extensions["casemgr.db"]).keyring.rotate()  # new key, nothing re-wrapped
    refused = run_cli("keys", "retire", old_key, env=env)
    assert refused.exit_code != 0
    assert "still wraps 1 data key" in refused.output


def _start(env: dict[str, str], *command: str) -> subprocess.CompletedProcess[str]:
    """Start the server as an operator does; a refusal comes before it serves, so this returns at once."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CASEMGR_")}
    return subprocess.run(command, env={**clean, **env}, capture_output=True, text=True, timeout=60, check=False)


def test_missing_master_key_fails_at_start(own_instance, make_app, api, open_case, run_cli, cli_env):
    env = {**cli_env, "CASEMGR_INSTANCE_DIR": str(own_instance)}
    run_cli("init", "--no-admin", env=env)
    app = make_app(instance_dir=own_instance)
    from tests.conftest import ApiClient

    base = api("analyst")
    client = ApiClient(app.test_client(), base.token, base.user)
    item = upload(client, open_case(client)["id"], b"x").get_json()
    key_id = json.loads((own_instance / KEYRING_FILE).read_text())["current"]
    serve = (str(Path(sys.executable).with_name("casemgr")), "serve", "--port", "1")
    wsgi = (sys.executable, "-c", "import wsgi")
    wsgi_env = {**env, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    (own_instance / KEYRING_FILE).unlink()
    for result in (_start(env, *serve), _start(wsgi_env, *wsgi)):
        assert result.returncode == 2
        assert result.stderr.startswith("casemgr: configuration error: ")
        assert "does not exist" in result.stderr
        assert len(result.stderr.splitlines()) == 1, result.stderr
    run_cli("init", "--no-admin", env=env)  # a fresh keyring without the key in use
    for result in (_start(env, *serve), _start(wsgi_env, *wsgi)):
        assert result.returncode == 2
        assert f"master key {key_id} is not in" in result.stderr
        assert len(result.stderr.splitlines()) == 1, result.stderr
    # An app built anyway (a test, a shell) answers the evidence routes with 503, naming the key.
    fresh = ApiClient(make_app(instance_dir=own_instance).test_client(), base.token, base.user)
    content = fresh.get(f"/api/v1/evidence/{item['id']}/content")
    assert content.status_code == 503
    assert key_id in content.get_json()["error"]["message"]
    result = run_cli("evidence", "verify", "--all", env=env)
    assert result.exit_code == 2
    assert f"master key {key_id}" in result.output


def test_keys_public_prints_the_signing_key(run_cli, settings):
    from casemgr.signing import Signer

    result = run_cli("keys", "public")
    assert result.exit_code == 0
    assert result.output == Signer.load(settings.signing_key_path).public_pem()


def test_a_missing_or_unreadable_signing_key_fails_at_start(own_instance, run_cli, cli_env):
    """The signing key is loaded when first used (a command that signs nothing does not load
    cryptography), and by the server before it starts: a server without it refuses in one line."""
    env = {**cli_env, "CASEMGR_INSTANCE_DIR": str(own_instance)}
    run_cli("init", "--no-admin", env=env)
    serve = (str(Path(sys.executable).with_name("casemgr")), "serve", "--port", "1")
    wsgi = (sys.executable, "-c", "import wsgi")
    wsgi_env = {**env, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    key = own_instance / "signing_key.pem"
    key.unlink()
    for result in (_start(env, *serve), _start(wsgi_env, *wsgi)):
        assert result.returncode == 2
        assert result.stderr == (f"casemgr: configuration error: CASEMGR_INSTANCE_DIR: {key} does not exist; "
                                 "run `casemgr init` first\n")
    key.write_text("not a key\n")
    for result in (_start(env, *serve), _start(wsgi_env, *wsgi)):
        assert result.returncode == 2
        assert result.stderr == f"casemgr: configuration error: CASEMGR_INSTANCE_DIR: {key} is not a PEM private key\n"
