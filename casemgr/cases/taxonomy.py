"""The incident taxonomy (ENISA RSIT based): categories and subcategories, kept in the database.

Migration 0017 seeded the tables from the package's data/taxonomy.json (what a fresh install offers);
admins add categories and subcategories, rename them and retire them through `apply_config` (the
configuration files, casemgr/configfiles). A retired code stays readable: the cases filed under it
keep its label; new cases and edits that change the category cannot choose it.

Reading is cheap and correct with several server processes: `load(session)` reads the two small
tables once per session (a web request has one) and keeps the result in that session; a change made
through this module forgets it. Another process's next request reads the tables again, so nothing
can serve a taxonomy older than the request that shows it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from casemgr.audit import trail as audit
from casemgr.auth.actor import Actor
from casemgr.auth.permissions import Permission, require
from casemgr.cases.taxonomy_models import TaxonomyCategory, TaxonomySubcategory
from casemgr.collaborators import clock
from casemgr.errors import Invalid

if TYPE_CHECKING:
    from casemgr.cases.schemas import CategoryItem, SubcategoryItem

NAME = "ENISA Reference Security Incident Taxonomy (RSIT), as used by casemgr"
SOURCE = "https://github.com/enisaeu/Reference-Security-Incident-Taxonomy-Task-Force"
_MEMO = "casemgr.cases.taxonomy"  # where a session keeps the taxonomy it read (a cache, not a collaborator)


@dataclass(frozen=True)
class Subcategory:
    code: str
    name: str
    description: str
    retired: bool = False


@dataclass(frozen=True)
class Category:
    code: str
    name: str
    description: str
    subcategories: tuple[Subcategory, ...]
    retired: bool = False

    def subcategory(self, code: str) -> Subcategory | None:
        return next((s for s in self.subcategories if s.code == code), None)

    @property
    def active_subcategories(self) -> tuple[Subcategory, ...]:
        """The subcategories a case may be filed under (not retired)."""
        return tuple(s for s in self.subcategories if not s.retired)


@dataclass(frozen=True)
class Taxonomy:
    name: str
    source: str
    categories: tuple[Category, ...]

    def category(self, code: str) -> Category | None:
        return next((c for c in self.categories if c.code == code), None)

    @property
    def active_categories(self) -> tuple[Category, ...]:
        """The categories a case may be filed under (not retired), for the forms' choices."""
        return tuple(c for c in self.categories if not c.retired)

    def check(self, category: str, subcategory: str | None, *,
              current: tuple[str, str | None] | None = None) -> None:
        """Raise Invalid naming the field when the codes are not in the taxonomy, or retired. `current`:
        the case's own category and subcategory, which may stay although retired (an edit that does not
        change them must not fail)."""
        cat = self.category(category)
        known = ", ".join(c.code for c in self.active_categories)
        if cat is None:
            raise Invalid(f"category: unknown category {category!r}; use one of {known}", field="category")
        keeps_category = current is not None and current[0] == category
        if cat.retired and not keeps_category:
            raise Invalid(f"category: {category!r} ({cat.name}) is retired and cannot be chosen; use one of {known}",
                          field="category")
        if subcategory is None:
            return
        sub = cat.subcategory(subcategory)
        subs = ", ".join(s.code for s in cat.active_subcategories)
        if sub is None:
            raise Invalid(f"subcategory: {subcategory!r} is not a subcategory of {category!r}; use one of {subs}",
                          field="subcategory")
        if sub.retired and not (keeps_category and current is not None and current[1] == subcategory):
            raise Invalid(f"subcategory: {subcategory!r} ({sub.name}) is retired and cannot be chosen; "
                          f"use one of {subs}", field="subcategory")

    def label(self, category: str, subcategory: str | None = None) -> str:
        """'Malicious code / Ransomware' for display (retired codes too); unknown codes are shown as they are."""
        cat = self.category(category)
        if cat is None:
            return category
        sub = cat.subcategory(subcategory) if subcategory else None
        return f"{cat.name} / {sub.name}" if sub else cat.name


def load(session: Session) -> Taxonomy:
    """The taxonomy, retired codes included, in the order the forms offer it: read once per session."""
    memo = session.info.get(_MEMO)
    if isinstance(memo, Taxonomy):
        return memo
    rows = session.scalars(select(TaxonomyCategory).order_by(TaxonomyCategory.position, TaxonomyCategory.id)
                           .options(selectinload(TaxonomyCategory.subcategories))).all()
    taxonomy = Taxonomy(NAME, SOURCE, tuple(
        Category(c.code, c.name, c.description,
                 tuple(Subcategory(s.code, s.name, s.description, s.retired_at is not None) for s in c.subcategories),
                 c.retired_at is not None)
        for c in rows))
    session.info[_MEMO] = taxonomy
    return taxonomy


def forget(session: Session) -> None:
    """Drop the taxonomy this session read (after a change, or a rolled-back savepoint that made one)."""
    session.info.pop(_MEMO, None)


# ---------------------------------------------------------------- as configuration (taxonomy.yaml)


