"""Importing a STIX 2.1 bundle into a case.

One pass over the bundle in batches: every object is validated (casemgr/indicators/bundle.py), deduplicated
and stored with bulk statements: per batch one query for the ids already on the case, one for the values
already on it, then one multi-row INSERT (and, when versions arrive, one UPDATE and one history INSERT).
Nothing is queried per object. Each processed object is dropped from the decoded bundle, so memory never
grows beyond the parse. Everything runs in the caller's transaction: a bundle with invalid objects raises
BundleRejected after the pass (unless `partial`), and the boundary rolls back all of it.

Validation (stix2, which is pure Python and most of an import's time) and building each object's row run
in chunks of CHUNK objects; for a bundle of PARALLEL_FROM objects or more they run in worker processes
(Settings.import_workers, by default one per CPU; casemgr/parallel.py) while this process stores the chunks
already done, in bundle order. The workers get plain JSON data and give back verdicts and rows, so the
outcome is the same as checking in this process; the chunks of a worker that dies are checked here.

Dedupe: an object whose STIX id is on the case is a duplicate (same `modified`), a newer version (becomes
current; the old one goes to the history) or an older version (kept in the history). A new object whose
normalized value is already on the case as an object of the same type (say an indicator for 1.2.3.4 under
another id) is a duplicate too and is not stored.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any, cast

from sqlalchemy import Table, select, text, update
from sqlalchemy.orm import Session

from casemgr import collaborators
from casemgr.audit import service as audit
from casemgr.auth.actor import Actor
from casemgr.cases.models import Case
from casemgr.collaborators import clock
from casemgr.errors import TooLarge
from casemgr.indicators import convert, rows
from casemgr.indicators.bundle import BundleReport, CheckedObject, Rejection, Stix20Guard, check_object, strict_json
from casemgr.indicators.models import StixObject, StixObjectVersion
from casemgr.indicators.observables import Observable
from casemgr.indicators.service import case_for_change, ensure_collection, user_id
from casemgr.parallel import map_chunks

BATCH = 2000  # objects stored per round of statements
CHUNK = 500  # objects validated per unit of work (in a worker process for large bundles)
PARALLEL_FROM = 4 * CHUNK  # below this, starting worker processes costs more than it saves
# Core tables: a list of parameter sets becomes one executemany (the ORM's bulk insert may go row by row).
OBJECTS = cast(Table, StixObject.__table__)
VERSIONS = cast(Table, StixObjectVersion.__table__)
Progress = Callable[[int, int], None]


@dataclass
class ImportReport:
    bundle_id: str | None
    total: int = 0
    added: Counter[str] = field(default_factory=Counter)  # by object type
    new_versions: Counter[str] = field(default_factory=Counter)  # a newer version became current
    old_versions: Counter[str] = field(default_factory=Counter)  # an older version went to the history
    duplicates: Counter[str] = field(default_factory=Counter)  # same id and version, or same value
    rejected: list[Rejection] = field(default_factory=list)
    partial: bool = False
    dry_run: bool = False
    conversion: convert.Conversion = field(default_factory=convert.Conversion)

    @property
    def stored(self) -> int:
        return sum(self.added.values()) + sum(self.new_versions.values()) + sum(self.old_versions.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "bundle_id": self.bundle_id, "total": self.total, "stored": self.stored,
            "added": dict(sorted(self.added.items())), "new_versions": dict(sorted(self.new_versions.items())),
            "old_versions": dict(sorted(self.old_versions.items())),
            "duplicates": dict(sorted(self.duplicates.items())),
            "rejected": [r.to_dict() for r in self.rejected], "partial": self.partial, "dry_run": self.dry_run,
            "converted_from": self.conversion.converted_from, "conversion": list(self.conversion.notes),
            "markings_mapped": [m.to_dict() for m in self.conversion.markings],
        }


def import_bundle(session: Session, actor: Actor, case_id: int, source: IO[bytes] | bytes | str, *,
                  partial: bool = False, dry_run: bool = False, progress: Progress | None = None) -> ImportReport:
    """Import a STIX 2.1 bundle into a case (see the module docstring); a STIX 2.0 bundle is converted first, and
    TLP marking variants are mapped to TLP 2.0 (casemgr/indicators/convert.py; the report says what was done).

    Raises NotFound, Forbidden, TooLarge (413, past Settings.max_bundle_bytes), MalformedJson (400),
    NotABundle / UnsupportedStixVersion (422), and BundleRejected (422, details["rejected"] = [{index, id,
    reason}]) when an object is invalid and `partial` is false. `dry_run` checks and counts without storing
    anything (for a summary before committing).
    """
    case = case_for_change(session, actor, case_id)
    limit = collaborators.settings(session).max_bundle_bytes
    # Decoded, a bundle takes about four times its size in memory: read no more than the limit allows.
    data = source if isinstance(source, bytes | str) else source.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"the bundle is larger than the maximum of {limit:,} bytes (CASEMGR_MAX_BUNDLE_BYTES); "
                       "split it, or ask the administrator to raise the limit", field="bundle")
    bundle, conversion = convert.prepare(strict_json(data))
    del data  # from here on only the decoded bundle is held, and it shrinks as objects are stored
    savepoint = session.begin_nested()
    try:
        report = _Importer(session, actor, case).run(bundle, progress)
        report.partial, report.dry_run, report.conversion = partial, dry_run, conversion
        if dry_run:
            return report
        if not partial:
            BundleReport(report.bundle_id, rejected=report.rejected).raise_if_rejected()
        ensure_collection(session, case)
        audit.record(session, actor, "stix.import", "case", case.id, {
            "reference": case.reference, "bundle_id": report.bundle_id, "total": report.total,
            "added": sum(report.added.values()), "new_versions": sum(report.new_versions.values()),
            "old_versions": sum(report.old_versions.values()), "duplicates": sum(report.duplicates.values()),
            "rejected": len(report.rejected), "partial": partial, "converted_from": conversion.converted_from,
            "markings_mapped": len(conversion.markings)})
        return report
    finally:
        if dry_run and savepoint.is_active:
            savepoint.rollback()
        elif savepoint.is_active:
            savepoint.commit()


class _Importer:
    def __init__(self, session: Session, actor: Actor, case: Case) -> None:
        self.session, self.case = session, case
        self.now = clock(session).now()
        self.added_by = user_id(actor)
        self.workers = collaborators.settings(session).import_workers
        self.stored = 0
        # PostgreSQL plans each batch's lookups with the statistics of the table as it was before the import;
        # once the import has grown it a lot, those plans become scans of everything stored so far (quadratic).
        # ANALYZE inside the transaction counts our own new rows; run it each time the import doubles in size.
        self.analyze_at = 2 * BATCH if session.get_bind().dialect.name == "postgresql" else None

    def run(self, bundle: dict[str, Any], progress: Progress | None) -> ImportReport:
        objects = bundle.get("objects", [])
        report = ImportReport(bundle_id=bundle.get("id"), total=len(objects))
        batch: list[tuple[CheckedObject, dict[str, Any]]] = []
        guard = Stix20Guard()
        for checked, row in _prepared(objects, self.workers):
            guard.check(checked)
            if row is not None:
                batch.append((checked, row))
            elif checked.rejection is not None:
                report.rejected.append(checked.rejection)
            objects[checked.index] = None  # stored or refused: let it go
            if len(batch) >= BATCH:
                self._store(batch, report)
                batch = []
                if progress:
                    progress(checked.index + 1, report.total)
        if batch:
            self._store(batch, report)
        if progress:
            progress(report.total, report.total)
        return report

    # ------------------------------------------------------------ one batch

    def _store(self, batch: list[tuple[CheckedObject, dict[str, Any]]], report: ImportReport) -> None:
        s, case_id = self.session, self.case.id
        groups: dict[str, list[dict[str, Any]]] = {}
        for _, row in batch:
            groups.setdefault(row["stix_id"], []).append(row)
        # Only the ids in SQL (the case is filtered here): with `case_id = ?` too, PostgreSQL's planner, whose
        # statistics are still those of the table before this import, may walk all of the case's rows through
        # another index on every batch, which makes a large import quadratic.
        existing = {sid: (pk, modified) for pk, owner, sid, modified in s.execute(
            select(StixObject.id, StixObject.case_id, StixObject.stix_id, StixObject.modified)
            .where(StixObject.stix_id.in_(list(groups)))) if owner == case_id}
        digests = sorted({r["value_digest"] for sid, group in groups.items() if sid not in existing
                          for r in group if r["value_digest"]})
        values: set[tuple[str, str | None, str | None]] = set()
        if digests:
            # Only the digest in SQL: with `case_id = ?` too, PostgreSQL's planner (its statistics still those of
            # the table before this import) may walk the case's rows through the case_id index on every batch.
            values.update((kind, value_type, digest) for owner, kind, value_type, digest in s.execute(
                select(StixObject.case_id, StixObject.type, StixObject.value_type, StixObject.value_digest)
                .where(StixObject.value_digest.in_(digests))) if owner == case_id)

        inserts: list[dict[str, Any]] = []
        updates: list[tuple[int, dict[str, Any]]] = []
        history: list[tuple[int | str, dict[str, Any]]] = []  # (row id, or STIX id of a row inserted now; version)
        for sid, group in groups.items():
            versions = _distinct_versions(group, report)
            if sid in existing:
                pk, current = existing[sid]
                newer = []
                for row in versions:
                    if row["modified"] is None or current is None or row["modified"] == current:
                        report.duplicates[row["type"]] += 1
                    elif row["modified"] > current:
                        newer.append(row)
                    else:
                        history.append((pk, row))
                if newer:  # the newest becomes current, any in between go to the history
                    updates.append((pk, newer[-1]))
                    history.extend((pk, row) for row in newer[:-1])
                continue
            newest = versions[-1]
            key = (newest["type"], newest["value_type"], newest["value_digest"])
            if newest["value_digest"] is not None and key in values:
                report.duplicates[newest["type"]] += len(versions)
                continue
            if newest["value_digest"] is not None:
                values.add(key)
            inserts.append(newest)
            history.extend((sid, row) for row in versions[:-1])

        if inserts:
            s.execute(OBJECTS.insert(), [{**row, "case_id": case_id, "added_at": self.now,
                                          "added_by_id": self.added_by} for row in inserts])
            for row in inserts:
                report.added[row["type"]] += 1
            self.stored += len(inserts)
            if self.analyze_at is not None and self.stored >= self.analyze_at:
                s.execute(text("ANALYZE stix_objects"))
                self.analyze_at = 2 * self.stored
        if updates:
            self._update(updates, report)
        if history:
            self._keep_history(history, report)

    def _update(self, updates: list[tuple[int, dict[str, Any]]], report: ImportReport) -> None:
        s = self.session
        ids = [pk for pk, _ in updates]
        current = s.execute(select(StixObject.id, StixObject.modified, StixObject.stix_json, StixObject.added_at)
                            .where(StixObject.id.in_(ids))).all()
        s.execute(VERSIONS.insert(), [
            {"object_id": pk, "modified": modified, "stix_json": text, "added_at": added}
            for pk, modified, text, added in current])
        s.execute(update(StixObject), [{**row, "id": pk, "added_at": self.now, "added_by_id": self.added_by}
                                       for pk, row in updates])
        for _, row in updates:
            report.new_versions[row["type"]] += 1

    def _keep_history(self, history: list[tuple[int | str, dict[str, Any]]], report: ImportReport) -> None:
        s = self.session
        new_ids = sorted({key for key, _ in history if isinstance(key, str)})
        pks = dict(s.execute(select(StixObject.stix_id, StixObject.id).where(
            StixObject.case_id == self.case.id, StixObject.stix_id.in_(new_ids))).all()) if new_ids else {}
        resolved = [(key if isinstance(key, int) else pks[key], row) for key, row in history]
        kept: set[tuple[int, dt.datetime]] = {(pk, modified) for pk, modified in s.execute(
            select(StixObjectVersion.object_id, StixObjectVersion.modified).where(
                StixObjectVersion.object_id.in_(sorted({pk for pk, _ in resolved}))))}
        fresh = []
        for pk, row in resolved:
            if (pk, row["modified"]) in kept:
                report.duplicates[row["type"]] += 1
                continue
            kept.add((pk, row["modified"]))
            fresh.append({"object_id": pk, "modified": row["modified"], "stix_json": row["stix_json"],
                          "added_at": self.now})
            report.old_versions[row["type"]] += 1
        if fresh:
            s.execute(VERSIONS.insert(), fresh)


def _distinct_versions(group: list[dict[str, Any]], report: ImportReport) -> list[dict[str, Any]]:
    """The group's versions oldest first, one per `modified` (repeats counted as duplicates)."""
    by_modified: dict[dt.datetime | None, dict[str, Any]] = {}
    for row in group:
        if row["modified"] in by_modified:
            report.duplicates[row["type"]] += 1
        else:
            by_modified[row["modified"]] = row
    return sorted(by_modified.values(), key=_version_key)


