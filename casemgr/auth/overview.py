"""The admin's home: the accounts, tokens and checks an instance's administrator looks at first.

Only counts and account names: nothing here is case content (admins run the instance, not the
investigations; casemgr/cases/access.py).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from casemgr.audit.models import AuditCheckpoint, AuditEntry
from casemgr.auth import service as auth
from casemgr.auth.actor import Actor
from casemgr.auth.models import ApiToken, Role, User
from casemgr.collaborators import clock

EXPIRING_WITHIN = dt.timedelta(days=7)


@dataclass
class AdminOverview:
    users_by_role: dict[str, int]  # role code -> active accounts (the built-in roles always)
    locked: list[User]  # locked out now after failed sign-ins
    disabled: int
    must_change_password: list[User]
    tokens_active: int
    tokens_expiring: list[ApiToken]  # active, expiring within EXPIRING_WITHIN
    tokens_without_expiry: int
    checks: list[tuple[str, bool, str]] = field(default_factory=list)  # (what, ok, in words)


def admin_overview(session: Session, actor: Actor) -> AdminOverview:
    """Accounts by role, locked and disabled ones, API tokens to renew, and the instance's checks
    (database, audit log). Raises Forbidden for non-admins."""
    users = auth.list_users(session, actor)  # Forbidden for everyone but admins
    tokens = auth.all_tokens(session, actor)
    now = clock(session).now()
    active = [t for t in tokens if t.revoked_at is None and (t.expires_at is None or t.expires_at > now)]
    by_role: dict[str, int] = {r.value: 0 for r in Role}
    for u in users:
        if not u.is_disabled:
            by_role[u.role] = by_role.get(u.role, 0) + 1
    session.execute(text("SELECT 1"))
    entries = session.scalar(select(func.count(AuditEntry.seq))) or 0
    last = session.scalar(select(func.max(AuditCheckpoint.created_at)))
    checks = [("Database", True, "answering"),
              ("Audit log", entries > 0, f"{entries} entries; last signed checkpoint "
               + (f"{last:%Y-%m-%d %H:%M} UTC" if last else "none yet")
               + " (verify the chain on the audit log page)")]
    return AdminOverview(
        users_by_role=by_role,
        locked=[u for u in users if u.locked_until is not None and u.locked_until > now and not u.is_disabled],
        disabled=sum(1 for u in users if u.is_disabled),
        must_change_password=[u for u in users if u.must_change_password and not u.is_disabled],
        tokens_active=len(active),
        tokens_expiring=[t for t in active if t.expires_at is not None and t.expires_at <= now + EXPIRING_WITHIN],
        tokens_without_expiry=sum(1 for t in active if t.expires_at is None),
        checks=checks,
    )
