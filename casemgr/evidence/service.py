"""Evidence use cases: intake, chain of custody, reading, verifying, disposal, key rotation, gc.

Who may do what (on top of seeing the case, casemgr.cases.access; the permissions are in
casemgr/auth/permissions.py):
- upload (`evidence.upload`), transfer, seal, release (`evidence.handle`): on a case one may change
  (analysts, managers);
- download: `evidence.download` (analysts and managers); `evidence.download_if_enabled` (auditors)
  only when an admin allowed it (`auditor_can_download`, an InstanceSetting); admins never see case content;
- verify and read the custody log: everyone who sees the case (auditors included);
- dispose (`evidence.dispose`) and export (`evidence.export`): managers (and the CLI operator);
- key rotation and store clean-up (`evidence.maintain`): admins and the CLI operator.

Every change appends a custody event (hash-chained per item, see models.py) and an audit entry
in the same transaction. Integrity failures found while streaming content (after the request's
transaction committed) are recorded in a transaction of their own; failures found before any
content left are recorded in the request's session and raised as IntegrityFailure, which the
adapters commit before answering (the record must survive the error response).

Export packages are built in export.py.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import rfc8785
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from casemgr import collaborators
from casemgr.audit import service as audit
from casemgr.audit.content import without_content
from casemgr.auth import service as auth
from casemgr.auth.actor import Actor
from casemgr.auth.models import User
from casemgr.auth.permissions import Permission, allowed, holds, require
from casemgr.cases import access
from casemgr.cases.models import Case
from casemgr.collaborators import clock
from casemgr.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from casemgr.evidence.crypto import ALL_DIGESTS, Decryptor, Digests, Encryptor, IntegrityError
from casemgr.evidence.keyring import MissingMasterKey, WrappedKey, WrongMasterKey
from casemgr.evidence.mediatype import detect_media_type, sanitize_filename
from casemgr.evidence.models import CustodyEvent, CustodyKind, EvidenceItem, EvidenceState, Integrity
from casemgr.evidence.schemas import CustodyReason, NewEvidence, ProvenanceCorrection, Transfer
from casemgr.evidence.store import ObjectNotFound, StoreError
from casemgr.evidence.vault import VaultUnavailable

GENESIS_HASH = "0" * 64
AUDITOR_DOWNLOAD_SETTING = "evidence.auditor_can_download"


class IntegrityFailure(DomainError):
    """Stored evidence failed its integrity check; the failure is recorded (custody, audit, alarm)."""

    status = 500
    code = "integrity_failure"


class ContentIntegrityError(Exception):
    """Raised inside a content stream that already started: the transfer must break, not end."""


class Upload(Protocol):
    """A file being received: its chunks (read once), then its name and validated fields."""

    @property
    def filename(self) -> str | None: ...

    def chunks(self) -> Iterator[bytes]: ...

    def command(self) -> NewEvidence: ...


# ---------------------------------------------------------------- custody chain


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


# ---------------------------------------------------------------- loading with access


def _item(session: Session, actor: Actor, evidence_id: int, *, for_update: bool = False) -> EvidenceItem:
    """The item if `actor` may see its case; NotFound otherwise."""
    query = (select(EvidenceItem).join(Case, EvidenceItem.case_id == Case.id)
             .where(EvidenceItem.id == evidence_id, access.visible_filter(actor))
             .options(selectinload(EvidenceItem.case)))
    if for_update:
        query = query.with_for_update(of=EvidenceItem)
    item = session.scalars(query).one_or_none()
    if item is None:
        raise NotFound(f"evidence item {evidence_id} does not exist", field="id")
    return item


def get_item(session: Session, actor: Actor, evidence_id: int) -> EvidenceItem:
    """One evidence item. Raises NotFound (also when its case is hidden from the actor)."""
    return _item(session, actor, evidence_id)


@dataclass
class ItemView:
    item: EvidenceItem
    chain: ChainCheck


def list_items(session: Session, actor: Actor, case_id: int) -> list[ItemView]:
    """The case's evidence, oldest first, with each custody chain checked. Raises NotFound."""
    case = access.get_case_or_404(session, actor, case_id)
    items = session.scalars(select(EvidenceItem).where(EvidenceItem.case_id == case.id)
                            .options(selectinload(EvidenceItem.custody)).order_by(EvidenceItem.id)).all()
    return [ItemView(item, check_chain(item, list(item.custody))) for item in items]


def custody(session: Session, actor: Actor, evidence_id: int) -> tuple[EvidenceItem, list[CustodyEvent], ChainCheck]:
    """An item's custody log, oldest first, and whether its chain verifies. Raises NotFound."""
    item = _item(session, actor, evidence_id)
    events = list(session.scalars(select(CustodyEvent).where(CustodyEvent.evidence_id == item.id)
                                  .order_by(CustodyEvent.seq, CustodyEvent.id)))
    return item, events, check_chain(item, events)


