"""Accounts, logins, browser sessions, second factors and API tokens."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

import pyotp
from cryptography.fernet import InvalidToken
from sqlalchemy import case, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, selectinload

from casemgr import paging
from casemgr.audit import service as audit
from casemgr.auth import passwords, roles
from casemgr.auth.actor import Actor
from casemgr.auth.models import (
    ApiToken,
    InstanceSetting,
    LoginSession,
    LoginThrottle,
    RecoveryCode,
    TokenKind,
    User,
)
from casemgr.auth.permissions import Permission, allowed, holds, require, roles_with
from casemgr.auth.policy import AuthPolicy
from casemgr.auth.schemas import MfaPolicy, NewToken, NewUser, PasswordChange, UserUpdate
from casemgr.collaborators import auth_policy, clock
from casemgr.errors import Conflict, Forbidden, Invalid, Locked, NotFound
from casemgr.paging import Page

TOKEN_PREFIX = "cm_"  # noqa: S105 - a marker, not a secret
MFA_SETTING = roles.MFA_SETTING
TOUCH_EVERY = dt.timedelta(seconds=30)


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


def change_own_password(session: Session, actor: Actor, cmd: PasswordChange, *,
                        current_session: str | None = None) -> int:
    """Change the actor's own password and end every other session of theirs (all but the browser
    session `current_session`, if given); returns how many were ended. A wrong current password
    counts towards the lockout like a failed sign-in. Raises Invalid, Locked."""
    user = _require_user(actor)
    policy = auth_policy(session)
    _check_own_password(session, actor, user, cmd.current_password, "current_password")
    passwords.check_policy(cmd.new_password, [user.username, user.display_name], field="new_password")
    user.password_hash = policy.hasher.hash(cmd.new_password)
    user.password_changed_at = clock(session).now()
    user.must_change_password = False
    ended = _end_all_sessions(session, user, keep=current_session)
    audit.record(session, actor, "user.password_change", "user", user.id, {"sessions_ended": ended})
    return ended


def _check_own_password(session: Session, actor: Actor, user: User, password: str, field: str) -> None:
    """Confirm a signed-in user's password, counted like a sign-in: a wrong one is a failure towards
    the lockout, and a locked account is refused. The caller commits the count (the view does, on
    error). Raises Invalid, Locked."""
    now = clock(session).now()
    if user.locked_until is not None and user.locked_until > now:
        raise Locked(_locked_message(user.locked_until, now), field=field)
    if passwords.verify(auth_policy(session).hasher, user.password_hash, password):
        user.failed_logins = 0
        return
    audit.record(session, actor, "auth.password_check_failed", "user", user.id,
                 {"username": user.username, "failures": user.failed_logins + 1})
    if _count_failure(session, actor, user, now):
        assert user.locked_until is not None
        raise Locked(_locked_message(user.locked_until, now), field=field)
    raise Invalid("the password is wrong" if field == "password" else "the current password is wrong", field=field)


def _require_user(actor: Actor) -> User:
    if actor.user is None:
        raise Forbidden("sign in first")
    return actor.user


# ---------------------------------------------------------------- login

@dataclass(frozen=True)
class LoginResult:
    user: User | None
    error: str | None = None
    locked: bool = False

    @property
    def ok(self) -> bool:
        return self.user is not None


GENERIC_LOGIN_ERROR = "wrong username or password"


def authenticate(session: Session, actor: Actor, username: str, password: str) -> LoginResult:
    """Check a username and password, counting failures and locking the account after too many.

    Returns a LoginResult rather than raising so that the failure count is committed.
    """
    policy = auth_policy(session)
    user = session.scalar(select(User).where(User.username == username.strip().lower()))
    now = clock(session).now()
    if user is None:
        return _unknown_name(session, actor, username, password, now)
    if user.locked_until is not None and user.locked_until > now:
        audit.record(session, actor, "auth.login_refused_locked", "user", user.id, {"username": user.username})
        return LoginResult(None, _locked_message(user.locked_until, now), locked=True)
    if not passwords.verify(policy.hasher, user.password_hash, password):
        audit.record(session, actor, "auth.login_failed", "user", user.id,
                     {"username": user.username, "failures": user.failed_logins + 1})
        if _count_failure(session, actor, user, now):
            assert user.locked_until is not None
            return LoginResult(None, _locked_message(user.locked_until, now), locked=True)
        return LoginResult(None, GENERIC_LOGIN_ERROR)
    if user.is_disabled:
        audit.record(session, actor, "auth.login_refused_disabled", "user", user.id, {"username": user.username})
        return LoginResult(None, "this account is disabled; ask an admin")
    if passwords.needs_rehash(policy.hasher, user.password_hash):
        user.password_hash = policy.hasher.hash(password)
    user.locked_until = None
    if not mfa_required(session, user):
        # With a second factor to pass, the sign-in is not done yet: its failures are reset once the code
        # is right (second_factor_login). Reset here, they would let an attacker who has the password
        # sign in again before each lockout and guess codes without end.
        user.failed_logins = 0
    return LoginResult(user)


def _count_failure(session: Session, actor: Actor, user: User, now: dt.datetime) -> bool:
    """Count a failed password or second-factor check; lock the account (audited) at the limit."""
    policy = auth_policy(session)
    user.failed_logins += 1
    if user.failed_logins < policy.max_failures:
        return False
    user.locked_until = now + policy.lockout
    user.failed_logins = 0
    audit.record(session, actor, "auth.lockout", "user", user.id,
                 {"username": user.username, "until": user.locked_until.isoformat()})
    return True


def _unknown_name(session: Session, actor: Actor, username: str, password: str, now: dt.datetime) -> LoginResult:
    """A sign-in with a name no account has, answered exactly as for an account: the same time spent
    on the password, the same message, and the same lockout after the same number of failures.

    An unknown name may be a password typed into the wrong box: only a keyed digest of it is kept
    (in the audit log and the failure count), which still shows repeated attempts at the same name.
    """
    policy = auth_policy(session)
    digest = _name_digest(policy, username)
    counter = session.get(LoginThrottle, f"name:{digest}", with_for_update=True, populate_existing=True)
    if counter is not None and counter.locked_until is not None and counter.locked_until > now:
        audit.record(session, actor, "auth.login_refused_locked", "user", None, {"unknown_username_hmac": digest})
        return LoginResult(None, _locked_message(counter.locked_until, now), locked=True)
    policy.hasher.hash(password)  # spend the same time as a real check
    failures = _bump(session, f"name:{digest}", 0)
    audit.record(session, actor, "auth.login_failed", "user", None,
                 {"unknown_username_hmac": digest, "failures": failures})
    if failures < policy.max_failures:
        return LoginResult(None, GENERIC_LOGIN_ERROR)
    until = now + policy.lockout
    session.execute(update(LoginThrottle).where(LoginThrottle.key == f"name:{digest}")
                    .values(count=0, locked_until=until))
    audit.record(session, actor, "auth.lockout", "user", None, {"unknown_username_hmac": digest,
                                                                 "until": until.isoformat()})
    return LoginResult(None, _locked_message(until, now), locked=True)


def _bump(session: Session, key: str, window_start: int) -> int:
    """Add one to the counter `key` in the window starting at `window_start` (a new window starts from
    one); returns the new count. One statement, so that concurrent workers never lose a count."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(LoginThrottle).values(key=key, window_start=window_start, count=1).on_conflict_do_update(
        index_elements=[LoginThrottle.key], set_={
            "count": case((LoginThrottle.window_start == window_start, LoginThrottle.count + 1), else_=1),
            "window_start": window_start,
        })
    return int(session.execute(stmt.returning(LoginThrottle.count)).scalar_one())


