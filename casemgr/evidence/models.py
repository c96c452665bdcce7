"""Evidence items and their chain of custody. Tables and invariants only: no Flask, no I/O.

- `EvidenceItem` is one stored file: where its ciphertext is (`object_id`, an opaque store id),
  its data key wrapped under a master key (`wrapped_key`, `key_id`), the hashes and size of the
  plaintext computed at intake, the sanitized original name, the media type detected from the
  content, who collected it and how, its custody state and the last integrity check. Disposal
  clears `object_id`, `wrapped_key` and `key_id` (the content is destroyed); the record stays.
- `CustodyEvent` is one entry of an item's custody log. Entries are append-only and hash-chained
  per item: hash = SHA-256(prev_hash || RFC 8785 JSON of the entry, which names the item). The
  item keeps the number of entries and the last hash (`custody_count`, `custody_head`) so that
  dropping the newest entries is detected as well as editing or reordering them.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from casemgr.cases.models import Case
from casemgr.db import Base, UTCDateTime, str_enum, utcnow


class EvidenceState(enum.StrEnum):
    ACTIVE = "active"  # in custody, content available
    SEALED = "sealed"  # content kept but not handed out until released
    DISPOSED = "disposed"  # content destroyed, record kept


class Integrity(enum.StrEnum):
    UNVERIFIED = "unverified"  # not checked since intake (intake itself computed the hashes)
    OK = "ok"
    FAILED = "failed"


class CustodyKind(enum.StrEnum):
    ACQUIRED = "acquired"
    RECEIVED = "received"
    VIEWED = "viewed"
    DOWNLOADED = "downloaded"
    TRANSFERRED = "transferred"
    VERIFIED = "verified"
    EXPORTED = "exported"
    SEALED = "sealed"
    RELEASED = "released"
    DISPOSED = "disposed"
    CORRECTED = "corrected"  # provenance corrected (before the first transfer), earlier values in the details


class EvidenceItem(Base):
    __tablename__ = "evidence_items"
    __table_args__ = (
        Index("ix_evidence_items_case_id_id", "case_id", "id"),
        # Rotation and retirement count the data keys still wrapped under a master key.
        Index("ix_evidence_items_key_id", "key_id"),
        Index("ix_evidence_items_sha256", "sha256"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    object_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    key_id: Mapped[str | None] = mapped_column(String(32))
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary(64))

    size: Mapped[int] = mapped_column(BigInteger)
    stored_size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    sha1: Mapped[str] = mapped_column(String(40))
    md5: Mapped[str] = mapped_column(String(32))
    filename: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(255))

    description: Mapped[str] = mapped_column(Text, default="")
    collected_by: Mapped[str | None] = mapped_column(String(200))
    collected_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    source: Mapped[str | None] = mapped_column(String(500))
    acquisition_method: Mapped[str | None] = mapped_column(String(500))

    state: Mapped[EvidenceState] = mapped_column(str_enum(EvidenceState, 16), default=EvidenceState.ACTIVE)
    custodian: Mapped[str] = mapped_column(String(150))
    received_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    received_by: Mapped[str] = mapped_column(String(150))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    integrity: Mapped[Integrity] = mapped_column(str_enum(Integrity, 16), default=Integrity.UNVERIFIED)
    verified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    integrity_detail: Mapped[str | None] = mapped_column(Text)

    disposed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    custody_count: Mapped[int] = mapped_column(Integer, default=0)
    custody_head: Mapped[str] = mapped_column(String(64))

    case: Mapped[Case] = relationship()
    custody: Mapped[list[CustodyEvent]] = relationship(back_populates="item", order_by="CustodyEvent.seq")

    @property
    def has_content(self) -> bool:
        return self.object_id is not None and self.wrapped_key is not None

    @property
    def alarm(self) -> bool:
        return self.integrity == Integrity.FAILED


class CustodyEvent(Base):
    __tablename__ = "evidence_custody"
    __table_args__ = (UniqueConstraint("evidence_id", "seq", name="uq_evidence_custody_evidence_id_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    evidence_id: Mapped[int] = mapped_column(ForeignKey("evidence_items.id"))
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[CustodyKind] = mapped_column(str_enum(CustodyKind, 16))
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor_name: Mapped[str] = mapped_column(String(150))
    token_issued_by: Mapped[str | None] = mapped_column(String(128))  # who issued the token the actor used
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    alarm: Mapped[bool] = mapped_column(Boolean, default=False)

    item: Mapped[EvidenceItem] = relationship(back_populates="custody")
