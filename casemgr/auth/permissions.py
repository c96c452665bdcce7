"""The permission registry: every permission the services check, and the built-in roles as sets of them.

- A permission is a `Permission` member named `domain.verb`, with a description (docs/permissions.md is
  generated from this module; tests/auth/test_permission_registry.py checks that it is current). Looking up
  a name that is not registered raises `UnknownPermission`, and the same test scans the code and the
  templates for any use of a permission that is not defined here.
- A role is a named set of permissions. The four built-in roles are `BUILT_IN` below; a custom role
  (casemgr.auth.models.CustomRole, defined by admins through casemgr/auth/roles.py) is another such set, kept
  in the database. `of_user()` is the one place that resolves an account's set, read afresh in every request
  (the role is loaded with the account's session), so a change to a custom role holds from the next request.
- `allowed(actor, permission)` and `require(actor, permission, message)` are what services call. They say
  what a role may do in general; whether the actor may see or change one case (restricted cases, members)
  is decided on top of them by casemgr/cases/access.py, and TLP:RED objects by casemgr/indicators/red.py.
- The CLI operator (the system actor) holds every permission; an anonymous actor none.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from casemgr.auth.actor import Actor
from casemgr.auth.models import CustomRole, Role, User
from casemgr.errors import Forbidden


class UnknownPermission(LookupError):
    """A permission name that is not in the registry: a typo, or a check added without registering it."""


class Permission(enum.StrEnum):
    """Every permission a service checks. The value is its name; `description` says what it lets one do."""

    description: str

    def __new__(cls, name: str, description: str) -> Permission:
        member = str.__new__(cls, name)
        member._value_ = name
        member.description = description
        return member

    # cases
    CASE_VIEW = ("case.view", "See cases that are not restricted and the restricted ones one is a member of, "
                 "with their timelines, evidence records and indicators")
    CASE_VIEW_ALL = ("case.view_all", "See every case, restricted ones included, without being a member "
                     "(and so read audit entries with their case content)")
    CASE_CREATE = ("case.create", "Open a case")
    CASE_EDIT = ("case.edit", "Change the cases one may see: fields, notes and events, lifecycle moves, links, "
                 "bulk actions; be a case's owner or member")
    CASE_ASSIGN = ("case.assign", "Assign cases to others: any owner, the members and the team")
    CASE_CLOSE = ("case.close", "Make the lifecycle moves kept for managers (closing a resolved case)")
    CASE_ESCALATE = ("case.escalate", "Escalate a case hierarchically (alert management or a named manager)")
    CASE_HAND_OVER = ("case.hand_over", "Escalate a case functionally: hand it over to another team")
    CASE_ACKNOWLEDGE = ("case.acknowledge", "Receive escalations (to management, or to oneself by name) and "
                        "acknowledge them")
    CASE_OVERRIDE_PRIORITY = ("case.override_priority", "Override a case's priority (with a reason)")
    CASE_DISCLOSE = ("case.disclose", "Share a case more widely: lower its TLP or lift its restriction "
                     "(with a reason)")
    CASE_CORRECT_ANY = ("case.correct_any", "Edit or retract anyone's notes and events (authors correct "
                        "their own)")
    # evidence
    EVIDENCE_UPLOAD = ("evidence.upload", "Add evidence to the cases one may change")
    EVIDENCE_HANDLE = ("evidence.handle", "Be an evidence custodian: transfer, seal and release evidence, "
                       "correct its provenance")
    EVIDENCE_DOWNLOAD = ("evidence.download", "Download evidence content")
    EVIDENCE_DOWNLOAD_IF_ENABLED = ("evidence.download_if_enabled", "Download evidence content when an admin "
                                    "has allowed it for auditors (the evidence settings)")
    EVIDENCE_DISPOSE = ("evidence.dispose", "Dispose of evidence content (not while it is sealed)")
    EVIDENCE_EXPORT = ("evidence.export", "Export a case's evidence as a package")
    EVIDENCE_MAINTAIN = ("evidence.maintain", "Rotate and retire the evidence keys, clean the evidence store")
    # indicators
    INDICATOR_IMPORT = ("indicator.import", "Record indicators on the cases one may change: by hand, from text, "
                        "from STIX bundles; revoke them or change their TLP")
    INDICATOR_EXPORT = ("indicator.export", "Export a case's indicators as a STIX bundle")
    INDICATOR_SHARE = ("indicator.share", "Read the TAXII collections: the shareable one and those of the "
                       "cases one sees")
    INDICATOR_VIEW_RED = ("indicator.view_red", "See the TLP:RED objects of every case one sees, without being "
                          "a member")
    # audit log
    AUDIT_READ = ("audit.read", "Read and verify the audit log")
    AUDIT_EXPORT = ("audit.export", "Export the audit log with the checkpoint that proves it")
    # the instance
    USER_MANAGE = ("user.manage", "Manage accounts: create, change the role of, disable, unlock, reset a "
                   "password or a second factor; choose which roles need a second factor")
    TOKEN_MANAGE = ("token.manage", "List and revoke other users' API tokens")
    INSTANCE_CONFIGURE = ("instance.configure", "Change the instance settings")
    TEAM_MANAGE = ("team.manage", "Create, edit and retire teams: their name, lead, members and contact address")
    CASE_CONFIGURE_ROLES = ("case.configure_roles", "Add, rename and retire the kinds of incident role "
                               "that cases name people in")
    # what every account reads to fill its choices
    TEAM_VIEW = ("team.view", "List the teams and read one (to choose a team for a case, or see who is in it)")
    CASE_READ_ROLE_KINDS = ("case.read_role_kinds", "List the kinds of incident role (to name people in them, "
                            "or read who held them)")
    ROLE_MANAGE = ("role.manage", "Define custom roles: their names, descriptions and permissions (whoever "
                   "holds it can grant any permission)")
    CASE_CONFIGURE_TAXONOMY = ("case.configure_taxonomy", "Add, rename and retire the incident categories and "
                               "subcategories cases are filed under")
    CASE_CONFIGURE_FIELDS = ("case.configure_fields", "Define, change and retire the custom fields of cases "
                                "(per category: type, label, help, validation, required from which state)")
    # playbooks
    PLAYBOOK_VIEW = ("playbook.view", "List the playbooks and read their versions and the differences between them")
    PLAYBOOK_RUN = ("playbook.run", "Start playbooks on the cases one may change, work their steps (start, complete, "
                    "skip, fail, assign) and pause, resume or abort runs")
    PLAYBOOK_APPROVE = ("playbook.approve", "Approve (or refuse) a completed step whose playbook asks a manager's "
                        "approval before the steps after it open")
    PLAYBOOK_MANAGE = ("playbook.manage", "Import playbooks and new versions of them (YAML or CACAO 2.0), choose the "
                       "current version, retire a playbook")


_BY_NAME: dict[str, Permission] = {p.value: p for p in Permission}
NAMES = frozenset(_BY_NAME)  # every permission's name, for checking a list of names


def get(name: str) -> Permission:
    """The permission called `name`. Raises UnknownPermission."""
    found = _BY_NAME.get(name)
    if found is None:
        raise UnknownPermission(f"no permission named {name!r}; the registry is casemgr/auth/permissions.py")
    return found


P = Permission
_WORK = frozenset({P.CASE_VIEW, P.CASE_CREATE, P.CASE_EDIT, P.CASE_ESCALATE, P.EVIDENCE_UPLOAD,
                   P.EVIDENCE_HANDLE, P.EVIDENCE_DOWNLOAD, P.INDICATOR_IMPORT, P.INDICATOR_EXPORT,
                   P.INDICATOR_SHARE, P.PLAYBOOK_VIEW, P.PLAYBOOK_RUN})
_DIRECTORY = frozenset({P.TEAM_VIEW, P.CASE_READ_ROLE_KINDS})  # every signed-in account reads these

# The built-in roles. A change here changes what people may do: tests/auth/test_permission_registry.py holds
# the same table, so that it is made on purpose, and tests/authz_matrix.csv checks every route against it.
BUILT_IN: dict[Role, frozenset[Permission]] = {
    Role.ANALYST: _WORK | _DIRECTORY,
    Role.MANAGER: _WORK | _DIRECTORY | {P.CASE_VIEW_ALL, P.CASE_ASSIGN, P.CASE_CLOSE, P.CASE_HAND_OVER,
                                        P.CASE_ACKNOWLEDGE, P.CASE_OVERRIDE_PRIORITY, P.CASE_DISCLOSE,
                                        P.CASE_CORRECT_ANY, P.EVIDENCE_DISPOSE, P.EVIDENCE_EXPORT,
                                        P.INDICATOR_VIEW_RED, P.PLAYBOOK_APPROVE, P.PLAYBOOK_MANAGE},
    Role.AUDITOR: _DIRECTORY | {P.CASE_VIEW, P.CASE_VIEW_ALL, P.EVIDENCE_DOWNLOAD_IF_ENABLED, P.INDICATOR_EXPORT,
                                P.INDICATOR_SHARE, P.AUDIT_READ, P.AUDIT_EXPORT, P.PLAYBOOK_VIEW},
    Role.ADMIN: _DIRECTORY | {P.AUDIT_READ, P.USER_MANAGE, P.TOKEN_MANAGE, P.INSTANCE_CONFIGURE,
                              P.EVIDENCE_MAINTAIN, P.TEAM_MANAGE, P.CASE_CONFIGURE_ROLES, P.ROLE_MANAGE,
                              P.CASE_CONFIGURE_TAXONOMY, P.CASE_CONFIGURE_FIELDS},
}
EVERYTHING = frozenset(Permission)


def is_built_in(code: str) -> bool:
    """Whether `code` names one of the four built-in roles."""
    return code in _BUILT_IN_CODES


_BUILT_IN_CODES = frozenset(r.value for r in Role)


def of_role(role: Role | str) -> frozenset[Permission]:
    """The permissions a built-in role holds. Raises ValueError for any other code."""
    return BUILT_IN[Role(role)]


def from_names(names: Iterable[str]) -> frozenset[Permission]:
    """The registered permissions among `names` (a stored custom role's list): a name the registry dropped since
    grants nothing."""
    return frozenset(_BY_NAME[n] for n in names if n in _BY_NAME)


def of_user(user: User) -> frozenset[Permission]:
    """The permissions an account holds: its built-in role's, or its custom role's as stored now (a role code
    that names no role grants nothing)."""
    if is_built_in(user.role):
        return of_role(user.role)
    custom = user.custom_role
    return from_names(custom.permissions) if custom is not None else frozenset()


def granted(actor: Actor) -> frozenset[Permission]:
    """What `actor` holds: the CLI operator everything, a user their account's set, anyone else nothing."""
    if actor.is_system:
        return EVERYTHING
    if actor.user is None:
        return frozenset()
    return of_user(actor.user)


def allowed(actor: Actor, permission: Permission | str) -> bool:
    """Whether `actor` holds `permission`. Raises UnknownPermission for a name not in the registry."""
    return get(permission) in granted(actor)


def holds(user: User, permission: Permission | str) -> bool:
    """Whether the account `user` holds `permission` (e.g. may own a case, or receive an escalation)."""
    return get(permission) in of_user(user)


def require(actor: Actor, permission: Permission | str, message: str, *, field: str | None = None) -> None:
    """Raise Forbidden(`message`) unless `actor` holds `permission`. Raises UnknownPermission."""
    if not allowed(actor, permission):
        raise Forbidden(message, field=field)


def roles_with(permission: Permission | str, session: Session | None) -> list[str]:
    """The codes of the roles that hold `permission` (e.g. who may own a case, or be escalated to): the built-in
    ones in the Role order, then the custom ones in `session` (None: the built-in ones only) by code."""
    wanted = get(permission)
    codes = [role.value for role in Role if wanted in of_role(role)]
    if session is not None:
        codes += [r.code for r in session.scalars(select(CustomRole).order_by(CustomRole.code))
                  if wanted in from_names(r.permissions)]
    return codes


def holders(roles: Iterable[Role]) -> dict[Permission, list[Role]]:
    """For each permission, the roles among `roles` that hold it (the table in docs/permissions.md)."""
    chosen = list(roles)
    return {p: [r for r in chosen if p in of_role(r)] for p in Permission}