TOO_MANY_ATTEMPTS = "too many sign-in attempts from your address; wait a minute and try again"


def _refuse_over_limit(session: Session, actor: Actor, field: str) -> None:
    """Count a check of a second factor or a password outside the sign-in form towards the address's
    attempt limit, as a sign-in is; raises Locked with the sign-in form's message when over it."""
    if count_sign_in_attempt(session, actor) is not None:
        raise Locked(TOO_MANY_ATTEMPTS, field=field)


def count_sign_in_attempt(session: Session, actor: Actor) -> int | None:
    """Count a sign-in attempt (or other password check) from the actor's address, in the database so
    that the limit holds across worker processes and hosts. Returns None while within the limits, else
    the seconds until the next attempt is allowed. Call it before any password work, and commit it
    whatever the outcome of the attempt."""
    policy = auth_policy(session)
    now = int(clock(session).now().timestamp())
    address = actor.source_ip or "unknown"
    wait: int | None = None
    for amount, seconds in policy.attempt_limits:
        window_start = now - now % seconds
        if _bump(session, f"ip{seconds}:{address}", window_start) > amount:
            wait = max(wait or 0, window_start + seconds - now)
    longest = max(seconds for _, seconds in policy.attempt_limits)
    # Forget addresses whose windows have all passed (the index on window_start keeps this cheap).
    session.execute(delete(LoginThrottle).where(LoginThrottle.key.like("ip%"),
                                                LoginThrottle.window_start < now - longest))
    return wait


