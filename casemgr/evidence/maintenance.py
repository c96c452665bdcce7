"""Keys and store maintenance (`evidence.maintain`): master keys in use, re-wrapping data keys under
the current master key, retiring a key, and cleaning the evidence store (gc)."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from casemgr import collaborators
from casemgr.audit import service as audit
from casemgr.auth.actor import Actor
from casemgr.auth.permissions import Permission, require
from casemgr.evidence.keyring import WrappedKey
from casemgr.evidence.models import EvidenceItem


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
