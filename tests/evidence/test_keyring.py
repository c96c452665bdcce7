"""Master keys: the keyring file and the environment, wrapping, rotation, retirement, clear failures."""

from __future__ import annotations

import base64
import io
import json
import os
import stat
from pathlib import Path

import pytest

from casemgr.config import ConfigError
from casemgr.evidence import crypto
from casemgr.evidence.keyring import (
    ENV_VARIABLE,
    KEYRING_FILE,
    KeyInUse,
    Keyring,
    KeyringError,
    KeyringReadOnly,
    MissingMasterKey,
    WrappedKey,
    WrongMasterKey,
    encode_key,
    key_id_for,
    new_master_key,
)


@pytest.fixture
def keyring_path(tmp_path: Path) -> Path:
    return tmp_path / "instance" / KEYRING_FILE


@pytest.fixture
def ring(keyring_path: Path) -> Keyring:
    return Keyring.create(keyring_path)


def b64(n: int = 32) -> str:
    return base64.b64encode(os.urandom(n)).decode()


# ---------------------------------------------------------------- the keyring file

def test_create_writes_a_private_json_file_with_one_current_key(ring: Keyring, keyring_path: Path) -> None:
    assert stat.S_IMODE(keyring_path.stat().st_mode) == 0o600
    doc = json.loads(keyring_path.read_text())
    assert doc["version"] == 1
    assert doc["current"] == ring.current_id
    [entry] = doc["keys"]
    assert entry["id"] == ring.current_id == key_id_for(base64.b64decode(entry["key"]))
    assert entry["created_at"]
    assert not list(keyring_path.parent.glob(".*.tmp"))


def test_create_twice_keeps_the_existing_keys(ring: Keyring, keyring_path: Path) -> None:
    again = Keyring.create(keyring_path)
    assert again.key_ids() == ring.key_ids()


def test_load_reads_the_instance_file(ring: Keyring, keyring_path: Path) -> None:
    loaded = Keyring.load(keyring_path.parent, environ={})
    assert loaded.current_id == ring.current_id
    data_key, wrapped = ring.new_data_key()
    assert loaded.unwrap(wrapped) == data_key


def test_a_missing_keyring_file_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(KeyringError) as caught:
        Keyring.load(tmp_path, environ={})
    assert isinstance(caught.value, ConfigError)
    assert KEYRING_FILE in str(caught.value)
    assert "casemgr init" in str(caught.value)
    assert ENV_VARIABLE in str(caught.value)


def test_a_keyring_file_readable_by_others_is_refused(ring: Keyring, keyring_path: Path) -> None:
    keyring_path.chmod(0o644)
    with pytest.raises(KeyringError, match=r"mode 0644.*chmod 600"):
        Keyring.from_file(keyring_path)


def test_a_key_edited_in_the_file_is_refused_at_load_naming_its_id(ring: Keyring, keyring_path: Path) -> None:
    key_id = ring.current_id
    doc = json.loads(keyring_path.read_text())
    doc["keys"][0]["key"] = b64()
    keyring_path.write_text(json.dumps(doc))
    with pytest.raises(WrongMasterKey) as caught:
        Keyring.from_file(keyring_path)
    assert caught.value.key_id == key_id
    assert key_id in str(caught.value)
    with pytest.raises(WrongMasterKey, match=key_id):
        ring.new_data_key()  # a running keyring re-reads the changed file and refuses it too


@pytest.mark.parametrize(("content", "message"), [
    ("not json", "not a valid keyring"),
    ('{"version": 2, "current": "x", "keys": []}', "unsupported version"),
    ('{"version": 1, "keys": []}', "not a valid keyring"),
    ('{"version": 1, "current": "abc", "keys": []}', "current key abc is not in the keyring"),
    ('{"version": 1, "current": "abc", "keys": [{"id": "abc", "key": "!!"}]}', "not valid base64"),
    ('{"version": 1, "current": "abc", "keys": [{"id": "abc", "key": "AAAA"}]}', "3 bytes long"),
    ('{"version": 1, "current": "abc", "keys": [7]}', "without an id"),
])
def test_a_malformed_keyring_file_is_refused(keyring_path: Path, content: str, message: str) -> None:
    keyring_path.parent.mkdir(parents=True)
    keyring_path.write_text(content)
    keyring_path.chmod(0o600)
    with pytest.raises(KeyringError, match=message):
        Keyring.from_file(keyring_path)


# ---------------------------------------------------------------- keys from the environment

def test_environment_keys_first_is_current_and_env_wins_over_the_file(ring: Keyring, keyring_path: Path) -> None:
    new, old = new_master_key(), new_master_key()
    env = {ENV_VARIABLE: f"{encode_key(new)}, {encode_key(old)}"}
    loaded = Keyring.load(keyring_path.parent, environ=env)
    assert loaded.current_id == new.key_id
    assert loaded.key_ids() == [new.key_id, old.key_id]
    assert loaded.read_only

    data_key = os.urandom(32)
    wrapped_old = loaded.wrap(data_key, old.key_id)
    assert loaded.unwrap(wrapped_old) == data_key
    assert loaded.rewrap(wrapped_old).key_id == new.key_id


@pytest.mark.parametrize(("value", "message"), [
    ("not base64!", "entry 1 is not valid base64"),
    (f"{base64.b64encode(b'short').decode()}", "entry 1 is 5 bytes long"),
    (f"{b64()},{b64(16)}", "entry 2 is 16 bytes long"),
    (f"{b64()},", "entry 2"),
])
def test_malformed_environment_keys_name_the_variable(value: str, message: str) -> None:
    with pytest.raises(KeyringError, match=message) as caught:
        Keyring.from_env_value(value)
    assert caught.value.variable == ENV_VARIABLE


