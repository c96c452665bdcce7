"""Roles: the four built-in ones (the registry's sets, fixed) and the custom ones admins define.

A custom role is a stable code, a name, a description and a set of permissions from the one registry
(casemgr/auth/permissions.py), stored in `custom_roles`. The registry resolves an account's permissions
(`permissions.of_user`) from the row as it is in the database at each request, so a change made here holds
from the next request of everyone who has the role, signed in or not, with no new sign-in. Per-case
need-to-know (restricted cases, TLP:RED) is decided on top of any role by casemgr/cases/access.py.

Rules (docs/roles.md):
- Only `role.manage` defines, changes and deletes roles; the role list is for `role.manage` and `user.manage`
  (the user form offers every role).
- A built-in role is never changed or deleted, and its code is never a custom role's.
- A permission the registry does not hold is refused, naming the field `permissions`.
- A custom role in use is not deleted (409 with how many accounts have it): give them another role first.
  Deleting also takes the code out of the second-factor policy, so that a later role of the same code does
  not inherit a requirement set for another.
- Taking `user.manage` away from the role of the last active account holding it is refused (it would lock
  everyone out of account management).
Every change is audited in the same transaction with the permissions added and removed.

`export_config` and `apply_config` are the configuration files' way in (the same validation).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from casemgr import paging
from casemgr.audit import service as audit
from casemgr.auth import permissions
from casemgr.auth.actor import Actor
from casemgr.auth.models import CustomRole, InstanceSetting, Role, User
from casemgr.auth.permissions import BUILT_IN, Permission, allowed, require
from casemgr.auth.role_schemas import NewRole, RoleUpdate
from casemgr.collaborators import clock
from casemgr.errors import Conflict, Forbidden, Invalid, NotFound
from casemgr.fields import parse
from casemgr.paging import Page

MFA_SETTING = "mfa_required_roles"  # the second-factor policy's setting (casemgr.auth.service reads it)

# How the built-in roles are shown; what they may do is the registry's BUILT_IN.
BUILT_IN_NAMES: dict[str, tuple[str, str]] = {
    "analyst": ("Analyst", "Works cases: opens and changes them, handles evidence and indicators"),
    "manager": ("Manager", "Everything an analyst does, on every case, and assigns, closes, escalates and "
                              "discloses cases"),
    "auditor": ("Auditor", "Reads every case and the audit log; changes nothing"),
    "admin": ("Admin", "Runs the instance: accounts, roles, settings, keys; sees no case content"),
}

# How the role form groups the registry's permissions: the part of the name before the dot.
GROUPS = {"case": "Cases", "evidence": "Evidence", "indicator": "Indicators", "audit": "Audit log",
          "user": "The instance", "token": "The instance", "instance": "The instance", "team": "The instance",
          "role": "The instance"}


@dataclass(frozen=True)
class RoleView:
    """One role as pages, the API and the CLI show it."""

    code: str
    name: str
    description: str
    permissions: tuple[Permission, ...]  # in the registry's order
    built_in: bool
    users: int  # accounts that have it, disabled ones included

    @property
    def permission_names(self) -> list[str]:
        return [p.value for p in self.permissions]


def _in_registry_order(held: Iterable[Permission]) -> tuple[Permission, ...]:
    chosen = set(held)
    return tuple(p for p in Permission if p in chosen)


def _require_manager(actor: Actor) -> None:
    """The one permission check for changing roles (role.manage)."""
    require(actor, Permission.ROLE_MANAGE, "only admins may define roles")


def _require_reader(actor: Actor) -> None:
    if not (allowed(actor, Permission.ROLE_MANAGE) or allowed(actor, Permission.USER_MANAGE)):
        raise Forbidden("only admins may list the roles")


# ---------------------------------------------------------------- reading

def _counts(session: Session) -> dict[str, int]:
    return dict(session.execute(select(User.role, func.count()).group_by(User.role)).all())


def _built_in_view(role: Role, counts: dict[str, int]) -> RoleView:
    name, description = BUILT_IN_NAMES[role.value]
    return RoleView(role.value, name, description, _in_registry_order(BUILT_IN[role]), True,
                    counts.get(role.value, 0))


def _custom_view(row: CustomRole, counts: dict[str, int]) -> RoleView:
    return RoleView(row.code, row.name, row.description, _in_registry_order(permissions.from_names(row.permissions)),
                    False, counts.get(row.code, 0))


def _all(session: Session) -> list[RoleView]:
    counts = _counts(session)
    return [_built_in_view(r, counts) for r in Role] + [
        _custom_view(row, counts) for row in session.scalars(select(CustomRole).order_by(CustomRole.code))]


def list_roles(session: Session, actor: Actor) -> list[RoleView]:
    """Every role: the built-in ones first, then the custom ones by code. Raises Forbidden (not an admin)."""
    _require_reader(actor)
    return _all(session)


def page_roles(session: Session, actor: Actor, page: int = 1, per_page: int = 50) -> Page[RoleView]:
    """Page `page` of `list_roles`, and how many roles there are. Raises Forbidden (not an admin)."""
    everything = list_roles(session, actor)
    start = paging.offset(page, per_page)
    return Page(everything[start:start + per_page], len(everything), page, per_page)


def get_role(session: Session, actor: Actor, code: str) -> RoleView:
    """One role by code. Raises Forbidden (not an admin); NotFound."""
    _require_reader(actor)
    counts = _counts(session)
    if permissions.is_built_in(code):
        return _built_in_view(Role(code), counts)
    return _custom_view(_load(session, code), counts)


def role_choices(session: Session) -> list[tuple[str, str]]:
    """(code, name) of every role an account may be given, for a form's select: built-in first."""
    return [(r.value, BUILT_IN_NAMES[r.value][0]) for r in Role] + [
        (code, name) for code, name in session.execute(select(CustomRole.code, CustomRole.name)
                                                      .order_by(CustomRole.code)).all()]


