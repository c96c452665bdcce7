"""Custody actions on an item: verify (one or many), transfer, correct provenance, seal, release,
dispose. Each appends a custody event (chain.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from casemgr import collaborators
from casemgr.auth.actor import Actor
from casemgr.auth.models import User
from casemgr.auth.permissions import Permission, holds, require
from casemgr.cases import access
from casemgr.cases.models import Case
from casemgr.collaborators import clock
from casemgr.errors import Conflict, Invalid
from casemgr.evidence.chain import _append
from casemgr.evidence.crypto import ALL_DIGESTS, IntegrityError
from casemgr.evidence.items import IntegrityFailure, _item, _mismatch, _open, _require_content, record_failure
from casemgr.evidence.models import CustodyEvent, CustodyKind, EvidenceItem, EvidenceState, Integrity
from casemgr.evidence.schemas import CustodyReason, ProvenanceCorrection, Transfer

# ---------------------------------------------------------------- verifying


@dataclass
class Verification:
    item: EvidenceItem
    ok: bool
    detail: str | None


def verify(session: Session, actor: Actor, evidence_id: int) -> Verification:
    """Decrypt and hash the item without handing out content; record the result in custody (and
    the alarm on failure). Raises NotFound; Conflict (disposed); VaultUnavailable."""
    item = _item(session, actor, evidence_id, for_update=True)
    return _verify_item(session, actor, item)


def _verify_item(session: Session, actor: Actor, item: EvidenceItem) -> Verification:
    _require_content(item, "verify it", sealed_ok=True)
    try:
        opened = _open(session, actor, item, during="verify", algorithms=ALL_DIGESTS)
    except IntegrityFailure:
        return Verification(item, False, item.integrity_detail)
    try:
        for _ in opened.decryptor:
            pass
        problem = _mismatch(item, opened.decryptor.digests)
    except IntegrityError as exc:
        problem = str(exc)
    finally:
        opened.source.close()
    if problem is not None:
        record_failure(session, actor, item, problem, during="verify")
        return Verification(item, False, problem)
    item.integrity, item.verified_at, item.integrity_detail = Integrity.OK, clock(session).now(), None
    _append(session, actor, item, CustodyKind.VERIFIED, {"result": "ok", "sha256": item.sha256, "size": item.size})
    return Verification(item, True, None)


def verify_many(session: Session, actor: Actor, ids: list[int] | None) -> list[Verification]:
    """Verify the given items (all with content when None), in id order. Raises NotFound."""
    if ids is None:
        query = (select(EvidenceItem).join(Case, EvidenceItem.case_id == Case.id)
                 .where(EvidenceItem.wrapped_key.is_not(None), access.visible_filter(actor))
                 .order_by(EvidenceItem.id).with_for_update(of=EvidenceItem))
        return [_verify_item(session, actor, item) for item in session.scalars(query).all()]
    return [_verify_item(session, actor, _item(session, actor, i, for_update=True)) for i in ids]


# ---------------------------------------------------------------- custody actions


def _for_change(session: Session, actor: Actor, evidence_id: int) -> EvidenceItem:
    item = _item(session, actor, evidence_id, for_update=True)
    access.require_edit(actor, item.case)
    require(actor, Permission.EVIDENCE_HANDLE, "only analysts and managers handle evidence")
    return item


def transfer(session: Session, actor: Actor, evidence_id: int, cmd: Transfer) -> EvidenceItem:
    """Hand the item to another custodian. Raises NotFound; Forbidden; Conflict; Invalid (to)."""
    item = _for_change(session, actor, evidence_id)
    _require_content(item, "transfer it")
    target = session.scalars(select(User).where(User.username == cmd.to.lower())).one_or_none()
    if target is None or target.is_disabled or not holds(target, Permission.EVIDENCE_HANDLE):
        raise Invalid(f"to: there is no active analyst or manager {cmd.to!r}", field="to")
    if target.username == item.custodian:
        raise Invalid(f"to: {target.username} is the custodian already", field="to")
    _append(session, actor, item, CustodyKind.TRANSFERRED,
            {"from": item.custodian, "to": target.username, "reason": cmd.reason})
    item.custodian = target.username
    return item


PROVENANCE = ("description", "collected_by", "collected_at", "source", "acquisition_method")


def provenance_correctable(events: list[CustodyEvent]) -> bool:
    """Whether an item's provenance may still be corrected: until its first custody transfer (after it,
    another custodian holds the item as it was described to them)."""
    return not any(e.kind == CustodyKind.TRANSFERRED for e in events)


def correct_provenance(session: Session, actor: Actor, evidence_id: int, cmd: ProvenanceCorrection) -> EvidenceItem:
    """Correct where an item came from (description, collected by and at, source, acquisition method) until
    its first custody transfer. The custody log records each changed field's earlier and new value and the
    reason; the audit log names the fields. Raises NotFound; Forbidden; Conflict (transferred already);
    Invalid (a field, or nothing changed)."""
    item = _for_change(session, actor, evidence_id)
    transferred = session.scalars(select(CustodyEvent).where(CustodyEvent.evidence_id == item.id,
                                                              CustodyEvent.kind == CustodyKind.TRANSFERRED)
                                  .order_by(CustodyEvent.seq).limit(1)).first()
    if transferred is not None:
        raise Conflict(f"evidence item {item.id} was transferred to {transferred.details.get('to')} on "
                       f"{transferred.occurred_at:%Y-%m-%d %H:%M} UTC; its provenance can no longer be corrected "
                       "(add a note to the case's timeline instead)", field="id")
    changes: dict[str, list[Any]] = {}
    for name in PROVENANCE:
        old, new = getattr(item, name), getattr(cmd, name)
        # The form shows the time to the second: the same time sent back (without its microseconds) is no change.
        if name == "collected_at" and old is not None and new in {old, old.replace(microsecond=0)}:
            continue
        if (old or None) != (new or None):
            changes[name] = [old, new]
            setattr(item, name, new)
    if not changes:
        raise Invalid("nothing changed: change where the item comes from before saving")
    _append(session, actor, item, CustodyKind.CORRECTED, {"changes": changes, "reason": cmd.reason},
            audited={"corrected": sorted(changes), "reason": cmd.reason})
    return item


def seal(session: Session, actor: Actor, evidence_id: int, cmd: CustodyReason) -> EvidenceItem:
    """Seal the item: kept and verifiable, not handed out until released. Raises NotFound; Forbidden; Conflict."""
    item = _for_change(session, actor, evidence_id)
    _require_content(item, "seal it")
    item.state = EvidenceState.SEALED
    _append(session, actor, item, CustodyKind.SEALED, {"reason": cmd.reason})
    return item


def release(session: Session, actor: Actor, evidence_id: int, cmd: CustodyReason) -> EvidenceItem:
    """Release a sealed item. Raises NotFound; Forbidden; Conflict (not sealed)."""
    item = _for_change(session, actor, evidence_id)
    if item.state != EvidenceState.SEALED:
        raise Conflict(f"evidence item {item.id} is not sealed", field="id")
    item.state = EvidenceState.ACTIVE
    _append(session, actor, item, CustodyKind.RELEASED, {"reason": cmd.reason})
    return item


def dispose(session: Session, actor: Actor, evidence_id: int, cmd: CustodyReason) -> EvidenceItem:
    """Destroy the content (the wrapped data key is cleared now, the file unlinked after commit);
    the record and its custody log stay. Raises NotFound; Forbidden (managers only); Conflict (disposed of
    already, or sealed: a legal hold is released first)."""
    item = _item(session, actor, evidence_id, for_update=True)
    require(actor, Permission.EVIDENCE_DISPOSE, "only managers may dispose of evidence")
    if item.state == EvidenceState.DISPOSED:
        raise Conflict(f"evidence item {item.id} was disposed of already", field="id")
    if item.state == EvidenceState.SEALED:
        raise Conflict(f"evidence item {item.id} is sealed (legal hold) and cannot be disposed of; release it "
                       "first, with a reason, if the hold has ended", field="id")
    if item.object_id is not None:
        collaborators.vault(session).delete_after_commit(session, item.object_id)
    item.object_id, item.wrapped_key, item.key_id = None, None, None
    item.state, item.disposed_at = EvidenceState.DISPOSED, clock(session).now()
    _append(session, actor, item, CustodyKind.DISPOSED, {"reason": cmd.reason, "content_destroyed": True})
    return item
