"""Users, login sessions and API tokens."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casemgr.db import Base, UTCDateTime, str_enum, utcnow


class Role(enum.StrEnum):
    ANALYST = "analyst"
    MANAGER = "manager"
    AUDITOR = "auditor"
    ADMIN = "admin"


# A role code: a built-in role's (the values of Role) or a custom role's (CustomRole.code).
ROLE_CODE_LENGTH = 32


class CustomRole(Base):
    """A role an admin defined: a stable code, a name, a description and a set of permissions from the registry
    (casemgr/auth/permissions.py resolves it; casemgr/auth/roles.py is the one place that changes it).

    The code is the primary key: `User.role` names it, and an account's role is then found in the session's
    identity map without a query once loaded (one query per role per request)."""

    __tablename__ = "custom_roles"

    code: Mapped[str] = mapped_column(String(ROLE_CODE_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(2000), default="")
    permissions: Mapped[list[str]] = mapped_column(JSON, default=list)  # registered names, sorted
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128), default="")
    # A built-in role (Role) or a custom role's code; no foreign key, since the built-in roles are not rows.
    role: Mapped[str] = mapped_column(String(ROLE_CODE_LENGTH))
    password_hash: Mapped[str] = mapped_column(String(256))
    password_changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    totp_secret: Mapped[str | None] = mapped_column(String(256))
    totp_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    totp_last_counter: Mapped[int | None] = mapped_column(Integer)
    # Set by an admin's password reset and for the first admin: the next sign-in must choose a new one.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    tokens: Mapped[list[ApiToken]] = relationship(
        back_populates="user", foreign_keys="ApiToken.user_id", order_by="ApiToken.id"
    )
    sessions: Mapped[list[LoginSession]] = relationship(back_populates="user")
    recovery_codes: Mapped[list[RecoveryCode]] = relationship(back_populates="user", cascade="all, delete-orphan")
    # The custom role the account has (None for a built-in role). Read through casemgr.auth.permissions.of_user.
    custom_role: Mapped[CustomRole | None] = relationship(
        primaryjoin="foreign(User.role) == CustomRole.code", viewonly=True, lazy="select")

    @property
    def is_disabled(self) -> bool:
        return self.disabled_at is not None

    def __repr__(self) -> str:
        return f"<User {self.username} ({self.role})>"


class LoginSession(Base):
    """A browser session. The cookie carries a random id; only its SHA-256 is stored."""

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    mfa_passed: Mapped[bool] = mapped_column(Boolean, default=False)
    source_ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(256))

    user: Mapped[User] = relationship(back_populates="sessions")


class TokenKind(enum.StrEnum):
    PERSONAL = "personal"  # created by its owner, for themselves
    OPERATOR = "operator"  # issued with the CLI by an operator, for automation running as the owner


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[TokenKind] = mapped_column(str_enum(TokenKind, 16), default=TokenKind.PERSONAL)
    issued_by: Mapped[str] = mapped_column(String(128), default="")  # who made it: the owner, or the operator
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(back_populates="tokens", foreign_keys=[user_id])

    def is_usable(self, now: dt.datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class RecoveryCode(Base):
    """A one-time code that stands in for a TOTP code (a lost phone); only its SHA-256 is stored."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(back_populates="recovery_codes")


class LoginThrottle(Base):
    """Sign-in attempts counted in the database, so that limits hold across worker processes and hosts.

    One row per key: `ip:<address>` counts attempts in the current fixed window (`window_start`);
    `name:<digest>` counts failures for a username that names no account, so that unknown names
    lock exactly like real ones (nothing tells an attacker which accounts exist).
    """

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), index=True)  # epoch s
    count: Mapped[int] = mapped_column(Integer)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class InstanceSetting(Base):
    """Settings an admin changes at run time (e.g. which roles must use a second factor)."""

    __tablename__ = "instance_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[object] = mapped_column(JSON)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
