"""Stored playbooks, their versions, and the runs of a version on a case with the state of each step.

- A `Playbook` is an identity (the file's id, kebab-case) that keeps every version ever imported. A
  `PlaybookVersion` holds the resolved definition as JSON (`definition`, the form of
  casemgr/playbooks/definition.py `Playbook.canonical()`), the text it was imported from, and the SHA-256 of
  the definition's canonical JSON (RFC 8785). A version is never changed once stored: the same id and version
  with other content is refused (bump the version). `Playbook.current_version` is the one new runs use.
- A `PlaybookRun` pins the version (and a copy of its content hash): editing or re-importing the file never
  changes a run in progress. Its `version` column is an optimistic lock: every step action bumps it, and the
  service locks the run row first, so two analysts completing parallel steps both see each other's result
  when the steps that depend on both open.
- A `RunStep` is one step of a run: its state, who it is assigned to, who started and completed it and when,
  the inputs recorded (JSON, by input id), a note, the reason of a skip, failure or block, and the approval a
  `require_approval` action asks for. Its own `version` is what an API client sends back with an action.

Lessons learned (a later issue) will propose changes to a playbook and record the version that implemented
them: they reference `Playbook.id` and `PlaybookVersion.id`, both stable.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casemgr.auth.models import User
from casemgr.cases.models import Case
from casemgr.db import Base, UTCDateTime, str_enum, utcnow


class SourceFormat(enum.StrEnum):
    YAML = "yaml"  # a playbook file of ours
    CACAO = "cacao"  # an OASIS CACAO 2.0 JSON playbook, converted on import


class RunStatus(enum.StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"  # no step action until resumed
    ABORTED = "aborted"  # final, with a reason
    COMPLETED = "completed"  # final: every step done, skipped, not applicable (or failed and accepted)


class StepState(enum.StrEnum):
    PENDING = "pending"  # waiting for its dependencies
    READY = "ready"  # its dependencies are done: it may be started
    IN_PROGRESS = "in_progress"
    DONE = "done"
    SKIPPED = "skipped"  # by a person, with a reason
    BLOCKED = "blocked"  # waiting for an approval, or blocked by a person with a reason
    FAILED = "failed"  # could not be done, with a reason
    NOT_APPLICABLE = "not_applicable"  # its condition is false


FINISHED_STATES = frozenset({StepState.DONE, StepState.SKIPPED, StepState.NOT_APPLICABLE})


class Playbook(Base):
    __tablename__ = "playbooks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)  # the file's id
    title: Mapped[str] = mapped_column(String(200))  # the current version's
    current_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("playbook_versions.id", use_alter=True, name="fk_playbooks_current_version_id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    versions: Mapped[list[PlaybookVersion]] = relationship(
        back_populates="playbook", foreign_keys="PlaybookVersion.playbook_id",
        order_by="(PlaybookVersion.major, PlaybookVersion.minor, PlaybookVersion.patch)")
    current_version: Mapped[PlaybookVersion | None] = relationship(foreign_keys=[current_version_id],
                                                                   post_update=True)


class PlaybookVersion(Base):
    __tablename__ = "playbook_versions"
    __table_args__ = (UniqueConstraint("playbook_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    playbook_id: Mapped[int] = mapped_column(ForeignKey("playbooks.id"))
    version: Mapped[str] = mapped_column(String(32))  # "1.2.0"
    major: Mapped[int] = mapped_column(Integer)  # the version as numbers, to order versions
    minor: Mapped[int] = mapped_column(Integer)
    patch: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)  # definition.Playbook.canonical()
    content_hash: Mapped[str] = mapped_column(String(64))  # sha256 hex of the definition's RFC 8785 JSON
    source: Mapped[str] = mapped_column(Text)  # the text imported, verbatim
    source_format: Mapped[SourceFormat] = mapped_column(str_enum(SourceFormat, 8), default=SourceFormat.YAML)
    source_name: Mapped[str] = mapped_column(String(255), default="")  # the file name it came from
    imported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    imported_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    imported_by_name: Mapped[str] = mapped_column(String(128))

    playbook: Mapped[Playbook] = relationship(back_populates="versions", foreign_keys=[playbook_id])
    imported_by: Mapped[User | None] = relationship()


class PlaybookRun(Base):
    __tablename__ = "playbook_runs"
    __table_args__ = (Index("ix_playbook_runs_case_id", "case_id", "id"),
                      Index("ix_playbook_runs_version_id", "version_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    version_id: Mapped[int] = mapped_column(ForeignKey("playbook_versions.id"))
    content_hash: Mapped[str] = mapped_column(String(64))  # the pinned version's, copied at start
    status: Mapped[RunStatus] = mapped_column(str_enum(RunStatus, 16), default=RunStatus.ACTIVE)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    started_by_name: Mapped[str] = mapped_column(String(128))
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    reason: Mapped[str | None] = mapped_column(Text)  # why it was paused or aborted
    version: Mapped[int] = mapped_column(Integer)
    __mapper_args__: Any = {"version_id_col": version}

    case: Mapped[Case] = relationship()
    playbook_version: Mapped[PlaybookVersion] = relationship()
    started_by: Mapped[User | None] = relationship(foreign_keys=[started_by_id])
    steps: Mapped[list[RunStep]] = relationship(back_populates="run", order_by="RunStep.position",
                                                cascade="all, delete-orphan")


class RunStep(Base):
    __tablename__ = "playbook_run_steps"
    __table_args__ = (UniqueConstraint("run_id", "step_id"),
                      Index("ix_playbook_run_steps_assignee_id", "assignee_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("playbook_runs.id"))
    step_id: Mapped[str] = mapped_column(String(64))  # the definition's step id
    position: Mapped[int] = mapped_column(Integer)  # its place in the definition
    state: Mapped[StepState] = mapped_column(str_enum(StepState, 16), default=StepState.PENDING)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    started_by_name: Mapped[str | None] = mapped_column(String(128))
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())  # done, skipped or failed
    completed_by_name: Mapped[str | None] = mapped_column(String(128))
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # by input id, as recorded
    note: Mapped[str | None] = mapped_column(Text)  # Markdown
    reason: Mapped[str | None] = mapped_column(Text)  # of a skip, failure or block
    approval_asked: Mapped[str | None] = mapped_column(String(500))  # a require_approval action's text
    approved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    approved_by_name: Mapped[str | None] = mapped_column(String(128))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    version: Mapped[int] = mapped_column(Integer)
    __mapper_args__: Any = {"version_id_col": version}

    run: Mapped[PlaybookRun] = relationship(back_populates="steps")
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])
