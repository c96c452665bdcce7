"""Migration 0012: the cases' free-text teams become team records, reported; and back again."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from casemgr import migrate
from casemgr.db import UTCDateTime, make_engine
from tests.test_migrations import fresh_database_url  # noqa: F401  (the fixture)

NOW = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)
CASES = sa.table("cases", *[sa.column(c) for c in (
    "id", "reference", "title", "description", "category", "impact", "urgency", "priority", "priority_overridden",
    "severity", "severity_overridden", "tlp", "pap", "restricted", "status", "team", "version")],
    sa.column("created_at", UTCDateTime()), sa.column("updated_at", UTCDateTime()))
TAGS = sa.table("case_tags", sa.column("case_id"), sa.column("tag"))
ESCALATIONS = sa.table("case_escalations", sa.column("case_id"), sa.column("kind"), sa.column("reason"),
                       sa.column("to_team"), sa.column("created_by_name"), sa.column("created_at", UTCDateTime()))


def _case(case_id: int, team: str | None) -> dict[str, object]:
    return {"id": case_id, "reference": f"IR-2026-{case_id:04d}", "title": f"case {case_id}", "description": "",
            "category": "other", "impact": "low", "urgency": "low", "priority": "P5", "priority_overridden": False,
            "severity": "informational", "severity_overridden": False, "tlp": "amber", "pap": "amber",
            "restricted": False, "status": "new", "team": team, "version": 1, "created_at": NOW, "updated_at": NOW}


def test_free_text_teams_become_records_and_are_reported(fresh_database_url):  # noqa: F811
    url = fresh_database_url
    migrate.upgrade(url, "0009")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.insert(CASES), [_case(1, "CERT"), _case(2, " cert "), _case(3, "cert"), _case(4, "SOC"),
                                            _case(5, None), _case(6, "  ")])
            conn.execute(sa.insert(TAGS), [{"case_id": 1, "tag": "phishing"}])
            conn.execute(sa.insert(ESCALATIONS), [{"case_id": 4, "kind": "functional", "reason": "r", "to_team": "NOC",
                                                   "created_by_name": "mia", "created_at": NOW}])

        reported = migrate.upgrade(url, "0012")
        # one team per value whatever its case and blanks, named as most cases wrote it (a tie: sorted first)

        assert reported == ["created team 'CERT' from 3 cases (written ' cert ', 'CERT', 'cert')",
                            "created team 'NOC' from 0 cases (written 'NOC')",
                            "created team 'SOC' from 1 case (written 'SOC')"]
        with engine.begin() as conn:
            teams = dict(conn.execute(sa.text("SELECT name, id FROM teams")).all())
            assert set(teams) == {"CERT", "NOC", "SOC"}
            cases = dict(conn.execute(sa.text("SELECT id, team_id FROM cases")).all())
            assert cases == {1: teams["CERT"], 2: teams["CERT"], 3: teams["CERT"], 4: teams["SOC"], 5: None, 6: None}
            assert conn.execute(sa.text("SELECT to_team, to_team_id FROM case_escalations")).one() == ("NOC",
                                                                                                    teams["NOC"])
            # rows that refer to the cases survive the table's rebuild on SQLite
            assert conn.execute(sa.text("SELECT case_id, tag FROM case_tags")).all() == [(1, "phishing")]
            if engine.dialect.name == "sqlite":  # and so does full-text search of new cases
                conn.execute(sa.text("INSERT INTO cases (id, reference, title, description, category, impact, urgency,"
                                     " priority, priority_overridden, severity, severity_overridden, tlp, pap, "
                                     "restricted, status, version, created_at, updated_at) SELECT 7, 'IR-2026-0007',"
                                     " 'zebra laptop', '', category, impact, urgency, priority, priority_overridden,"
                                     " severity, severity_overridden, tlp, pap, restricted, status, 1, created_at,"
                                     " updated_at FROM cases WHERE id = 1"))
                found = conn.execute(sa.text("SELECT rowid FROM cases_fts WHERE cases_fts MATCH 'zebra'")).all()
                assert found == [(7,)]

        migrate.downgrade(url, "0009")
        with engine.begin() as conn:
            assert dict(conn.execute(sa.text("SELECT id, team FROM cases WHERE id <= 6")).all()) == {
                1: "CERT", 2: "CERT", 3: "CERT", 4: "SOC", 5: None, 6: None}
            assert conn.execute(sa.text("SELECT case_id, tag FROM case_tags")).all() == [(1, "phishing")]
    finally:
        engine.dispose()
