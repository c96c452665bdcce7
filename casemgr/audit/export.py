"""Exporting a filtered range of the audit log, as CSV or JSON lines, with what proves it outside the app.

An export holds every entry from the first that matches the filters to the nearest signed checkpoint at or
after the last that matches: the matching ones (`entry`) and those between them (`link`), since each hash
covers the previous one and a reader cannot follow the chain past an entry they do not have. Each entry
carries its RFC 8785 canonical form (the exact text its hash covers), its previous hash and its hash; the
checkpoint its signed message, signature and the instance's public key. docs/audit-log.md says how to check
an export step by step with hashlib, rfc8785 and cryptography alone.

Starting an export (`start_export`) records it in the audit log and, when no signed checkpoint covers the
range's end yet, signs one, in the caller's transaction; the caller commits, then streams the rows
(`export_chunks`) from a read session, a batch at a time, never the whole range in memory.

Only those who read every case as recorded (auditors, the CLI operator) may export: the proof needs each
entry as recorded, which admins may not read (casemgr/audit/content.py).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from casemgr.audit import service
from casemgr.audit.content import reads_content
from casemgr.audit.models import AuditCheckpoint, AuditEntry
from casemgr.auth.actor import Actor
from casemgr.auth.permissions import Permission, allowed
from casemgr.cases.models import Case
from casemgr.collaborators import audit_trail, clock
from casemgr.errors import Forbidden

FORMAT_VERSION = 1
BATCH = 1000
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}
CSV_COLUMNS = ["kind", "seq", "occurred_at", "actor_type", "actor_id", "actor_name", "token_id", "token_issued_by",
               "action", "object_type", "object_id", "summary", "source_ip", "request_id", "via", "prev_hash",
               "hash", "canonical", "key_id", "signature", "public_key"]
# A spreadsheet reads a cell that starts with one of these as a formula (or, for ', as a text marker).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")


@dataclass(frozen=True)
class SignedCheckpoint:
    id: int
    entry_count: int
    head_hash: str
    created_at: str
    key_id: str
    signature: str
    signed: str  # the RFC 8785 message the signature is over
    public_key: str  # PEM; compare with the published one (`casemgr keys public`)


@dataclass(frozen=True)
class ExportPlan:
    format: str
    filters: dict[str, str]
    first_seq: int | None  # the first and last entries that match (None when none do)
    last_seq: int | None
    matching: int
    checkpoint: SignedCheckpoint
    case_id: int | None  # the case filter, resolved once for the actor who asked
    flt: service.AuditFilter
    exported_at: dt.datetime

    @property
    def filename(self) -> str:
        span = f"{self.first_seq}-{self.last_seq}" if self.first_seq is not None else "none"
        return f"audit-{span}-checkpoint-{self.checkpoint.entry_count}.{self.format}"

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.format]


def may_export(actor: Actor) -> bool:
    """Auditors and the CLI operator (`audit.export`), who also read every case, so the entries as recorded."""
    return allowed(actor, Permission.AUDIT_EXPORT) and reads_content(actor)


def require_exporter(actor: Actor) -> None:
    """Raises Forbidden unless the actor may export (see `may_export`)."""
    service.require_reader(actor)
    if not may_export(actor):
        raise Forbidden("only auditors may export the audit log: an export holds each entry as recorded, "
                        "with case content admins may not read")


def start_export(session: Session, actor: Actor, flt: service.AuditFilter, fmt: str) -> ExportPlan:
    """Record an export of the entries `flt` matches and find (or sign) the checkpoint that proves them.
    Raises Forbidden unless the actor is an auditor or the CLI operator, NotFound for a case they may not see."""
    require_exporter(actor)
    where = service.conditions(session, actor, flt)  # NotFound for a case the actor may not see
    first, last, matching = session.execute(
        select(func.min(AuditEntry.seq), func.max(AuditEntry.seq), func.count()).where(*where)).one()
    filters = {k: (v.isoformat() if hasattr(v, "isoformat") else str(v)) for k, v in asdict(flt).items()
               if v is not None and k not in {"page", "per_page"}}
    case_id = session.scalar(select(Case.id).where(Case.reference == flt.case)) if flt.case else None
    # The case by id, at the top: the entry is then about that case, named only to those who may see it.
    recorded = {"format": fmt, "filters": {k: v for k, v in filters.items() if k != "case"}, "first_seq": first,
                "last_seq": last, "entries": matching} | ({"case_id": case_id} if case_id is not None else {})
    service.record(session, actor, "audit.export", "audit", None, recorded)
    trail = audit_trail(session)
    checkpoint = session.scalars(
        select(AuditCheckpoint).where(AuditCheckpoint.entry_count >= (last or 0),
                                      AuditCheckpoint.key_id == trail.signer.key_id)
        .order_by(AuditCheckpoint.entry_count, AuditCheckpoint.id).limit(1)).first()
    if checkpoint is None:  # the range reaches past the last checkpoint: sign one of the head now
        checkpoint = service.sign_head(session)
    created = checkpoint.created_at
    signed = service.checkpoint_message(checkpoint.entry_count, checkpoint.head_hash, created, checkpoint.key_id)
    return ExportPlan(
        format=fmt, filters=filters, first_seq=first, last_seq=last, matching=matching, case_id=case_id, flt=flt,
        exported_at=clock(session).now(),
        checkpoint=SignedCheckpoint(
            id=checkpoint.id, entry_count=checkpoint.entry_count, head_hash=checkpoint.head_hash,
            created_at=json.loads(signed)["created_at"], key_id=checkpoint.key_id, signature=checkpoint.signature,
            signed=signed.decode(), public_key=trail.signer.public_pem()))


def export_chunks(session: Session, plan: ExportPlan) -> Iterator[str]:
    """The export's text, a batch of entries at a time: CSV rows or JSON lines, then the checkpoint."""
    writer = _Csv() if plan.format == "csv" else _Jsonl()
    yield writer.start(plan)
    if plan.first_seq is not None:
        matches = _matches(plan)
        after = plan.first_seq - 1
        while True:
            rows = session.execute(
                select(AuditEntry, matches.label("matches"))
                .where(AuditEntry.seq > after, AuditEntry.seq <= plan.checkpoint.entry_count)
                .order_by(AuditEntry.seq).limit(BATCH)).all()
            if not rows:
                break
            yield "".join(writer.entry(row[0], bool(row[1])) for row in rows)
            after = rows[-1][0].seq
            session.expunge_all()  # keep memory flat over a long range
    yield writer.finish(plan.checkpoint)


