"""Teams and their members.

A team's name is unique whatever its letter case (`name_key` holds it folded, so the rule is one
unique index on both databases). A retired team stays on the cases that had it and in their history;
it cannot be chosen for a case again (casemgr/teams/service.py, `team_for_case`).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casemgr.auth.models import User
from casemgr.db import Base, UTCDateTime, utcnow

NAME_MAX = 64

team_members = Table(
    "team_members",
    Base.metadata,
    Column("team_id", ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    # "Which teams is this user in?" (notifications, per-team figures) walks this index.
    Index("ix_team_members_user_id_team_id", "user_id", "team_id"),
)


def name_key(name: str) -> str:
    """The form of a team name that uniqueness compares: trimmed, case-folded."""
    return name.strip().casefold()


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    name_key: Mapped[str] = mapped_column(String(NAME_MAX), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    contact_email: Mapped[str | None] = mapped_column(String(254))
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    lead: Mapped[User | None] = relationship(foreign_keys=[lead_id])
    members: Mapped[list[User]] = relationship(secondary=team_members, order_by="User.username")

    @property
    def is_retired(self) -> bool:
        return self.retired_at is not None

    @property
    def member_names(self) -> list[str]:
        return sorted(u.username for u in self.members)  # in name order also before a reload

    def __str__(self) -> str:  # a team shown in a page or a message is its name
        return self.name
