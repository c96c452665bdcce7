"""Input commands for custom roles, shared by the admin pages, the API, `casemgr role` and configuration files.

The permission names are only checked for their form here; casemgr/auth/roles.py refuses a name the registry
does not hold (naming the field `permissions`), on every path. `RoleUpdate` changes only the fields sent.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field

from casemgr.auth.models import ROLE_CODE_LENGTH
from casemgr.fields import FileItem, Input, lower, single_line

# A role code: lower-case, stable (accounts and the second-factor policy name it), never a built-in role's.
ROLE_CODE_PATTERN = r"^[a-z][a-z0-9_-]{1,31}$"
RoleCode = Annotated[str, BeforeValidator(lower),
                     Field(min_length=2, max_length=ROLE_CODE_LENGTH, pattern=ROLE_CODE_PATTERN,
                           description="lower-case letters, digits, '_' or '-', starting with a letter")]
RoleName = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(single_line)]
RoleDescription = Annotated[str, Field(max_length=2000)]
PermissionNames = Annotated[list[Annotated[str, Field(max_length=64)]],
                            Field(max_length=200, description="names from the permission registry, e.g. case.view")]


class Command(Input):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class NewRole(Command):
    """Define a custom role (role.manage)."""

    code: RoleCode
    name: RoleName
    description: RoleDescription = ""
    permissions: PermissionNames = Field(default_factory=list)


class RoleUpdate(Command):
    """Change a custom role: only the fields sent (the code never changes)."""

    name: RoleName | None = None
    description: RoleDescription | None = None
    permissions: PermissionNames | None = None


class RoleQuery(Input):
    model_config = ConfigDict(extra="ignore")
    page: int = Field(default=1, ge=1, le=1_000_000)
    per_page: int = Field(default=50, ge=1, le=200)


class RoleItem(FileItem):
    """A custom role in roles.yaml (built-in roles are not listed: they are fixed)."""

    code: Annotated[str, Field(min_length=2, max_length=ROLE_CODE_LENGTH, pattern=ROLE_CODE_PATTERN,
                               description="lower-case letters, digits, '_' or '-', starting with a letter, "
                                           "e.g. tier-1")]
    name: RoleName
    description: RoleDescription = ""
    permissions: PermissionNames = Field(default_factory=list)