def _matches(plan: ExportPlan) -> ColumnElement[bool]:
    # Up to the last that matched when the export started: not its own entry, nor any appended since.
    return and_(AuditEntry.seq <= (plan.last_seq or 0), *service.where_clauses(plan.flt, plan.case_id))


def _record(entry: AuditEntry, matches: bool) -> dict[str, Any]:
    canonical = service.canonical_entry(entry).decode()
    return {"type": "entry" if matches else "link", "entry": json.loads(canonical), "canonical": canonical,
            "prev_hash": entry.prev_hash, "hash": entry.hash}


class _Jsonl:
    """One JSON object a line: a header, the entries, the checkpoint. ASCII only, so that no character in an
    entry (U+2028 and the like) is taken for a line break by any reader."""

    def start(self, plan: ExportPlan) -> str:
        return _line({"type": "export", "format_version": FORMAT_VERSION, "exported_at": plan.exported_at.isoformat(),
                      "filters": plan.filters, "first_seq": plan.first_seq, "last_seq": plan.last_seq,
                      "matching": plan.matching, "checkpoint_entry_count": plan.checkpoint.entry_count})

    def entry(self, entry: AuditEntry, matches: bool) -> str:
        return _line(_record(entry, matches))

    def finish(self, checkpoint: SignedCheckpoint) -> str:
        return _line({"type": "checkpoint", **asdict(checkpoint)})


def _line(obj: dict[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=True, separators=(",", ":")) + "\n"


class _Csv:
    """A header row, a row an entry, the checkpoint's row last (kind `checkpoint`: seq is its entry count,
    occurred_at its time, hash the head hash it signs, canonical the signed message)."""

    def start(self, plan: ExportPlan) -> str:
        return self._rows([CSV_COLUMNS])

    def entry(self, entry: AuditEntry, matches: bool) -> str:
        record = _record(entry, matches)
        fields = record["entry"]
        row = [record["type"]] + [fields.get(c) for c in CSV_COLUMNS[1:11]] + [
            json.dumps(fields["summary"], ensure_ascii=False, sort_keys=True),
            fields["source_ip"], fields["request_id"], fields["via"], record["prev_hash"], record["hash"],
            record["canonical"], None, None, None]
        return self._rows([row])

    def finish(self, checkpoint: SignedCheckpoint) -> str:
        row: list[Any] = [None] * len(CSV_COLUMNS)
        row[0], row[1], row[2] = "checkpoint", checkpoint.entry_count, checkpoint.created_at
        row[16], row[17] = checkpoint.head_hash, checkpoint.signed
        row[18], row[19], row[20] = checkpoint.key_id, checkpoint.signature, checkpoint.public_key
        return self._rows([row])

    @staticmethod
    def _rows(rows: list[list[Any]]) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerows([[safe_cell(v) for v in row] for row in rows])
        return out.getvalue()


def safe_cell(value: Any) -> str:
    """A CSV cell a spreadsheet shows as text: one ' before text that starts with = + - @, a tab, a carriage
    return or ' (so that removing one leading ' always gives the value back); nothing (None) is an empty cell."""
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text
