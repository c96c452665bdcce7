"""PostgreSQL's search table and list indexes (migration 0009): what a search finds after notes are
written several in one statement, and the plans of the counts that used to read every case."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, text

from casemgr.auth.actor import Actor
from casemgr.auth.models import User
from casemgr.cases import access
from casemgr.cases.models import OPEN_STATUSES, Case, TimelineEntry


@pytest.fixture
def pg(is_postgres: bool) -> None:
    if not is_postgres:
        pytest.skip("PostgreSQL only (set CASEMGR_TEST_DATABASE_URL)")


def found(client, q):
    response = client.get("/api/v1/cases", query_string={"q": q})
    assert response.status_code == 200, response.get_json()
    return sorted(c["reference"] for c in response.get_json()["items"])


def test_notes_written_in_one_statement_are_all_searchable(pg, api, open_case, db):
    analyst = api("analyst", "ann")
    first, second = open_case(analyst, title="Phishing wave"), open_case(analyst, title="Port scan")
    at = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)
    notes = [(first, "note", "Blocked evil-domain.example"), (second, "note", "Scanner at 203.0.113.9"),
             (first, "event", "Reimaged the laptop"), (first, "note", "Reset the password")]
    with db.transaction() as s:  # one INSERT of four rows: the statement trigger sees them together
        s.add_all([TimelineEntry(case_id=c["id"], kind=kind, occurred_at=at, recorded_at=at, actor_name="ann",
                                 summary=body if kind == "event" else "Note", body=None if kind == "event" else body)
                   for c, kind, body in notes])
    for word in ("evil", "reimaged", "password", "phishing"):
        assert found(analyst, word) == [first["reference"]], word
    assert found(analyst, "203.0.113.9") == [second["reference"]]
    assert found(analyst, "evil password reimaged") == [first["reference"]]
    with db.session(write=False) as s:  # the words appended are those of the case rebuilt from scratch
        kept, rebuilt = s.execute(text(
            "SELECT document, (SELECT strip(to_tsvector('simple'::regconfig, regexp_replace("
            " coalesce(c.title, '') || ' ' || coalesce(c.description, '') || ' ' || string_agg("
            " CASE WHEN t.kind = 'event' THEN t.summary ELSE '' END || ' ' || coalesce(t.body, ''), ' '),"
            " '[^[:alnum:]]+', ' ', 'g')))"
            " FROM cases c JOIN case_timeline t ON t.case_id = c.id AND t.kind IN ('note', 'event')"
            " WHERE c.id = :id GROUP BY c.id) FROM case_search WHERE case_id = :id"), {"id": first["id"]}).one()
    assert kept == rebuilt


def test_counting_open_unassigned_cases_reads_one_index(pg, api, open_case, db, make_user):
    analyst = make_user("analyst", "counter")
    with db.session(write=False) as s:
        where = [access.visible_filter(Actor(user=s.get(User, analyst.id), via="test")),
                 Case.owner_id.is_(None), Case.status.in_(sorted(OPEN_STATUSES))]
        count = select(func.count(Case.id)).where(*where)
        compiled = count.compile(s.get_bind(), compile_kwargs={"literal_binds": True})
        s.execute(text("SET enable_seqscan = off"))
        plan = "\n".join(r[0] for r in s.execute(text(f"EXPLAIN {compiled}")))
        s.rollback()
    assert "Index Only Scan using ix_cases_owner_id_status_id on cases" in plan, plan
