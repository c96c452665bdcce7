"""STIX objects kept on a case: the full JSON as received or created, plus indexed columns to find it.

Each case holds its own copy of every object it was given (the same STIX id may sit in several cases):
access to an object is access to its case, and correlation across cases goes through `value_digest`.

- `StixObject` is the current version of one STIX id in one case; `stix_json` is the object exactly as
  received or built (serialized once, given back byte for byte in exports and TAXII).
- `StixObjectVersion` keeps the other versions (same id, another `modified`): the newest is always current,
  an older version arriving later goes to the history and never overwrites it.
- Extracted columns: `value_type`/`value` are the normalized observable of an indicator's simple pattern or
  of an SCO (the dedupe and correlation key, looked up by `value_digest`, a SHA-256 of the value, because
  URLs and user agents can be longer than an index entry allows); `ip_start`/`ip_end` the address range of
  an IP or CIDR as 32 hex digits (IPv4 mapped into ::ffff:0:0/96) so that IP-in-CIDR search is an indexed
  range query; `tlp` the highest TLP level among the object's markings (for a TLP marking definition, the
  level it defines, so that the TLP:RED definition leaves exports with the objects it marks); an object that
  carries no TLP marking takes its case's (`red.effective_tlp`, the one place that decides); `revoked` the
  current version's STIX `revoked` (a revoked object stays, shown as revoked, left out of correlation).
- `StixObjectCorrection` records who revoked an object or changed its TLP, when and why (each correction is
  a new version of the object; the earlier one goes to `StixObjectVersion`).
- `IndicatorCollection` gives a case the stable id of its TAXII collection, made with its first object.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, Uuid, false
from sqlalchemy.orm import Mapped, mapped_column

from casemgr.db import Base, UTCDateTime, str_enum, utcnow
from casemgr.indicators.stix import Tlp


class StixObject(Base):
    __tablename__ = "stix_objects"
    __table_args__ = (
        # STIX id first: bulk import looks up a batch of ids with `stix_id IN (...)` alone, which can only be
        # answered by this index (see imports.py); a case's own lookups add the case id.
        UniqueConstraint("stix_id", "case_id", name="uq_stix_objects_stix_id_case_id"),
        # A case's objects of one type in insertion order (the indicator list, exports by type).
        Index("ix_stix_objects_case_id_type_id", "case_id", "type", "id"),
        # TAXII paging: a case's objects, or the shareable indicators, by date added.
        Index("ix_stix_objects_case_id_added_at_id", "case_id", "added_at", "id"),
        Index("ix_stix_objects_type_tlp_added_at_id", "type", "tlp", "added_at", "id"),
        Index("ix_stix_objects_value_digest", "value_digest"),
        Index("ix_stix_objects_ip_start_ip_end", "ip_start", "ip_end"),
        Index("ix_stix_objects_case_id_source_ref", "case_id", "source_ref"),
        Index("ix_stix_objects_case_id_target_ref", "case_id", "target_ref"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    stix_id: Mapped[str] = mapped_column(String(300))
    type: Mapped[str] = mapped_column(String(250))
    created: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    modified: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())  # None for SCOs (they have no versions)
    stix_json: Mapped[str] = mapped_column(Text)

    value_type: Mapped[str | None] = mapped_column(String(32))
    value: Mapped[str | None] = mapped_column(Text)
    value_digest: Mapped[str | None] = mapped_column(String(64))
    ip_start: Mapped[str | None] = mapped_column(String(32))
    ip_end: Mapped[str | None] = mapped_column(String(32))
    pattern: Mapped[str | None] = mapped_column(Text)
    name: Mapped[str | None] = mapped_column(String(500))
    valid_from: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    valid_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    confidence: Mapped[int | None] = mapped_column(Integer)
    tlp: Mapped[Tlp | None] = mapped_column(str_enum(Tlp, 16))
    source_ref: Mapped[str | None] = mapped_column(String(300))  # relationship source, or what a sighting is of
    target_ref: Mapped[str | None] = mapped_column(String(300))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    added_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)  # of the current version
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    def __repr__(self) -> str:
        return f"<StixObject {self.stix_id} in case {self.case_id}>"


class StixObjectVersion(Base):
    """A version of an object other than the current one."""

    __tablename__ = "stix_object_versions"
    __table_args__ = (UniqueConstraint("object_id", "modified", name="uq_stix_object_versions_object_id_modified"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    object_id: Mapped[int] = mapped_column(ForeignKey("stix_objects.id", ondelete="CASCADE"))
    modified: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    stix_json: Mapped[str] = mapped_column(Text)
    added_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class StixObjectCorrection(Base):
    """A revocation or a TLP change of an object, with its reason: the new version's `modified`, who and why."""

    __tablename__ = "stix_object_corrections"
    __table_args__ = (Index("ix_stix_object_corrections_object_id", "object_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    object_id: Mapped[int] = mapped_column(ForeignKey("stix_objects.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # "revoke" or "tlp"
    from_tlp: Mapped[Tlp | None] = mapped_column(str_enum(Tlp, 16))  # the effective TLP before and after
    to_tlp: Mapped[Tlp | None] = mapped_column(str_enum(Tlp, 16))
    reason: Mapped[str] = mapped_column(Text)
    modified: Mapped[dt.datetime] = mapped_column(UTCDateTime())  # of the version this correction made
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_name: Mapped[str] = mapped_column(String(128))


class IndicatorCollection(Base):
    """The TAXII collection of one case."""

    __tablename__ = "indicator_collections"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True, autoincrement=False)
    collection_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True, default=uuid.uuid4)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
