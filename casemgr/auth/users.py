"""Accounts: create, list, change (role, disabled), reset passwords and second factors, unlock;
who may manage them (`require_admin`)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from casemgr import paging
from casemgr.audit import service as audit
from casemgr.auth import passwords, roles
from casemgr.auth.actor import Actor
from casemgr.auth.models import LoginSession, RecoveryCode, User
from casemgr.auth.permissions import Permission, holds, require, roles_with
from casemgr.auth.schemas import NewUser, UserUpdate
from casemgr.collaborators import auth_policy, clock
from casemgr.errors import Conflict, Forbidden, NotFound
from casemgr.paging import Page


def _sha256(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def require_admin(actor: Actor, permission: Permission = Permission.USER_MANAGE) -> None:
    """Raise Forbidden unless `actor` may manage accounts (`user.manage`, or the given admin permission)."""
    require(actor, permission, "only admins may manage users")


# ---------------------------------------------------------------- users


def get_user(session: Session, username: str) -> User:
    """The user named `username`. Raises NotFound."""
    user = session.scalar(select(User).where(User.username == username.lower()))
    if user is None:
        raise NotFound(f"no user named {username!r}", field="username")
    return user


def create_user(session: Session, actor: Actor, cmd: NewUser, *, must_change_password: bool = False) -> User:
    """Create an account (`must_change_password`: the first sign-in asks for a new password).
    Raises Forbidden (not admin), Conflict (name taken), Invalid (password)."""
    require_admin(actor)
    roles.check_role(session, cmd.role)
    passwords.check_policy(cmd.password, [cmd.username, cmd.display_name])
    if session.scalar(select(User.id).where(User.username == cmd.username)) is not None:
        raise Conflict(f"the username {cmd.username!r} is taken", field="username")
    now = clock(session).now()
    user = User(
        username=cmd.username,
        display_name=cmd.display_name,
        role=cmd.role,
        password_hash=auth_policy(session).hasher.hash(cmd.password),
        must_change_password=must_change_password,
        created_at=now,
        password_changed_at=now,
    )
    session.add(user)
    session.flush()
    audit.record(session, actor, "user.create", "user", user.id, {"username": user.username, "role": user.role})
    return user


def list_users(session: Session, actor: Actor) -> list[User]:
    """All accounts. Raises Forbidden for non-admins."""
    require_admin(actor)
    return list(session.scalars(select(User).order_by(User.username)))


def page_users(session: Session, actor: Actor, page: int, per_page: int) -> Page[User]:
    """One page of accounts by username, and how many there are. Raises Forbidden for non-admins."""
    require_admin(actor)
    return paging.fetch(session, select(User).order_by(User.username), page, per_page)


def admin_exists(session: Session) -> bool:
    """Whether some account may manage accounts (`user.manage`: an admin)."""
    return session.scalar(select(func.count()).select_from(User).where(_manages_users(session))) != 0


def _manages_users(session: Session) -> Any:
    return User.role.in_(roles_with(Permission.USER_MANAGE, session))


def update_user(session: Session, actor: Actor, username: str, cmd: UserUpdate) -> User:
    """Change a user's role, name or disabled state. Raises Forbidden, NotFound, Conflict."""
    require_admin(actor)
    user = get_user(session, username)
    changes: dict[str, Any] = {}
    if cmd.role is not None and cmd.role != user.role:
        roles.check_role(session, cmd.role)
        if Permission.USER_MANAGE not in roles.permissions_of(session, cmd.role) \
                and _would_leave_no_admin(session, user):
            raise Conflict("this is the last active admin; create another admin first", field="role")
        changes["role"] = [user.role, cmd.role]
        user.role = cmd.role
    if cmd.display_name is not None and cmd.display_name != user.display_name:
        changes["display_name"] = [user.display_name, cmd.display_name]
        user.display_name = cmd.display_name
    if cmd.disabled is not None and cmd.disabled != user.is_disabled:
        if cmd.disabled:
            if actor.user is not None and actor.user.id == user.id:
                raise Conflict("you cannot disable your own account", field="disabled")
            if _would_leave_no_admin(session, user):
                raise Conflict("this is the last active admin; create another admin first", field="disabled")
            user.disabled_at = clock(session).now()
            _end_all_sessions(session, user)
        else:
            user.disabled_at = None
            user.failed_logins = 0
            user.locked_until = None
        changes["disabled"] = [not cmd.disabled, cmd.disabled]
    if changes:
        session.flush()
        audit.record(session, actor, "user.update", "user", user.id, {"username": user.username, **changes})
    return user