def export_config(session: Session) -> list[dict[str, Any]]:
    """Every category with its subcategories, retired ones too, as taxonomy.yaml lists them."""
    def item(row: TaxonomyCategory | TaxonomySubcategory) -> dict[str, Any]:
        return {"code": row.code, "name": row.name, "description": row.description,
                "retired": row.retired_at is not None}

    rows = session.scalars(select(TaxonomyCategory).order_by(TaxonomyCategory.position, TaxonomyCategory.id)
                           .options(selectinload(TaxonomyCategory.subcategories))).all()
    return [{**item(c), "subcategories": [item(s) for s in c.subcategories]} for c in rows]


def apply_config(session: Session, actor: Actor, items: list[dict[str, Any]]) -> list[str]:
    """Make the taxonomy what `items` (taxonomy.yaml's categories) say: add what is new, change names,
    descriptions, order and retirement. What the file leaves out is kept as it is (never deleted).
    One audit entry per change. Returns the changes, in words (none: nothing changed).

    Raises Forbidden (case.configure_taxonomy); Invalid for an item that is not a category."""
    from casemgr.cases.schemas import CategoryItem
    from casemgr.fields import parse

    require(actor, Permission.CASE_CONFIGURE_TAXONOMY, "only admins change the incident taxonomy")
    now = clock(session).now()
    existing = {c.code: c for c in session.scalars(
        select(TaxonomyCategory).options(selectinload(TaxonomyCategory.subcategories)))}
    done: list[str] = []
    for position, raw in enumerate(items):
        cmd = parse(CategoryItem, raw)
        row = existing.get(cmd.code)
        if row is None:
            row = TaxonomyCategory(code=cmd.code, name=cmd.name, description=cmd.description, position=position,
                                   retired_at=now if cmd.retired else None)
            session.add(row)
            session.flush()
            existing[cmd.code] = row
            audit.record(session, actor, "taxonomy.category_add", "taxonomy_category", row.code,
                         {"section": "taxonomy", "code": row.code, "name": row.name, "retired": cmd.retired})
            done.append(f"taxonomy: added category {row.code} ({row.name})")
        else:
            changes = _update(row, cmd, position, now)
            if changes:
                session.flush()
                audit.record(session, actor, "taxonomy.category_update", "taxonomy_category", row.code,
                             {"section": "taxonomy", "code": row.code, "changes": changes})
                done.append(f"taxonomy: changed category {row.code}: {', '.join(changes)}")
        subs = {s.code: s for s in row.subcategories}
        for sub_position, sub_cmd in enumerate(cmd.subcategories):
            name = f"{row.code}/{sub_cmd.code}"
            sub = subs.get(sub_cmd.code)
            if sub is None:
                sub = TaxonomySubcategory(category=row, code=sub_cmd.code, name=sub_cmd.name,
                                          description=sub_cmd.description, position=sub_position,
                                          retired_at=now if sub_cmd.retired else None)
                session.add(sub)
                session.flush()
                audit.record(session, actor, "taxonomy.subcategory_add", "taxonomy_subcategory", name,
                             {"section": "taxonomy", "code": name, "name": sub.name, "retired": sub_cmd.retired})
                done.append(f"taxonomy: added subcategory {name} ({sub.name})")
                continue
            changes = _update(sub, sub_cmd, sub_position, now)
            if changes:
                session.flush()
                audit.record(session, actor, "taxonomy.subcategory_update", "taxonomy_subcategory", name,
                             {"section": "taxonomy", "code": name, "changes": changes})
                done.append(f"taxonomy: changed subcategory {name}: {', '.join(changes)}")
    forget(session)
    return done


def left_out(session: Session, items: list[dict[str, Any]]) -> list[str]:
    """The categories and subcategories in the database that `items` do not list (kept as they are)."""
    listed = {(c.get("code"), s.get("code")) for c in items for s in c.get("subcategories") or []}
    listed |= {(c.get("code"), None) for c in items}
    missing = []
    for category in export_config(session):
        if (category["code"], None) not in listed:
            missing.append(f"category {category['code']}")
            continue
        missing += [f"subcategory {category['code']}/{s['code']}" for s in category["subcategories"]
                    if (category["code"], s["code"]) not in listed]
    return missing


def _update(row: TaxonomyCategory | TaxonomySubcategory, item: CategoryItem | SubcategoryItem, position: int,
            now: Any) -> dict[str, list[Any]]:
    changes: dict[str, list[Any]] = {}
    retired = item.retired
    for field, value in (("name", item.name), ("description", item.description), ("position", position)):
        if getattr(row, field) != value:
            changes[field] = [getattr(row, field), value]
            setattr(row, field, value)
    if (row.retired_at is not None) != retired:
        changes["retired"] = [row.retired_at is not None, retired]
        row.retired_at = now if retired else None
    return changes


def check_config(session: Session, items: list[CategoryItem]) -> list[tuple[tuple[int | str, ...], str]]:
    """What in taxonomy.yaml's (valid) categories apply would refuse: a subcategory code given twice in
    one category. Each problem with the path of its field."""
    problems: list[tuple[tuple[int | str, ...], str]] = []
    for i, category in enumerate(items):
        seen: dict[str, int] = {}
        for j, sub in enumerate(category.subcategories):
            if sub.code in seen:
                problems.append(((i, "subcategories", j, "code"),
                                 f"subcategory {sub.code!r} is listed twice in {category.code} "
                                 f"(also subcategories[{seen[sub.code]}])"))
            seen.setdefault(sub.code, j)
    return problems