def _name_digest(policy: AuthPolicy, username: str) -> str:
    key = hashlib.sha256(b"casemgr unknown usernames" + policy.secret_key.encode()).digest()
    return hmac.new(key, username.strip().lower().encode(), hashlib.sha256).hexdigest()[:16]


def _locked_message(until: dt.datetime, now: dt.datetime) -> str:
    minutes = max(1, int((until - now).total_seconds() // 60) + 1)
    return f"too many failed attempts: this account is locked for {minutes} more minute(s)"


def mfa_required(session: Session, user: User) -> bool:
    return user.totp_enabled or user.role in get_mfa_policy(session)


def start_session(session: Session, actor: Actor, user: User, *, user_agent: str | None) -> str:
    """Open a browser session for `user`; returns the raw session id for the cookie (never stored).

    The session has passed no second factor yet: if one is (or later becomes) required for the
    user, the session must pass it before it reaches anything else.
    """
    raw = secrets.token_urlsafe(32)
    needs_mfa = mfa_required(session, user)
    now = clock(session).now()
    session.add(LoginSession(
        token_hash=_sha256(raw), user_id=user.id, mfa_passed=False, created_at=now, last_seen_at=now,
        source_ip=actor.source_ip, user_agent=(user_agent or "")[:256],
    ))
    session.flush()
    audit.record(session, Actor(user=user, via=actor.via, source_ip=actor.source_ip, request_id=actor.request_id),
                 "auth.login", "user", user.id, {"username": user.username, "mfa_pending": needs_mfa})
    return raw


def find_session(session: Session, raw: str) -> LoginSession | None:
    """The live session for a cookie value, or None when unknown, ended, expired or its user disabled.

    Marks an expired session as ended; the caller commits.
    """
    login = session.scalar(select(LoginSession).where(LoginSession.token_hash == _sha256(raw)))
    if login is None or login.ended_at is not None:
        return None
    policy = auth_policy(session)
    now = clock(session).now()
    if now - login.last_seen_at > policy.session_idle or now - login.created_at > policy.session_max_age:
        login.ended_at = now
        return None
    if login.user.is_disabled:
        return None
    if now - login.last_seen_at > TOUCH_EVERY:
        login.last_seen_at = now
    return login


def end_session(session: Session, actor: Actor, raw: str) -> None:
    """Log out: end the session with this cookie value."""
    login = session.scalar(select(LoginSession).where(LoginSession.token_hash == _sha256(raw)))
    if login is not None and login.ended_at is None:
        login.ended_at = clock(session).now()
        audit.record(session, actor, "auth.logout", "user", login.user_id, {})


def mark_mfa_passed(session: Session, raw: str) -> None:
    login = session.scalar(select(LoginSession).where(LoginSession.token_hash == _sha256(raw)))
    if login is not None:
        login.mfa_passed = True


# ---------------------------------------------------------------- second factor

def _totp(session: Session, user: User) -> pyotp.TOTP | None:
    if not user.totp_secret:
        return None
    try:
        secret = auth_policy(session).fernet.decrypt(user.totp_secret.encode()).decode()
    except InvalidToken:
        return None
    return pyotp.TOTP(secret)


def check_totp(session: Session, actor: Actor, user: User, code: str) -> bool:
    """Check a code from the user's authenticator; a code is accepted once only (no replay)."""
    totp = _totp(session, user)
    code = code.strip().replace(" ", "")
    now = clock(session).now()
    if totp is None or not code.isdigit():
        return False
    for drift in (0, -1, 1):
        at = now + dt.timedelta(seconds=30 * drift)
        if secrets.compare_digest(totp.at(at), code):
            counter = totp.timecode(at)
            if user.totp_last_counter is not None and counter <= user.totp_last_counter:
                break
            user.totp_last_counter = counter
            return True
    audit.record(session, actor, "auth.mfa_failed", "user", user.id, {"username": user.username})
    return False


def second_factor_login(session: Session, actor: Actor, raw_session: str, code: str) -> LoginResult:
    """Finish a sign-in with a TOTP code. Each code counts towards the address's attempt limit, and a wrong
    one towards the account's lockout, like passwords; over either, the half-open session is ended."""
    user = _require_user(actor)
    now = clock(session).now()
    try:
        _refuse_over_limit(session, actor, "code")
    except Locked as exc:
        end_session(session, actor, raw_session)
        return LoginResult(None, exc.message, locked=True)
    if user.locked_until is None or user.locked_until <= now:
        if _second_factor_ok(session, actor, user, code):
            user.failed_logins = 0
            mark_mfa_passed(session, raw_session)
            return LoginResult(user)
        if not _count_failure(session, actor, user, now):
            return LoginResult(None, "that code is not valid")
    assert user.locked_until is not None
    end_session(session, actor, raw_session)
    return LoginResult(None, _locked_message(user.locked_until, now), locked=True)


def _second_factor_ok(session: Session, actor: Actor, user: User, code: str) -> bool:
    """A TOTP code (digits) or one of the user's unused recovery codes (letters), which it uses up."""
    if code.strip().replace(" ", "").isdigit():
        return check_totp(session, actor, user, code)
    digest = _sha256(_normalize_recovery_code(code))
    found = session.scalar(select(RecoveryCode).where(
        RecoveryCode.user_id == user.id, RecoveryCode.code_hash == digest, RecoveryCode.used_at.is_(None),
    ).with_for_update())
    if found is None or not user.totp_enabled:
        audit.record(session, actor, "auth.mfa_failed", "user", user.id, {"username": user.username})
        return False
    found.used_at = clock(session).now()
    session.flush()
    remaining = session.scalar(select(func.count()).select_from(RecoveryCode).where(
        RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))) or 0
    audit.record(session, actor, "auth.recovery_code_used", "user", user.id,
                 {"username": user.username, "remaining": remaining})
    return True


RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread


def _normalize_recovery_code(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


def _issue_recovery_codes(session: Session, user: User) -> list[str]:
    """Replace the user's recovery codes with RECOVERY_CODES new ones; returns them (shown once, stored
    hashed). 16 random characters (80 bits) each: SHA-256 is enough for so much entropy."""
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes, now = [], clock(session).now()
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(16))
        codes.append("-".join(raw[i:i + 4] for i in range(0, 16, 4)))
        session.add(RecoveryCode(user_id=user.id, code_hash=_sha256(raw), created_at=now))
    session.flush()
    session.expire(user, ["recovery_codes"])
    return codes


def regenerate_recovery_codes(session: Session, actor: Actor, password: str) -> list[str]:
    """New recovery codes for the actor (the old ones stop working), after checking the password.
    Raises Invalid, Locked, Conflict."""
    user = _require_user(actor)
    _refuse_over_limit(session, actor, "password")
    _check_own_password(session, actor, user, password, "password")
    if not user.totp_enabled:
        raise Conflict("recovery codes come with an authenticator: set one up first", field="action")
    codes = _issue_recovery_codes(session, user)
    audit.record(session, actor, "user.recovery_codes_regenerated", "user", user.id, {"count": len(codes)})
    return codes


def recovery_codes_left(session: Session, user: User) -> int:
    return session.scalar(select(func.count()).select_from(RecoveryCode).where(
        RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))) or 0


