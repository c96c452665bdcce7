"""Case list, filtered list and text search latency at 100,000 cases, against a primary-key lookup.

For each backend (SQLite always; PostgreSQL when reachable, in a temporary database that is
dropped afterwards) it migrates a fresh database, seeds CASEMGR_BENCH_CASES (default 100,000)
cases with the rows the service writes for them (tags, members, the "created" timeline entry,
2-4 Markdown notes, some manual events, escalations on a few), inserted in batches through
SQLAlchemy core. The full-text index is filled by the database itself through the migration's
triggers (SQLite: the FTS5 table; PostgreSQL: the `case_search` table's tsvector under a GIN
index), exactly as for rows the service writes.

It then times, each in its own read session as an analyst (whose visibility filter is the most
expensive: open cases, or restricted ones they are a member of):
- the baseline: one case loaded by primary key;
- the list page: casemgr.cases.service.list_cases with the default query (newest first, 50 per
  page, with the total count);
- a filtered list: status + priority + category;
- text searches through the same service call (`q`), and searches for a case reference (whole, and
  its number alone, which names a case in every year).
It prints the median and p95 of each in ms and as a ratio to the baseline's median, and whether
the targets hold (list and filtered list p95 < 50 ms on SQLite; search p95 < 100 ms).

Run: `python -m bench cases` or `python -m bench.cases`.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.orm import Session

from bench.audit import instance, postgres_database, settle_after_bulk_load
from casemgr import build_database, migrate
from casemgr.auth import service as auth
from casemgr.auth.actor import Actor
from casemgr.auth.models import Role, User
from casemgr.auth.schemas import NewUser
from casemgr.cases import service
from casemgr.cases.models import (
    OPEN_STATUSES,
    PRIORITY_MATRIX,
    SEVERITY_FOR_PRIORITY,
    Case,
    CaseEscalation,
    CaseReferenceCounter,
    CaseStatus,
    CaseTag,
    Level,
    Resolution,
    Source,
    TimelineEntry,
    Tlp,
    case_members,
)
from casemgr.cases.schemas import CaseQuery
from casemgr.config import Settings
from casemgr.db import Database

CASES = int(os.environ.get("CASEMGR_BENCH_CASES", "100000"))
BATCH = 2_000
RUNS = int(os.environ.get("CASEMGR_BENCH_RUNS", "60"))
TARGETS_MS = {"list page": 50.0, "filtered list": 50.0, "search": 100.0}
NOW = dt.datetime(2026, 6, 30, 12, 0, tzinfo=dt.UTC)
TEAMS = ["CSIRT", "SOC tier 1", "SOC tier 2", "Forensics", "Network", "Identity"]
TAGS = ["phishing", "bec", "malware", "ransomware", "ddos", "credential-theft", "insider", "vip", "finance",
        "hr", "cloud", "o365", "vpn", "endpoint", "edr-alert", "siem", "false-positive", "gdpr", "pci", "ot"]
THREATS = ["LockBit", "BlackCat", "Emotet", "QakBot", "Cobalt Strike beacon", "AgentTesla", "IcedID", "Mimikatz",
           "AsyncRAT", "RedLine stealer", "SocGholish", "Conti", "a phishing kit", "password spraying"]
ASSETS = ["mail gateway", "file server", "domain controller", "VPN concentrator", "payroll system", "CRM",
          "SharePoint site", "build server", "laptop", "web shop", "jump host", "backup server"]
ACTIONS = ["Isolated the host from the network.", "Reset the user's password and revoked sessions.",
           "Blocked the sender domain on the mail gateway.", "Collected memory and disk images for analysis.",
           "Searched the SIEM for other hosts contacting the same IP.", "Asked the user what they clicked.",
           "Opened a ticket with the hosting provider to take the site down.",
           "Reimaged the workstation from the golden image.", "Added the hash to the EDR block list.",
           "Confirmed with the vendor that the login was theirs.", "Notified the data protection officer."]
CATEGORIES = [("malicious-code", "ransomware"), ("malicious-code", "infected-system"), ("fraud", "phishing"),
              ("intrusion-attempts", "brute-force"), ("intrusions", "unprivileged-account-compromise"),
              ("availability", "ddos"), ("information-gathering", "scanner"), ("abusive-content", "spam"),
              ("information-content-security", "data-leak"), ("vulnerable", "vulnerable-system"),
              ("other", "undetermined")]


def host(rng: random.Random) -> str:
    return rng.choice(["ws", "srv", "fs", "dc", "vpn", "mx"]) + f"{rng.randrange(1, 400):02d}.corp.example"


def ip(rng: random.Random) -> str:
    return f"{rng.choice([45, 91, 185, 193, 203])}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def description(rng: random.Random) -> str:
    return (f"{rng.choice(['A user reported', 'The SIEM alerted on', 'EDR flagged', 'A partner CERT told us about'])}"
            f" **{rng.choice(THREATS)}** activity on the {rng.choice(ASSETS)} `{host(rng)}`.\n\n"
            f"- first seen contacting `{ip(rng)}`\n- {rng.randrange(1, 40)} users possibly affected\n\n"
            f"Ticket INC{rng.randrange(100000, 999999)}.")


def note(rng: random.Random) -> str:
    return (f"{rng.choice(ACTIONS)} {rng.choice(ACTIONS)}\n\nSeen from `{ip(rng)}` on `{host(rng)}`; "
            f"hash `{rng.getrandbits(256):064x}`. {rng.choice(THREATS)} indicators match the "
            f"{rng.choice(ASSETS)} logs.")


def seed(db: Database, count: int) -> dict[str, Any]:
    """Insert `count` cases and their rows in batches; return what the queries need (users, ids)."""
    system = Actor.system("bench")
    with db.transaction() as s:
        users = [auth.create_user(s, system, NewUser(username=f"analyst{i}", role=Role.ANALYST,
                                                     password="bench password 1234")) for i in range(40)]
        users += [auth.create_user(s, system, NewUser(username=f"manager{i}", role=Role.MANAGER,
                                                      password="bench password 1234")) for i in range(5)]
        user_ids = [u.id for u in users]
    rng = random.Random(20260630)
    statuses = list(CaseStatus)
    weights = [4, 4, 8, 4, 3, 3, 20, 54]  # most cases of a mature instance are closed
    started = time.perf_counter()
    per_year: dict[int, int] = {}
    entry_id = 0
    for first in range(1, count + 1, BATCH):
        cases, tags, members, entries, escalations = [], [], [], [], []
        for case_id in range(first, min(first + BATCH, count + 1)):
            created = NOW - dt.timedelta(days=730 * (count - case_id) / count, minutes=rng.randrange(600))
            per_year[created.year] = per_year.get(created.year, 0) + 1
            impact, urgency = rng.choice(list(Level)), rng.choice(list(Level))
            priority = PRIORITY_MATRIX[(impact, urgency)]
            status = rng.choices(statuses, weights)[0]
            category, subcategory = rng.choice(CATEGORIES)
            owner = rng.choice(user_ids) if rng.random() < 0.75 else None
            creator = rng.choice(user_ids)
            done = status not in OPEN_STATUSES
            escalated = created + dt.timedelta(hours=2) if rng.random() < 0.04 else None
            cases.append({
                "id": case_id, "reference": f"IR-{created.year}-{per_year[created.year]:05d}",
                "title": f"{rng.choice(THREATS)} on {rng.choice(ASSETS)} {host(rng)}"[:200],
                "description": description(rng), "category": category, "subcategory": subcategory,
                "source": rng.choice(list(Source)), "occurred_at": created - dt.timedelta(hours=rng.randrange(72)),
                "detected_at": created - dt.timedelta(hours=1), "reported_at": created,
                "acknowledged_at": created + dt.timedelta(minutes=20) if status != CaseStatus.NEW else None,
                "contained_at": created + dt.timedelta(days=1) if done else None,
                "resolved_at": created + dt.timedelta(days=3) if done else None,
                "closed_at": created + dt.timedelta(days=5) if status == CaseStatus.CLOSED else None,
                "impact": impact, "urgency": urgency, "priority": priority, "priority_overridden": False,
                "priority_reason": None, "severity": SEVERITY_FOR_PRIORITY[priority], "severity_overridden": False,
                "severity_reason": None, "tlp": rng.choices(list(Tlp), [5, 20, 60, 5, 10])[0],
                "pap": "amber", "restricted": rng.random() < 0.05, "status": status,
                "resolution": rng.choice(list(Resolution)) if done else None,
                "resolution_summary": "Contained and remediated." if done else None,
                "root_cause": "Missing MFA on the account." if status == CaseStatus.CLOSED else None,
                "duplicate_of_id": None, "owner_id": owner, "team": rng.choice(TEAMS),
                "last_escalated_at": escalated, "created_at": created, "updated_at": created + dt.timedelta(days=1),
                "created_by_id": creator, "version": 1 + rng.randrange(8),
            })
            tags += [{"case_id": case_id, "tag": t} for t in rng.sample(TAGS, rng.randrange(4))]
            members += [{"case_id": case_id, "user_id": u} for u in {creator, owner} if u is not None]
            entry_id += 1
            entries.append({"id": entry_id, "case_id": case_id, "kind": "created", "occurred_at": created,
                            "recorded_at": created, "actor_id": creator, "actor_name": f"user {creator}",
                            "summary": "Case opened", "changes": {"status": [None, "new"]}, "body": None})
            for n in range(rng.randrange(2, 5)):
                at = created + dt.timedelta(hours=n + 1)
                entry_id += 1
                event = rng.random() < 0.2
                entries.append({"id": entry_id, "case_id": case_id, "kind": "event" if event else "note",
                                "occurred_at": at - dt.timedelta(hours=30) if event else at, "recorded_at": at,
                                "actor_id": owner or creator, "actor_name": "bench",
                                "summary": f"First mail delivered to {host(rng)}" if event else "Note by bench",
                                "changes": None, "body": note(rng)})
            if escalated is not None:
                escalations.append({"case_id": case_id, "kind": "hierarchical", "reason": "Spreading fast",
                                    "to_team": None, "to_user_id": None, "created_at": escalated,
                                    "created_by_id": creator, "created_by_name": "bench"})
        with db.transaction() as s:
            s.execute(insert(cast(Table, Case.__table__)), cases)
            s.execute(insert(cast(Table, CaseTag.__table__)), tags)
            s.execute(insert(case_members), members)
            # RETURNING makes SQLAlchemy send multi-row INSERTs of 1,000 rows ("insertmanyvalues"); without
            # it psycopg sends one INSERT per row, PostgreSQL's statement trigger (migration 0009) then
            # rewrote a case's `case_search` row once per note, and the table was left 2.5 times its live
            # size, where a live server's autovacuum keeps it near that size by reusing the space.
            timeline = cast(Table, TimelineEntry.__table__)
            s.execute(insert(timeline).returning(timeline.c.id), entries)
            if escalations:
                s.execute(insert(cast(Table, CaseEscalation.__table__)), escalations)
        if first // BATCH % 10 == 0:
            print(f"   seeded {first + len(cases) - 1:>7,} cases, {entry_id:>9,} timeline entries "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)
    with db.transaction() as s:
        counters = [{"year": y, "last": n} for y, n in per_year.items()]
        s.execute(insert(cast(Table, CaseReferenceCounter.__table__)), counters)
        if s.get_bind().dialect.name == "postgresql":
            s.execute(text("SELECT setval(pg_get_serial_sequence('cases', 'id'), (SELECT max(id) FROM cases))"))
            s.execute(text("SELECT setval(pg_get_serial_sequence('case_timeline', 'id'), "
                           "(SELECT max(id) FROM case_timeline))"))
    settle_after_bulk_load(db)
    print(f"   seeded {count:,} cases and {entry_id:,} timeline entries in {time.perf_counter() - started:.0f} s")
    return {"analyst": users[0].id, "count": count}


def timed(db: Database, runs: int, work: Callable[[Session, int], object]) -> list[float]:
    """Milliseconds per call of work(session, i), each in its own read session (after 5 warm-up calls)."""
    samples = []
    for i in range(-5, runs):
        began = time.perf_counter()
        with db.session(write=False) as s:
            work(s, i)
        if i >= 0:
            samples.append((time.perf_counter() - began) * 1000)
    return samples


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20, method="inclusive")[18]


def workloads(db: Database, info: dict[str, Any]) -> Iterator[tuple[str, str, Callable[[Session, int], object]]]:
    with db.session(write=False) as s:
        analyst = Actor(user=s.get(User, info["analyst"]), via="bench")
        s.expunge_all()
    rng = random.Random(7)
    ids = [rng.randrange(1, info["count"] + 1) for _ in range(RUNS + 5)]

    def by_id(s: Session, i: int) -> object:
        return s.scalars(select(Case).where(Case.id == ids[i])).one()

    def listing(query: CaseQuery) -> Callable[[Session, int], object]:
        def run(s: Session, _i: int) -> object:
            s.add(analyst.user)
            page = service.list_cases(s, analyst, query)
            assert page.items, f"no cases for {query}"
            return page
        return run

    yield "baseline", "case by primary key", by_id
    yield "list page", "default: newest first, 50 per page, total", listing(CaseQuery())
    yield "list page", "page 20 of the default list", listing(CaseQuery(page=20))
    yield "filtered list", "status=investigating priority=P2,P3 category=fraud", listing(CaseQuery.model_validate(
        {"status": "investigating", "priority": "P2,P3", "category": "fraud"}))
    yield "filtered list", "state=open owner=none tag=phishing", listing(CaseQuery.model_validate(
        {"state": "open", "owner": "none", "tag": "phishing"}))
    yield "search", "q=lockbit (common word)", listing(CaseQuery(q="lockbit"))
    yield "search", "q=domain controller isolated (3 words)", listing(CaseQuery(q="domain controller isolated"))
    with db.session(write=False) as s:  # a word that occurs in one note only: a hash prefix
        body = s.scalar(select(TimelineEntry.body).where(TimelineEntry.kind == "note").limit(1)) or ""
        reference = s.scalar(select(Case.reference).where(Case.id == info["count"] // 2)) or "IR-2025-0001"
    rare = body.split("hash `")[1][:12] if "hash `" in body else "qakbot"
    yield "search", f"q={rare} (a hash prefix in one note)", listing(CaseQuery(q=rare))
    yield "search", f"q={reference} (a case reference)", listing(CaseQuery(q=reference))
    number = reference.rsplit("-", 1)[1]
    yield "search", f"q={number} (a reference's number, any year)", listing(CaseQuery(q=number))


def bench_backend(label: str, url: str, instance_dir: Path) -> list[tuple[str, str, str, list[float]]]:
    print(f"-- {label}: migrating and seeding {CASES:,} cases", flush=True)
    migrate.upgrade(url)
    settings = Settings.from_env({"CASEMGR_INSTANCE_DIR": str(instance_dir), "CASEMGR_DATABASE_URL": url})
    db = build_database(settings)
    try:
        info = seed(db, CASES)
        with db.session(write=False) as s:
            assert s.scalar(select(func.count(Case.id))) == CASES
        return [(label, kind, what, timed(db, RUNS, work)) for kind, what, work in workloads(db, info)]
    finally:
        db.dispose()


def report(rows: list[tuple[str, str, str, list[float]]]) -> None:
    print(f"\n   {'backend':<11} {'query':<58} {'median ms':>9} {'p95 ms':>8} {'×base':>7} {'target':>8}")
    baseline: dict[str, float] = {}
    for backend, kind, what, samples in rows:
        median, high = statistics.median(samples), p95(samples)
        if kind == "baseline":
            baseline[backend] = median
        target = TARGETS_MS.get(kind)
        verdict = "" if target is None else (f"<{target:.0f} ok" if high < target else f"<{target:.0f} MISS")
        print(f"   {backend:<11} {(kind + ': ' + what)[:58]:<58} {median:>9.2f} {high:>8.2f} "
              f"{median / baseline[backend]:>7.1f} {verdict:>8}")
    print("   (×base: median over the median primary-key lookup in the same run; targets apply to p95)")


def main() -> None:
    print(f"case list and search latency at {CASES:,} cases, {RUNS} runs each, as an analyst")
    rows: list[tuple[str, str, str, list[float]]] = []
    with instance() as instance_dir:
        rows += bench_backend("sqlite", f"sqlite:///{instance_dir / 'bench-cases.db'}", instance_dir)
        with postgres_database() as pg_url:
            if pg_url is not None:
                rows += bench_backend("postgresql", pg_url, instance_dir)
    report(rows)


if __name__ == "__main__":
    main()
