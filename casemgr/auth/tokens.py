"""API tokens: issue, list, revoke, and find the token a request presents."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from casemgr import paging
from casemgr.audit import service as audit
from casemgr.auth.actor import Actor
from casemgr.auth.models import ApiToken, TokenKind
from casemgr.auth.permissions import Permission, allowed
from casemgr.auth.schemas import NewToken
from casemgr.auth.signin import TOUCH_EVERY
from casemgr.auth.users import _require_user, _sha256, get_user, require_admin
from casemgr.collaborators import clock
from casemgr.errors import Conflict, Forbidden, NotFound
from casemgr.paging import Page

TOKEN_PREFIX = "cm_"  # noqa: S105 - a marker, not a secret


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