def begin_totp_enrollment(session: Session, actor: Actor) -> str:
    """Give the actor a new TOTP secret to confirm; returns its otpauth:// URI."""
    user = _require_user(actor)
    if user.totp_enabled:
        # Replacing a working authenticator needs the password (turn it off first): otherwise a
        # stolen session, or a sign-in still waiting for its code, could swap in the attacker's.
        raise Conflict("an authenticator is already set up; turn it off with your password first",
                       field="action")
    secret = pyotp.random_base32()
    user.totp_secret = auth_policy(session).fernet.encrypt(secret.encode()).decode()
    user.totp_enabled = False
    user.totp_last_counter = None
    session.flush()
    return pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name="casemgr")


def confirm_totp_enrollment(session: Session, actor: Actor, code: str) -> list[str]:
    """Turn TOTP on once the user proves their authenticator works; returns the user's new one-time
    recovery codes (to show once). Raises Invalid."""
    user = _require_user(actor)
    if user.totp_secret is None:
        raise Invalid("start the enrollment first", field="code")
    if not check_totp(session, actor, user, code):
        raise Invalid("that code is not valid; check the time on your device and try again", field="code")
    user.totp_enabled = True
    codes = _issue_recovery_codes(session, user)
    audit.record(session, actor, "user.mfa_enabled", "user", user.id, {"recovery_codes": len(codes)})
    return codes


