"""The collaborators every service session carries, read through typed accessors.

The factory (`casemgr.build_database`) builds them once from settings and installs them into
`Database.info`, which every session copies into its own `session.info`. This module is the one
place that knows the keys they are kept under: services call `audit_trail(session)`,
`auth_policy(session)`, `vault(session)`, `clock(session)` or `settings(session)` and get the typed
object, or MissingCollaborator naming what was not installed. The accessors also take the Database
itself (anything with an `info` mapping), for code that runs outside a session: a start-up check,
a template filter.

Importing this module imports none of the collaborators' modules (their types are for mypy only),
so every domain may import it without cycles, and `casemgr --help` stays light.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, cast

if TYPE_CHECKING:
    from casemgr.audit.trail import AuditTrail
    from casemgr.auth.policy import AuthPolicy
    from casemgr.clock import Clock
    from casemgr.config import Settings
    from casemgr.evidence.vault import EvidenceVault

T = TypeVar("T")


class HasInfo(Protocol):
    """A Session or the Database: both carry the collaborators in `info`."""

    @property
    def info(self) -> MutableMapping[Any, Any]: ...


class MissingCollaborator(RuntimeError):
    """A session was not made by a Database that `casemgr.build_database` equipped (a programming error)."""


class Key(Generic[T]):
    """Where one collaborator is kept in `info`, and what it is called in an error."""

    def __init__(self, name: str, what: str) -> None:
        self.name, self.what = name, what

    def install(self, info: MutableMapping[Any, Any], collaborator: T) -> None:
        info[self.name] = collaborator

    def of(self, holder: HasInfo) -> T:
        try:
            return cast(T, holder.info[self.name])
        except KeyError:
            raise MissingCollaborator(
                f"no {self.what} ({self.name}) in this session's info: sessions must come from the Database "
                "that casemgr.build_database returns, which installs every collaborator") from None


AUDIT_TRAIL: Key[AuditTrail] = Key("casemgr.audit_trail", "audit trail")
AUTH_POLICY: Key[AuthPolicy] = Key("casemgr.auth_policy", "sign-in policy")
VAULT: Key[EvidenceVault] = Key("casemgr.evidence_vault", "evidence vault")
CLOCK: Key[Clock] = Key("casemgr.clock", "clock")
SETTINGS: Key[Settings] = Key("casemgr.settings", "settings")


def audit_trail(holder: HasInfo) -> AuditTrail:
    """The audit trail: signing key, checkpoint interval, SIEM stream."""
    return AUDIT_TRAIL.of(holder)


def auth_policy(holder: HasInfo) -> AuthPolicy:
    """The sign-in policy: password hasher, session and lockout limits, the TOTP secrets' key."""
    return AUTH_POLICY.of(holder)


def vault(holder: HasInfo) -> EvidenceVault:
    """The evidence vault: keyring, store, upload limit."""
    return VAULT.of(holder)


def clock(holder: HasInfo) -> Clock:
    """The clock services read the time from (`clock(session).now()`, aware UTC)."""
    return CLOCK.of(holder)


def settings(holder: HasInfo) -> Settings:
    """The instance's settings."""
    return SETTINGS.of(holder)
