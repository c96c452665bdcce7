"""The evidence store: atomic writes that leave nothing behind on failure, opaque names, confinement."""

from __future__ import annotations

import hashlib
import io
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from casemgr.errors import TooLarge
from casemgr.evidence import crypto
from casemgr.evidence.keyring import Keyring
from casemgr.evidence.mediatype import detect_media_type
from casemgr.evidence.store import ID_PATTERN, EvidenceStore, InvalidObjectId, ObjectNotFound, StoreError


class DatabaseDown(Exception):
    pass


@pytest.fixture
def store(tmp_path: Path) -> EvidenceStore:
    return EvidenceStore(tmp_path / "evidence")


@pytest.fixture
def ring(tmp_path: Path) -> Keyring:
    return Keyring.create(tmp_path / "instance" / "evidence_keys.json")


def everything_in(store: EvidenceStore) -> list[str]:
    return sorted(os.listdir(store.root)) if store.root.exists() else []


def upload(store: EvidenceStore, ring: Keyring, chunks: object, **kw: object) -> tuple[str, crypto.EncryptResult]:
    data_key, _ = ring.new_data_key()
    with store.begin_write() as pending:
        result = crypto.encrypt_stream(chunks, data_key, pending.file, **kw)  # type: ignore[arg-type]
        object_id = pending.commit()
    return object_id, result


# ---------------------------------------------------------------- the happy path

def test_a_committed_write_is_stored_under_an_opaque_private_name(store: EvidenceStore, ring: Keyring) -> None:
    plaintext = (b"Received: from mx.example.org\nFrom: billing@examp1e.org\nTo: finance@example.org\n"
                 b"Subject: invoice overdue\n\n" + b"Please open the attachment.\n" * 1000)
    data_key, wrapped = ring.new_data_key()
    with store.begin_write() as pending:
        result = crypto.encrypt_stream([plaintext], data_key, pending.file)
        object_id = pending.commit()

    assert ID_PATTERN.fullmatch(object_id)
    assert everything_in(store) == [object_id]  # no temporary file left
    assert store.ids() == [object_id]
    path = store.path_for(object_id)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.root.stat().st_mode) == 0o700
    assert store.size(object_id) == result.ciphertext_size
    assert b"invoice" not in path.read_bytes()  # never in clear on disk

    with store.open(object_id) as f:
        digests = crypto.verify_stream(f, ring.unwrap(wrapped))
    assert digests.sha256 == hashlib.sha256(plaintext).hexdigest()
    assert detect_media_type(result.head) == "message/rfc822"


def test_every_write_gets_a_new_id(store: EvidenceStore, ring: Keyring) -> None:
    ids = {upload(store, ring, [b"same"])[0] for _ in range(5)}
    assert len(ids) == 5
    assert store.ids() == sorted(ids)


# ---------------------------------------------------------------- atomicity

def test_an_exception_mid_write_leaves_no_file(store: EvidenceStore, ring: Keyring) -> None:
    def client_disconnects() -> Iterator[bytes]:
        yield os.urandom(300_000)
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        upload(store, ring, client_disconnects())
    assert everything_in(store) == []


def test_too_large_mid_write_leaves_no_file(store: EvidenceStore, ring: Keyring) -> None:
    with pytest.raises(TooLarge):
        upload(store, ring, (os.urandom(100_000) for _ in range(10)), max_size=250_000)
    assert everything_in(store) == []


def test_a_failure_after_commit_removes_the_file(store: EvidenceStore, ring: Keyring) -> None:
    data_key, _ = ring.new_data_key()
    committed: list[str] = []

    def store_then_fail_to_record() -> None:
        with store.begin_write() as pending:
            crypto.encrypt_stream([b"evidence"], data_key, pending.file)
            committed.append(pending.commit())
            committed.extend(store.ids())
            raise DatabaseDown("the record could not be committed")

    with pytest.raises(DatabaseDown):
        store_then_fail_to_record()
    assert committed[1:] == committed[:1]  # it was stored, then removed
    assert everything_in(store) == []


def test_a_write_never_committed_is_discarded(store: EvidenceStore, ring: Keyring) -> None:
    data_key, _ = ring.new_data_key()
    with store.begin_write() as pending:
        crypto.encrypt_stream([b"evidence"], data_key, pending.file)
    assert not pending.committed
    assert everything_in(store) == []


