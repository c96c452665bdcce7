"""Audit log append throughput through the real service, against plain INSERTs in the same run.

For each backend (SQLite always; PostgreSQL when reachable) and each transaction pattern, it
appends entries with `casemgr.audit.service.record` (head row lock, RFC 8785 serialization,
SHA-256 chain, signed checkpoint every 100 entries) and, as the baseline, inserts rows of the
same size into a copy of the table with the same indexes, hashing each with SHA-256, in
transactions of the same size on the same kind of session. The ratio audit/baseline is what to
compare between runs and machines.

PostgreSQL: CASEMGR_BENCH_DATABASE_URL (or CASEMGR_TEST_DATABASE_URL, else
postgresql+psycopg://postgres@127.0.0.1:5432/test) names a server on which a temporary
database is created and dropped.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import MetaData, Table, create_engine, insert, text
from sqlalchemy.engine import make_url

from casemgr import build_database, migrate
from casemgr.audit import service as audit
from casemgr.audit.models import AuditEntry
from casemgr.auth.actor import Actor
from casemgr.config import Settings, generate_secret_key
from casemgr.db import Database, utcnow
from casemgr.signing import Signer

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SUMMARY = {"title": "Phishing wave against finance", "changes": {"status": ["open", "contained"],
                                                                 "severity": ["medium", "high"]},
           "note": "x" * 120}


@dataclass(frozen=True)
class Pattern:
    label: str
    writers: int
    transactions: int  # per writer
    per_transaction: int

    @property
    def entries(self) -> int:
        return self.writers * self.transactions * self.per_transaction


PATTERNS = [
    Pattern("1 entry per transaction", 1, 1000, 1),
    Pattern("50 entries per transaction", 1, 40, 50),
    Pattern("4 writers, 1 entry per tx", 4, 250, 1),
]


def plain_table(metadata: MetaData) -> Table:
    """audit_entries' columns and indexes under other names: what a plain log table would cost."""
    table = AuditEntry.__table__.to_metadata(metadata, name="bench_plain_entries")  # type: ignore[attr-defined]
    for index in table.indexes:
        index.name = f"bench_{index.name}"
    for constraint in table.constraints:
        if constraint.name:
            constraint.name = f"bench_{constraint.name}"
    return table


def appender(db: Database, writer: int) -> Callable[[int], None]:
    actor = Actor.system(f"bench{writer}")

    def append(count: int) -> None:
        with db.transaction() as s:
            for i in range(count):
                audit.record(s, actor, "case.update", "case", i, SUMMARY)

    return append


def plain_inserter(db: Database, table: Table, writer: int, counter: Iterator[int]) -> Callable[[int], None]:
    """The baseline: a same-size row, hashed with SHA-256, inserted without any chain."""

    def insert_rows(count: int) -> None:
        with db.transaction() as s:
            for i in range(count):
                row = {"seq": next(counter), "occurred_at": utcnow(), "actor_type": "system", "actor_id": None,
                       "actor_name": f"bench{writer}", "token_id": None, "action": "case.update",
                       "object_type": "case", "object_id": str(i), "summary": SUMMARY, "source_ip": None,
                       "request_id": None, "via": "cli", "prev_hash": "0" * 64}
                row["hash"] = hashlib.sha256(json.dumps(row, default=str, sort_keys=True).encode()).hexdigest()
                s.execute(insert(table), row)

    return insert_rows


def measure(pattern: Pattern, make_worker: Callable[[int], Callable[[int], None]]) -> float:
    """Entries per second for `pattern`, with every writer started together."""
    workers = [make_worker(w) for w in range(pattern.writers)]
    start = threading.Barrier(pattern.writers + 1)
    errors: list[BaseException] = []

    def work(worker: Callable[[int], None]) -> None:
        start.wait()
        try:
            for _ in range(pattern.transactions):
                worker(pattern.per_transaction)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    start.wait()
    began = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise errors[0]
    return pattern.entries / elapsed


@contextmanager
def instance() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="casemgr-bench-") as tmp:
        path = Path(tmp)
        (path / "secret_key").write_text(generate_secret_key())
        Signer.generate(path / "signing_key.pem")
        yield path


def settle_after_bulk_load(db: Database) -> None:
    """On PostgreSQL, VACUUM ANALYZE after a bulk seed, as a live server's autovacuum would have done,
    so that a benchmark times the plans of settled statistics, not of whatever the moment gives."""
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")


@contextmanager
def postgres_database() -> Iterator[str | None]:
    server = os.environ.get("CASEMGR_BENCH_DATABASE_URL") or os.environ.get("CASEMGR_TEST_DATABASE_URL") or PG_DEFAULT
    admin_url = make_url(server).set(drivername="postgresql+psycopg")
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    name = f"casemgr_bench_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        print(f"   PostgreSQL at {admin_url.render_as_string()} not reachable, skipped ({type(exc).__name__})")
        admin.dispose()
        yield None
        return
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def bench_backend(label: str, url: str, instance_dir: Path) -> list[tuple[str, str, float, float]]:
    migrate.upgrade(url)
    settings = Settings.from_env({"CASEMGR_INSTANCE_DIR": str(instance_dir), "CASEMGR_DATABASE_URL": url})
    db = build_database(settings)
    metadata = MetaData()
    table = plain_table(metadata)
    metadata.create_all(db.engine)
    results = []
    try:
        appender(db, 99)(20)  # warm up the connection pool and caches
        numbers = itertools.count(1)  # shared by the writers (next() on a count is atomic)
        plain_inserter(db, table, 99, numbers)(20)
        for pattern in PATTERNS:
            chained = measure(pattern, lambda w: appender(db, w))
            baseline = measure(pattern, lambda w: plain_inserter(db, table, w, numbers))
            results.append((label, pattern.label, chained, baseline))
        with db.session(write=False) as s:
            report = audit.verify_chain(s, Actor.system("bench"))
        assert report.ok, report.reason  # the benchmark itself must leave an intact chain
    finally:
        db.dispose()
    return results


def main() -> None:
    print("audit append throughput, entries/s; baseline = plain INSERT of same-size rows + SHA-256,"
          " same transactions")
    rows = []
    with instance() as instance_dir:
        rows += bench_backend("sqlite", f"sqlite:///{instance_dir / 'bench.db'}", instance_dir)
        with postgres_database() as pg_url:
            if pg_url is not None:
                rows += bench_backend("postgresql", pg_url, instance_dir)
    print(f"   {'backend':<11} {'pattern':<28} {'audit':>9} {'baseline':>9} {'ratio':>6}")
    for backend, pattern, chained, baseline in rows:
        print(f"   {backend:<11} {pattern:<28} {chained:>9.0f} {baseline:>9.0f} {chained / baseline:>6.2f}")


if __name__ == "__main__":
    main()
