"""The chain of custody's hashes: what a custody event's hash covers, appending an event (with its
audit entry), and recomputing an item's chain."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import rfc8785
from sqlalchemy.orm import Session

from casemgr.audit import service as audit
from casemgr.audit.content import without_content
from casemgr.auth.actor import Actor
from casemgr.collaborators import clock
from casemgr.evidence.models import CustodyEvent, CustodyKind, EvidenceItem

GENESIS_HASH = "0" * 64


def custody_payload(event: CustodyEvent) -> bytes:
    """The RFC 8785 serialization of what a custody event says (its hash covers this)."""
    payload: dict[str, Any] = {
        "evidence_id": event.evidence_id,
        "seq": event.seq,
        "kind": str(event.kind),
        "occurred_at": event.occurred_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "actor_id": event.actor_id,
        "actor": event.actor_name,
        "details": event.details,
        "alarm": bool(event.alarm),
    }
    if event.token_issued_by is not None:  # only entries made with a token have it (and older ones never)
        payload["token_issued_by"] = event.token_issued_by
    return rfc8785.dumps(payload)


def custody_hash(prev_hash: str, event: CustodyEvent) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + custody_payload(event)).hexdigest()


def _append(session: Session, actor: Actor, item: EvidenceItem, kind: CustodyKind, details: dict[str, Any], *,
            alarm: bool = False, audited: dict[str, Any] | None = None) -> CustodyEvent:
    """Append a custody event with `details`; the audit entry says the same without case content
    (`audited` replaces the details there when their shape would carry content past without_content)."""
    event = CustodyEvent(evidence_id=item.id, seq=item.custody_count + 1, kind=kind, occurred_at=clock(session).now(),
                         actor_id=actor.user.id if actor.user is not None else None, actor_name=actor.name,
                         token_issued_by=actor.token_issued_by if actor.token_id is not None else None,
                         details=json.loads(json.dumps(details, default=str)), prev_hash=item.custody_head,
                         alarm=alarm)
    event.hash = custody_hash(item.custody_head, event)
    item.custody_count, item.custody_head = event.seq, event.hash
    session.add(event)
    session.flush()
    # The audit entry names the filename, purpose, reasons and provenance but holds none of them (admins read
    # the audit log, not cases); the custody entry it points to (seq and hash) holds them.
    audit.record(session, actor, f"evidence.{kind}", "evidence", item.id, without_content(
        {"case_id": item.case_id, "filename": item.filename, "custody_seq": event.seq, "custody_hash": event.hash,
         **(event.details if audited is None else audited)}))
    return event


@dataclass(frozen=True)
class ChainCheck:
    valid: bool
    problem: str | None = None


def check_chain(item: EvidenceItem, events: list[CustodyEvent]) -> ChainCheck:
    """Recompute an item's custody chain: every link, every hash, and the head the item remembers."""
    prev = GENESIS_HASH
    for position, event in enumerate(events, start=1):
        if event.seq != position:
            return ChainCheck(False, f"custody entry {position} is missing (next present is {event.seq})")
        if event.evidence_id != item.id:
            return ChainCheck(False, f"custody entry {position} belongs to another item")
        if event.prev_hash != prev:
            return ChainCheck(False, f"custody entry {position} does not link to entry {position - 1}")
        if custody_hash(prev, event) != event.hash:
            return ChainCheck(False, f"custody entry {position} was altered: its content does not match its hash")
        prev = event.hash
    if len(events) != item.custody_count or prev != item.custody_head:
        return ChainCheck(False, f"the item records {item.custody_count} custody entries ending in "
                                 f"{item.custody_head[:12]}…, but {len(events)} are present: entries were removed")
    return ChainCheck(True)
