"""The audit log: an append-only hash chain with signed checkpoints."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from casemgr.db import Base, UTCDateTime


class AuditEntry(Base):
    __tablename__ = "audit_entries"
    # The browse filters: by user (above), by action and time (below), by object, by case (newest first).
    __table_args__ = (Index("ix_audit_entries_object", "object_type", "object_id"),
                      Index("ix_audit_entries_case_id_seq", "case_id", "seq"))

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                     autoincrement=False)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    actor_type: Mapped[str] = mapped_column(String(16))  # user | token | system | anonymous
    actor_id: Mapped[int | None] = mapped_column(Integer, index=True)
    actor_name: Mapped[str] = mapped_column(String(128), index=True)
    token_id: Mapped[int | None] = mapped_column(Integer)
    token_issued_by: Mapped[str | None] = mapped_column(String(128))  # who issued the token the actor used
    action: Mapped[str] = mapped_column(String(64), index=True)
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str | None] = mapped_column(String(64))
    summary: Mapped[dict[str, object]] = mapped_column(JSON)
    source_ip: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64))
    via: Mapped[str] = mapped_column(String(8))  # web | api | cli
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The case the entry is about, as `record()` reads it from the object and summary (audit.service.case_named),
    # kept for the case filter. Not hashed: derived from what the hash covers, and verify_chain re-derives it.
    case_id: Mapped[int | None] = mapped_column(Integer)


class AuditHead(Base):
    """One row: the current end of the chain. Locked FOR UPDATE to serialize appends."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    hash: Mapped[str] = mapped_column(String(64))


class AuditCheckpoint(Base):
    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    entry_count: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), index=True)
    head_hash: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(Text)
