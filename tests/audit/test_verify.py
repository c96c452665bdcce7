"""Chain verification catches altered, deleted and reordered entries edited straight in the database."""

from __future__ import annotations

import base64
import os
import re

import pytest
from sqlalchemy import func, select, update

from casemgr.audit import service as audit
from casemgr.audit.models import AuditCheckpoint, AuditEntry


def entry_count(db) -> int:
    with db.engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(AuditEntry.__table__))


def verify_cli(run_cli):
    result = run_cli("audit", "verify")
    return result.exit_code, result.stdout, result.stderr


def broken_at(stderr: str) -> int:
    found = re.search(r"BROKEN at entry #(\d+)", stderr)
    assert found, stderr
    return int(found.group(1))


# ---------------------------------------------------------------- intact

def test_intact_chain_prints_count_and_exits_0(run_cli, append):
    append(7)
    code, out, err = verify_cli(run_cli)
    assert code == 0, err
    assert "audit chain intact: 7 entries checked" in out
    assert err == ""


def test_empty_chain_is_intact(run_cli):
    code, out, _ = verify_cli(run_cli)
    assert code == 0
    assert "0 entries checked" in out


# ---------------------------------------------------------------- tampering, through the CLI

def alter_summary(t):
    t.sql("UPDATE audit_entries SET action = 'test.harmless' WHERE seq = 3")


def alter_actor(t):
    t.sql("UPDATE audit_entries SET actor_name = 'somebody-else' WHERE seq = 3")


def alter_json_summary(t):
    with t.db.engine.begin() as conn:
        conn.execute(update(AuditEntry.__table__).where(AuditEntry.seq == 3).values(summary={"n": 99}))


def alter_and_rehash(t):
    """The attacker edits entry 3 and recomputes its own hash, but not the rest of the chain."""
    with t.db.session(write=True) as s, s.begin():
        entry = s.get(AuditEntry, 3)
        entry.object_id = "999"
        entry.hash = audit.chain_hash(entry.prev_hash, entry)


def delete_middle(t):
    t.sql("DELETE FROM audit_entries WHERE seq = 3")


def delete_first(t):
    t.sql("DELETE FROM audit_entries WHERE seq = 1")


def swap_positions(t):
    t.swap_positions(3, 4)


def swap_contents(t):
    t.swap_contents(3, 5)


def break_link(t):
    t.sql("UPDATE audit_entries SET prev_hash = :h WHERE seq = 3", h="f" * 64)


@pytest.mark.parametrize(("edit", "first_broken", "reason"), [
    (alter_summary, 3, "altered"),
    (alter_actor, 3, "altered"),
    (alter_json_summary, 3, "altered"),
    (alter_and_rehash, 3, "altered or replaced"),
    (delete_middle, 3, "missing"),
    (delete_first, 1, "missing"),
    (swap_positions, 3, ""),
    (swap_contents, 3, ""),
    (break_link, 3, ""),
])
def test_tampering_is_detected_naming_the_first_broken_entry(run_cli, append, tamper, edit, first_broken, reason):
    append(6)
    edit(tamper)
    code, out, err = verify_cli(run_cli)
    assert code == 1
    assert out == ""
    assert broken_at(err) == first_broken
    assert reason in err


def test_deleting_the_newest_entries_is_detected_through_the_head(run_cli, append, tamper):
    append(6)
    tamper.sql("DELETE FROM audit_entries WHERE seq > 4")
    code, _, err = verify_cli(run_cli)
    assert code == 1
    assert broken_at(err) == 5
    assert "the chain head says 6 entries but only 4 are present" in err


def test_deleting_the_newest_entries_and_the_head_is_detected_through_a_signed_checkpoint(
        make_app, run_cli, tamper, system):
    db = make_app(audit_checkpoint_every=5).extensions["casemgr.db"]
    for i in range(12):
        with db.transaction() as s:
            audit.record(s, system, "test.event", "thing", i, {})
    with db.engine.connect() as conn:
        assert conn.scalars(select(AuditCheckpoint.entry_count).order_by(AuditCheckpoint.entry_count)).all() == [5, 10]
    # A careful attacker removes entries 9-12 and rewinds the head to match entry 8.
    tamper.sql("DELETE FROM audit_entries WHERE seq > 8")
    eighth = tamper.row(8)
    tamper.sql("UPDATE audit_head SET seq = 8, hash = :h", h=eighth["hash"])
    code, _, err = verify_cli(run_cli)
    assert code == 1
    assert broken_at(err) == 9
    assert "signed 10 entries but only 8 are present" in err


def test_rewriting_the_whole_tail_is_detected_through_a_signed_checkpoint(make_app, run_cli, system):
    db = make_app(audit_checkpoint_every=5).extensions["casemgr.db"]
    for i in range(12):
        with db.transaction() as s:
            audit.record(s, system, "test.event", "thing", i, {})
    # Alter entry 7 and recompute every hash after it, and the head: the chain itself is consistent again.
    with db.session(write=True) as s, s.begin():
        prev = s.get(AuditEntry, 6).hash
        for seq in range(7, 13):
            entry = s.get(AuditEntry, seq)
            if seq == 7:
                entry.action = "test.rewritten"
            entry.prev_hash = prev
            entry.hash = audit.chain_hash(prev, entry)
            s.flush()
            prev = entry.hash
        s.execute(update(audit.AuditHead).values(hash=prev))
    code, _, err = verify_cli(run_cli)
    assert code == 1
    assert broken_at(err) == 10
    assert "differs from signed checkpoint" in err


