"""Key rotation re-wraps every data key without touching content; old keys retire only when unused;
a missing master key stops the app at start with one clear line."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import pytest

from casemgr import create_app
from casemgr.config import ConfigError
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
    app.extensions["casemgr.db"].info["casemgr.evidence_vault"].keyring.rotate()  # new key, nothing re-wrapped
    refused = run_cli("keys", "retire", old_key, env=env)
    assert refused.exit_code != 0
    assert "still wraps 1 data key" in refused.output


def test_missing_master_key_fails_at_start(own_instance, make_app, api, open_case, run_cli, settings):
    env = {"CASEMGR_INSTANCE_DIR": str(own_instance)}
    run_cli("init", "--no-admin", env=env)
    app = make_app(instance_dir=own_instance)
    from tests.conftest import ApiClient

    base = api("analyst")
    client = ApiClient(app.test_client(), base.token, base.user)
    upload(client, open_case(client)["id"], b"x")
    key_id = json.loads((own_instance / KEYRING_FILE).read_text())["current"]
    (own_instance / KEYRING_FILE).unlink()
    with pytest.raises(ConfigError, match="does not exist"):
        create_app(replace(settings, instance_dir=own_instance))
    run_cli("init", "--no-admin", env=env)  # a fresh keyring without the key in use
    with pytest.raises(ConfigError, match=f"master key {key_id} is not in"):
        create_app(replace(settings, instance_dir=own_instance))
    result = run_cli("evidence", "verify", "--all", env=env)
    assert result.exit_code == 2
    assert f"master key {key_id}" in result.output


def test_keys_public_prints_the_signing_key(run_cli, settings):
    from casemgr.signing import Signer

    result = run_cli("keys", "public")
    assert result.exit_code == 0
    assert result.output == Signer.load(settings.signing_key_path).public_pem()
