"""The permission registry (casemgr/auth/permissions.py): every check names a registered permission, no code
decides by role outside the registry, the built-in roles are exactly the table below, and docs/permissions.md
is the registry's own table.

Rewrite the documentation's table after changing the registry: `python -m tests.auth.test_permission_registry`.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from casemgr.auth import permissions
from casemgr.auth.actor import Actor
from casemgr.auth.models import Role, User
from casemgr.auth.permissions import BUILT_IN, Permission, UnknownPermission

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "casemgr"
TEMPLATES = PACKAGE / "templates"
DOC = ROOT / "docs" / "permissions.md"
REGISTRY = PACKAGE / "auth" / "permissions.py"
# Where a role may be named: its definition, the registry, and the CLI's first admin (data, not a check).
ROLE_NAMED_IN = {PACKAGE / "auth" / "models.py", REGISTRY, PACKAGE / "cli.py"}
# Functions of the registry that take a permission's name as their first (or second, after the actor) argument.
NAME_TAKERS = {"get": 0, "roles_with": 0, "allowed": 1, "require": 1, "holds": 1, "may": 0}
TEMPLATE_NAME = re.compile(r"""\bmay\(\s*['"]([^'"]*)['"]\s*\)""")
TEMPLATE_ROLE_TEST = re.compile(r"""\.role\s*(==|!=|\bin\b|\bnot\s+in\b)""")

# The built-in roles, written out: changing what a role may do means changing this table on purpose.
EXPECTED = {
    "analyst": {"case.view", "case.create", "case.edit", "case.escalate", "evidence.upload", "evidence.handle",
                "evidence.download", "indicator.import", "indicator.export", "indicator.share", "team.view",
                "case.read_role_kinds", "playbook.view", "playbook.run"},
    "manager": {"case.view", "case.view_all", "case.create", "case.edit", "case.assign", "case.close",
                "case.escalate", "case.hand_over", "case.acknowledge", "case.override_priority", "case.disclose",
                "case.correct_any", "evidence.upload", "evidence.handle", "evidence.download", "evidence.dispose",
                "evidence.export", "indicator.import", "indicator.export", "indicator.share", "indicator.view_red",
                "team.view", "case.read_role_kinds", "playbook.view", "playbook.run", "playbook.approve",
                "playbook.manage"},
    "auditor": {"case.view", "case.view_all", "evidence.download_if_enabled", "indicator.export", "indicator.share",
                "audit.read", "audit.export", "team.view", "case.read_role_kinds", "playbook.view"},
    "admin": {"audit.read", "user.manage", "token.manage", "instance.configure", "evidence.maintain",
              "team.manage", "case.configure_roles", "team.view", "case.read_role_kinds",
              "role.manage", "case.configure_taxonomy",
              "case.configure_fields"},
}


def _python_files() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts)


def _trees() -> list[tuple[Path, ast.AST]]:
    return [(p, ast.parse(p.read_text(), str(p))) for p in _python_files()]


def _where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}"


def _registry_names(path: Path, tree: ast.AST) -> tuple[set[str], set[str]]:
    """The registry's functions imported by name into a module, and the names the registry module goes by."""
    functions: set[str] = set()
    modules: set[str] = {"permissions"} if path == REGISTRY else set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "casemgr.auth.permissions":
            functions |= {a.asname or a.name for a in node.names if a.name in NAME_TAKERS}
        if isinstance(node, ast.ImportFrom) and node.module == "casemgr.auth":
            modules |= {a.asname or a.name for a in node.names if a.name == "permissions"}
    if path == REGISTRY:
        functions |= set(NAME_TAKERS)
    return functions, modules


