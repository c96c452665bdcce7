"""Evidence items: loading them with access, intake, the auditors' download setting, who may do what
on a case, reading content (opening, streaming, recording integrity failures)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from casemgr import collaborators
from casemgr.auth import service as auth
from casemgr.auth.actor import Actor
from casemgr.auth.permissions import Permission, allowed, require
from casemgr.cases import access
from casemgr.cases.models import Case
from casemgr.collaborators import clock
from casemgr.errors import Conflict, DomainError, Forbidden, NotFound
from casemgr.evidence.chain import GENESIS_HASH, ChainCheck, _append, check_chain
from casemgr.evidence.crypto import ALL_DIGESTS, Decryptor, Digests, Encryptor, IntegrityError
from casemgr.evidence.keyring import MissingMasterKey, WrappedKey, WrongMasterKey
from casemgr.evidence.mediatype import detect_media_type, sanitize_filename
from casemgr.evidence.models import CustodyEvent, CustodyKind, EvidenceItem, EvidenceState, Integrity
from casemgr.evidence.schemas import NewEvidence
from casemgr.evidence.store import ObjectNotFound, StoreError
from casemgr.evidence.vault import VaultUnavailable

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


# ---------------------------------------------------------------- reading


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