def test_commit_twice_is_refused(store: EvidenceStore) -> None:
    def commit_twice() -> None:
        with store.begin_write() as pending:
            pending.file.write(b"x")
            pending.commit()
            pending.commit()

    with pytest.raises(StoreError, match="already committed"):
        commit_twice()
    assert everything_in(store) == []


def test_in_flight_writes_are_not_stale_but_crash_leftovers_are(store: EvidenceStore) -> None:
    with store.begin_write() as pending:
        pending.file.write(b"partial")
        [in_flight] = os.listdir(store.root)
        assert in_flight.startswith(".tmp-")
        assert store.stale_temp_files() == []  # held by a live writer
        assert store.ids() == []  # never listed as stored evidence
        leftover = store.root / ".tmp-0123456789abcdef"
        leftover.write_bytes(b"left by a crash")
        assert store.stale_temp_files() == [leftover]
    assert everything_in(store) == [leftover.name]


# ---------------------------------------------------------------- reading, deleting, listing

def test_delete_unlinks(store: EvidenceStore, ring: Keyring) -> None:
    object_id, _ = upload(store, ring, [b"to be disposed"])
    assert store.delete(object_id) is True
    assert everything_in(store) == []
    assert store.delete(object_id) is False
    assert not store.exists(object_id)
    with pytest.raises(ObjectNotFound, match=object_id):
        store.open(object_id)
    with pytest.raises(ObjectNotFound):
        store.size(object_id)


def test_listing_ignores_foreign_entries(store: EvidenceStore, ring: Keyring) -> None:
    object_id, _ = upload(store, ring, [b"x"])
    (store.root / "README.txt").write_text("not evidence")
    (store.root / ("A" * 32)).write_text("upper case is not one of our names")
    os.symlink("/etc/hostname", store.root / ("b" * 32))
    assert store.ids() == [object_id]
    assert [p.name for p in store.foreign_entries()] == ["A" * 32, "README.txt"]


def test_an_empty_or_absent_store_lists_nothing(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path / "nowhere")
    assert store.ids() == []
    assert store.stale_temp_files() == []
    assert store.foreign_entries() == []


# ---------------------------------------------------------------- confinement

@pytest.mark.parametrize("bad", [
    "../secret", "../../etc/passwd", "/etc/passwd", "..", ".", "", "a/b",
    "0123456789abcdef0123456789abcdef/../x", "0123456789ABCDEF0123456789ABCDEF",
    "0123456789abcdef0123456789abcde", "0123456789abcdef0123456789abcdef0",
    ".tmp-0123456789abcdef", "0123456789abcdef0123456789abcde\n", "report.pdf",
])
def test_paths_outside_the_store_or_foreign_names_are_refused(store: EvidenceStore, bad: str) -> None:
    with pytest.raises(InvalidObjectId):
        store.path_for(bad)
    with pytest.raises(InvalidObjectId):
        store.open(bad)
    with pytest.raises(InvalidObjectId):
        store.delete(bad)


def test_a_symlink_planted_in_the_store_is_not_followed(store: EvidenceStore, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("not evidence")
    store.root.mkdir(parents=True)
    planted = "c" * 32
    os.symlink(outside, store.root / planted)
    with pytest.raises(StoreError):
        store.open(planted)
    assert store.ids() == []


def test_a_full_upload_and_download_through_store_and_keyring(store: EvidenceStore, ring: Keyring) -> None:
    plaintext = os.urandom(5 * 1024 * 1024 + 3)
    data_key, wrapped = ring.new_data_key()
    with store.begin_write() as pending:
        result = crypto.encrypt_stream(crypto.read_chunks(io.BytesIO(plaintext), 256 * 1024), data_key,
                                       pending.file, max_size=len(plaintext))
        object_id = pending.commit()
    assert result.digests.size == len(plaintext)

    ring.rotate()
    wrapped = ring.rewrap(wrapped)
    received = bytearray()
    with store.open(object_id) as f:
        digests = crypto.decrypt_to(f, ring.unwrap(wrapped), received.extend)
    assert bytes(received) == plaintext
    assert digests.sha256 == result.digests.sha256
