"""Incident roles: the kinds of role a case can name (incident commander, scribe, ...) and who held
each on a case, when. No Flask and no I/O here (see casemgr/cases/incident_roles.py for the rules)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casemgr.auth.models import User
from casemgr.db import Base, UTCDateTime, utcnow

# The kinds every instance has, seeded by migration 0013 (and by the tests' wipe). Their codes are
# stable: playbook steps (issue 12) name the role that completes them by code.
BUILTIN_KINDS: tuple[tuple[str, str, str], ...] = (
    ("incident_commander", "Incident commander", "Leads the response and makes the decisions."),
    ("deputy", "Deputy", "Stands in for the incident commander."),
    ("technical_lead", "Technical lead", "Leads the investigation and the technical work."),
    ("scribe", "Scribe", "Keeps the timeline and the record of decisions."),
    ("communications_lead", "Communications lead", "Writes the status updates, inside and outside."),
    ("legal_liaison", "Legal/privacy liaison", "Brings in legal and privacy advice and notifications."),
)
INCIDENT_COMMANDER = "incident_commander"
# The partial unique index "one open row per (case, kind)", made by migration 0014 (see IncidentRoleAssignment).
ONE_HOLDER_INDEX = "uq_incident_role_assignments_one_holder"


class IncidentRoleKind(Base):
    __tablename__ = "incident_role_kinds"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    builtin: Mapped[bool] = mapped_column(default=False)
    position: Mapped[int] = mapped_column(Integer, default=100)
    # A retired kind is offered for no new assignment; its history on cases stays readable.
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    @property
    def is_retired(self) -> bool:
        return self.retired_at is not None


class IncidentRoleAssignment(Base):
    """Who held a role on a case from `started_at` to `ended_at` (None: holds it now). One open row
    per (case, kind) at most: the service closes the previous row when it opens the next, and the
    partial unique index `ONE_HOLDER_INDEX` refuses a second open row, e.g. from two managers naming
    someone at the same moment (the service answers the later one with a Conflict). That index is made
    by migration 0014, not declared here: `postgresql_where` would import SQLAlchemy's PostgreSQL
    dialect with the models, which `casemgr case list` on SQLite must not pay for at start."""

    __tablename__ = "incident_role_assignments"
    __table_args__ = (
        Index("ix_incident_role_assignments_case_kind", "case_id", "kind_id", "ended_at"),
        Index("ix_incident_role_assignments_user_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    kind_id: Mapped[int] = mapped_column(ForeignKey("incident_role_kinds.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    assigned_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    assigned_by_name: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    kind: Mapped[IncidentRoleKind] = relationship()
    user: Mapped[User] = relationship(foreign_keys=[user_id])
