"""Cases: the incident record, its tags, members, timeline, escalations and links.

No Flask and no I/O here: tables, the vocabularies (enums) and the rules that are pure data
(the ITIL priority matrix, severity following priority). The lifecycle's edge table is in
casemgr/cases/lifecycle.py.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, Boolean, Column, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casemgr.auth.models import User
from casemgr.db import Base, UTCDateTime, str_enum, utcnow
from casemgr.teams.models import Team


class CaseStatus(enum.StrEnum):
    NEW = "new"
    TRIAGE = "triage"
    INVESTIGATING = "investigating"
    CONTAINMENT = "containment"
    ERADICATION = "eradication"
    RECOVERY = "recovery"
    RESOLVED = "resolved"
    CLOSED = "closed"


OPEN_STATUSES = frozenset(s for s in CaseStatus if s not in {CaseStatus.RESOLVED, CaseStatus.CLOSED})


class Level(enum.StrEnum):
    """The scale of impact and urgency."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Priority(enum.StrEnum):
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"
    P5 = "P5"


class Severity(enum.StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFORMATIONAL = "informational"


class Tlp(enum.StrEnum):
    """Traffic Light Protocol 2.0 (FIRST)."""

    CLEAR = "clear"
    GREEN = "green"
    AMBER = "amber"
    AMBER_STRICT = "amber+strict"
    RED = "red"


class Pap(enum.StrEnum):
    """Permissible Actions Protocol: what the receiving team may do with the information."""

    CLEAR = "clear"
    GREEN = "green"
    AMBER = "amber"
    RED = "red"


class Source(enum.StrEnum):
    """How the incident was identified."""

    USER_REPORT = "user_report"
    MONITORING_ALERT = "monitoring_alert"
    STAFF_OBSERVATION = "staff_observation"
    THREAT_INTELLIGENCE = "threat_intelligence"
    THIRD_PARTY = "third_party"


class Resolution(enum.StrEnum):
    REMEDIATED = "remediated"
    FALSE_POSITIVE = "false_positive"
    DUPLICATE = "duplicate"
    RISK_ACCEPTED = "risk_accepted"
    OTHER = "other"


class EscalationKind(enum.StrEnum):
    FUNCTIONAL = "functional"  # to another team or tier
    HIERARCHICAL = "hierarchical"  # up to a manager


class LinkKind(enum.StrEnum):
    RELATED = "related"
    DUPLICATE_OF = "duplicate_of"


class EntryKind(enum.StrEnum):
    """What a timeline entry records. Notes and events are written by people; the rest automatically."""

    CREATED = "created"
    UPDATED = "updated"
    TRANSITION = "transition"
    ESCALATION = "escalation"
    LINK = "link"
    NOTE = "note"
    EVENT = "event"
    ROLE = "role"  # an incident role assigned, handed over or released (casemgr/cases/incident_roles.py)
    PLAYBOOK = "playbook"  # a playbook run started, paused, aborted; a step started, completed, skipped...


# ITIL: impact x urgency -> priority. high/high = P1 ... low/low = P5.
PRIORITY_MATRIX: dict[tuple[Level, Level], Priority] = {
    (Level.HIGH, Level.HIGH): Priority.P1,
    (Level.HIGH, Level.MEDIUM): Priority.P2,
    (Level.MEDIUM, Level.HIGH): Priority.P2,
    (Level.HIGH, Level.LOW): Priority.P3,
    (Level.MEDIUM, Level.MEDIUM): Priority.P3,
    (Level.LOW, Level.HIGH): Priority.P3,
    (Level.MEDIUM, Level.LOW): Priority.P4,
    (Level.LOW, Level.MEDIUM): Priority.P4,
    (Level.LOW, Level.LOW): Priority.P5,
}

SEVERITY_FOR_PRIORITY: dict[Priority, Severity] = {
    Priority.P1: Severity.CRITICAL,
    Priority.P2: Severity.HIGH,
    Priority.P3: Severity.MEDIUM,
    Priority.P4: Severity.LOW,
    Priority.P5: Severity.INFORMATIONAL,
}


def priority_for(impact: Level, urgency: Level) -> Priority:
    return PRIORITY_MATRIX[(Level(impact), Level(urgency))]


case_members = Table(
    "case_members",
    Base.metadata,
    Column("case_id", ForeignKey("cases.id"), primary_key=True),
    Column("user_id", ForeignKey("users.id"), primary_key=True),
    # The visibility filter asks "which cases is this user a member of?": user first.
    Index("ix_case_members_user_id_case_id", "user_id", "case_id"),
)


class CaseReferenceCounter(Base):
    """The last reference number handed out per year; its row is locked while a case is created."""

    __tablename__ = "case_reference_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(Integer, default=0)


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        # One index per filter, ending in the id so that "filter, newest first, first page" is an index walk.
        Index("ix_cases_status_id", "status", "id"),
        Index("ix_cases_priority_id", "priority", "id"),
        Index("ix_cases_category_id", "category", "id"),
        Index("ix_cases_owner_id_id", "owner_id", "id"),
        Index("ix_cases_team_id_id", "team_id", "id"),
        Index("ix_cases_tlp_id", "tlp", "id"),
        Index("ix_cases_restricted_id", "restricted", "id"),
        Index("ix_cases_created_at", "created_at"),
        Index("ix_cases_updated_at", "updated_at"),
        Index("ix_cases_occurred_at", "occurred_at"),
        Index("ix_cases_detected_at", "detected_at"),
        Index("ix_cases_last_escalated_at", "last_escalated_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(24), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(64))
    subcategory: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[Source | None] = mapped_column(str_enum(Source, 32))

    occurred_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    detected_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    reported_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    contained_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    impact: Mapped[Level] = mapped_column(str_enum(Level, 8))
    urgency: Mapped[Level] = mapped_column(str_enum(Level, 8))
    priority: Mapped[Priority] = mapped_column(str_enum(Priority, 4))
    priority_overridden: Mapped[bool] = mapped_column(Boolean, default=False)
    priority_reason: Mapped[str | None] = mapped_column(Text)
    severity: Mapped[Severity] = mapped_column(str_enum(Severity, 16))
    severity_overridden: Mapped[bool] = mapped_column(Boolean, default=False)
    severity_reason: Mapped[str | None] = mapped_column(Text)

    tlp: Mapped[Tlp] = mapped_column(str_enum(Tlp, 16), default=Tlp.AMBER)
    pap: Mapped[Pap] = mapped_column(str_enum(Pap, 16), default=Pap.AMBER)
    restricted: Mapped[bool] = mapped_column(Boolean, default=False)

    status: Mapped[CaseStatus] = mapped_column(str_enum(CaseStatus, 16), default=CaseStatus.NEW)
    resolution: Mapped[Resolution | None] = mapped_column(str_enum(Resolution, 16))
    resolution_summary: Mapped[str | None] = mapped_column(Text)
    root_cause: Mapped[str | None] = mapped_column(Text)
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))

    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    last_escalated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    version: Mapped[int] = mapped_column(Integer)

    # Every UPDATE says "WHERE version = <the version read>": a concurrent writer can never be
    # overwritten silently, even between the service's own version check and the flush.
    __mapper_args__: Any = {"version_id_col": version}

    owner: Mapped[User | None] = relationship(foreign_keys=[owner_id])
    team: Mapped[Team | None] = relationship()
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    tags: Mapped[list[CaseTag]] = relationship(back_populates="case", cascade="all, delete-orphan",
                                               order_by="CaseTag.tag")
    members: Mapped[list[User]] = relationship(secondary=case_members, order_by="User.username")
    duplicate_of: Mapped[Case | None] = relationship(remote_side=[id])
    escalations: Mapped[list[CaseEscalation]] = relationship(back_populates="case", order_by="CaseEscalation.id")
    timeline: Mapped[list[TimelineEntry]] = relationship(back_populates="case", order_by="TimelineEntry.id",
                                                         viewonly=True)

    @property
    def tag_names(self) -> list[str]:
        return [t.tag for t in self.tags]

    @property
    def team_name(self) -> str | None:
        return self.team.name if self.team is not None else None

    @property
    def member_names(self) -> list[str]:
        return [u.username for u in self.members]

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def is_escalated(self) -> bool:
        return self.last_escalated_at is not None

    def __repr__(self) -> str:
        return f"<Case {self.reference} {self.status}>"


