"""Bundles uploaded in the web UI, kept between the summary and the analyst's confirmation.

A bundle may hold TLP:RED intelligence, so it is never on disk in plain text: each is sealed with AES-256-GCM
under a key of its own that only the uploader's session holds (the server keeps the ciphertext, the browser
the key), bound to the case and the upload's token. Whoever reads the instance directory finds nothing
usable; a session without the key, or for another case, cannot open it. Unconfirmed uploads are removed
after TTL seconds.
"""

from __future__ import annotations

import base64
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

TTL = 24 * 3600
KEEP = 5  # uploads one session may have waiting (the tickets live in its cookie, which must stay small)
NONCE_BYTES = 12


@dataclass(frozen=True)
class Ticket:
    """What the uploader's session keeps: which upload, for which case, and its key."""

    token: str
    case_id: int
    key: str  # base64

    def to_session(self) -> list[object]:
        return [self.token, self.case_id, self.key]

    @classmethod
    def from_session(cls, value: object) -> Ticket | None:
        if (isinstance(value, list) and len(value) == 3 and isinstance(value[0], str)
                and isinstance(value[1], int) and isinstance(value[2], str)):
            return cls(value[0], value[1], value[2])
        return None


def tickets(waiting: object) -> list[Ticket]:
    """The tickets a session holds (a list, oldest first); anything else in it is ignored."""
    found = [Ticket.from_session(value) for value in waiting] if isinstance(waiting, list) else []
    return [ticket for ticket in found if ticket is not None]


class StagedUploads:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def stage(self, data: bytes, case_id: int) -> Ticket:
        """Seal and keep `data` for a later `take`; returns the ticket for the uploader's session."""
        self._prepare()
        token, key, nonce = secrets.token_urlsafe(24), AESGCM.generate_key(bit_length=256), os.urandom(NONCE_BYTES)
        sealed = nonce + AESGCM(key).encrypt(nonce, data, _context(token, case_id))
        path = self._path(token)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "wb") as out:
                out.write(sealed)
        except BaseException:  # a full disk, say: no half-written file left behind
            path.unlink(missing_ok=True)
            raise
        return Ticket(token, case_id, base64.b64encode(key).decode())

    def take(self, ticket: Ticket, case_id: int) -> bytes | None:
        """The staged bundle, or None if it is gone, expired, for another case or not openable with the key."""
        path = self._path(ticket.token)
        if ticket.case_id != case_id or not path.is_file() or path.stat().st_mtime < time.time() - TTL:
            return None
        sealed = path.read_bytes()
        try:
            return AESGCM(base64.b64decode(ticket.key)).decrypt(
                sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], _context(ticket.token, case_id))
        except (InvalidTag, ValueError):
            return None

    def keep_newest(self, waiting: list[Ticket]) -> list[Ticket]:
        """The newest KEEP-1 of a session's waiting uploads, so that one more fits; the older ones' files
        are removed."""
        for old in waiting[:-(KEEP - 1)]:
            self.discard(old.token)
        return waiting[-(KEEP - 1):]

    def discard(self, token: str) -> None:
        self._path(token).unlink(missing_ok=True)

    def _path(self, token: str) -> Path:
        # Tokens come back from the session cookie: only our own alphabet, never a path.
        safe = "".join(c for c in token if c.isalnum() or c in "-_")[:64] or "none"
        return self.directory / f"{safe}.sealed"

    def _prepare(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        cutoff = time.time() - TTL
        for old in [*self.directory.glob("*.sealed"), *self.directory.glob("*.json")]:  # .json: before sealing
            if old.stat().st_mtime < cutoff or old.suffix == ".json":
                old.unlink(missing_ok=True)


def _context(token: str, case_id: int) -> bytes:
    return f"casemgr stix upload {token} case {case_id}".encode()
