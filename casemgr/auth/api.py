"""/api/v1: who am I, API tokens and (for admins) users."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from casemgr.api import ApiBlueprint, PageQuery, body, listing, out, query
from casemgr.auth import service
from casemgr.auth.models import TokenKind
from casemgr.auth.schemas import MfaPolicy, NewToken, NewUser, UserUpdate
from casemgr.web import current_actor, db_session

bp = ApiBlueprint("auth", __name__)


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class MeOut(Out):
    id: int
    username: str
    role: str = Field(description="a role's code (built-in or custom)")
    display_name: str


class UserOut(MeOut):
    disabled: bool
    totp_enabled: bool
    created_at: dt.datetime


class TokenOut(Out):
    id: int
    name: str
    prefix: str
    owner: str
    kind: TokenKind
    issued_by: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None


class IssuedTokenOut(TokenOut):
    token: str


class MfaPolicyOut(BaseModel):
    required_roles: list[str]


def _user(user: Any) -> dict[str, Any]:
    return out(UserOut, {**_attrs(user, UserOut), "disabled": user.is_disabled})


def _token(token: Any) -> dict[str, Any]:
    return out(TokenOut, {**_attrs(token, TokenOut), "owner": token.user.username})


def _attrs(obj: Any, model: type[BaseModel]) -> dict[str, Any]:
    return {k: getattr(obj, k) for k in model.model_fields if hasattr(obj, k)}


@bp.operation("/me", "GET", "The caller's username and role", response=MeOut)
def me() -> Any:
    return out(MeOut, current_actor().user)


@bp.operation("/tokens", "GET", "The caller's API tokens", query=PageQuery, response=TokenOut, is_list=True)
def list_tokens() -> Any:
    page: PageQuery = query(PageQuery)
    return listing(service.page_own_tokens(db_session(), current_actor(), page.page, page.per_page), _token)


@bp.operation("/tokens", "POST", "Create an API token for the caller (the secret is shown once)",
              body=NewToken, response=IssuedTokenOut, status=201, creates=("token_id", "id"))
def create_token() -> Any:
    actor = current_actor()
    issued = service.create_token(db_session(), actor, actor.name, body(NewToken))
    return {**_token(issued.token), "token": issued.secret}, 201


@bp.operation("/tokens/<int:token_id>", "DELETE", "Revoke a token", response=TokenOut, errors=(409,))
def revoke_token(token_id: int) -> Any:
    return _token(service.revoke_token(db_session(), current_actor(), token_id))


@bp.operation("/users", "GET", "All users (admin)", query=PageQuery, response=UserOut, is_list=True)
def list_users() -> Any:
    page: PageQuery = query(PageQuery)
    return listing(service.page_users(db_session(), current_actor(), page.page, page.per_page), _user)


@bp.operation("/users", "POST", "Create a user (admin)", body=NewUser, response=UserOut, status=201,
              errors=(409,), creates=("username", "username"))
def create_user() -> Any:
    return _user(service.create_user(db_session(), current_actor(), body(NewUser))), 201


@bp.operation("/users/<username>", "PATCH", "Change a user's role, name or disabled state (admin)",
              body=UserUpdate, response=UserOut, errors=(409,))
def update_user(username: str) -> Any:
    return _user(service.update_user(db_session(), current_actor(), username, body(UserUpdate)))


@bp.operation("/users/<username>/tokens", "POST", "Create a token for yourself (`username` is yours; 403 for"
              " anyone else: an operator issues one for automation with `casemgr token create`)", body=NewToken,
              response=IssuedTokenOut, status=201, errors=(409,))
def create_user_token(username: str) -> Any:
    issued = service.create_token(db_session(), current_actor(), username, body(NewToken))
    return {**_token(issued.token), "token": issued.secret}, 201


@bp.operation("/settings/mfa", "PUT", "Roles that must use a second factor (admin)", body=MfaPolicy,
              response=MfaPolicyOut)
def set_mfa_policy() -> Any:
    roles = service.set_mfa_policy(db_session(), current_actor(), body(MfaPolicy))
    return {"required_roles": sorted(roles)}


