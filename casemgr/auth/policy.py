"""The sign-in policy, a collaborator built from settings once by the factory (casemgr.build_database).

A module of its own so that building the database does not import the sign-in code (argon2's bindings,
pyotp, cryptography's Fernet, the account schemas): `casemgr case list` builds the database and signs no
one in. The password hasher is made on first use for the same reason.
"""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from argon2 import PasswordHasher
    from cryptography.fernet import Fernet


@dataclass(frozen=True)
class AuthPolicy:
    """Collaborator built from settings once by the factory."""

    # argon2id's (time cost, memory in KiB, parallelism), checked against OWASP's floor by Settings
    argon2: tuple[int, int, int]
    session_idle: dt.timedelta
    session_max_age: dt.timedelta
    max_failures: int
    lockout: dt.timedelta
    secret_key: str
    # Sign-in attempts allowed per client address, in the `limits` library's notation ("20 per minute",
    # several separated by ";"), each enforced; see `attempt_limits`.
    attempt_rate: str = "20 per minute"

    @cached_property
    def hasher(self) -> PasswordHasher:
        """Made on first use: argon2's bindings load only in a process that hashes or checks a password."""
        from casemgr.auth.passwords import make_hasher

        return make_hasher(*self.argon2)

    @cached_property
    def attempt_limits(self) -> tuple[tuple[int, int], ...]:
        """(how many, per how many seconds) for each limit of `attempt_rate`. Parsed on first use: the
        `limits` package (with wrapt, deprecated and its storage modules) takes about 30 ms to import,
        which `casemgr case list` would pay without ever counting a sign-in."""
        from limits import parse_many

        return tuple((limit.amount, limit.get_expiry()) for limit in parse_many(self.attempt_rate))

    @property
    def fernet(self) -> Fernet:
        from cryptography.fernet import Fernet
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"casemgr totp secrets").derive(
            self.secret_key.encode()
        )
        return Fernet(base64.urlsafe_b64encode(key))
