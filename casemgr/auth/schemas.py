"""Input commands for accounts and tokens, shared by forms, API and CLI."""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field, StringConstraints, field_validator

from casemgr.auth.role_schemas import RoleCode
from casemgr.fields import Input

USERNAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{1,63}$"
# Passwords are taken exactly as typed: stripping spaces here but not at login would lock people out.
Password = Annotated[str, StringConstraints(strip_whitespace=False)]


class Command(Input):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class NewUser(Command):
    username: str = Field(min_length=2, max_length=64, pattern=USERNAME_PATTERN,
                          description="lower-case letters, digits, '.', '_' or '-'")
    role: RoleCode = Field(description="a role's code: analyst, manager, auditor, admin or a custom role's")
    password: Password = Field(min_length=1, max_length=1024, json_schema_extra={"format": "password"})
    display_name: str = Field(default="", max_length=128)

    @field_validator("username", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value


class UserUpdate(Command):
    role: RoleCode | None = None
    disabled: bool | None = None
    display_name: str | None = Field(default=None, max_length=128)


class NewToken(Command):
    name: str = Field(default="api", min_length=1, max_length=64)
    expires_days: int | None = Field(default=90, ge=1, le=3650)


class PasswordChange(Command):
    current_password: Password = Field(min_length=1, max_length=1024)
    new_password: Password = Field(min_length=1, max_length=1024)


class MfaPolicy(Command):
    required_roles: list[RoleCode] = Field(default_factory=list, max_length=500, description="role codes")
