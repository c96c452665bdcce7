"""Password hashing (argon2id) and the password policy."""

from __future__ import annotations

import string
from collections.abc import Sequence
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


MIN_SCORE = 3  # zxcvbn: "safely unguessable", about 10^8 guesses or more
_SCORED_LENGTH = 72  # zxcvbn's limit; a longer password is at least as strong as its first 72 characters
_ADDED_AT_THE_END = string.digits + string.punctuation + string.whitespace


def check_policy(password: str, user_inputs: Sequence[str] = (), field: str = "password") -> None:
    """Raise Invalid (naming `field`, saying why) unless the password is long enough and hard to guess.

    `user_inputs` are the account's own names (username, display name): zxcvbn counts a password
    built from them as easy to guess. A word with digits and symbols added at its end
    (`Summer2026!!`) is among a cracker's first guesses, which zxcvbn rates higher than it should:
    what is left without them must be hard to guess too.
    """
    if len(password) < MIN_LENGTH:
        raise Invalid(f"the password must be at least {MIN_LENGTH} characters long", field=field)
    if len(password) > MAX_LENGTH:
        raise Invalid(f"the password must be at most {MAX_LENGTH} characters long", field=field)
    lowered = password.lower()
    if lowered in _common_passwords():
        raise Invalid("this password is on the list of commonly used passwords; choose another", field=field)
    names = [n for name in user_inputs if name for n in (name, *name.split())]
    if any(lowered == n.lower() for n in names):
        raise Invalid("the password must not be the username or your name", field=field)
    words = [*names, "casemgr"]
    weak = _weakness(password, words)
    core = password.rstrip(_ADDED_AT_THE_END)
    if weak is None and core and core != password and _weakness(core, words) is not None:
        weak = ("it is a guessable word or phrase with digits or symbols added at the end, which password "
                "crackers try first. "
                "Add another word or two; uncommon words are better.")
    if weak is not None:
        raise Invalid(f"this password is too easy to guess: {weak}", field=field)


def _weakness(password: str, words: list[str]) -> str | None:
    """None when zxcvbn rates the password hard enough to guess, else its explanation in plain words."""
    from zxcvbn import zxcvbn

    result = zxcvbn(password[:_SCORED_LENGTH], user_inputs=words)
    if result["score"] >= MIN_SCORE:
        return None
    feedback = result["feedback"]
    said = " ".join(part for part in [feedback.get("warning") or "", *feedback.get("suggestions", [])] if part)
    return said or "add another word or two; uncommon words are better."


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
