"""Password hashing (argon2id) and the password policy."""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher, Type, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError

from casemgr.errors import Invalid

MIN_LENGTH = 12
MAX_LENGTH = 256


def make_hasher(time_cost: int, memory_kib: int, parallelism: int) -> PasswordHasher:
    # OWASP / ASVS 5.0 appendix C floor for argon2id: m=19 MiB, t=2, p=1.
    if memory_kib < 19456 or time_cost < 2 or parallelism < 1:
        raise ValueError("argon2id parameters below the OWASP minimum (m=19456 KiB, t=2, p=1)")
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID)


@cache
def _common_passwords() -> frozenset[str]:
    # zxcvbn ships the 30,000 most common passwords from real breach corpora.
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def check_policy(password: str, username: str | None = None, field: str = "password") -> None:
    """Raise Invalid (naming `field`) if the password is too short, too long or too common."""
    if len(password) < MIN_LENGTH:
        raise Invalid(f"the password must be at least {MIN_LENGTH} characters long", field=field)
    if len(password) > MAX_LENGTH:
        raise Invalid(f"the password must be at most {MAX_LENGTH} characters long", field=field)
    lowered = password.lower()
    if lowered in _common_passwords():
        raise Invalid("this password is on the list of commonly used passwords; choose another", field=field)
    if username and lowered == username.lower():
        raise Invalid("the password must not be the username", field=field)


def verify(hasher: PasswordHasher, password_hash: str, password: str) -> bool:
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(hasher: PasswordHasher, password_hash: str) -> bool:
    """True when the stored hash is weaker than the hasher's parameters (or not argon2id).

    Only a weaker hash is replaced: during a rolling upgrade an older instance must not
    downgrade hashes that a newer instance has already strengthened.
    """
    try:
        stored = extract_parameters(password_hash)
    except InvalidHashError:
        return True
    return (stored.type is not Type.ID or stored.memory_cost < hasher.memory_cost
            or stored.time_cost < hasher.time_cost or stored.parallelism < hasher.parallelism
            or stored.hash_len < hasher.hash_len)