def test_environment_keyring_cannot_rotate_or_retire() -> None:
    ring = Keyring.from_env_value(f"{b64()},{b64()}")
    with pytest.raises(KeyringReadOnly, match=ENV_VARIABLE):
        ring.rotate()
    with pytest.raises(KeyringReadOnly):
        ring.retire(ring.key_ids()[1], in_use=0)


# ---------------------------------------------------------------- wrapping

def test_wrap_and_unwrap(ring: Keyring) -> None:
    data_key, wrapped = ring.new_data_key()
    assert len(data_key) == 32
    assert wrapped.key_id == ring.current_id
    assert len(wrapped.wrapped) == 40
    assert data_key not in wrapped.wrapped
    assert ring.unwrap(wrapped) == data_key


def test_a_wrong_master_key_fails_naming_the_key_id(ring: Keyring) -> None:
    data_key, wrapped = ring.new_data_key()
    impostor = new_master_key()
    # A keyring holding a different key under the id (only possible by building it by hand).
    from casemgr.evidence.keyring import MasterKey

    wrong = Keyring([MasterKey(wrapped.key_id, impostor.secret)], wrapped.key_id)
    with pytest.raises(WrongMasterKey) as caught:
        wrong.unwrap(wrapped)
    assert caught.value.key_id == wrapped.key_id
    assert wrapped.key_id in str(caught.value)


def test_an_altered_wrapped_key_fails(ring: Keyring) -> None:
    _, wrapped = ring.new_data_key()
    altered = bytearray(wrapped.wrapped)
    altered[5] ^= 1
    for bad in (bytes(altered), wrapped.wrapped[:-8], b""):
        with pytest.raises(WrongMasterKey):
            ring.unwrap(WrappedKey(wrapped.key_id, bad))


def test_a_missing_master_key_fails_naming_the_key_id(ring: Keyring) -> None:
    with pytest.raises(MissingMasterKey) as caught:
        ring.unwrap(WrappedKey("0123456789abcdef", os.urandom(40)))
    assert caught.value.key_id == "0123456789abcdef"
    assert "0123456789abcdef" in str(caught.value)

    ring.require([ring.current_id])
    with pytest.raises(MissingMasterKey, match="0123456789abcdef"):
        ring.require([ring.current_id, "0123456789abcdef"])


def test_master_keys_do_not_show_their_secret() -> None:
    key = new_master_key()
    assert encode_key(key) not in repr(key)
    assert key.secret.hex() not in repr(key)


# ---------------------------------------------------------------- rotation and retirement

def test_rotation_rewraps_without_touching_content(ring: Keyring, keyring_path: Path) -> None:
    old_id = ring.current_id
    data_key, wrapped = ring.new_data_key()
    plaintext = os.urandom(200_000)
    stored = io.BytesIO()
    crypto.encrypt_stream([plaintext], data_key, stored)
    content_before = stored.getvalue()

    new_id = ring.rotate()
    assert new_id != old_id
    assert ring.current_id == new_id
    assert set(ring.key_ids()) == {old_id, new_id}
    assert json.loads(keyring_path.read_text())["current"] == new_id
    assert stat.S_IMODE(keyring_path.stat().st_mode) == 0o600

    rewrapped = ring.rewrap(wrapped)
    assert rewrapped.key_id == new_id
    assert rewrapped.wrapped != wrapped.wrapped
    assert ring.rewrap(rewrapped) is rewrapped  # resumable: already current, nothing to do

    # A fresh process (new keyring from the file) reads the content with the re-wrapped key.
    reloaded = Keyring.from_file(keyring_path)
    assert b"".join(crypto.decrypt_stream(io.BytesIO(content_before), reloaded.unwrap(rewrapped))) == plaintext
    assert reloaded.new_data_key()[1].key_id == new_id


def test_retire_refuses_the_current_key_and_keys_in_use(ring: Keyring, keyring_path: Path) -> None:
    old_id = ring.current_id
    _, wrapped = ring.new_data_key()
    with pytest.raises(KeyInUse, match="current key"):
        ring.retire(old_id, in_use=0)
    new_id = ring.rotate()
    with pytest.raises(KeyInUse, match="still wraps 1 data key") as caught:
        ring.retire(old_id, in_use=1)
    assert caught.value.key_id == old_id
    assert old_id in ring.key_ids()

    rewrapped = ring.rewrap(wrapped)
    ring.retire(old_id, in_use=0)
    assert ring.key_ids() == [new_id]
    assert Keyring.from_file(keyring_path).key_ids() == [new_id]
    ring.unwrap(rewrapped)
    with pytest.raises(MissingMasterKey, match=old_id):
        ring.unwrap(wrapped)  # a copy still under the retired key no longer opens
    with pytest.raises(MissingMasterKey):
        ring.retire(old_id, in_use=0)


def test_a_running_keyring_sees_a_rotation_made_by_another_process(ring: Keyring, keyring_path: Path) -> None:
    server = Keyring.from_file(keyring_path)  # e.g. a web worker started before the rotation
    data_key, wrapped = server.new_data_key()

    cli = Keyring.from_file(keyring_path)
    new_id = cli.rotate()
    rewrapped = cli.rewrap(wrapped)

    assert server.current_id == new_id
    assert server.unwrap(rewrapped) == data_key
    assert server.new_data_key()[1].key_id == new_id
