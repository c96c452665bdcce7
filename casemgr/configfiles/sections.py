"""The sections of the configuration: one YAML file each, listed once here.

A section is its file's name, the key its items are listed under, the schema of one item, what
makes two items the same (a duplicate is a problem), and three functions of its domain's service:
`export(session)` (the items as the file lists them), `apply(session, actor, items)` (make the
database say what the items say; returns the changes in words, and audits each) and, optionally,
`check(session, items)` (what apply would refuse that the schema cannot see: unknown users, say;
each problem with the path of its field inside the list of items). Adding a section is one more
entry of `sections()`; docs/configuration-files.md describes each file.

The order is the order apply goes in: a section may refer to what an earlier one defines (custom
fields to the taxonomy's categories).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import BaseModel
    from sqlalchemy.orm import Session

    from casemgr.auth.actor import Actor

Path = tuple[int | str, ...]
Items = list[dict[str, Any]]


@dataclass(frozen=True)
class Section:
    name: str  # in messages and audit records: "teams"
    file: str  # "teams.yaml"
    list_key: str  # the file is a mapping with this one key, its value the list of items
    item: type[BaseModel]
    key: Callable[[Any], str]  # of a valid item: two items with the same key are duplicates
    key_field: str  # the field that key() reads, where a duplicate is reported
    export: Callable[[Session], Items]
    apply: Callable[[Session, Actor, Items], list[str]]
    check: Callable[[Session, list[Any]], list[tuple[Path, str]]] | None = None
    about: str = ""  # the first comment line of the exported file
    omitted: Callable[[Session, Items], list[str]] | None = None  # default: the items whose key is not listed

    def left_out(self, session: Session, items: Items) -> list[str]:
        """The items in the database that the file does not list (apply keeps them as they are)."""
        if self.omitted is not None:
            return self.omitted(session, items)
        listed = {self.key(self.item.model_validate(i)) for i in items}
        return [str(i[self.key_field]) for i in self.export(session)
                if self.key(self.item.model_validate(i)) not in listed]


def sections() -> tuple[Section, ...]:
    """Every section, in the order apply goes in."""
    from casemgr.auth import roles
    from casemgr.auth.role_schemas import RoleItem
    from casemgr.cases import field_definitions, incident_roles, taxonomy
    from casemgr.cases.field_schemas import CaseFieldItem
    from casemgr.cases.schemas import CategoryItem, RoleKindItem
    from casemgr.teams import service as teams
    from casemgr.teams.models import name_key
    from casemgr.teams.schemas import TeamItem

    return (
        Section("taxonomy", "taxonomy.yaml", "categories", CategoryItem, key=lambda i: i.code, key_field="code",
                export=taxonomy.export_config, apply=taxonomy.apply_config, check=taxonomy.check_config,
                omitted=taxonomy.left_out,
                about="The incident categories and their subcategories, in the order the case forms offer them."),
        Section("case-fields", "case-fields.yaml", "fields", CaseFieldItem, key=lambda i: i.code,
                key_field="code", export=field_definitions.export_config, apply=field_definitions.apply_config,
                about="The custom fields of cases, per category (or all), with their validation and the state "
                      "from which a value is required."),
        Section("roles", "roles.yaml", "roles", RoleItem, key=lambda i: i.code, key_field="code",
                export=roles.export_config, apply=roles.apply_config, check=roles.check_config,
                about="The custom roles: each a named set of permissions (docs/permissions.md lists them); "
                      "the four built-in roles are fixed and not listed."),
        Section("teams", "teams.yaml", "teams", TeamItem, key=lambda i: name_key(i.name), key_field="name",
                export=teams.export_config, apply=teams.apply_config, check=teams.check_config,
                about="The teams cases are given to: lead, members (the lead among them), contact address."),
        Section("incident-roles", "incident-roles.yaml", "roles", RoleKindItem, key=lambda i: i.code,
                key_field="code", export=incident_roles.export_config, apply=incident_roles.apply_config,
                about="The kinds of incident role a case names people in (codes never change)."),
    )
