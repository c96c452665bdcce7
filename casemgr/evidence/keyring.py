"""Master keys that wrap the per-file data keys of the evidence store.

A master key is 32 random bytes. Its id is derived from the key itself (the first 16 hex digits of
SHA-256 over a fixed label and the key), so a key given under the wrong id, or a keyring file whose
key was edited, is refused when the keyring loads instead of unwrapping garbage later.

Keys come from one of two places:
- the keyring file `evidence_keys.json` in the instance dir (mode 0600; JSON, see docs/evidence-format.md), or
- the environment variable CASEMGR_EVIDENCE_MASTER_KEYS: a comma-separated list of base64-encoded
  32-byte keys, the first being current (e.g. `NEW_KEY,OLD_KEY`). Rotation there means deploying
  a new list; the running keyring is read-only.

Data keys are wrapped with AES Key Wrap (RFC 3394, AES-256), which authenticates the result: a
wrong master key raises WrongMasterKey naming the key id, never returns a wrong data key. The
wrapped key is stored together with the key id that wrapped it (WrappedKey).

A file keyring notices when another process (`casemgr keys rotate`) rewrote the file and reloads
it, so long-running servers wrap new evidence under the new current key and can unwrap data keys
that were re-wrapped under it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import secrets
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from casemgr.config import ConfigError

ENV_VARIABLE = "CASEMGR_EVIDENCE_MASTER_KEYS"
FILE_VARIABLE = "CASEMGR_INSTANCE_DIR"
KEYRING_FILE = "evidence_keys.json"
FORMAT_VERSION = 1
KEY_SIZE = 32
WRAPPED_SIZE = KEY_SIZE + 8
_ID_LABEL = b"casemgr evidence master key id\x00"


class KeyringError(ConfigError):
    """The keyring cannot do what was asked; `key_id` names the key concerned, if any.

    A ConfigError, so the CLI and the app factory report it as one line naming where keys come from.
    """

    def __init__(self, variable: str, message: str, *, key_id: str | None = None) -> None:
        super().__init__(variable, message)
        self.key_id = key_id


class MissingMasterKey(KeyringError):
    """A data key is wrapped under a master key this keyring does not hold."""


class WrongMasterKey(KeyringError):
    """The master key with this id does not unwrap the data key: wrong key, or altered wrapped key."""


class KeyInUse(KeyringError):
    """A key cannot be retired: it is current, or data keys are still wrapped under it."""


class KeyringReadOnly(KeyringError):
    """The keys come from the environment; rotation and retirement happen where they are deployed."""


@dataclass(frozen=True)
class WrappedKey:
    """A data key wrapped by master key `key_id` (AES-KW, 40 bytes). Store both with the evidence."""

    key_id: str
    wrapped: bytes


@dataclass(frozen=True)
class MasterKey:
    key_id: str
    secret: bytes
    created_at: str | None = None

    def __repr__(self) -> str:  # never print the secret in a traceback or log
        return f"MasterKey(key_id={self.key_id!r})"


def key_id_for(secret: bytes) -> str:
    """The id of a master key: 16 hex digits of SHA-256(label || key)."""
    return hashlib.sha256(_ID_LABEL + secret).hexdigest()[:16]


def new_master_key() -> MasterKey:
    secret = secrets.token_bytes(KEY_SIZE)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    return MasterKey(key_id_for(secret), secret, now)


def encode_key(key: MasterKey) -> str:
    """The base64 form used in the keyring file and in CASEMGR_EVIDENCE_MASTER_KEYS."""
    return base64.b64encode(key.secret).decode()


class Keyring:
    """Master keys by id, one of them current. Thread-safe."""

    def __init__(self, keys: Iterable[MasterKey], current_id: str, *, path: Path | None = None,
                 variable: str = ENV_VARIABLE) -> None:
        self._keys = {k.key_id: k for k in keys}
        self._current_id = current_id
        self._path = path
        self._variable = variable
        self._stamp: tuple[int, int, int] | None = None
        self._lock = threading.Lock()
        if current_id not in self._keys:
            raise KeyringError(variable, f"the current key {current_id} is not in the keyring", key_id=current_id)

    # ------------------------------------------------------------ loading

    @classmethod
    def load(cls, instance_dir: Path, environ: Mapping[str, str] | None = None) -> Keyring:
        """The keyring from CASEMGR_EVIDENCE_MASTER_KEYS if set, else the instance dir's file.

        Raises KeyringError when the keys are missing, malformed or readable by others.
        """
        env = os.environ if environ is None else environ
        value = env.get(ENV_VARIABLE, "").strip()
        if value:
            return cls.from_env_value(value)
        return cls.from_file(instance_dir / KEYRING_FILE)

    @classmethod
    def from_env_value(cls, value: str) -> Keyring:
        """Parse `BASE64KEY[,BASE64KEY...]`, the first key current. Raises KeyringError."""
        keys = []
        for position, item in enumerate(value.split(","), start=1):
            secret = _decode_secret(item.strip(), ENV_VARIABLE, f"entry {position}")
            keys.append(MasterKey(key_id_for(secret), secret))
        if not keys:
            raise KeyringError(ENV_VARIABLE, "lists no keys")
        return cls(keys, keys[0].key_id, variable=ENV_VARIABLE)

    @classmethod
    def from_file(cls, path: Path) -> Keyring:
        """Load the keyring file at `path`. Raises KeyringError (missing, unreadable, mode not 0600)."""
        keyring = cls._read(path)
        keyring._stamp = _stamp(path)
        return keyring

    @classmethod
    def create(cls, path: Path) -> Keyring:
        """Create the keyring file with one new current key, unless it exists; return the keyring."""
        with _file_lock(path):
            if not path.exists():
                key = new_master_key()
                _write_file(path, [key], key.key_id)
        return cls.from_file(path)

    @classmethod
    def _read(cls, path: Path) -> Keyring:
        where = f"the evidence keyring {path}"
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            raise KeyringError(FILE_VARIABLE, f"{where} does not exist; run `casemgr init` first, "
                                              f"or set {ENV_VARIABLE}") from None
        except OSError as exc:
            raise KeyringError(FILE_VARIABLE, f"cannot open {where}: {exc.strerror}") from None
        with os.fdopen(fd, "rb") as f:
            mode = os.fstat(f.fileno()).st_mode & 0o777
            if mode & 0o077:
                raise KeyringError(FILE_VARIABLE, f"{where} has mode {mode:04o}; it must be readable by its "
                                                  f"owner only (chmod 600 {path})")
            raw = f.read()
        try:
            doc = json.loads(raw)
            if doc.get("version") != FORMAT_VERSION:
                raise ValueError(f"unsupported version {doc.get('version')!r}")
            current = doc["current"]
            entries = doc["keys"]
            if not isinstance(current, str) or not isinstance(entries, list):
                raise TypeError("wrong types")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise KeyringError(FILE_VARIABLE, f"{where} is not a valid keyring: {exc}") from None
        keys = []
        for entry in entries:
            key_id = entry.get("id") if isinstance(entry, dict) else None
            if not isinstance(key_id, str):
                raise KeyringError(FILE_VARIABLE, f"{where} has a key without an id")
            secret = _decode_secret(entry.get("key", ""), FILE_VARIABLE, f"key {key_id} in {where}")
            if key_id_for(secret) != key_id:
                raise WrongMasterKey(FILE_VARIABLE, f"key {key_id} in {where} does not match its id "
                                                    "(the key was altered or is the wrong one)", key_id=key_id)
            keys.append(MasterKey(key_id, secret, entry.get("created_at")))
        return cls(keys, current, path=path, variable=FILE_VARIABLE)

    def _refresh(self) -> None:
        """Reload a file keyring if another process rewrote it (cheap: one stat)."""
        if self._path is None:
            return
        try:
            stamp = _stamp(self._path)
        except FileNotFoundError:
            return  # keep what we have; the next load at start reports the missing file
        if stamp != self._stamp:
            fresh = Keyring._read(self._path)
            self._keys, self._current_id, self._stamp = fresh._keys, fresh._current_id, stamp

    # ------------------------------------------------------------ queries

    @property
    def current_id(self) -> str:
        with self._lock:
            self._refresh()
            return self._current_id

    def key_ids(self) -> list[str]:
        with self._lock:
            self._refresh()
            return list(self._keys)

    @property
    def read_only(self) -> bool:
        return self._path is None

    def require(self, key_ids: Iterable[str]) -> None:
        """Check at start that every key id in use is held. Raises MissingMasterKey naming the first absent."""
        held = set(self.key_ids())
        for key_id in sorted(set(key_ids)):
            if key_id not in held:
                raise self._missing(key_id)

    def _missing(self, key_id: str) -> MissingMasterKey:
        source = f"{ENV_VARIABLE}" if self._path is None else f"the keyring {self._path}"
        return MissingMasterKey(self._variable, f"master key {key_id} is not in {source}; restore it "
                                                "from your key backup", key_id=key_id)

    # ------------------------------------------------------------ wrapping

    def new_data_key(self) -> tuple[bytes, WrappedKey]:
        """A fresh random data key and its wrapping under the current master key."""
        data_key = secrets.token_bytes(KEY_SIZE)
        return data_key, self.wrap(data_key)

    def wrap(self, data_key: bytes, key_id: str | None = None) -> WrappedKey:
        """Wrap `data_key` under master key `key_id` (default: the current one)."""
        if len(data_key) != KEY_SIZE:
            raise ValueError("a data key is 32 bytes")
        from cryptography.hazmat.primitives.keywrap import aes_key_wrap  # here: see unwrap

        master = self._get(key_id)
        return WrappedKey(master.key_id, aes_key_wrap(master.secret, data_key))

    def unwrap(self, wrapped: WrappedKey) -> bytes:
        """The data key. Raises MissingMasterKey or WrongMasterKey, both naming the key id."""
        # Imported when a key is (un)wrapped: building the database loads the keyring module, and a
        # command that touches no evidence (`casemgr case list`) should not load cryptography for it.
        from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap

        master = self._get(wrapped.key_id)
        try:
            data_key = aes_key_unwrap(master.secret, wrapped.wrapped)
        except (InvalidUnwrap, ValueError):
            raise WrongMasterKey(self._variable, f"master key {wrapped.key_id} does not unwrap this data key "
                                                 "(the wrapped key was altered or the master key is not the "
                                                 "one that wrapped it)", key_id=wrapped.key_id) from None
        if len(data_key) != KEY_SIZE:
            raise WrongMasterKey(self._variable, "the unwrapped data key has the wrong length",
                                 key_id=wrapped.key_id)
        return data_key

    def rewrap(self, wrapped: WrappedKey) -> WrappedKey:
        """The same data key wrapped under the current master key (content is untouched).

        Returns `wrapped` itself when it already is under the current key, so a rotation that was
        interrupted can simply be run again.
        """
        current = self.current_id
        if wrapped.key_id == current:
            return wrapped
        return self.wrap(self.unwrap(wrapped), current)

    def _get(self, key_id: str | None) -> MasterKey:
        with self._lock:
            self._refresh()
            wanted = key_id or self._current_id
            try:
                return self._keys[wanted]
            except KeyError:
                raise self._missing(wanted) from None

    # ------------------------------------------------------------ rotation and retirement

    def rotate(self) -> str:
        """Add a new master key, make it current, save the file; returns the new key id.

        Re-wrapping the data keys (`rewrap`) is the caller's next step. Raises KeyringReadOnly for
        keys from the environment.
        """
        path = self._writable()
        with self._lock, _file_lock(path):
            self._reload_locked(path)
            key = new_master_key()
            keys = [*self._keys.values(), key]
            _write_file(path, keys, key.key_id)
            self._keys = {k.key_id: k for k in keys}
            self._current_id = key.key_id
            self._stamp = _stamp(path)
            return key.key_id

    def retire(self, key_id: str, *, in_use: int) -> None:
        """Remove master key `key_id` from the keyring file.

        `in_use` is how many data keys are still wrapped under it (the caller counts them in the
        database). Raises KeyInUse when that is not zero or the key is current, MissingMasterKey
        when the key is not there, KeyringReadOnly for keys from the environment.
        """
        path = self._writable()
        with self._lock, _file_lock(path):
            self._reload_locked(path)
            if key_id not in self._keys:
                raise self._missing(key_id)
            if key_id == self._current_id:
                raise KeyInUse(self._variable, f"master key {key_id} is the current key; rotate first",
                               key_id=key_id)
            if in_use:
                raise KeyInUse(self._variable, f"master key {key_id} still wraps {in_use} data key(s); "
                                               "finish the rotation (re-wrap) first", key_id=key_id)
            keys = [k for k in self._keys.values() if k.key_id != key_id]
            _write_file(path, keys, self._current_id)
            self._keys = {k.key_id: k for k in keys}
            self._stamp = _stamp(path)

    def _writable(self) -> Path:
        if self._path is None:
            raise KeyringReadOnly(ENV_VARIABLE, "the master keys come from the environment; change the list "
                                                "where it is deployed (new key first)")
        return self._path

    def _reload_locked(self, path: Path) -> None:
        fresh = Keyring._read(path)
        self._keys, self._current_id = fresh._keys, fresh._current_id


def _decode_secret(text: Any, variable: str, what: str) -> bytes:
    try:
        secret = base64.b64decode(str(text), validate=True)
    except (binascii.Error, ValueError):
        raise KeyringError(variable, f"{what} is not valid base64") from None
    if len(secret) != KEY_SIZE:
        raise KeyringError(variable, f"{what} is {len(secret)} bytes long; a master key is {KEY_SIZE} bytes "
                                     "(44 base64 characters)")
    return secret


def _stamp(path: Path) -> tuple[int, int, int]:
    st = os.stat(path)
    return (st.st_ino, st.st_mtime_ns, st.st_size)


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Serialize writers of the keyring file across processes (two concurrent rotations)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _write_file(path: Path, keys: Iterable[MasterKey], current_id: str) -> None:
    """Replace the keyring file atomically: temp file (0600), fsync, rename, fsync the directory."""
    doc = {
        "version": FORMAT_VERSION,
        "current": current_id,
        "keys": [{"id": k.key_id, "key": encode_key(k), "created_at": k.created_at} for k in keys],
    }
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