def case_alarms(session: Session, case_id: int) -> list[str]:
    """Integrity alarms for a case header (the caller already showed the case to the actor)."""
    failed = session.scalars(select(EvidenceItem).where(EvidenceItem.case_id == case_id,
                                                        EvidenceItem.integrity == Integrity.FAILED)
                             .order_by(EvidenceItem.id)).all()
    return [f"Evidence integrity failure: item #{i.id} {i.filename} failed its check"
            f"{' at ' + i.verified_at.strftime('%Y-%m-%d %H:%M') + ' UTC' if i.verified_at else ''}: "
            f"{i.integrity_detail or 'see its custody log'}" for i in failed]


# ---------------------------------------------------------------- intake


def check_can_add(session: Session, actor: Actor, case_id: int) -> None:
    """Refuse an upload before its body is read. Raises NotFound, Forbidden."""
    _require_upload(actor, access.get_case_or_404(session, actor, case_id))


def _require_upload(actor: Actor, case: Case) -> None:
    access.require_edit(actor, case)
    require(actor, Permission.EVIDENCE_UPLOAD, "only analysts and managers add evidence")


def add_evidence(session: Session, actor: Actor, case_id: int, upload: Upload) -> EvidenceItem:
    """Receive a file into the case: encrypt and hash it in one pass, store it atomically, record
    custody (acquired, received). Raises NotFound; Forbidden; TooLarge (file); Invalid (a field);
    VaultUnavailable. On any error nothing is left: the stored file goes with the rollback."""
    vault = collaborators.vault(session)
    data_key, wrapped = vault.usable_keyring().new_data_key()
    with vault.store.begin_write() as pending:
        # Stream before the first query: on SQLite that query takes the database's write lock, which
        # a multi-gigabyte upload must not hold. Adapters check access first (check_can_add).
        with Encryptor(data_key, pending.file, segment_size=vault.segment_size,
                       max_size=vault.max_upload_bytes) as encryptor:
            for chunk in upload.chunks():
                encryptor.write(chunk)
            result = encryptor.finish()
        cmd = upload.command()
        case = access.get_case_or_404(session, actor, case_id)  # again: access may have changed meanwhile
        _require_upload(actor, case)
        object_id = pending.commit()
        digests = result.digests
        assert digests.sha1 is not None
        assert digests.md5 is not None
        item = EvidenceItem(
            case_id=case.id, object_id=object_id, key_id=wrapped.key_id, wrapped_key=wrapped.wrapped,
            size=digests.size, stored_size=result.ciphertext_size, sha256=digests.sha256, sha1=digests.sha1,
            md5=digests.md5, filename=sanitize_filename(upload.filename), media_type=detect_media_type(result.head),
            description=cmd.description, collected_by=cmd.collected_by, collected_at=cmd.collected_at,
            source=cmd.source, acquisition_method=cmd.acquisition_method, state=EvidenceState.ACTIVE,
            custodian=actor.name, received_by_id=actor.user.id if actor.user is not None else None,
            received_by=actor.name, received_at=clock(session).now(), integrity=Integrity.UNVERIFIED, custody_count=0,
            custody_head=GENESIS_HASH)
        session.add(item)
        session.flush()
        vault.remember_written(session, item)
        _append(session, actor, item, CustodyKind.ACQUIRED, {
            "collected_by": cmd.collected_by, "collected_at": cmd.collected_at, "source": cmd.source,
            "acquisition_method": cmd.acquisition_method})
        _append(session, actor, item, CustodyKind.RECEIVED, {
            "by": actor.name, "filename": item.filename, "size": item.size, "sha256": item.sha256,
            "sha1": item.sha1, "md5": item.md5, "media_type": item.media_type})
    return item


# ---------------------------------------------------------------- reading and verifying


def auditor_can_download(session: Session) -> bool:
    return auth.read_setting(session, AUDITOR_DOWNLOAD_SETTING) is True


def evidence_settings(session: Session, actor: Actor) -> bool:
    """Whether auditors may download evidence content, for the admin's settings page. Raises Forbidden."""
    require(actor, Permission.INSTANCE_CONFIGURE, "only admins change instance settings")
    return auditor_can_download(session)


def set_auditor_can_download(session: Session, actor: Actor, allowed: bool) -> bool:
    """Let auditors download evidence content, or not. Raises Forbidden for non-admins."""
    before = auditor_can_download(session)
    auth.write_setting(session, actor, AUDITOR_DOWNLOAD_SETTING, allowed,
                       action="settings.evidence_auditor_can_download", summary={"from": before, "to": allowed})
    return allowed