def disable_totp(session: Session, actor: Actor, password: str) -> None:
    """Turn the actor's TOTP off after checking the password. Raises Invalid, Locked, Conflict."""
    user = _require_user(actor)
    _refuse_over_limit(session, actor, "password")
    _check_own_password(session, actor, user, password, "password")
    if user.role in get_mfa_policy(session):
        raise Conflict(f"a second factor is required for the {user.role} role", field="password")
    _clear_second_factor(session, user)
    audit.record(session, actor, "user.mfa_disabled", "user", user.id, {})


def read_setting(session: Session, key: str) -> object | None:
    """An instance setting's value, or None when it was never set."""
    setting = session.get(InstanceSetting, key)
    return setting.value if setting is not None else None


def write_setting(session: Session, actor: Actor, key: str, value: object, *, action: str,
                  summary: dict[str, Any]) -> None:
    """Set an instance setting (admins only) and audit it as `action`. Raises Forbidden."""
    require(actor, Permission.INSTANCE_CONFIGURE, "only admins change instance settings")
    setting = session.get(InstanceSetting, key)
    if setting is None:
        session.add(InstanceSetting(key=key, value=value, updated_at=clock(session).now()))
    else:
        setting.value, setting.updated_at = value, clock(session).now()
    session.flush()
    audit.record(session, actor, action, "setting", key, summary)


def get_mfa_policy(session: Session) -> set[str]:
    """The codes of the roles (built-in or custom) that must use a second factor."""
    values = read_setting(session, MFA_SETTING)
    return {str(v) for v in values} if isinstance(values, list) else set()


def set_mfa_policy(session: Session, actor: Actor, cmd: MfaPolicy) -> set[str]:
    """Choose which roles (built-in or custom, by code) must use a second factor. Raises Forbidden for
    non-admins; Invalid naming required_roles for a code that names no role."""
    require_admin(actor)
    before = sorted(get_mfa_policy(session))
    value = sorted({roles.check_role(session, code, "required_roles") for code in cmd.required_roles})
    write_setting(session, actor, MFA_SETTING, value, action="settings.mfa_required_roles",
                  summary={"from": before, "to": value})
    return set(value)


# ---------------------------------------------------------------- API tokens

@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # shown once, never stored


