"""The evidence collaborator every service session carries: keyring, store, limits, and the
hook that removes a stored file when the transaction that recorded it rolls back.

Built once by `casemgr.build_database` from settings and reached through
`casemgr.collaborators.vault(session)`, like the audit trail. The keyring is loaded on first use
(and at start by `check_master_keys` when evidence exists), so an instance without evidence starts
even before `casemgr init` made keys.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, inspect, select
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session

from casemgr.collaborators import VAULT
from casemgr.config import ConfigError, Settings
from casemgr.errors import DomainError

if TYPE_CHECKING:  # the keyring, the cipher and the store load when evidence is used, not for every command
    from casemgr.evidence.keyring import Keyring
    from casemgr.evidence.store import EvidenceStore

_WRITTEN_KEY = "casemgr.evidence_written"
_DOOMED_KEY = "casemgr.evidence_doomed"


class VaultUnavailable(DomainError):
    """The evidence vault cannot serve the request: its master keys are missing or unusable."""

    status = 503
    code = "evidence_unavailable"


@dataclass
class EvidenceVault:
    instance_dir: Path
    store: EvidenceStore
    max_upload_bytes: int
    # casemgr.evidence.crypto.DEFAULT_SEGMENT_SIZE, written out: building the vault does not load the cipher
    segment_size: int = 64 * 1024
    keyring_loader: Callable[[], Keyring] | None = None
    database: Any = None  # casemgr.db.Database, for recording failures found after a response started
    _keyring: Keyring | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> EvidenceVault:
        from casemgr.evidence.store import EvidenceStore

        return cls(instance_dir=settings.instance_dir, store=EvidenceStore(settings.evidence_dir),
                   max_upload_bytes=settings.max_upload_bytes)

    @property
    def keyring_path(self) -> Path:
        from casemgr.evidence.keyring import KEYRING_FILE

        return self.instance_dir / KEYRING_FILE

    @property
    def keyring(self) -> Keyring:
        """The keyring (loaded once). Raises KeyringError (a ConfigError) when it cannot be loaded."""
        from casemgr.evidence.keyring import Keyring

        with self._lock:
            if self._keyring is None:
                loader = self.keyring_loader or (lambda: Keyring.load(self.instance_dir))
                self._keyring = loader()
            return self._keyring

    def usable_keyring(self) -> Keyring:
        """The keyring for a request: VaultUnavailable (503) instead of a configuration error."""
        from casemgr.evidence.keyring import KeyringError

        try:
            return self.keyring
        except KeyringError as exc:
            raise VaultUnavailable(f"the evidence vault is not available: {exc}") from None

    def install(self, info: dict[str, Any], session_factories: Iterable[Any], database: Any) -> None:
        VAULT.install(info, self)
        self.database = database
        for factory in session_factories:
            event.listen(factory, "after_commit", self._after_commit)
            event.listen(factory, "after_soft_rollback", self._remove_rolled_back)

    def remember_written(self, session: Session, item: Any) -> None:
        """Delete `item.object_id`'s file if the transaction that added `item` rolls back; until it
        ends, the file counts as being written (EvidenceStore.being_written)."""
        session.info.setdefault(_WRITTEN_KEY, []).append(item)

    def delete_after_commit(self, session: Session, object_id: str) -> None:
        """Unlink a stored file once the transaction that cleared its key commits (disposal)."""
        session.info.setdefault(_DOOMED_KEY, []).append(object_id)

    def _after_commit(self, session: Session) -> None:
        for item in session.info.pop(_WRITTEN_KEY, []):
            if inspect(item).dict.get("object_id"):
                self.store.release(inspect(item).dict["object_id"])
        for object_id in session.info.pop(_DOOMED_KEY, []):
            self.store.delete(object_id)

    def _remove_rolled_back(self, session: Session, _previous: Any) -> None:
        # after_soft_rollback runs once the session's state is restored, also for savepoints: an
        # item that is still persistent belongs to an enclosing transaction, which may still commit.
        written: list[Any] = session.info.get(_WRITTEN_KEY, [])
        keep = []
        for item in written:
            state = inspect(item)
            if state.persistent:
                keep.append(item)
            elif state.dict.get("object_id"):
                self.store.delete(state.dict["object_id"])
        session.info[_WRITTEN_KEY] = keep
        if not session.in_transaction():
            session.info.pop(_DOOMED_KEY, None)


def check_master_keys(database: Any, vault: EvidenceVault) -> None:
    """At start: every master key that wraps stored evidence must be in the keyring.

    Raises ConfigError (MissingMasterKey naming the key, or the database being unusable).
    """
    from casemgr.evidence.models import EvidenceItem

    try:
        with database.session(write=False) as s:
            in_use = list(s.scalars(select(EvidenceItem.key_id).where(EvidenceItem.key_id.is_not(None)).distinct()))
    except (OperationalError, ProgrammingError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise ConfigError("CASEMGR_DATABASE_URL", f"cannot read the evidence records ({reason}); "
                                                  "run `casemgr init` to create or upgrade the database") from None
    if in_use:
        vault.keyring.require(k for k in in_use if k is not None)