def check_role(session: Session, code: str, field: str = "role") -> str:
    """`code` if it names a role (built-in or custom). Raises Invalid naming `field`."""
    if permissions.is_built_in(code) or session.get(CustomRole, code) is not None:
        return code
    raise Invalid(f"{field}: no role {code!r}; the roles are: {', '.join(c for c, _ in role_choices(session))}",
                  field=field)


def permissions_of(session: Session, code: str) -> frozenset[Permission]:
    """What the role `code` holds now (nothing for a code that names no role)."""
    if permissions.is_built_in(code):
        return permissions.of_role(code)
    row = session.get(CustomRole, code)
    return permissions.from_names(row.permissions) if row is not None else frozenset()


def permission_groups() -> list[tuple[str, list[Permission]]]:
    """The registry's permissions grouped for the role form (each with its description), in registry order."""
    groups: dict[str, list[Permission]] = {}
    for p in Permission:
        groups.setdefault(GROUPS.get(p.value.split(".")[0], "Other"), []).append(p)
    return list(groups.items())


def _load(session: Session, code: str, *, lock: bool = False) -> CustomRole:
    row = session.get(CustomRole, code, with_for_update=lock or None)
    if row is None:
        raise NotFound(f"no role {code!r}", field="code")
    return row


# ---------------------------------------------------------------- changing

def _validated(names: Iterable[str]) -> list[str]:
    """The names, each registered, sorted and without repeats. Raises Invalid naming `permissions`."""
    found = set()
    for name in names:
        try:
            found.add(permissions.get(name).value)
        except permissions.UnknownPermission:
            raise Invalid(f"permissions: there is no permission {name!r}; choose from the registry "
                          "(docs/permissions.md, or the role form)", field="permissions") from None
    return sorted(found)


def _not_built_in(code: str, doing: str) -> None:
    if permissions.is_built_in(code):
        raise Conflict(f"{code} is a built-in role and cannot be {doing}; define a custom role instead",
                       field="code")


def create_role(session: Session, actor: Actor, cmd: NewRole) -> RoleView:
    """Define a custom role. Raises Forbidden (not role.manage); Conflict (the code is taken, or a built-in
    role's); Invalid (a permission not in the registry)."""
    _require_manager(actor)
    if permissions.is_built_in(cmd.code):
        raise Conflict(f"code: {cmd.code} is a built-in role's code; choose another", field="code")
    if session.get(CustomRole, cmd.code) is not None:
        raise Conflict(f"code: there is a role {cmd.code} already", field="code")
    names = _validated(cmd.permissions)
    now = clock(session).now()
    row = CustomRole(code=cmd.code, name=cmd.name, description=cmd.description, permissions=names,
                     created_at=now, updated_at=now)
    session.add(row)
    session.flush()
    audit.record(session, actor, "role.create", "role", row.code, {
        "code": row.code, "name": row.name, "permissions": names, "permissions_added": names,
        "permissions_removed": []})
    return _custom_view(row, _counts(session))


def update_role(session: Session, actor: Actor, code: str, cmd: RoleUpdate) -> RoleView:
    """Change a custom role's name, description or permissions (the fields sent); its accounts hold the new set
    from their next request. Raises Forbidden; NotFound; Conflict (a built-in role; or it would leave no active
    account holding user.manage); Invalid (a permission not in the registry)."""
    _require_manager(actor)
    _not_built_in(code, "changed")
    row = _load(session, code, lock=True)
    sent = cmd.model_fields_set
    changes: dict[str, Any] = {}
    if "name" in sent and cmd.name is not None and cmd.name != row.name:
        changes["name"] = [row.name, cmd.name]
        row.name = cmd.name
    if "description" in sent and (cmd.description or "") != row.description:
        changes["description"] = [row.description, cmd.description or ""]
        row.description = cmd.description or ""
    added: list[str] = []
    removed: list[str] = []
    if "permissions" in sent and cmd.permissions is not None:
        names = _validated(cmd.permissions)
        added = sorted(set(names) - set(row.permissions))
        removed = sorted(set(row.permissions) - set(names))
        if Permission.USER_MANAGE.value in removed and _last_account_managers(session, code):
            raise Conflict(f"permissions: the accounts of role {code} are the last active ones holding "
                           "user.manage; give another account an admin role first", field="permissions")
        row.permissions = names
    if changes or added or removed:
        row.updated_at = clock(session).now()
        session.flush()
        audit.record(session, actor, "role.update", "role", row.code, {
            "code": row.code, "changes": changes, "permissions": row.permissions, "permissions_added": added,
            "permissions_removed": removed})
    return _custom_view(row, _counts(session))