def forge_random_signature(t):
    t.sql("UPDATE audit_checkpoints SET signature = :s", s=base64.b64encode(os.urandom(64)).decode())


def forge_garbage_signature(t):
    t.sql("UPDATE audit_checkpoints SET signature = 'not base64!'")


def move_checkpoint(t):
    """Re-point a genuine signature at another head: the signed message no longer matches."""
    t.sql("UPDATE audit_checkpoints SET head_hash = :h", h=t.row(3)["hash"])
    t.sql("UPDATE audit_checkpoints SET entry_count = 3")


def forge_key_id(t):
    t.sql("UPDATE audit_checkpoints SET key_id = '0000000000000000'")


@pytest.mark.parametrize("forge", [forge_random_signature, forge_garbage_signature, move_checkpoint, forge_key_id])
def test_a_forged_checkpoint_is_detected(run_cli, append, tamper, forge):
    append(6)
    assert run_cli("audit", "checkpoint").exit_code == 0
    assert verify_cli(run_cli)[0] == 0
    forge(tamper)
    code, _, err = verify_cli(run_cli)
    assert code == 1
    assert "invalid signature" in err


# ---------------------------------------------------------------- checkpoints on demand

def test_cli_checkpoint_signs_the_head(run_cli, append):
    append(3)
    result = run_cli("audit", "checkpoint")
    assert result.exit_code == 0, result.stderr
    # the checkpoint itself is an audited action, so the signed head includes it
    assert re.search(r"checkpoint signed: 4 entries, head [0-9a-f]{64}, key [0-9a-f]{16}", result.stdout)
    code, out, _ = verify_cli(run_cli)
    assert code == 0
    assert "4 entries checked, 1 signed checkpoints verified" in out


def test_an_on_demand_checkpoint_on_an_automatic_one_is_not_signed_twice(make_app, run_cli, system):
    db = make_app(audit_checkpoint_every=5).extensions["casemgr.db"]
    for i in range(4):
        with db.transaction() as s:
            audit.record(s, system, "test.event", "thing", i, {})
    result = run_cli("audit", "checkpoint", env={"CASEMGR_AUDIT_CHECKPOINT_EVERY": "5"})
    assert "checkpoint signed: 5 entries" in result.stdout
    with db.engine.connect() as conn:
        assert conn.scalars(select(AuditCheckpoint.entry_count)).all() == [5]


def test_api_checkpoint(api, db):
    auditor = api("auditor")
    response = auditor.post("/api/v1/audit/checkpoints")
    assert response.status_code == 201
    body = response.get_json()
    assert body["entry_count"] == entry_count(db)
    assert re.fullmatch(r"[0-9a-f]{64}", body["head_hash"])
    assert base64.b64decode(body["signature"])
    assert auditor.get("/api/v1/audit/verify").get_json()["checkpoints_checked"] == 1


@pytest.mark.parametrize("role", ["analyst", "manager"])
def test_api_checkpoint_forbidden(api, db, role):
    before = entry_count(db)
    response = api(role).post("/api/v1/audit/checkpoints")
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"
    assert entry_count(db) == before + 2  # only the fixture's user and token creation


def test_web_checkpoint(login, db):
    auditor = login("auditor")
    response = auditor.post("/audit/checkpoints", follow_redirects=True)
    assert response.status_code == 200
    assert f"Checkpoint signed at entry #{entry_count(db)}." in response.get_data(as_text=True)


# ---------------------------------------------------------------- the same check over the API and the web

@pytest.mark.parametrize("role", ["auditor", "admin"])
def test_api_verify_intact(api, db, role):
    response = api(role).get("/api/v1/audit/verify")
    assert response.status_code == 200
    assert response.get_json() == {"ok": True, "checked": entry_count(db), "first_broken_seq": None,
                                   "reason": None, "checkpoints_checked": 0}


def test_api_verify_names_the_first_broken_entry(api, append, tamper):
    auditor = api("auditor")
    append(5)
    tamper.swap_positions(4, 5)
    body = auditor.get("/api/v1/audit/verify").get_json()
    assert body["ok"] is False
    assert body["first_broken_seq"] == 4
    assert "#4" in body["reason"]


@pytest.mark.parametrize("role", ["analyst", "manager"])
def test_api_verify_forbidden(api, role):
    response = api(role).get("/api/v1/audit/verify")
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"


def test_api_verify_needs_a_token(app):
    response = app.test_client().get("/api/v1/audit/verify")
    assert response.status_code == 401


def test_web_verify_intact_and_broken(login, db, tamper):
    auditor = login("auditor")
    page = auditor.post("/audit/verify")
    assert page.status_code == 200
    assert f"Intact: {entry_count(db)} entries checked" in page.get_data(as_text=True)
    tamper.sql("UPDATE audit_entries SET summary = '{}' WHERE seq = 1")
    page = auditor.post("/audit/verify")
    text = page.get_data(as_text=True)
    assert "Broken at entry #1:" in text
    assert "altered" in text


@pytest.mark.parametrize("role", ["analyst", "manager"])
def test_web_verify_forbidden(login, role):
    assert login(role).post("/audit/verify").status_code == 403


def test_web_verify_needs_csrf(login):
    auditor = login("auditor")
    assert auditor.client.post("/audit/verify").status_code == 400


def test_deleting_the_chain_head_is_detected(run_cli, append, tamper):
    append(3)
    tamper.sql("DELETE FROM audit_head")
    code, _, err = verify_cli(run_cli)
    assert code == 1
    assert "the chain head record is missing" in err