class CaseTag(Base):
    __tablename__ = "case_tags"
    __table_args__ = (Index("ix_case_tags_tag_case_id", "tag", "case_id"),)

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(64), primary_key=True)

    case: Mapped[Case] = relationship(back_populates="tags")


class TimelineEntry(Base):
    """One line of a case's story. `occurred_at` is when it happened in the incident (for manual
    events, as the analyst says; otherwise when it was recorded); `recorded_at` is when it was written."""

    __tablename__ = "case_timeline"
    __table_args__ = (Index("ix_case_timeline_case_id_occurred_at", "case_id", "occurred_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    kind: Mapped[EntryKind] = mapped_column(str_enum(EntryKind, 16))
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_name: Mapped[str] = mapped_column(String(128))
    summary: Mapped[str] = mapped_column(String(500))
    changes: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # {field: [from, to]}
    body: Mapped[str | None] = mapped_column(Text)  # Markdown, for notes and manual events
    # Notes and events are corrected, never deleted: an edit keeps the earlier text as a
    # TimelineRevision; a retraction keeps the entry, shown struck through with its reason.
    edited_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    edited_by_name: Mapped[str | None] = mapped_column(String(128))
    retracted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    retracted_by_name: Mapped[str | None] = mapped_column(String(128))
    retraction_reason: Mapped[str | None] = mapped_column(Text)

    case: Mapped[Case] = relationship(back_populates="timeline")
    revisions: Mapped[list[TimelineRevision]] = relationship(back_populates="entry",
                                                             order_by="TimelineRevision.id")

    @property
    def correctable(self) -> bool:
        """Notes and manual events may be edited or retracted (until retracted); automatic entries never."""
        return self.kind in {EntryKind.NOTE, EntryKind.EVENT} and self.retracted_at is None


class TimelineRevision(Base):
    """The text a note or event had before an edit: what it said, until when and who replaced it."""

    __tablename__ = "case_timeline_revisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("case_timeline.id"), index=True)
    summary: Mapped[str] = mapped_column(String(500))
    body: Mapped[str | None] = mapped_column(Text)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    written_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())  # when this text was written
    written_by_name: Mapped[str] = mapped_column(String(128))
    replaced_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    replaced_by_name: Mapped[str] = mapped_column(String(128))

    entry: Mapped[TimelineEntry] = relationship(back_populates="revisions")


class CaseEscalation(Base):
    __tablename__ = "case_escalations"
    # The home pages ask "which escalations to this manager are still pending?".
    __table_args__ = (Index("ix_case_escalations_to_user_id_acknowledged_at", "to_user_id", "acknowledged_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[EscalationKind] = mapped_column(str_enum(EscalationKind, 16))
    reason: Mapped[str] = mapped_column(Text)
    # The team a functional escalation handed the case to, and its name then (kept if the team is renamed).
    to_team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    to_team: Mapped[str | None] = mapped_column(String(64))
    to_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_by_name: Mapped[str] = mapped_column(String(128))
    # Who took the escalation in, and when: the recipient (or a manager) acknowledges it once.
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    acknowledged_by_name: Mapped[str | None] = mapped_column(String(128))

    case: Mapped[Case] = relationship(back_populates="escalations")
    to_user: Mapped[User | None] = relationship(foreign_keys=[to_user_id])
    to_team_record: Mapped[Team | None] = relationship(foreign_keys=[to_team_id])

    @property
    def is_pending(self) -> bool:
        return self.acknowledged_at is None


class CaseLink(Base):
    """A link between two cases: `related` (read both ways) or `duplicate_of` (case -> surviving case)."""

    __tablename__ = "case_links"
    __table_args__ = (UniqueConstraint("case_id", "other_case_id", "kind", name="uq_case_links_pair"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    other_case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[LinkKind] = mapped_column(str_enum(LinkKind, 16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    case: Mapped[Case] = relationship(foreign_keys=[case_id])
    other_case: Mapped[Case] = relationship(foreign_keys=[other_case_id])
