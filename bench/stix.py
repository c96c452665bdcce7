"""STIX import, export and value lookup against stix2.parse of the same bundle.

It generates a STIX 2.1 bundle of CASEMGR_BENCH_INDICATORS (default 50,000) indicators, each with its
observable (SCO) and a sighting, so three objects per indicator, and in the same run:
- the baseline: `stix2.parse` of the bundle alone (JSON text in, every object validated, every pattern run
  through the ANTLR validator), in objects/s;
- the import: casemgr.indicators.imports.import_bundle into a case, committed (decode, validate every object
  and pattern, dedupe, store), in objects/s, and the ratio import time / parse time (target <= 1.0), with the
  peak memory the import added to this process (VmHWM, reset before) and the peak of its validation worker
  processes (Settings.import_workers, one per CPU; sampled); then the same import with one process only
  (import_workers=1) into a second case, for comparison;
- the export of that case (casemgr.indicators.sharing.export_bundle written out), against the import time
  (target < 2x);
- the lookup of one value among CASEMGR_BENCH_LOOKUP_ROWS (default 1,000,000) stored indicators, seeded
  with bulk core inserts, through casemgr.indicators.service.search as an analyst (median and p95 of
  CASEMGR_BENCH_RUNS lookups; target < 5 ms), for a domain and for an IP address inside a stored CIDR.
SQLite always; PostgreSQL too when reachable (a temporary database, dropped afterwards).

Run: `python -m bench stix` or `python -m bench.stix`.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import stix2
from sqlalchemy import insert
from sqlalchemy.orm import Session

from bench.audit import instance, postgres_database, settle_after_bulk_load
from casemgr import build_database, collaborators, migrate
from casemgr.auth import service as auth
from casemgr.auth.actor import Actor
from casemgr.auth.models import Role
from casemgr.auth.schemas import NewUser
from casemgr.cases import service as cases
from casemgr.cases.models import Level
from casemgr.cases.models import Tlp as CaseTlp
from casemgr.cases.schemas import NewCase
from casemgr.config import Settings
from casemgr.db import utcnow
from casemgr.indicators import imports, rows, sharing, stix
from casemgr.indicators import service as indicators
from casemgr.indicators.models import StixObject
from casemgr.indicators.observables import normalize
from casemgr.indicators.schemas import SearchQuery

INDICATORS = int(os.environ.get("CASEMGR_BENCH_INDICATORS", "50000"))
LOOKUP_ROWS = int(os.environ.get("CASEMGR_BENCH_LOOKUP_ROWS", "1000000"))
RUNS = int(os.environ.get("CASEMGR_BENCH_RUNS", "200"))
SEED_BATCH = 10_000
T = "2026-05-01T12:00:00.000Z"
IDENTITY = stix.organization_identity("Bench Org")
GREEN = stix.tlp_marking("green")["id"]


def _value(n: int) -> tuple[str, str, dict[str, Any]]:
    """(pattern, normalized value, SCO properties) of the n-th generated indicator."""
    kind = n % 4
    if kind == 0:
        value = f"{10 + n // 65536 % 200}.{n // 256 % 256}.{n % 256}.{n % 7 + 1}"
        return f"[ipv4-addr:value = '{value}']", value, {"type": "ipv4-addr", "value": value}
    if kind == 1:
        value = f"host{n}.evil-{n % 97}.example"
        return f"[domain-name:value = '{value}']", value, {"type": "domain-name", "value": value}
    if kind == 2:
        value = uuid.uuid5(uuid.NAMESPACE_OID, str(n)).hex * 2
        return (f"[file:hashes.'SHA-256' = '{value}']", value,
                {"type": "file", "hashes": {"SHA-256": value}})
    value = f"http://evil-{n % 89}.example/path/{n}?q={n * 7}"
    return f"[url:value = '{value}']", value, {"type": "url", "value": value}


def generate_bundle(count: int) -> bytes:
    objects: list[dict[str, Any]] = [IDENTITY]
    for n in range(count):
        pattern, _, sco = _value(n)
        indicator_id = f"indicator--{uuid.uuid4()}"
        objects.append({"type": "indicator", "spec_version": "2.1", "id": indicator_id, "created": T, "modified": T,
                        "name": f"feed item {n}", "indicator_types": ["malicious-activity"], "pattern": pattern,
                        "pattern_type": "stix", "pattern_version": "2.1", "valid_from": T, "confidence": 70,
                        "created_by_ref": IDENTITY["id"], "object_marking_refs": [GREEN]})
        objects.append({"spec_version": "2.1", "id": f"{sco['type']}--{uuid.uuid4()}", **sco,
                        "object_marking_refs": [GREEN]})
        objects.append({"type": "sighting", "spec_version": "2.1", "id": f"sighting--{uuid.uuid4()}", "created": T,
                        "modified": T, "sighting_of_ref": indicator_id, "where_sighted_refs": [IDENTITY["id"]],
                        "first_seen": T, "last_seen": T, "count": 1 + n % 5, "created_by_ref": IDENTITY["id"],
                        "object_marking_refs": [GREEN]})
    return json.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}).encode()


def _status_kib(pid: int | str, field: str, source: str = "status") -> int:
    """A memory figure of a process from /proc/PID/status (VmHWM) or smaps_rollup (Pss), in KiB; 0 if gone."""
    try:
        for line in Path(f"/proc/{pid}/{source}").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _descendants() -> list[str]:
    parents: dict[str, str] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[stat.parent.name] = fields[1]
    found, frontier = [], [str(os.getpid())]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier]
        found.extend(children)
        frontier = children
    return found


@dataclasses.dataclass
class PeakMemory:
    own_mib: float = 0.0  # peak RSS growth of this process
    workers_mib: float = 0.0  # peak total PSS of the processes it started (sampled every 100 ms)


@contextmanager
def peak_memory() -> Iterator[PeakMemory]:
    """Measure the peak memory of the block: this process's exactly (VmHWM, reset first), its descendants'
    (the import's worker processes and their fork server) by sampling their proportional set size (PSS:
    pages they share, forked from the fork server, counted once)."""
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    start = _status_kib("self", "VmHWM")
    peak = PeakMemory()
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.1):
            pss_kib = sum(_status_kib(pid, "Pss", "smaps_rollup") for pid in _descendants())
            peak.workers_mib = max(peak.workers_mib, pss_kib / 1024)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        done.set()
        sampler.join()
        peak.own_mib = (_status_kib("self", "VmHWM") - start) / 1024


def setup(url: str, instance_dir: Path, **overrides: Any) -> tuple[Any, Actor, int]:
    migrate.upgrade(url)
    db = build_database(bench_settings(url, instance_dir, **overrides))
    system = Actor.system("bench")
    with db.transaction() as s:
        user = auth.create_user(s, system, NewUser(username="analyst", role=Role.ANALYST,
                                                   password="correct horse battery staple 42"))
        case = cases.create_case(s, system, NewCase(title="Feed import", category="malicious-code",
                                                    impact=Level.MEDIUM, urgency=Level.MEDIUM, tlp=CaseTlp.GREEN))
        case_id = case.id
    return db, Actor(user=user, via="bench"), case_id


def bench_settings(url: str, instance_dir: Path, **overrides: Any) -> Settings:
    settings = Settings.from_env({"CASEMGR_INSTANCE_DIR": str(instance_dir), "CASEMGR_DATABASE_URL": url,
                                  "CASEMGR_ORGANIZATION": "Bench Org",
                                  "CASEMGR_EVIDENCE_DIR": str(instance_dir / "evidence")})
    return dataclasses.replace(settings, **overrides)


def time_import(db: Any, case_id: int, data: bytes) -> tuple[float, imports.ImportReport, PeakMemory]:
    with peak_memory() as memory:
        started = time.perf_counter()
        with db.transaction() as s:
            report = imports.import_bundle(s, Actor.system("bench"), case_id, data)
        elapsed = time.perf_counter() - started
    return elapsed, report, memory


def time_single_process_import(url: str, instance_dir: Path, data: bytes) -> float:
    """The same import into a fresh database, validating in this process only (import_workers=1)."""
    db, _, case_id = setup(url, instance_dir, import_workers=1)
    try:
        seconds, report, _ = time_import(db, case_id, data)
        assert not report.rejected, report.rejected[:3]
        return seconds
    finally:
        db.dispose()


def time_export(db: Any, case_id: int, target: Path) -> tuple[float, int]:
    started = time.perf_counter()
    size = 0
    with db.transaction() as s, target.open("w", encoding="utf-8") as f:
        for chunk in sharing.export_bundle(s, Actor.system("bench"), case_id):
            size += f.write(chunk)
    return time.perf_counter() - started, size


def seed_lookup_rows(db: Any, count: int) -> tuple[int, str]:
    """`count` indicators in a second case, inserted in bulk; returns (case id, a domain stored among them)."""
    system = Actor.system("bench")
    with db.transaction() as s:
        case = cases.create_case(s, system, NewCase(title="Big feed", category="malicious-code",
                                                    impact=Level.LOW, urgency=Level.LOW))
        case_id = case.id
    now = utcnow()
    for start in range(0, count, SEED_BATCH):
        batch = []
        for n in range(start + 1_000_000_000, min(start + SEED_BATCH, count) + 1_000_000_000):
            pattern, value, _ = _value(2 * n + 1)  # domains and URLs only: the IPs stay for the CIDR lookup
            kind = "domain-name" if (2 * n + 1) % 4 == 1 else "url"
            batch.append({"case_id": case_id, "stix_id": f"indicator--{uuid.uuid4()}", "type": "indicator",
                          "created": now, "modified": now, "stix_json": "{}", "value_type": kind,
                          "value": value, "value_digest": rows.value_digest(value), "ip_start": None,
                          "ip_end": None, "pattern": pattern, "name": None, "valid_from": now, "valid_until": None,
                          "confidence": 50, "tlp": stix.Tlp.GREEN, "source_ref": None, "target_ref": None,
                          "added_at": now, "added_by_id": None})
        with db.transaction() as s:
            s.execute(insert(StixObject), batch)
    cidr = normalize("ipv4-addr", "198.18.0.0/15")
    start_hex, end_hex = rows.ip_range(cidr) or ("", "")
    with db.transaction() as s:
        s.execute(insert(StixObject), [{
            "case_id": case_id, "stix_id": f"indicator--{uuid.uuid4()}", "type": "indicator", "created": now,
            "modified": now, "stix_json": "{}", "value_type": "ipv4-addr", "value": cidr.value,
            "value_digest": rows.value_digest(cidr.value), "ip_start": start_hex, "ip_end": end_hex,
            "pattern": cidr.pattern, "name": None, "valid_from": now, "valid_until": None, "confidence": 50,
            "tlp": stix.Tlp.GREEN, "source_ref": None, "target_ref": None, "added_at": now, "added_by_id": None}])
    settle_after_bulk_load(db)
    _, domain, _ = _value(2 * (count // 2 + 1_000_000_000) + 1)
    return case_id, domain


def time_lookups(db: Any, analyst: Actor, value: str) -> tuple[float, float, int]:
    timings = []
    found = 0
    for _ in range(RUNS):
        s: Session = db.session(write=False)
        try:
            started = time.perf_counter()
            result = indicators.search(s, analyst, SearchQuery(value=value, per_page=10))
            timings.append((time.perf_counter() - started) * 1000)
            found = result.total
        finally:
            s.close()
    timings.sort()
    return statistics.median(timings), timings[int(len(timings) * 0.95) - 1], found


Databases = Callable[[], AbstractContextManager[str | None]]  # a fresh database's URL each time, None if none


def bench_backend(label: str, databases: Databases, instance_dir: Path, data: bytes, objects: int,
                  parse_seconds: float | None = None) -> float | None:
    """Import, export and lookups on one backend, each import into a fresh database from `databases`;
    returns the parse time (measured after the first import, so that the import's memory is measured in a
    process that has not yet held the parsed bundle)."""
    with databases() as url:
        if url is None:
            return parse_seconds
        return _bench_backend(label, url, databases, instance_dir, data, objects, parse_seconds)


def _bench_backend(label: str, url: str, databases: Databases, instance_dir: Path, data: bytes, objects: int,
                   parse_seconds: float | None) -> float:
    db, analyst, case_id = setup(url, instance_dir)
    try:
        seconds, report, memory = time_import(db, case_id, data)
        assert not report.rejected, report.rejected[:3]
        export_seconds, size = time_export(db, case_id, instance_dir / "export.json")
        if parse_seconds is None:
            parse_seconds = time_parse(data, objects)
        workers = collaborators.settings(db).import_workers
        print(f"   {label}: import {objects:,} objects in {seconds:.1f} s = {objects / seconds:,.0f} objects/s; "
              f"ratio import/parse {seconds / parse_seconds:.2f} (target <= 1.0); stored {report.stored:,}; "
              f"{workers} validation worker process(es); peak RSS +{memory.own_mib:.0f} MiB here and "
              f"{memory.workers_mib:.0f} MiB (PSS) in the workers and their fork server, "
              f"for a {len(data) / 2**20:.0f} MiB bundle")
        with databases() as fresh_url:
            assert fresh_url is not None
            single = time_single_process_import(fresh_url, instance_dir, data)
        print(f"   {label}: the same import in one process (import_workers=1): {single:.1f} s = "
              f"{objects / single:,.0f} objects/s; ratio import/parse {single / parse_seconds:.2f}")
        print(f"   {label}: export {size / 2**20:.0f} MiB in {export_seconds:.1f} s = "
              f"{export_seconds / seconds:.2f}x the import time (target < 2x)")
        seed_started = time.perf_counter()
        _, domain = seed_lookup_rows(db, LOOKUP_ROWS)
        print(f"   {label}: seeded {LOOKUP_ROWS:,} more indicators in {time.perf_counter() - seed_started:.0f} s")
        for what, value in (("domain", domain), ("IP inside a stored /15", "198.19.4.5")):
            median, p95, found = time_lookups(db, analyst, value)
            print(f"   {label}: lookup of a {what} among {LOOKUP_ROWS + INDICATORS:,} indicators: median "
                  f"{median:.2f} ms, p95 {p95:.2f} ms (target < 5 ms), {found} found")
    finally:
        db.dispose()
    return parse_seconds


def time_parse(data: bytes, objects: int) -> float:
    started = time.perf_counter()
    parsed = stix2.parse(data.decode(), allow_custom=True)
    seconds = time.perf_counter() - started
    del parsed
    gc.collect()
    print(f"   baseline: stix2.parse of {objects:,} objects ({INDICATORS:,} indicators) in {seconds:.1f} s = "
          f"{objects / seconds:,.0f} objects/s ({INDICATORS / seconds:,.0f} indicators/s)")
    return seconds


def main() -> None:
    data = generate_bundle(INDICATORS)
    objects = 1 + 3 * INDICATORS
    with instance() as instance_dir:

        @contextmanager
        def sqlite_databases() -> Iterator[str | None]:
            yield f"sqlite:///{instance_dir / f'bench-{uuid.uuid4().hex[:8]}.db'}"

        parse_seconds = bench_backend("SQLite", sqlite_databases, instance_dir, data, objects)
    with instance() as instance_dir:
        bench_backend("PostgreSQL", postgres_database, instance_dir, data, objects, parse_seconds)


if __name__ == "__main__":
    main()