def _last_account_managers(session: Session, code: str) -> bool:
    """Whether role `code` has active accounts and no account of another role holds user.manage."""
    active = User.disabled_at.is_(None)
    mine = session.scalar(select(func.count()).select_from(User).where(User.role == code, active)) or 0
    others = session.scalar(select(func.count()).select_from(User).where(
        User.role.in_([c for c in permissions.roles_with(Permission.USER_MANAGE, session) if c != code]),
        active)) or 0
    return mine > 0 and others == 0


def delete_role(session: Session, actor: Actor, code: str) -> RoleView:
    """Delete a custom role no account has (and take it out of the second-factor policy). Raises Forbidden;
    NotFound; Conflict (a built-in role, or accounts have it: the message says how many)."""
    _require_manager(actor)
    _not_built_in(code, "deleted")
    row = _load(session, code, lock=True)
    view = _custom_view(row, _counts(session))
    if view.users:
        raise Conflict(f"role {code} is the role of {view.users} account(s); give them another role first "
                       "(`casemgr user list` shows them)", field="code", details={"users": view.users})
    mfa = session.get(InstanceSetting, MFA_SETTING)
    policy = mfa.value if mfa is not None and isinstance(mfa.value, list) else []
    in_policy = code in policy
    if mfa is not None and in_policy:
        mfa.value = [c for c in policy if c != code]
        mfa.updated_at = clock(session).now()
    session.delete(row)
    session.flush()
    audit.record(session, actor, "role.delete", "role", code, {
        "code": code, "name": view.name, "permissions": view.permission_names, "permissions_added": [],
        "permissions_removed": view.permission_names, "removed_from_mfa_policy": in_policy})
    return view


# ---------------------------------------------------------------- configuration as files

def export_config(session: Session) -> list[dict[str, Any]]:
    """The custom roles as plain data (code, name, description, permissions), by code."""
    return [{"code": r.code, "name": r.name, "description": r.description, "permissions": list(r.permissions)}
            for r in session.scalars(select(CustomRole).order_by(CustomRole.code))]


def check_config(session: Session, items: list[Any]) -> list[tuple[tuple[int | str, ...], str]]:
    """What in roles.yaml's (valid) items apply would refuse: a built-in role's code, a permission the
    registry does not hold, a permission listed twice. Each problem with the path of its field."""
    problems: list[tuple[tuple[int | str, ...], str]] = []
    for i, item in enumerate(items):
        if permissions.is_built_in(item.code):
            problems.append(((i, "code"), f"{item.code!r} is a built-in role, which cannot be changed; "
                                          "give the custom role another code"))
        for j, name in enumerate(item.permissions):
            if name not in permissions.NAMES:
                problems.append(((i, "permissions", j), f"no permission named {name!r} (docs/permissions.md "
                                                         "lists them)"))
            elif name in item.permissions[:j]:
                problems.append(((i, "permissions", j), f"{name!r} is listed twice"))
    return problems


def apply_config(session: Session, actor: Actor, items: list[dict[str, Any]]) -> list[str]:
    """Create or update the custom roles so that those in `items` match them (roles not in `items` are left as
    they are); returns one line per role created or changed. The same validation and audit as the other
    paths; the caller's transaction makes it all or nothing. Raises what create_role and update_role raise,
    with `details["index"]`: the item's place in `items`."""
    _require_manager(actor)
    summary: list[str] = []
    for index, item in enumerate(items):
        try:
            cmd: NewRole = parse(NewRole, item)
            existing = None if permissions.is_built_in(cmd.code) else session.get(CustomRole, cmd.code)
            if existing is None:
                created = create_role(session, actor, cmd)
                summary.append(f"created role {created.code} ({len(created.permissions)} permissions)")
                continue
            before = set(existing.permissions)
            was = (existing.name, existing.description, sorted(before))
            after = update_role(session, actor, cmd.code, RoleUpdate(
                name=cmd.name, description=cmd.description, permissions=cmd.permissions))
            if (after.name, after.description, sorted(after.permission_names)) != was:
                added = sorted(set(after.permission_names) - before)
                removed = sorted(before - set(after.permission_names))
                summary.append(f"updated role {after.code}" + "".join(f" +{p}" for p in added)
                               + "".join(f" -{p}" for p in removed))
        except (Invalid, Conflict) as exc:
            exc.details = {**exc.details, "index": index}
            raise
    return summary
