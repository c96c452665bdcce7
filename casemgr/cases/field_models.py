"""Custom case fields: the fields admins define (per category or for all) and the values cases hold.

No Flask and no I/O here; the rules are in casemgr/cases/custom_fields.py. A value is kept as JSON in
the type of its field (text, a number, true/false, a list of options, an ISO date-time), beside `key`,
its canonical text, which the case list's filters compare (`field.CODE=value`), and for text the
lower-cased value the text search reads.
A field that is changed or retired keeps the values already recorded: nothing here cascades from a
definition to its values.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, Enum, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casemgr.cases.models import CaseStatus
from casemgr.db import Base, UTCDateTime, utcnow

CODE_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
# The canonical text the filters compare, in an index: longer values are compared by their first part (a
# PostgreSQL b-tree entry holds at most about 2,700 bytes, a character up to 4).
KEY_MAX = 200


class FieldType(enum.StrEnum):
    TEXT = "text"
    LONG_TEXT = "long_text"
    NUMBER = "number"
    CHOICE = "choice"
    MULTI_CHOICE = "multi_choice"
    DATETIME = "datetime"
    YES_NO = "yes_no"
    USER = "user"
    URL = "url"


TEXT_TYPES = frozenset({FieldType.TEXT, FieldType.LONG_TEXT, FieldType.URL})
CHOICE_TYPES = frozenset({FieldType.CHOICE, FieldType.MULTI_CHOICE})


class CaseFieldDefinition(Base):
    """A custom field of cases. `category` None: every category's cases have it."""

    __tablename__ = "case_fields"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(100))
    help_text: Mapped[str] = mapped_column(Text, default="")
    type: Mapped[FieldType] = mapped_column(Enum(FieldType, native_enum=False, length=20))
    category: Mapped[str | None] = mapped_column(String(64), index=True)
    required: Mapped[bool] = mapped_column(default=False)
    # With `required`: the first state of the lifecycle a case cannot be in without a value (new: always).
    required_from: Mapped[CaseStatus] = mapped_column(Enum(CaseStatus, native_enum=False, length=20),
                                                      default=CaseStatus.NEW)
    # Validation: options (choice, multi-choice), max_length and pattern (text), min and max (number).
    options: Mapped[list[str]] = mapped_column(JSON, default=list)
    max_length: Mapped[int | None] = mapped_column(Integer)
    pattern: Mapped[str | None] = mapped_column(String(500))
    min_value: Mapped[float | None] = mapped_column(Float)
    max_value: Mapped[float | None] = mapped_column(Float)
    position: Mapped[int] = mapped_column(Integer, default=100)
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    @property
    def is_retired(self) -> bool:
        return self.retired_at is not None

    def applies_to(self, category: str) -> bool:
        return self.category is None or self.category == category


class CaseFieldValue(Base):
    """The value one case holds for one custom field (no row: no value)."""

    __tablename__ = "case_field_values"
    __table_args__ = (
        UniqueConstraint("case_id", "field_id"),
        # The list filter `field.CODE=value` looks the key up per field.
        Index("ix_case_field_values_field_key", "field_id", "key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    field_id: Mapped[int] = mapped_column(ForeignKey("case_fields.id"))
    value: Mapped[Any] = mapped_column(JSON)
    key: Mapped[str] = mapped_column(String(KEY_MAX))
    # Text, long text and URL values in lower case, for the free-text search (not indexed; None for other types).
    search_text: Mapped[str | None] = mapped_column(Text)

    field: Mapped[CaseFieldDefinition] = relationship()