def _version_key(row: Mapping[str, Any]) -> dt.datetime:
    return row["modified"] or dt.datetime.min.replace(tzinfo=dt.UTC)


# ---------------------------------------------------------------- validation, in worker processes when large

Prepared = tuple[Rejection | None, list[Observable], dict[str, Any] | None]


def _prepare(start: int, objects: list[Any]) -> list[Prepared]:
    """Validate objects (at bundle positions start, start + 1, ...) and build the row of each valid one.

    Runs in a worker process for large bundles, so it takes and returns plain data only."""
    prepared: list[Prepared] = []
    for offset, obj in enumerate(objects):
        checked = check_object(start + offset, obj)
        row = rows.object_row(checked.obj, checked.observables) if checked.rejection is None else None
        prepared.append((checked.rejection, checked.observables, row))
    return prepared


def _prepared(objects: list[Any], workers: int) -> Iterator[tuple[CheckedObject, dict[str, Any] | None]]:
    """Each object of the bundle, in order, checked, with its row (None if rejected)."""
    workers = workers if len(objects) >= PARALLEL_FROM else 1
    for start, results in map_chunks(_prepare, objects, chunk=CHUNK, workers=workers):
        for offset, (rejection, observables, row) in enumerate(results):
            index = start + offset
            yield CheckedObject(index, objects[index], rejection, observables), row