def create_token(session: Session, actor: Actor, username: str, cmd: NewToken) -> IssuedToken:
    """Issue an API token for `username`. A token belongs to the user who creates it for themselves:
    no one, admins included, creates one for someone else (it would let them act as that user). Only
    an operator at the CLI issues one for another user, for automation; it is marked as theirs
    (kind "operator", issued_by), and so is every audit and custody entry made with it.
    Raises Forbidden, NotFound, Conflict."""
    if actor.is_system:
        kind, issued_by = TokenKind.OPERATOR, actor.name
    elif actor.user is not None and actor.user.username == username.lower():
        kind, issued_by = TokenKind.PERSONAL, actor.user.username
        if actor.token_id is not None and actor.token_issued_by not in {None, actor.user.username}:
            # made with an operator's token: the new one is the operator's too, or the mark would be lost
            kind, issued_by = TokenKind.OPERATOR, actor.token_issued_by
    else:
        raise Forbidden("a token belongs to the user who creates it: you may only create tokens for yourself"
                        " (an operator issues one for automation with `casemgr token create`)")
    owner = get_user(session, username)
    if owner.is_disabled:
        raise Conflict(f"{owner.username} is disabled", field="username")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = clock(session).now()
    token = ApiToken(
        user_id=owner.id, name=cmd.name, prefix=raw[: len(TOKEN_PREFIX) + 6], token_hash=_sha256(raw), created_at=now,
        created_by_id=actor.user.id if actor.user else None, kind=kind, issued_by=issued_by,
        expires_at=now + dt.timedelta(days=cmd.expires_days) if cmd.expires_days else None,
    )
    session.add(token)
    session.flush()
    audit.record(session, actor, "token.create", "token", token.id,
                 {"owner": owner.username, "name": token.name, "kind": kind, "issued_by": issued_by,
                  "expires_at": token.expires_at.isoformat() if token.expires_at else None})
    return IssuedToken(token, raw)


def list_tokens(session: Session, actor: Actor, username: str | None = None) -> list[ApiToken]:
    """Tokens of `username` (default: the actor). Others' tokens need the admin role."""
    if username is None:
        owner = _require_user(actor)
    else:
        owner = get_user(session, username)
        if not allowed(actor, Permission.TOKEN_MANAGE) and (actor.user is None or actor.user.id != owner.id):
            raise Forbidden("you may only list your own tokens")
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == owner.id).order_by(ApiToken.id)))


def page_own_tokens(session: Session, actor: Actor, page: int, per_page: int) -> Page[ApiToken]:
    """One page of the actor's tokens (oldest first) and how many there are."""
    owner = _require_user(actor)
    query = (select(ApiToken).where(ApiToken.user_id == owner.id).options(selectinload(ApiToken.user))
             .order_by(ApiToken.id))
    return paging.fetch(session, query, page, per_page)


def all_tokens(session: Session, actor: Actor) -> list[ApiToken]:
    """Every API token, with its owner. Raises Forbidden for non-admins."""
    require_admin(actor, Permission.TOKEN_MANAGE)
    return list(session.scalars(select(ApiToken).options(selectinload(ApiToken.user)).order_by(ApiToken.id)))


def revoke_token(session: Session, actor: Actor, token_id: int) -> ApiToken:
    """Revoke a token (your own, or any if admin). Raises NotFound, Conflict."""
    token = session.get(ApiToken, token_id)
    mine = token is not None and actor.user is not None and token.user_id == actor.user.id
    if token is None or not (mine or allowed(actor, Permission.TOKEN_MANAGE)):
        raise NotFound(f"no token with id {token_id}", field="token_id")
    if token.revoked_at is not None:
        raise Conflict("this token is already revoked", field="token_id")
    token.revoked_at = clock(session).now()
    audit.record(session, actor, "token.revoke", "token", token.id, {"owner": token.user.username,
                                                                    "name": token.name})
    return token


def find_token(session: Session, raw: str) -> ApiToken | None:
    """The usable token for a bearer value, or None (unknown, revoked, expired, user disabled)."""
    if not raw.startswith(TOKEN_PREFIX):
        return None
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == _sha256(raw)))
    now = clock(session).now()
    if token is None or not token.is_usable(now) or token.user.is_disabled:
        return None
    if token.last_used_at is None or now - token.last_used_at > TOUCH_EVERY:
        token.last_used_at = now
    return token
