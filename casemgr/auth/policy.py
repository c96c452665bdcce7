"""The sign-in policy, a collaborator built from settings once by the factory (casemgr.build_database).

A module of its own so that building the database does not import the sign-in code (argon2's bindings,
pyotp, cryptography's Fernet, the account schemas): `casemgr case list` builds the database and signs no
one in.
"""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from argon2 import PasswordHasher
    from cryptography.fernet import Fernet

AUTH_KEY = "casemgr.auth_policy"


@dataclass(frozen=True)
class AuthPolicy:
    """Collaborator built from settings once by the factory."""

    hasher: PasswordHasher
    session_idle: dt.timedelta
    session_max_age: dt.timedelta
    max_failures: int
    lockout: dt.timedelta
    secret_key: str
    # Sign-in attempts allowed per client address: (how many, per how many seconds), each enforced.
    attempt_limits: tuple[tuple[int, int], ...] = ((20, 60),)

    @property
    def fernet(self) -> Fernet:
        from cryptography.fernet import Fernet
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"casemgr totp secrets").derive(
            self.secret_key.encode()
        )
        return Fernet(base64.urlsafe_b64encode(key))
