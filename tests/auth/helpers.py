"""Small helpers for the account tests: reading and editing rows directly, as an operator could."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import select, update

from casemgr.audit.models import AuditEntry
from casemgr.auth.models import ApiToken, LoginSession, User
from casemgr.db import Database, utcnow


def audit_actions(db: Database, action: str | None = None) -> list[AuditEntry]:
    with db.transaction() as s:
        query = select(AuditEntry).order_by(AuditEntry.seq)
        if action is not None:
            query = query.where(AuditEntry.action == action)
        return list(s.scalars(query))


def user_row(db: Database, username: str) -> User:
    with db.transaction() as s:
        user = s.scalar(select(User).where(User.username == username))
        assert user is not None
        return user


def set_user(db: Database, username: str, **values: Any) -> None:
    with db.transaction() as s:
        s.execute(update(User).where(User.username == username).values(**values))


def set_sessions(db: Database, username: str, **values: Any) -> None:
    with db.transaction() as s:
        user_id = s.scalar(select(User.id).where(User.username == username))
        s.execute(update(LoginSession).where(LoginSession.user_id == user_id).values(**values))


def token_rows(db: Database) -> list[ApiToken]:
    with db.transaction() as s:
        return list(s.scalars(select(ApiToken).order_by(ApiToken.id)))


def ago(**delta: float) -> dt.datetime:
    return utcnow() - dt.timedelta(**delta)


def text_of(response: Any) -> str:
    return response.get_data(as_text=True)  # type: ignore[no-any-return]


def new_token_on_page(html: str) -> str:
    match = re.search(r'data-testid="new-token">([^<]+)<', html)
    assert match, "the page shows no new token"
    return match.group(1).strip()
