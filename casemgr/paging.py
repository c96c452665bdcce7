"""Pages of a list: the typed page every listing service returns, and the one place that turns a page number
into OFFSET and LIMIT (issue 11). The API answers each page in one envelope (casemgr.api.listing); the web
pages and the CLI read the same fields.

How a service counts its total stays its own (a plain COUNT, one over an index, a window count that comes
with the rows): `fetch` counts the rows of its query unless the service gives the total.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

T = TypeVar("T")
U = TypeVar("U")
AnySelect = Select[*tuple[Any, ...]]  # a SELECT of any columns or entities
Query = TypeVar("Query", bound=AnySelect)


@dataclass(frozen=True)
class Page(Generic[T]):
    """Page `page` (from 1) of a list in pages of `per_page`, and how many items the whole list holds."""

    items: list[T]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        """How many pages the list has (at least one, even when empty)."""
        return max(1, -(-self.total // self.per_page))

    @property
    def offset(self) -> int:
        """How many items come before this page's first."""
        return offset(self.page, self.per_page)

    def map(self, fn: Callable[[T], U]) -> Page[U]:
        """The same page with each item replaced by `fn(item)`."""
        return Page([fn(item) for item in self.items], self.total, self.page, self.per_page)


def offset(page: int, per_page: int) -> int:
    return (page - 1) * per_page


def window(query: Query, page: int, per_page: int) -> Query:
    """`query` limited to the rows of page `page` (from 1) in pages of `per_page`; it must be ordered."""
    return query.offset(offset(page, per_page)).limit(per_page)


def count(session: Session, query: AnySelect) -> int:
    """How many rows `query` selects."""
    return session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0


def fetch(session: Session, query: AnySelect, page: int, per_page: int, *, total: int | None = None) -> Page[Any]:
    """Page `page` of the entities `query` selects (in its order), with the total (counted unless given)."""
    rows = list(session.scalars(window(query, page, per_page)))
    return Page(rows, count(session, query) if total is None else total, page, per_page)
