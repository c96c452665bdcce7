"""The instance's Ed25519 signing key (audit checkpoints, evidence export manifests)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from casemgr.config import ConfigError


class Signer:
    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private = private_key
        self.public_key: Ed25519PublicKey = private_key.public_key()
        raw = self.public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.key_id = hashlib.sha256(raw).hexdigest()[:16]

    @classmethod
    def load(cls, path: Path) -> Signer:
        """Load the PEM key at `path`. Raises ConfigError when it is missing or unreadable."""
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ConfigError("CASEMGR_INSTANCE_DIR", f"{path} does not exist; run `casemgr init` first") from None
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except ValueError:
            raise ConfigError("CASEMGR_INSTANCE_DIR", f"{path} is not a PEM private key") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigError("CASEMGR_INSTANCE_DIR", f"{path} is not an Ed25519 key")
        return cls(key)

    @staticmethod
    def generate(path: Path) -> None:
        """Write a new key to `path` (mode 0600) unless one is already there."""
        if path.exists():
            return
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)

    def verify(self, signature: bytes, message: bytes) -> bool:
        try:
            self.public_key.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    def public_pem(self) -> str:
        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()
