"""Parallel writers each append through their own session; the chain stays one line."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError

from casemgr.audit import service as audit
from casemgr.audit.models import AuditEntry, AuditHead
from casemgr.auth.actor import Actor


def run_writers(db, writers: int, per_writer: int, per_transaction: int = 1) -> list[BaseException]:
    """Start `writers` threads at once; each appends `per_writer` entries, `per_transaction` per commit."""
    start = threading.Barrier(writers)
    errors: list[BaseException] = []

    def write(n: int) -> None:
        actor = Actor.system(f"writer{n}")
        try:
            start.wait(timeout=30)
            for first in range(0, per_writer, per_transaction):
                with db.transaction() as s:
                    for i in range(first, min(first + per_transaction, per_writer)):
                        audit.record(s, actor, "test.parallel", "thing", f"{n}-{i}", {"writer": n, "i": i})
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a writer hung"
    return errors


def test_parallel_appends_stay_linear(db, is_postgres, run_cli, system):
    # Every test starts without the chain head row, so the first appends also race to create it.
    writers, per_writer = (8, 25) if is_postgres else (4, 10)
    errors = run_writers(db, writers, per_writer)
    assert errors == []
    total = writers * per_writer
    with db.session(write=False) as s:
        rows = s.execute(select(AuditEntry.seq, AuditEntry.actor_name, AuditEntry.prev_hash, AuditEntry.hash)
                         .order_by(AuditEntry.seq)).all()
        report = audit.verify_chain(s, system)
    assert [r.seq for r in rows] == list(range(1, total + 1))
    assert all(rows[i].prev_hash == rows[i - 1].hash for i in range(1, total))
    assert Counter(r.actor_name for r in rows) == {f"writer{n}": per_writer for n in range(writers)}
    assert report.ok, report.reason
    assert report.checked == total
    result = run_cli("audit", "verify")
    assert result.exit_code == 0
    assert f"{total} entries checked" in result.stdout


def test_parallel_transactions_of_several_entries_with_checkpoints(make_app, is_postgres, system):
    db = make_app(audit_checkpoint_every=7).extensions["casemgr.db"]
    writers, per_writer = (6, 10) if is_postgres else (3, 7)
    assert run_writers(db, writers, per_writer, per_transaction=3) == []
    with db.session(write=False) as s:
        report = audit.verify_chain(s, system)
    assert report.ok, report.reason
    assert report.checked == writers * per_writer
    assert report.checkpoints_checked == writers * per_writer // 7


def test_verifying_while_writers_append_never_reports_a_false_break(db, is_postgres, system):
    """Verification runs against a live system; appends committed during the walk must not look like tampering."""
    writers, per_writer = (4, 25) if is_postgres else (2, 15)
    reports = []
    done = threading.Event()

    def verify_repeatedly() -> None:
        while not done.is_set():
            with db.session(write=False) as s, s.begin():
                reports.append(audit.verify_chain(s, system, batch=3))

    checker = threading.Thread(target=verify_repeatedly)
    checker.start()
    try:
        errors = run_writers(db, writers, per_writer)
    finally:
        done.set()
        checker.join(timeout=60)
    assert errors == []
    assert reports, "the checker never ran"
    assert [r.reason for r in reports if not r.ok] == []


def test_a_session_that_committed_before_appends_after_the_current_head(db, system):
    """Sessions keep their objects after commit; the head must still be read afresh under the lock."""
    long_lived = db.session(write=True)
    try:
        audit.record(long_lived, system, "test.first", "thing", 1)
        long_lived.commit()
        seen = long_lived.get(AuditHead, audit.HEAD_ID)  # e.g. verify_chain read it; the session keeps it
        long_lived.commit()
        with db.transaction() as other:
            audit.record(other, system, "test.meanwhile", "thing", 2)
        audit.record(long_lived, system, "test.again", "thing", 3)
        long_lived.commit()
        assert seen.seq == 3
    finally:
        long_lived.close()
    with db.session(write=False) as s:
        assert s.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)).all() == [
            "test.first", "test.meanwhile", "test.again"]
        assert audit.verify_chain(s, system).ok


def test_a_rolled_back_savepoint_leaves_the_chain_linear(db, system):
    with db.transaction() as s:
        audit.record(s, system, "test.before", "thing", 1)
        savepoint = s.begin_nested()
        audit.record(s, system, "test.undone", "thing", 2)
        audit.record(s, system, "test.undone", "thing", 3)
        savepoint.rollback()
        audit.record(s, system, "test.after", "thing", 4)
    with db.transaction() as s:
        audit.record(s, system, "test.next", "thing", 5)
    with db.session(write=False) as s:
        assert s.execute(select(AuditEntry.seq, AuditEntry.action).order_by(AuditEntry.seq)).all() == [
            (1, "test.before"), (2, "test.after"), (3, "test.next")]
        assert audit.verify_chain(s, system).ok


def test_a_rolled_back_savepoint_that_made_the_first_entry(db, system):
    with db.transaction() as s:
        savepoint = s.begin_nested()
        audit.record(s, system, "test.undone", "thing", 1)  # also creates the head row, undone with it
        savepoint.rollback()
        audit.record(s, system, "test.kept", "thing", 2)
    with db.session(write=False) as s:
        assert s.execute(select(AuditEntry.seq, AuditEntry.action)).all() == [(1, "test.kept")]
        assert audit.verify_chain(s, system).ok


def test_after_a_rolled_back_savepoint_the_head_is_locked_again(db, is_postgres, system):
    """PostgreSQL releases a row lock taken in a savepoint that rolls back; another writer may then
    append, and this transaction's next entry must follow that writer's, not fork the chain."""
    if not is_postgres:
        pytest.skip("SQLite holds its write lock for the whole transaction; no other writer can interleave")
    with db.transaction() as first:
        audit.record(first, system, "test.genesis", "thing", 0)
    a = db.session(write=True)
    try:
        savepoint = a.begin_nested()
        audit.record(a, system, "test.undone", "thing", 1)
        savepoint.rollback()
        with db.transaction() as b:
            b.execute(text("SET LOCAL lock_timeout = '5s'"))  # fails instead of hanging if the lock were kept
            audit.record(b, system, "test.other_writer", "thing", 2)
        audit.record(a, system, "test.after_savepoint", "thing", 3)
        # ... and holds the head again until it commits: another writer cannot take it meanwhile.
        with db.engine.connect() as other, pytest.raises(OperationalError, match="could not obtain lock"):
            other.execute(text("SELECT seq FROM audit_head FOR UPDATE NOWAIT"))
        a.commit()
    finally:
        a.close()
    with db.session(write=False) as s:
        assert s.execute(select(AuditEntry.seq, AuditEntry.action).order_by(AuditEntry.seq)).all() == [
            (1, "test.genesis"), (2, "test.other_writer"), (3, "test.after_savepoint")]
        assert audit.verify_chain(s, system).ok
