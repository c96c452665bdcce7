"""`casemgr evidence verify` and `casemgr evidence gc`."""

from __future__ import annotations

import os

from casemgr import collaborators
from casemgr.auth.actor import Actor
from casemgr.auth.models import User
from casemgr.evidence import service
from casemgr.evidence.schemas import NewEvidence
from casemgr.evidence.store import EvidenceStore

from .conftest import stored_files, upload


def test_verify_prints_one_line_per_item_and_fails_naming_them(api, open_case, run_cli, settings):
    analyst = api("analyst")
    case = open_case(analyst)
    good = upload(analyst, case["id"], b"good").get_json()
    bad = upload(analyst, case["id"], os.urandom(1000)).get_json()
    ok = run_cli("evidence", "verify", "--all")
    assert ok.exit_code == 0, ok.output
    assert f"OK     #{good['id']}" in ok.output
    assert "2 item(s) verified, 0 failed" in ok.output
    bad_path = next(settings.evidence_dir / f for f in stored_files(settings)
                    if (settings.evidence_dir / f).stat().st_size > 1000)
    data = bytearray(bad_path.read_bytes())
    data[100] ^= 0xFF
    bad_path.write_bytes(bytes(data))
    failed = run_cli("evidence", "verify", "--all")
    assert failed.exit_code == 1
    assert f"FAILED #{bad['id']}" in failed.output
    assert f"integrity failure in #{bad['id']}" in failed.output
    one = run_cli("evidence", "verify", str(good["id"]))
    assert one.exit_code == 0
    assert one.output.count("\n") == 2
    assert run_cli("evidence", "verify", "99999").exit_code == 1
    assert run_cli("evidence", "verify").exit_code == 2


def test_gc_lists_and_deletes_orphans(api, open_case, run_cli, settings):
    analyst = api("analyst")
    upload(analyst, open_case(analyst)["id"], b"kept")
    orphan = settings.evidence_dir / ("ab" * 16)
    orphan.write_bytes(b"left by a crash")  # a moment ago: listed all the same
    temp = settings.evidence_dir / ".tmp-deadbeef"
    temp.write_bytes(b"partial")
    listed = run_cli("evidence", "gc")
    assert listed.exit_code == 1
    assert f"orphan {orphan}" in listed.output
    assert f"stale temporary file {temp}" in listed.output
    assert "2 file(s) without a record" in listed.output
    assert orphan.exists()
    deleted = run_cli("evidence", "gc", "--delete")
    assert deleted.exit_code == 0
    assert "deleted 2 file(s)" in deleted.output
    assert not orphan.exists()
    assert not temp.exists()
    assert len(stored_files(settings)) == 1
    clean = run_cli("evidence", "gc")
    assert clean.exit_code == 0
    assert "is clean" in clean.output


def test_gc_leaves_an_upload_in_progress_alone(run_cli, settings):
    # A file renamed into place whose record is not committed yet: its writer still holds it.
    store = EvidenceStore(settings.evidence_dir)
    with store.begin_write() as pending:
        pending.file.write(b"ciphertext")
        object_id = pending.commit()
    assert store.being_written(object_id)
    waiting = run_cli("evidence", "gc", "--delete")
    assert waiting.exit_code == 0
    assert "is clean" in waiting.output
    assert (settings.evidence_dir / object_id).exists()
    store.release(object_id)  # e.g. the worker died before its commit: now it is an orphan
    listed = run_cli("evidence", "gc")
    assert listed.exit_code == 1
    assert f"orphan {settings.evidence_dir / object_id}" in listed.output


def test_a_stored_file_is_held_until_its_transaction_ends(db, system, api, open_case):
    analyst = api("analyst")
    case = open_case(analyst)
    store = collaborators.vault(db).store
    for commit in (True, False):
        with db.session(write=True) as s:
            item = service.add_evidence(s, analyst_actor(s, analyst), case["id"], OneChunk(b"evidence"))
            object_id = item.object_id
            assert store.being_written(object_id)
            s.commit() if commit else s.rollback()
        assert not store.being_written(object_id)
        assert store.exists(object_id) is commit


class OneChunk:
    """An Upload (casemgr.evidence.service) of one chunk, without a request."""

    filename = "note.txt"

    def __init__(self, data: bytes) -> None:
        self.data = data

    def chunks(self):
        yield self.data

    def command(self):
        return NewEvidence()


def analyst_actor(session, client):
    return Actor(user=session.get(User, client.user.id), via="test")
