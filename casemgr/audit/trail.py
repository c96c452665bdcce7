"""The audit trail's collaborator and `record`, in a module that imports no audit model.

`casemgr.build_database` installs an AuditTrail on every database, and the services that change
something import `record` from here: the audit service (its models, their mappers, RFC 8785, the
readable summaries) loads on the first entry written, so a command that only reads
(`casemgr case list`) does not pay for it (tests/test_cli_startup.py). `casemgr.audit.service`
re-exports both.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from casemgr.collaborators import AUDIT_TRAIL

if TYPE_CHECKING:
    from casemgr.audit.models import AuditEntry
    from casemgr.auth.actor import Actor
    from casemgr.signing import Signer

_PENDING_KEY = "casemgr.audit_pending"
_HELD_KEY = "casemgr.audit_head_held"


def record(session: Session, actor: Actor, action: str, object_type: str, object_id: object | None,  # noqa: PLR0917
           summary: dict[str, Any] | None = None) -> AuditEntry:
    """Append one entry for `action` on an object (casemgr.audit.service.record)."""
    from casemgr.audit import service

    return service.record(session, actor, action, object_type, object_id, summary)


class AuditTrail:
    """Collaborator built once from settings: the signing key, checkpoint interval and SIEM stream.

    `signer` is the key or what loads it: loaded when a checkpoint is signed or verified (or an
    export signed), so that a command that writes no checkpoint (`casemgr case list`) does not load
    cryptography; `casemgr.check_before_serving` loads it before a server starts.
    """

    def __init__(self, signer: Signer | Callable[[], Signer], checkpoint_every: int,
                 stream: logging.Logger | None = None) -> None:
        self._signer = signer
        self._signer_lock = threading.Lock()
        self.checkpoint_every = checkpoint_every
        self.stream = stream

    @property
    def signer(self) -> Signer:
        """The instance's signing key. Raises ConfigError when it cannot be loaded."""
        with self._signer_lock:
            if callable(self._signer):
                self._signer = self._signer()
            return self._signer

    def install(self, info: dict[str, Any], session_factories: list[Any]) -> None:
        AUDIT_TRAIL.install(info, self)
        for factory in session_factories:
            event.listen(factory, "after_transaction_end", _forget_head)
        if self.stream is not None:
            for factory in session_factories:
                event.listen(factory, "after_commit", self._emit_pending)
                event.listen(factory, "after_rollback", _drop_pending)

    def _emit_pending(self, session: Session) -> None:
        pending: list[AuditEntry] = session.info.pop(_PENDING_KEY, [])
        if self.stream is None:
            return
        for entry in pending:
            # An entry appended inside a savepoint that was rolled back is no longer persistent.
            if inspect(entry).persistent:
                from casemgr.audit.service import entry_to_dict

                self.stream.info(json.dumps(entry_to_dict(entry), sort_keys=True))

    def close(self) -> None:
        """Close the stream's files and sockets (the app's lifetime usually ends with the process)."""
        if self.stream is not None:
            for handler in list(self.stream.handlers):
                self.stream.removeHandler(handler)
                handler.close()


def _forget_head(session: Session, _transaction: Any) -> None:
    # Any end, even of a savepoint: PostgreSQL releases row locks taken in a rolled-back savepoint.
    session.info.pop(_HELD_KEY, None)


def _drop_pending(session: Session) -> None:
    # Also called for savepoints: keep the entries of the enclosing transaction, which may still commit.
    pending = session.info.get(_PENDING_KEY)
    if pending:
        session.info[_PENDING_KEY] = [entry for entry in pending if inspect(entry).persistent]
