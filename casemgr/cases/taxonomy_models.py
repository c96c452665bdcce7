"""The incident taxonomy's tables: categories and their subcategories, which admins may add to and retire.

A case stores the codes (cases.category, cases.subcategory) as text, not a foreign key: a code is
stable and a retired one stays readable on the cases filed under it. Rows are never deleted; a
retired one is kept for its label (casemgr/cases/taxonomy.py).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casemgr.db import Base, UTCDateTime

CODE_MAX = 64
NAME_MAX = 100


class TaxonomyCategory(Base):
    __tablename__ = "taxonomy_categories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(CODE_MAX), unique=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    description: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(Integer, default=0)
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    subcategories: Mapped[list[TaxonomySubcategory]] = relationship(
        back_populates="category", order_by="(TaxonomySubcategory.position, TaxonomySubcategory.id)")


class TaxonomySubcategory(Base):
    __tablename__ = "taxonomy_subcategories"
    __table_args__ = (UniqueConstraint("category_id", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("taxonomy_categories.id"))
    code: Mapped[str] = mapped_column(String(CODE_MAX))
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    description: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(Integer, default=0)
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    category: Mapped[TaxonomyCategory] = relationship(back_populates="subcategories")