@dataclass(frozen=True)
class Actions:
    """What the evidence pages offer `actor` on a case they see (each service call checks again)."""

    upload: bool  # add evidence
    handle: bool  # transfer, seal, release, correct provenance
    download: bool
    dispose: bool
    export: bool


def actions(session: Session, actor: Actor, case: Case) -> Actions:
    """What `actor` may do with the evidence of `case`, which they see."""
    editing = access.can_edit(actor, case)
    return Actions(upload=editing and allowed(actor, Permission.EVIDENCE_UPLOAD),
                   handle=editing and allowed(actor, Permission.EVIDENCE_HANDLE),
                   download=may_download(session, actor), dispose=allowed(actor, Permission.EVIDENCE_DISPOSE),
                   export=allowed(actor, Permission.EVIDENCE_EXPORT))


def may_download(session: Session, actor: Actor) -> bool:
    """Whether `actor` may download evidence content (of the cases they see)."""
    if allowed(actor, Permission.EVIDENCE_DOWNLOAD):
        return True
    return allowed(actor, Permission.EVIDENCE_DOWNLOAD_IF_ENABLED) and auditor_can_download(session)


def _require_download(session: Session, actor: Actor) -> None:
    if not may_download(session, actor):
        if allowed(actor, Permission.EVIDENCE_DOWNLOAD_IF_ENABLED):
            raise Forbidden("auditors may verify evidence but not download its content (an admin can allow it)")
        raise Forbidden("only analysts and managers may download evidence")


def _require_content(item: EvidenceItem, doing: str, *, sealed_ok: bool = False) -> None:
    if item.state == EvidenceState.DISPOSED or not item.has_content:
        raise Conflict(f"evidence item {item.id} was disposed of; its content no longer exists", field="id")
    if item.state == EvidenceState.SEALED and not sealed_ok:
        raise Conflict(f"evidence item {item.id} is sealed; release it before you {doing}", field="id")


@dataclass
class Opened:
    source: BinaryIO
    decryptor: Decryptor


def _open(session: Session, actor: Actor, item: EvidenceItem, during: str,
          algorithms: tuple[str, ...] = ("sha256",)) -> Opened:
    """Unwrap the data key, open the file, parse its header. Failures are recorded (alarm) and raised."""
    vault = collaborators.vault(session)
    keyring = vault.usable_keyring()
    assert item.key_id is not None
    assert item.wrapped_key is not None
    assert item.object_id is not None
    source: BinaryIO | None = None
    try:
        data_key = keyring.unwrap(WrappedKey(item.key_id, item.wrapped_key))
        source = vault.store.open(item.object_id)
        return Opened(source, Decryptor(source, data_key, algorithms=algorithms))
    except MissingMasterKey as exc:
        raise VaultUnavailable(f"the evidence vault is not available: {exc}") from None
    except (WrongMasterKey, IntegrityError, ObjectNotFound, StoreError) as exc:
        if source is not None:
            source.close()
        detail = str(exc).partition(": ")[2] if isinstance(exc, WrongMasterKey) else str(exc)
        record_failure(session, actor, item, detail, during=during)
        raise IntegrityFailure(f"evidence item {item.id} failed its integrity check: {detail}",
                               field="id") from None


def record_failure(session: Session, actor: Actor, item: EvidenceItem, detail: str, *, during: str) -> None:
    """Mark the item failed (the case's integrity alarm) and log it in custody and audit."""
    now = clock(session).now()
    item.integrity, item.verified_at, item.integrity_detail = Integrity.FAILED, now, detail[:2000]
    _append(session, actor, item, CustodyKind.VERIFIED, {"result": "failed", "during": during, "detail": detail},
            alarm=True)


def _mismatch(item: EvidenceItem, digests: Digests) -> str | None:
    for name in ("size", *ALL_DIGESTS):
        got = getattr(digests, name)
        if got is not None and got != getattr(item, name):
            return f"the decrypted content's {name} ({got}) differs from the one recorded at intake"
    return None


@dataclass
class Content:
    item: EvidenceItem
    chunks: Iterator[bytes]


def open_content(session: Session, actor: Actor, evidence_id: int, purpose: str | None, *,
                 kind: CustodyKind = CustodyKind.DOWNLOADED) -> Content:
    """Hand out an item's content as authenticated chunks; records `kind` (downloaded/viewed) with
    the purpose. The last chunk is released only after the whole content matched its recorded
    SHA-256 and size; a failure after streaming started raises ContentIntegrityError from the
    iterator (after recording it in a transaction of its own). Raises NotFound; Forbidden;
    Conflict (sealed or disposed); IntegrityFailure (recorded); VaultUnavailable."""
    item = _item(session, actor, evidence_id, for_update=True)
    _require_download(session, actor)
    _require_content(item, "download it")
    opened = _open(session, actor, item, during=str(kind))
    _append(session, actor, item, kind, {"purpose": purpose})
    return Content(item, _stream(collaborators.vault(session).database, actor, item, opened, during=str(kind)))


