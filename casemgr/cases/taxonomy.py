"""The incident taxonomy (ENISA RSIT based), read from the package's data/taxonomy.json."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from casemgr.errors import Invalid


@dataclass(frozen=True)
class Subcategory:
    code: str
    name: str
    description: str


@dataclass(frozen=True)
class Category:
    code: str
    name: str
    description: str
    subcategories: tuple[Subcategory, ...]

    def subcategory(self, code: str) -> Subcategory | None:
        return next((s for s in self.subcategories if s.code == code), None)


@dataclass(frozen=True)
class Taxonomy:
    name: str
    source: str
    categories: tuple[Category, ...]

    def category(self, code: str) -> Category | None:
        return next((c for c in self.categories if c.code == code), None)

    def check(self, category: str, subcategory: str | None) -> None:
        """Raise Invalid naming the field when the codes are not in the taxonomy."""
        cat = self.category(category)
        if cat is None:
            known = ", ".join(c.code for c in self.categories)
            raise Invalid(f"category: unknown category {category!r}; use one of {known}", field="category")
        if subcategory is not None and cat.subcategory(subcategory) is None:
            known = ", ".join(s.code for s in cat.subcategories)
            raise Invalid(f"subcategory: {subcategory!r} is not a subcategory of {category!r}; use one of {known}",
                          field="subcategory")

    def label(self, category: str, subcategory: str | None = None) -> str:
        """'Malicious code / Ransomware' for display; unknown codes are shown as they are."""
        cat = self.category(category)
        if cat is None:
            return category
        sub = cat.subcategory(subcategory) if subcategory else None
        return f"{cat.name} / {sub.name}" if sub else cat.name


@lru_cache(maxsize=1)
def load() -> Taxonomy:
    raw = json.loads(resources.files("casemgr.cases").joinpath("data/taxonomy.json").read_text("utf-8"))
    return Taxonomy(
        name=raw["name"],
        source=raw["source"],
        categories=tuple(
            Category(c["code"], c["name"], c["description"],
                     tuple(Subcategory(s["code"], s["name"], s["description"]) for s in c["subcategories"]))
            for c in raw["categories"]
        ),
    )
