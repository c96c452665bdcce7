"""The evidence store: a directory of encrypted files under opaque random names.

Names are 32 lowercase hex digits chosen here (never the user's filename), so nothing about a case
leaks through the file system and no name can point outside the store. Every path is checked to be
a direct child of the root anyway, and files are opened with O_NOFOLLOW so a symlink planted in the
store is refused rather than followed.

Writes are atomic: content goes to a hidden temporary file in the store directory (same file
system, so the rename is atomic), which is fsynced, renamed to its final name, and the directory is
fsynced so the rename survives a power loss. The caller commits its database record only after
that; `begin_write()` removes the file again if anything fails before the block ends. A crash
between the rename and the database commit can still leave a file without a record: `ids()` lists
the stored files so `casemgr evidence gc` can find and remove such orphans, and `stale_temp_files()`
lists temporary files that no live writer holds (a writer keeps an exclusive flock on its file).
The writer keeps that lock after the rename, until the transaction that records the file has ended
(`release()`), so `being_written()` tells an upload about to commit from an orphan, at any age.

Deleting (evidence disposal) is a plain unlink. Overwriting the file first would be theatre: SSD
wear levelling, copy-on-write file systems (btrfs, ZFS), journals and snapshots keep old blocks
wherever they like. What makes disposed content unreadable is that it is encrypted under its own
data key: destroying the wrapped data key (the service clears it from the evidence record) is the
real erasure ("crypto-shredding"); the unlink frees the space.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

ID_PATTERN = re.compile(r"[0-9a-f]{32}")
TEMP_PREFIX = ".tmp-"


class StoreError(Exception):
    """The store refused an operation (an invalid id, a path outside the root, a missing file)."""


class InvalidObjectId(StoreError, ValueError):
    pass


class ObjectNotFound(StoreError, FileNotFoundError):
    pass


def new_object_id() -> str:
    return secrets.token_hex(16)


class EvidenceStore:
    """Encrypted evidence files in one directory (created with mode 0700 if missing)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).absolute()
        self._held: dict[str, int] = {}  # object id -> a descriptor keeping its writer's lock
        self._held_lock = threading.Lock()

    def _ensure_root(self) -> Path:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        return self.root

    def path_for(self, object_id: str) -> Path:
        """The path of a stored object. Raises InvalidObjectId for anything but a store id."""
        if not isinstance(object_id, str) or not ID_PATTERN.fullmatch(object_id):
            raise InvalidObjectId(f"{object_id!r} is not an evidence store id")
        path = self.root / object_id
        # Belt and braces: the pattern already rules out separators and dots.
        if path.parent != self.root or os.path.normpath(path) != str(path):
            raise InvalidObjectId(f"{object_id!r} points outside the evidence store")
        return path

    # ------------------------------------------------------------ writing

    @contextlib.contextmanager
    def begin_write(self) -> Iterator[PendingWrite]:
        """A pending write: write ciphertext to `.file`, then `.commit()` to make it durable.

        If the block raises (before or after commit), the file is removed; if it ends without a
        commit, the temporary file is removed too. Either way no orphan and no temp file remains.
        """
        pending = PendingWrite(self)
        try:
            yield pending
        except BaseException:
            pending.discard()
            raise
        else:
            if not pending.committed:
                pending.discard()
        finally:
            pending.close()

    # ------------------------------------------------------------ reading, listing, deleting

    def open(self, object_id: str) -> BinaryIO:
        """Open a stored object for reading. Raises ObjectNotFound or InvalidObjectId."""
        path = self.path_for(object_id)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            raise ObjectNotFound(f"evidence file {object_id} is missing from {self.root}") from None
        except OSError as exc:
            raise StoreError(f"cannot open evidence file {object_id}: {exc.strerror}") from None
        return os.fdopen(fd, "rb")

    def exists(self, object_id: str) -> bool:
        return self.path_for(object_id).is_file()

    def size(self, object_id: str) -> int:
        try:
            return self.path_for(object_id).stat().st_size
        except FileNotFoundError:
            raise ObjectNotFound(f"evidence file {object_id} is missing from {self.root}") from None

    def ids(self) -> list[str]:
        """Ids of every stored object, sorted (temporary files and foreign names are left out)."""
        if not self.root.is_dir():
            return []
        return sorted(entry.name for entry in os.scandir(self.root)
                      if ID_PATTERN.fullmatch(entry.name) and entry.is_file(follow_symlinks=False))

    def foreign_entries(self) -> list[Path]:
        """Entries that are neither stored objects nor temporary files (for an operator to inspect)."""
        if not self.root.is_dir():
            return []
        return sorted(Path(entry.path) for entry in os.scandir(self.root)
                      if not ID_PATTERN.fullmatch(entry.name) and not entry.name.startswith(TEMP_PREFIX))

    def stale_temp_files(self) -> list[Path]:
        """Temporary files that no live writer holds (left by a crash); safe to delete."""
        if not self.root.is_dir():
            return []
        stale = []
        for entry in os.scandir(self.root):
            if not entry.name.startswith(TEMP_PREFIX) or not entry.is_file(follow_symlinks=False):
                continue
            try:
                fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW)
            except FileNotFoundError:
                continue  # finished meanwhile
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a write in progress
            finally:
                os.close(fd)
            stale.append(Path(entry.path))
        return sorted(stale)

    def being_written(self, object_id: str) -> bool:
        """Whether a write in progress (in any process) holds the stored object: its record may not
        be committed yet. Look before reading the records, so that a write committing meanwhile is
        seen there."""
        try:
            fd = os.open(self.path_for(object_id), os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def release(self, object_id: str) -> None:
        """Let go of a committed write's lock: the transaction that records (or dropped) it has ended."""
        with self._held_lock:
            fd = self._held.pop(object_id, None)
        if fd is not None:
            os.close(fd)

    def _hold(self, object_id: str, fd: int) -> None:
        with self._held_lock:
            self._held[object_id] = fd

    def delete(self, object_id: str) -> bool:
        """Unlink a stored object (see the module docstring for why not overwrite). False if absent."""
        path = self.path_for(object_id)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        finally:
            self.release(object_id)
        self._sync_dir()
        return True

    def _sync_dir(self) -> None:
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class PendingWrite:
    """One file being written into the store; see EvidenceStore.begin_write."""

    def __init__(self, store: EvidenceStore) -> None:
        self.store = store
        self.object_id = new_object_id()
        root = store._ensure_root()
        self._temp_path: Path | None = root / f"{TEMP_PREFIX}{secrets.token_hex(16)}"
        fd = os.open(self._temp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # tells stale_temp_files() this write is alive
        except BaseException:
            os.close(fd)
            self._temp_path.unlink(missing_ok=True)
            raise
        self.file: BinaryIO = os.fdopen(fd, "wb")
        self.committed = False
        self._discarded = False

    def commit(self) -> str:
        """Make the written content durable under `object_id` (fsync, rename, fsync dir); return it."""
        if self.committed or self._discarded or self._temp_path is None:
            raise StoreError("this pending write is already committed or discarded")
        final = self.store.path_for(self.object_id)
        self.file.flush()
        os.fsync(self.file.fileno())
        # A second descriptor of the same open file keeps the lock after this write's file is closed,
        # until the store is told the transaction has ended (EvidenceStore.release).
        self.store._hold(self.object_id, os.dup(self.file.fileno()))
        os.rename(self._temp_path, final)
        self._temp_path = None
        self.committed = True
        self.store._sync_dir()
        return self.object_id

    def discard(self) -> None:
        """Remove whatever this write left (temp file, or the committed file). Idempotent."""
        if self._discarded:
            return
        self._discarded = True
        with contextlib.suppress(OSError):
            self.file.close()
        if self.committed:
            self.store.delete(self.object_id)
        elif self._temp_path is not None:
            self._temp_path.unlink(missing_ok=True)
            self._temp_path = None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.file.close()