def _permission_uses() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(`Permission.X` attribute uses, names passed as strings) over the package and the templates:
    (where, what) pairs."""
    members: list[tuple[str, str]] = []
    names: list[tuple[str, str]] = []
    for path, tree in _trees():
        functions, modules = _registry_names(path, tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id in {"Permission", "P"} and not node.attr.startswith("_") \
                    and node.attr not in {"description", "value"}:
                members.append((_where(path, node), node.attr))
            if isinstance(node, ast.Call):
                func, called = node.func, ""
                if isinstance(func, ast.Name) and func.id in functions:
                    called = func.id
                elif isinstance(func, ast.Attribute) and (func.attr == "may" or (
                        isinstance(func.value, ast.Name) and func.value.id in modules)):
                    called = func.attr
                position = NAME_TAKERS.get(called)
                if position is not None and len(node.args) > position:
                    arg = node.args[position]
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        names.append((_where(path, node), arg.value))
    for template in sorted(TEMPLATES.rglob("*.html")):
        text = template.read_text()
        for match in TEMPLATE_NAME.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            names.append((f"{template.relative_to(ROOT)}:{line}", match.group(1)))
    return members, names


# ---------------------------------------------------------------- the registry refuses what it does not hold


def test_unknown_names_are_refused_everywhere():
    system = Actor.system()
    with pytest.raises(UnknownPermission, match="case.delete_everything"):
        permissions.get("case.delete_everything")
    with pytest.raises(UnknownPermission):
        permissions.allowed(system, "case.delete_everything")  # even for the actor who holds everything
    with pytest.raises(UnknownPermission):
        permissions.require(system, "evidence.burn", "no")
    with pytest.raises(UnknownPermission):
        permissions.roles_with("case.veiw", None)
    assert permissions.get("case.view") is Permission.CASE_VIEW


def test_names_are_domain_dot_verb_and_described():
    for p in Permission:
        assert re.fullmatch(r"[a-z]+\.[a-z_]+", p.value), p
        assert p.description[:1].isupper(), p
        assert not p.description.endswith("."), p
    assert len({p.value for p in Permission}) == len(Permission)


def test_every_permission_used_in_code_is_registered():
    members, names = _permission_uses()
    assert members, "the scan found no Permission.X at all: it is broken"
    assert any(where.startswith("casemgr/templates") for where, _ in names), "the template scan found nothing"
    unknown = [f"{where}: Permission.{attr}" for where, attr in members if not hasattr(Permission, attr)]
    unknown += [f"{where}: {name!r}" for where, name in names if name not in {p.value for p in Permission}]
    assert unknown == [], "permissions checked but not registered in casemgr/auth/permissions.py"


def test_every_registered_permission_is_checked_somewhere():
    members, names = _permission_uses()
    used = {getattr(Permission, attr).value for where, attr in members
            if not where.startswith(str(REGISTRY.relative_to(ROOT))) and hasattr(Permission, attr)}
    used |= set(dict(names).values()) & {p.value for p in Permission}
    assert sorted({p.value for p in Permission} - used) == [], "registered but never checked"


def test_no_code_decides_by_role_outside_the_registry():
    """Roles are data (an account's role, the MFA policy per role); what a role may do is the registry's."""
    found = []
    for path, tree in _trees():
        for node in ast.walk(tree):
            if path not in ROLE_NAMED_IN and isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id == "Role" and node.attr.isupper():
                found.append(f"{_where(path, node)}: Role.{node.attr}")
            if isinstance(node, ast.Compare):
                sides = [node.left, *node.comparators]
                by_role = any(isinstance(s, ast.Attribute) and s.attr == "role" for s in sides)
                against_constant = any((isinstance(s, ast.Constant) and s.value is not None) or (
                    isinstance(s, ast.Attribute) and isinstance(s.value, ast.Name) and s.value.id == "Role")
                    for s in sides)
                if by_role and against_constant:
                    found.append(f"{_where(path, node)}: {ast.unparse(node)}")
    for template in sorted(TEMPLATES.rglob("*.html")):
        text = template.read_text()
        for match in TEMPLATE_ROLE_TEST.finditer(text):
            # comparing a role in a <select> of roles is showing data (users.html), not deciding access
            snippet = text[max(0, match.start() - 30):match.end() + 20]
            if "current_user" in snippet or "actor" in snippet:
                found.append(f"{template.relative_to(ROOT)}:{text.count(chr(10), 0, match.start()) + 1}: {snippet}")
    assert found == [], "decide with casemgr.auth.permissions (allowed/require, or a can_* flag from a service)"


# ---------------------------------------------------------------- the built-in roles


def test_built_in_roles_are_the_table_in_this_test():
    assert {role.value: {p.value for p in perms} for role, perms in BUILT_IN.items()} == EXPECTED
    assert set(BUILT_IN) == set(Role)


@pytest.mark.parametrize("role", list(Role))
def test_an_account_holds_its_roles_permissions(role):
    user = User(username="someone", role=role)
    actor = Actor(user=user, via="web")
    assert permissions.granted(actor) == permissions.of_role(role) == permissions.of_user(user)
    for p in Permission:
        assert permissions.allowed(actor, p) is (p.value in EXPECTED[role.value])
        assert permissions.holds(user, p) is (p.value in EXPECTED[role.value])
    assert set(permissions.roles_with(Permission.CASE_EDIT, None)) == {Role.ANALYST, Role.MANAGER}


def test_the_cli_operator_holds_everything_and_anonymous_nothing():
    assert permissions.granted(Actor.system()) == frozenset(Permission)
    assert permissions.granted(Actor.anonymous("web")) == frozenset()
    assert not permissions.allowed(Actor.anonymous("api"), Permission.CASE_VIEW)


# ---------------------------------------------------------------- docs/permissions.md


BEGIN, END = "<!-- permissions table: generated -->", "<!-- end of permissions table -->"


def table() -> str:
    roles = list(Role)
    lines = ["| permission | what it lets one do | " + " | ".join(r.value for r in roles) + " |",
             "| --- | --- | " + " | ".join(":-:" for _ in roles) + " |"]
    for p, holding in permissions.holders(roles).items():
        marks = " | ".join("✓" if r in holding else "" for r in roles)
        lines.append(f"| `{p.value}` | {p.description} | {marks} |")
    return "\n".join(lines)


def test_the_documentation_lists_every_permission_as_registered():
    text = DOC.read_text()
    assert BEGIN in text, f"{DOC} lost its table markers"
    assert END in text, f"{DOC} lost its table markers"
    shown = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert shown == table(), "docs/permissions.md is out of date: run python -m tests.auth.test_permission_registry"


if __name__ == "__main__":
    before, rest = DOC.read_text().split(BEGIN, 1)
    DOC.write_text(before + BEGIN + "\n" + table() + "\n" + END + rest.split(END, 1)[1])
    print(f"rewrote the table in {DOC}")