def _would_leave_no_admin(session: Session, user: User) -> bool:
    """Whether `user` is the last active account that may manage accounts (taking it away locks everyone out)."""
    if not holds(user, Permission.USER_MANAGE):
        return False
    others = session.scalar(
        select(func.count()).select_from(User).where(
            _manages_users(session), User.disabled_at.is_(None), User.id != user.id
        )
    )
    return others == 0


def _end_all_sessions(session: Session, user: User, keep: str | None = None) -> int:
    """End the user's browser sessions (but the one with cookie value `keep`); returns how many."""
    now = clock(session).now()
    query = select(LoginSession).where(LoginSession.user_id == user.id, LoginSession.ended_at.is_(None))
    if keep is not None:
        query = query.where(LoginSession.token_hash != _sha256(keep))
    ended = 0
    for login in session.scalars(query):
        login.ended_at = now
        ended += 1
    return ended


@dataclass(frozen=True)
class PasswordReset:
    user: User
    password: str  # the temporary password, shown once to the admin; never stored
    sessions_ended: int


def reset_password(session: Session, actor: Actor, username: str, new_password: str | None = None) -> PasswordReset:
    """Admin reset of a user's password (a generated one unless given): the user must choose a new one
    at the next sign-in; the account is unlocked and its sessions end. Raises Forbidden, NotFound, Invalid."""
    require_admin(actor)
    user = get_user(session, username)
    password = new_password if new_password is not None else secrets.token_urlsafe(15)
    passwords.check_policy(password, [user.username, user.display_name])
    user.password_hash = auth_policy(session).hasher.hash(password)
    user.password_changed_at = clock(session).now()
    user.must_change_password = True
    user.failed_logins, user.locked_until = 0, None
    ended = _end_all_sessions(session, user)
    audit.record(session, actor, "user.password_reset", "user", user.id,
                 {"username": user.username, "must_change_password": True, "sessions_ended": ended})
    return PasswordReset(user, password, ended)


def unlock_user(session: Session, actor: Actor, username: str) -> User:
    """Lift a lockout after failed sign-ins at once. Raises Forbidden, NotFound."""
    require_admin(actor)
    user = get_user(session, username)
    was_locked = user.locked_until is not None and user.locked_until > clock(session).now()
    user.failed_logins, user.locked_until = 0, None
    audit.record(session, actor, "user.unlock", "user", user.id, {"username": user.username, "was_locked": was_locked})
    return user


def reset_mfa(session: Session, actor: Actor, username: str) -> User:
    """Turn off a user's second factor and recovery codes (a lost phone) and end their sessions; if their
    role requires one, they set up a new one at the next sign-in. Raises Forbidden, NotFound."""
    require_admin(actor)
    user = get_user(session, username)
    had = user.totp_enabled
    _clear_second_factor(session, user)
    ended = _end_all_sessions(session, user)
    audit.record(session, actor, "user.mfa_reset", "user", user.id,
                 {"username": user.username, "had_second_factor": had, "sessions_ended": ended})
    return user


def _clear_second_factor(session: Session, user: User) -> None:
    user.totp_enabled, user.totp_secret, user.totp_last_counter = False, None, None
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    session.expire(user, ["recovery_codes"])


def _require_user(actor: Actor) -> User:
    if actor.user is None:
        raise Forbidden("sign in first")
    return actor.user
