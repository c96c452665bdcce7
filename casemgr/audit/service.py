"""Appending to, checkpointing, verifying and reading the audit log.

Every state change in casemgr calls `record()` in the same transaction as the change itself.
Entries form a SHA-256 chain: hash = SHA-256(prev_hash || RFC 8785 canonical JSON of the entry).
Appends lock the single `audit_head` row (SELECT ... FOR UPDATE on PostgreSQL; SQLite write
transactions are already serialized by BEGIN IMMEDIATE), so the chain stays linear under
concurrent writers. Every N entries, and on demand, a checkpoint signed with the instance's
Ed25519 key records the entry count and head hash, so that cutting off the newest entries is
detected too.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import rfc8785
from sqlalchemy import ColumnElement, Select, func, inspect, select
from sqlalchemy.orm import Session

from casemgr import paging
from casemgr.audit.content import EntryView, for_reader
from casemgr.audit.models import AuditCheckpoint, AuditEntry, AuditHead
from casemgr.audit.readable import ReadableEntry, readable
from casemgr.audit.trail import _HELD_KEY, _PENDING_KEY, AuditTrail
from casemgr.auth.actor import Actor
from casemgr.auth.permissions import Permission, require
from casemgr.cases import access
from casemgr.cases.models import Case
from casemgr.collaborators import audit_trail, clock
from casemgr.db import insert_for
from casemgr.errors import NotFound
from casemgr.paging import Page

GENESIS_HASH = "0" * 64
HEAD_ID = 1


def canonical_entry(entry: AuditEntry) -> bytes:
    """The RFC 8785 serialization of everything an entry says, which its hash covers."""
    canonical: dict[str, Any] = {
        "seq": entry.seq,
        "occurred_at": entry.occurred_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "actor_type": entry.actor_type,
        "actor_id": entry.actor_id,
        "actor_name": entry.actor_name,
        "token_id": entry.token_id,
        "action": entry.action,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "summary": entry.summary,
        "source_ip": entry.source_ip,
        "request_id": entry.request_id,
        "via": entry.via,
    }
    if entry.token_issued_by is not None:  # only entries made with a token have it (and older ones never)
        canonical["token_issued_by"] = entry.token_issued_by
    return rfc8785.dumps(canonical)


def chain_hash(prev_hash: str, entry: AuditEntry) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + canonical_entry(entry)).hexdigest()


def _lock_head(session: Session) -> AuditHead:
    """Lock the head row for this transaction and return its current (not cached) state.

    populate_existing: a session that committed earlier still holds the head it saw then
    (sessions do not expire on commit), which would fork the chain.
    """
    session.connection()  # begin the transaction now, so that it can be told apart from the last one
    transaction = session.get_transaction()
    held = session.info.get(_HELD_KEY)
    if held is not None and held[0] is transaction and inspect(held[1]).persistent:
        # Locked earlier in this transaction, and no savepoint has ended since (_forget_head):
        # the lock lasts until the transaction ends, so the row is still ours.
        return held[1]
    locked = (select(AuditHead).where(AuditHead.id == HEAD_ID).with_for_update()
              .execution_options(populate_existing=True))
    head = session.scalars(locked).one_or_none()
    if head is None:
        # The very first append. Concurrent first writers must not both insert the row: the
        # loser of ON CONFLICT DO NOTHING waits for the winner and then locks the row it made.
        insert = insert_for(session)
        session.execute(insert(AuditHead).values(id=HEAD_ID, seq=0, hash=GENESIS_HASH).on_conflict_do_nothing())
        head = session.scalars(locked).one()
    session.info[_HELD_KEY] = (transaction, head)
    return head


# Case ids are 32-bit integers (casemgr.cases.models.Case.id); a larger number names no case.
MAX_CASE_ID = 2**31 - 1


def case_named(object_type: str, object_id: str | None, summary: Mapping[str, Any],
               case_by_reference: Callable[[str], int | None]) -> int | None:
    """The id of the case an entry is about: its object is the case (object `case`), or its summary names the
    case by id (`case_id`: evidence, exports; an integer or its decimal text) or by reference (`case`:
    indicators, STIX objects; `reference`: cases), the first of these that names one; else None.
    `case_by_reference` finds a case's id by its reference (None when no case has it).

    The one rule for `AuditEntry.case_id`: record() sets it with it, migration 0011 backfilled older entries
    with it (in SQL), verify_chain re-checks every entry against it. An entry is about at most one case;
    the writers never name two."""
    if object_type == "case" and (number := _case_number(object_id)) is not None:
        return number
    if (number := _case_number(summary.get("case_id"))) is not None:
        return number
    for key in ("case", "reference"):
        value = summary.get(key)
        if isinstance(value, str) and (found := case_by_reference(value)) is not None:
            return found
    return None


def _case_number(value: object) -> int | None:
    if isinstance(value, bool):  # JSON true is no case number (though SQLite reads it as 1)
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.isascii() and value.isdigit() and str(int(value)) == value:
        number = int(value)  # the decimal text exactly as str() writes it: not "007", not "7.0"
    else:
        return None
    return number if 1 <= number <= MAX_CASE_ID else None


def record(session: Session, actor: Actor, action: str, object_type: str, object_id: object | None,  # noqa: PLR0917
           summary: dict[str, Any] | None = None) -> AuditEntry:
    """Append one entry for `action` on an object. Call it in the transaction that makes the change."""
    trail = audit_trail(session)
    recorded = json.loads(json.dumps(summary or {}, default=str))
    object_key = None if object_id is None else str(object_id)
    case_id = case_named(object_type, object_key, recorded,
                         lambda reference: session.scalar(select(Case.id).where(Case.reference == reference)))
    head = _lock_head(session)
    entry = AuditEntry(
        seq=head.seq + 1,
        occurred_at=clock(session).now(),
        actor_type=actor.kind,
        actor_id=actor.user.id if actor.user is not None else None,
        actor_name=actor.name,
        token_id=actor.token_id,
        token_issued_by=actor.token_issued_by if actor.token_id is not None else None,
        action=action,
        object_type=object_type,
        object_id=object_key,
        summary=recorded,
        source_ip=actor.source_ip,
        request_id=actor.request_id,
        via=actor.via,
        prev_hash=head.hash,
        case_id=case_id,
    )
    entry.hash = chain_hash(head.hash, entry)
    session.add(entry)
    head.seq, head.hash = entry.seq, entry.hash
    session.flush()
    if trail.stream is not None:
        session.info.setdefault(_PENDING_KEY, []).append(entry)
    if entry.seq % trail.checkpoint_every == 0:
        _write_checkpoint(session, trail, head)
    return entry


def checkpoint_message(entry_count: int, head_hash: str, created_at: dt.datetime, key_id: str) -> bytes:
    return rfc8785.dumps(
        {
            "entry_count": entry_count,
            "head_hash": head_hash,
            "created_at": created_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
            "key_id": key_id,
        }
    )


def _write_checkpoint(session: Session, trail: AuditTrail, head: AuditHead) -> AuditCheckpoint:
    created = clock(session).now()
    message = checkpoint_message(head.seq, head.hash, created, trail.signer.key_id)
    checkpoint = AuditCheckpoint(
        created_at=created,
        entry_count=head.seq,
        head_hash=head.hash,
        key_id=trail.signer.key_id,
        signature=base64.b64encode(trail.signer.sign(message)).decode("ascii"),
    )
    session.add(checkpoint)
    session.flush()
    return checkpoint


def sign_head(session: Session) -> AuditCheckpoint:
    """Sign a checkpoint of the chain head as it is in this transaction (whoever asked is audited by them)."""
    return _write_checkpoint(session, audit_trail(session), _lock_head(session))


def checkpoint(session: Session, actor: Actor) -> AuditCheckpoint:
    """Record and sign a checkpoint of the chain head now. Raises Forbidden for non-auditors."""
    require_reader(actor)
    entry = record(session, actor, "audit.checkpoint", "audit", None, {})
    automatic = session.scalar(select(AuditCheckpoint).where(AuditCheckpoint.entry_count == entry.seq))
    return automatic or sign_head(session)


@dataclass
class ChainReport:
    ok: bool
    checked: int
    first_broken_seq: int | None = None
    reason: str | None = None
    checkpoints_checked: int = 0
    head_seq: int = 0
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "first_broken_seq": self.first_broken_seq,
            "reason": self.reason,
            "checkpoints_checked": self.checkpoints_checked,
        }


def verify_chain(session: Session, actor: Actor, *, batch: int = 2000) -> ChainReport:
    """Walk the whole chain and every checkpoint. Raises Forbidden for roles that may not."""
    require_reader(actor)
    trail = audit_trail(session)
    # Read the checkpoints and the head before the entries: appends committed meanwhile only
    # extend the chain, so a live system never looks broken while it is being verified.
    checkpoints = session.scalars(
        select(AuditCheckpoint).order_by(AuditCheckpoint.entry_count, AuditCheckpoint.id)
    ).all()
    head = _read_head(session)
    report = _walk(session, batch)
    hashes_at = _hashes_at(session, [c.entry_count for c in checkpoints])
    for cp in checkpoints:
        report.checkpoints_checked += 1
        message = checkpoint_message(cp.entry_count, cp.head_hash, cp.created_at, cp.key_id)
        if cp.key_id != trail.signer.key_id or not trail.signer.verify(_b64(cp.signature), message):
            _fail(report, cp.entry_count, f"checkpoint #{cp.id} has an invalid signature")
            continue
        if cp.entry_count > report.checked:
            _fail(report, report.checked + 1,
                  f"checkpoint #{cp.id} signed {cp.entry_count} entries but only {report.checked} are present:"
                  f" entries after #{report.checked} were deleted")
        elif hashes_at.get(cp.entry_count) != cp.head_hash:
            _fail(report, cp.entry_count, f"entry #{cp.entry_count} differs from signed checkpoint #{cp.id}:"
                  f" an entry up to #{cp.entry_count} was altered and the chain after it recomputed")
    if head is None and report.checked > 0 and _read_head(session) is None:  # (not just created meanwhile)
        _fail(report, 1, "the chain head record is missing")
    elif head is not None and report.ok and head.seq > report.checked:
        _fail(report, report.checked + 1,
              f"the chain head says {head.seq} entries but only {report.checked} are present:"
              f" entries after #{report.checked} were deleted")
    return report


def _read_head(session: Session) -> AuditHead | None:
    return session.scalars(
        select(AuditHead).where(AuditHead.id == HEAD_ID).execution_options(populate_existing=True)
    ).one_or_none()


def _b64(signature: str) -> bytes:
    try:
        return base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return b""


def _fail(report: ChainReport, seq: int, reason: str) -> None:
    report.problems.append(reason)
    if report.ok or (report.first_broken_seq is not None and seq < report.first_broken_seq):
        report.ok = False
        report.first_broken_seq = seq
        report.reason = reason


def _walk(session: Session, batch: int) -> ChainReport:
    report = ChainReport(ok=True, checked=0)
    references: dict[str, int | None] = {row.reference: row.id
                                         for row in session.execute(select(Case.reference, Case.id))}

    def case_of(reference: str) -> int | None:
        if reference not in references:  # a case opened since the walk began, or none
            references[reference] = session.scalar(select(Case.id).where(Case.reference == reference))
        return references[reference]

    prev_hash = GENESIS_HASH
    expected_seq = 1
    for entry in _iter_entries(session, batch):
        if entry.seq != expected_seq:
            _fail(report, expected_seq, f"entry #{expected_seq} is missing (next present is #{entry.seq})")
            return _count_rest(report, session)
        own_hash = chain_hash(entry.prev_hash, entry)
        if entry.prev_hash != prev_hash:
            if own_hash == entry.hash and expected_seq > 1:
                # This entry is intact and remembers what its predecessor hashed to: the predecessor changed.
                _fail(report, entry.seq - 1, f"entry #{entry.seq - 1} was altered or replaced: entry #{entry.seq}"
                      f" recorded a different hash for it")
            else:
                _fail(report, entry.seq, f"entry #{entry.seq} does not link to entry #{entry.seq - 1}"
                      " (it was moved, replaced or its link altered)")
            return _count_rest(report, session)
        if own_hash != entry.hash:
            _fail(report, entry.seq, f"entry #{entry.seq} was altered: its content does not match its hash")
            return _count_rest(report, session)
        named = case_named(entry.object_type, entry.object_id, entry.summary or {}, case_of)
        if entry.case_id != named:
            # Outside the hash, so checked here: else an edit of it would hide an entry from its case's filter.
            _fail(report, entry.seq, f"entry #{entry.seq} is filed under {_case_words(entry.case_id)} but is about"
                  f" {_case_words(named)}: its case column was altered")
        prev_hash = entry.hash
        expected_seq += 1
        report.checked += 1
    return report


def _case_words(case_id: int | None) -> str:
    return "no case" if case_id is None else f"case #{case_id}"


def _count_rest(report: ChainReport, session: Session) -> ChainReport:
    report.checked = session.scalar(select(func.count()).select_from(AuditEntry)) or 0
    return report


def _iter_entries(session: Session, batch: int) -> Iterator[AuditEntry]:
    last = 0
    while True:
        rows = session.scalars(
            select(AuditEntry).where(AuditEntry.seq > last).order_by(AuditEntry.seq).limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq


def _hashes_at(session: Session, seqs: list[int]) -> dict[int, str]:
    if not seqs:
        return {}
    rows = session.execute(select(AuditEntry.seq, AuditEntry.hash).where(AuditEntry.seq.in_(set(seqs)))).all()
    return {seq: h for seq, h in rows}


def require_reader(actor: Actor) -> None:
    """Raises Forbidden unless the actor may read the audit log (`audit.read`: auditors, admins, CLI operators)."""
    require(actor, Permission.AUDIT_READ, "only auditors and admins may read or verify the audit log")


@dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None
    action: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    case: str | None = None  # a case reference: the entries about that case (case_named)
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    page: int = 1
    per_page: int = 50


def conditions(session: Session, actor: Actor, flt: AuditFilter) -> list[ColumnElement[bool]]:
    """The WHERE clauses of `flt`. A case reference must name a case the actor may see (else NotFound, as for
    any case they may not see: casemgr/cases/access.py)."""
    case_id = None
    if flt.case:
        case_id = session.scalar(select(Case.id).where(Case.reference == flt.case, access.visible_filter(actor)))
        if case_id is None:
            raise NotFound(f"case {flt.case} does not exist", field="case")
    return where_clauses(flt, case_id)


def where_clauses(flt: AuditFilter, case_id: int | None) -> list[ColumnElement[bool]]:
    """The WHERE clauses of `flt`, its case reference resolved to `case_id` already (see `conditions`)."""
    where: list[ColumnElement[bool]] = []
    if flt.actor:
        where.append(AuditEntry.actor_name == flt.actor)
    if flt.action:
        where.append(AuditEntry.action.startswith(flt.action, autoescape=True))
    if flt.object_type:
        where.append(AuditEntry.object_type == flt.object_type)
    if flt.object_id:
        where.append(AuditEntry.object_id == flt.object_id)
    if flt.case and case_id is not None:
        where.append(AuditEntry.case_id == case_id)  # the case each entry is about, kept by record()
    if flt.since:
        where.append(AuditEntry.occurred_at >= flt.since)
    if flt.until:
        where.append(AuditEntry.occurred_at < flt.until)
    return where


def _page(session: Session, actor: Actor, flt: AuditFilter) -> Page[EntryView]:
    require_reader(actor)
    query: Select[AuditEntry] = select(AuditEntry).where(*conditions(session, actor, flt))
    found: Page[AuditEntry] = paging.fetch(session, query.order_by(AuditEntry.seq.desc()), flt.page, flt.per_page)
    return found.map(lambda row: for_reader(actor, row))


def list_entries(session: Session, actor: Actor, flt: AuditFilter) -> Page[EntryView]:
    """A page of entries, newest first, as the actor may read them (without case content for admins,
    casemgr/audit/content.py), and the total matching. Raises Forbidden for non-readers, NotFound for a case
    reference the actor may not see."""
    return _page(session, actor, flt)


def readable_page(session: Session, actor: Actor, flt: AuditFilter) -> Page[ReadableEntry]:
    """A page of entries as people read them (casemgr/audit/readable.py): fields in words, and the case each
    is about where the actor may see it. Raises like list_entries."""
    found = _page(session, actor, flt)
    return Page(readable(session, actor, found.items), found.total, found.page, found.per_page)


def entry_to_dict(entry: AuditEntry | EntryView | ReadableEntry) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "occurred_at": entry.occurred_at.isoformat(),
        "actor_type": entry.actor_type,
        "actor_id": entry.actor_id,
        "actor": entry.actor_name,
        "token_id": entry.token_id,
        "token_issued_by": entry.token_issued_by,
        "action": entry.action,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "summary": entry.summary,
        "source_ip": entry.source_ip,
        "request_id": entry.request_id,
        "via": entry.via,
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    }
