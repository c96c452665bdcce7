"""The case filter reads the indexed `case_id` column, set by record() and backfilled by migration 0011, and
finds exactly the entries the summary scan found before: those about the case itself, its evidence, its
indicators and STIX objects, its escalations and exports of it. No hash changes; the chain still verifies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import ColumnElement, String, and_, cast, or_, select, update

from casemgr import migrate
from casemgr.audit import service as audit
from casemgr.audit.models import AuditEntry
from casemgr.auth.actor import Actor
from casemgr.auth.models import Role, User
from casemgr.config import Settings, generate_secret_key
from casemgr.signing import Signer
from tests.test_migrations import fresh_database_url  # noqa: F401 - a fixture
from tests.world import World, build_world


def about_case_before_0011(case_id: int, reference: str) -> ColumnElement[bool]:
    """The filter as it was before migration 0011: a scan of the summaries (casemgr/audit/service.py then)."""
    summary = AuditEntry.summary
    return or_(
        and_(AuditEntry.object_type == "case", AuditEntry.object_id == str(case_id)),
        cast(summary["case_id"].as_string(), String) == str(case_id),
        summary["case"].as_string() == reference,
        summary["reference"].as_string() == reference,
    )


@pytest.fixture
def settings(fresh_database_url: str, tmp_path: Path) -> Settings:  # noqa: F811 - this module's own database
    """A database of its own, since the test migrates it down and up again."""
    migrate.upgrade(fresh_database_url)
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "secret_key").write_text(generate_secret_key())
    Signer.generate(instance / "signing_key.pem")
    return Settings.from_env({"CASEMGR_INSTANCE_DIR": str(instance), "CASEMGR_DATABASE_URL": fresh_database_url,
                              "CASEMGR_EVIDENCE_DIR": str(tmp_path / "evidence")})


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.get_data(as_text=True)
    return response.get_json()


def populate(app: Any, db: Any) -> World:
    """Three cases with evidence, an indicator, a note and a STIX import each (tests/world.py); then a change,
    an escalation taken in, a TLP change, an evidence check and a case export on the first; and entries
    that name a case in every way record() reads one, or almost."""
    world = build_world(app)
    client = app.test_client()

    def call(who: str, method: str, url: str, status: int = 200, **kw: Any) -> Any:
        return ok(client.open(url, method=method, headers={"Authorization": f"Bearer {world.tokens[who]}"}, **kw),
                  status)

    first = world.cases["case"]
    case = call("member", "GET", f"/api/v1/cases/{first.id}")
    call("member", "PATCH", f"/api/v1/cases/{first.id}", json={"version": case["version"], "impact": "high"})
    raised = call("member", "POST", f"/api/v1/cases/{first.id}/escalate", 201,
                  json={"kind": "hierarchical", "reason": "needs a decision"})
    call("manager", "POST", f"/api/v1/cases/{first.id}/escalations/{raised['id']}/acknowledge")
    call("member", "POST", f"/api/v1/cases/{first.id}/stix/objects/{first.indicator_stix_id}/tlp",
         json={"tlp": "green", "reason": "shared with the ISAC"})
    call("member", "POST", f"/api/v1/evidence/{first.evidence_id}/verify")
    exported = client.post("/api/v1/audit/export.jsonl", json={"case": first.reference},
                           headers={"Authorization": f"Bearer {world.tokens['auditor']}"})
    assert exported.status_code == 200, exported.get_data(as_text=True)
    second, red = world.cases["restricted"], world.cases["red"]
    with db.transaction() as s:
        operator = Actor.system("ops")
        for object_type, object_id, summary in [
            ("evidence", 91, {"case_id": str(second.id)}),  # the id as text
            ("thing", 92, {"case": red.reference}),
            ("report", 93, {"reference": second.reference}),
            ("thing", 94, {"case_id": f"00{first.id}"}),  # none of these names a case
            ("thing", 95, {"case_id": float(first.id)}),
            ("thing", 96, {"case_id": 2**40}),
            ("thing", 97, {"case": "IR-2026-9999", "reference": 7}),
            ("case", "not-a-number", {}),
            ("thing", None, {"case": {"id": first.id}}),
        ]:
            audit.record(s, operator, "test.named", object_type, object_id, summary)
    return world


def by_old_rule(db: Any, world: World) -> dict[str, list[int]]:
    with db.engine.connect() as conn:
        return {name: list(conn.scalars(select(AuditEntry.seq).where(about_case_before_0011(c.id, c.reference))
                                        .order_by(AuditEntry.seq.desc())))
                for name, c in world.cases.items()}


def by_filter(app: Any, world: World) -> dict[str, list[int]]:
    """The entries the case filter finds, through the API and the export (the same clauses as the page)."""
    client = app.test_client()
    headers = {"Authorization": f"Bearer {world.tokens['auditor']}"}
    found = {}
    for name, c in world.cases.items():
        body = ok(client.get(f"/api/v1/audit?case={c.reference}&per_page=200", headers=headers))
        assert body["total"] == len(body["items"])
        found[name] = [i["seq"] for i in body["items"]]
    return found


def exported_entries(app: Any, world: World, name: str) -> list[int]:
    response = app.test_client().post("/api/v1/audit/export.jsonl", json={"case": world.cases[name].reference},
                                      headers={"Authorization": f"Bearer {world.tokens['auditor']}"})
    lines = [json.loads(line) for line in response.get_data(as_text=True).splitlines()]
    return sorted((line["entry"]["seq"] for line in lines if line["type"] == "entry"), reverse=True)


def column(db: Any) -> dict[int, tuple[int | None, str]]:
    with db.engine.connect() as conn:
        return {row.seq: (row.case_id, row.hash) for row in conn.execute(
            select(AuditEntry.seq, AuditEntry.case_id, AuditEntry.hash))}


def test_the_case_filter_finds_what_the_summary_scan_found_before_and_after_the_backfill(app, db, settings):
    world = populate(app, db)
    before = by_old_rule(db, world)
    first = world.cases["case"]
    with db.engine.connect() as conn:
        actions = set(conn.scalars(select(AuditEntry.action).where(about_case_before_0011(first.id, first.reference))))
    assert {"case.create", "case.note", "case.update", "case.escalate", "case.escalation_acknowledge", "stix.import",
            "evidence.acquired", "evidence.verified", "indicator.create", "stix.tlp_change", "audit.export"} <= actions
    assert all(len(seqs) >= 6 for seqs in before.values())
    assert by_filter(app, world) == before  # entries as record() filed them
    assert exported_entries(app, world, "case") == by_old_rule(db, world)["case"][1:]  # (not the export's own)
    recorded = column(db)

    # As an instance upgraded from 0009 finds them: no case_id; the migration fills it in by the same rule.
    # An instance at 0009 had no custom roles: the world's tier-1 account goes back to a built-in role first
    # (migration 0015 refuses to go down while an account has a custom role; no audit entry is touched).
    with db.engine.begin() as conn:
        conn.execute(update(User).where(User.role.not_in([r.value for r in Role])).values(role=Role.ANALYST.value))
    db.engine.dispose()
    script = ScriptDirectory.from_config(migrate.alembic_config(settings.database_url))
    migrate.downgrade(settings.database_url, str(script.get_revision("0011").down_revision))
    migrate.upgrade(settings.database_url)
    assert column(db) == recorded  # the same case for every entry, and the same hashes
    assert by_filter(app, world) == by_old_rule(db, world)
    verified = ok(app.test_client().get("/api/v1/audit/verify",
                                        headers={"Authorization": f"Bearer {world.tokens['auditor']}"}))
    assert verified["ok"] is True


def test_verify_names_an_entry_filed_under_another_case(app, db, run_cli):
    world = populate(app, db)
    first, second = world.cases["case"], world.cases["restricted"]
    with db.engine.begin() as conn:
        seq = conn.scalar(select(AuditEntry.seq).where(AuditEntry.action == "evidence.verified"))
        conn.execute(update(AuditEntry).where(AuditEntry.seq == seq).values(case_id=second.id))
    result = run_cli("audit", "verify")
    assert result.exit_code == 1
    assert (f"BROKEN at entry #{seq}: entry #{seq} is filed under case #{second.id} but is about case #{first.id}:"
            " its case column was altered") in result.stderr
    assert seq not in by_filter(app, world)["case"]  # what the check is for: the edit hid it from its case