def _stream(database: Any, actor: Actor, item: EvidenceItem, opened: Opened, *, during: str) -> Iterator[bytes]:
    item_id, expected = item.id, (item.size, item.sha256)
    try:
        held: bytes | None = None
        for segment in opened.decryptor:
            if held is not None:
                yield held
            held = segment
        digests = opened.decryptor.digests
        if (digests.size, digests.sha256) != expected:
            raise IntegrityError(_mismatch(item, digests) or "the content differs from its record")
        if held:
            yield held
    except IntegrityError as exc:
        _record_late_failure(database, actor, item_id, str(exc), during)
        raise ContentIntegrityError(f"evidence item {item_id} failed its integrity check: {exc}") from None
    finally:
        opened.source.close()


def _record_late_failure(database: Any, actor: Actor, item_id: int, detail: str, during: str) -> None:
    with database.transaction() as s:
        item = s.scalars(select(EvidenceItem).where(EvidenceItem.id == item_id).with_for_update()).one()
        record_failure(s, actor, item, detail, during=during)


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


# ---------------------------------------------------------------- keys and store maintenance


def _require_operator(actor: Actor, what: str) -> None:
    require(actor, Permission.EVIDENCE_MAINTAIN, f"only admins and the CLI operator may {what}")


def keys_in_use(session: Session) -> dict[str, int]:
    rows = session.execute(select(EvidenceItem.key_id, func.count()).where(EvidenceItem.wrapped_key.is_not(None))
                           .group_by(EvidenceItem.key_id)).all()
    return {key_id: count for key_id, count in rows if key_id is not None}


def rewrap_batch(session: Session, actor: Actor, limit: int = 500) -> int:
    """Re-wrap up to `limit` data keys not under the current master key; returns how many. Raises Forbidden."""
    _require_operator(actor, "rotate keys")
    keyring = collaborators.vault(session).usable_keyring()
    current = keyring.current_id
    items = session.scalars(select(EvidenceItem).where(EvidenceItem.wrapped_key.is_not(None),
                                                       EvidenceItem.key_id != current)
                            .order_by(EvidenceItem.id).limit(limit).with_for_update()).all()
    for item in items:
        assert item.key_id is not None
        assert item.wrapped_key is not None
        fresh = keyring.rewrap(WrappedKey(item.key_id, item.wrapped_key))
        item.key_id, item.wrapped_key = fresh.key_id, fresh.wrapped
    if items:
        session.flush()
        audit.record(session, actor, "evidence.keys_rewrapped", "keyring", current,
                     {"count": len(items), "first_id": items[0].id, "last_id": items[-1].id})
    return len(items)


def retire_key(session: Session, actor: Actor, key_id: str) -> None:
    """Remove an unused master key from the keyring. Raises Forbidden; KeyInUse; MissingMasterKey."""
    _require_operator(actor, "retire keys")
    in_use = keys_in_use(session).get(key_id, 0)
    collaborators.vault(session).keyring.retire(key_id, in_use=in_use)
    audit.record(session, actor, "evidence.key_retired", "keyring", key_id, {})


@dataclass
class GcReport:
    orphans: list[str] = field(default_factory=list)
    stale_temp: list[Path] = field(default_factory=list)
    foreign: list[Path] = field(default_factory=list)
    deleted: int = 0


def gc(session: Session, actor: Actor, *, delete: bool, min_age: dt.timedelta) -> GcReport:
    """Files in the store that no record refers to and no upload in progress holds (and older than
    `min_age`), and stale temporary files; `delete` removes both."""
    _require_operator(actor, "clean the evidence store")
    store = collaborators.vault(session).store
    # Uploads in progress first, then the records: one that commits in between is seen by the query.
    on_disk = [i for i in store.ids() if not store.being_written(i)]
    referenced = set(session.scalars(select(EvidenceItem.object_id).where(EvidenceItem.object_id.in_(on_disk))))
    # Modification times are the file system's, so they are compared with the machine's time, not the clock.
    cutoff = time.time() - min_age.total_seconds()
    report = GcReport(orphans=[i for i in on_disk if i not in referenced
                               and store.path_for(i).stat().st_mtime <= cutoff],
                      stale_temp=store.stale_temp_files(), foreign=store.foreign_entries())
    if delete:
        for object_id in report.orphans:
            report.deleted += store.delete(object_id)
        for path in report.stale_temp:
            path.unlink(missing_ok=True)
            report.deleted += 1
        audit.record(session, actor, "evidence.gc", "evidence_store", None,
                     {"orphans": report.orphans, "stale_temp": [p.name for p in report.stale_temp]})
    return report
