"""Running a playbook: the state engine step by step, conditions, automated actions, inputs, who rules,
version pinning, stale versions, paused and aborted runs, approvals (casemgr/playbooks/runs.py)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from sqlalchemy import select

from casemgr.auth.actor import Actor
from casemgr.auth.models import Role, User
from casemgr.cases import incident_roles
from casemgr.cases import service as cases
from casemgr.cases.models import Case, CaseStatus, EntryKind, TimelineEntry
from casemgr.cases.schemas import NewCase, RoleAssignment, Transition
from casemgr.db import Database
from casemgr.errors import Conflict, Forbidden, Invalid, NotFound
from casemgr.evidence.keyring import KEYRING_FILE, Keyring
from casemgr.evidence.schemas import NewEvidence
from casemgr.indicators.models import StixObject
from casemgr.playbooks import definition, runs
from casemgr.playbooks.models import Playbook, PlaybookVersion, StepState
from casemgr.playbooks.runs_schemas import RunChange, StartRun, StepAction
from casemgr.teams import service as teams
from casemgr.teams.schemas import NewTeam

S = StepState


def playbook(steps: list[dict[str, Any]], *, id: str = "test-pb", version: str = "1.0.0") -> definition.Playbook:
    return definition.Playbook.model_validate({"id": id, "title": f"Test playbook {id}", "version": version,
                                               "steps": steps})


def store_version(session: Any, pb: definition.Playbook) -> PlaybookVersion:
    """A stored version of `pb`, as the library stores one (current when it is the highest)."""
    found = session.scalars(select(Playbook).where(Playbook.code == pb.id)).one_or_none()
    if found is None:
        found = Playbook(code=pb.id, title=pb.title)
        session.add(found)
        session.flush()
    major, minor, patch = definition.version_key(pb.version)
    canonical = pb.canonical()
    version = PlaybookVersion(playbook_id=found.id, version=pb.version, major=major, minor=minor, patch=patch,
                              title=pb.title, description=pb.description, categories=pb.categories,
                              definition=canonical, content_hash=hashlib.sha256(rfc8785.dumps(canonical)).hexdigest(),
                              source="(test)", source_name="test.yaml", imported_by_name="test")
    session.add(version)
    session.flush()
    current = found.current_version
    if current is None or definition.version_key(current.version) < (major, minor, patch):
        found.current_version = version
        found.title = pb.title
    session.flush()
    return version


def step(id: str, phase: str = "identification", **more: Any) -> dict[str, Any]:
    return {"id": id, "title": id.replace("_", " ").title(), "phase": phase, **more}


# The DAG of the first tests: triage -> (scope, notify) -> contain (needs both) -> eradicate
DAG = [step("triage"), step("scope", depends_on=["triage"]), step("notify", depends_on=["triage"]),
       step("contain", "containment", depends_on=["scope", "notify"]),
       step("eradicate", "eradication", depends_on=["contain"])]


@pytest.fixture(autouse=True)
def keyring(instance_dir: Path) -> Keyring:
    """The evidence keyring `casemgr init` creates (evidence inputs go into the vault)."""
    return Keyring.create(instance_dir / KEYRING_FILE)


@pytest.fixture
def people(db: Database, make_user: Any) -> dict[str, int]:
    made = {name: make_user(role, name).id for name, role in (
        ("ana", Role.ANALYST), ("ben", Role.ANALYST), ("mia", Role.MANAGER), ("aud", Role.AUDITOR))}
    return made


def who(session: Any, name: str) -> Actor:
    return Actor(user=session.scalars(select(User).where(User.username == name)).one(), via="test")


@pytest.fixture
def case_id(session: Any, people: dict[str, int]) -> int:
    case = cases.create_case(session, who(session, "ana"), NewCase(
        title="Phishing wave", category="fraud", subcategory="phishing", impact="medium", urgency="high"))
    session.flush()
    return case.id


def states(run: Any) -> dict[str, str]:
    return {s.step_id: s.state.value for s in run.steps}


def act(session: Any, name: str, run: Any, step_id: str, action: str, **fields: Any) -> Any:
    row = next(s for s in run.steps if s.step_id == step_id)
    files = fields.pop("files", None)
    return runs.act_on_step(session, who(session, name), run.id, step_id,
                            StepAction.model_validate({"action": action, "version": row.version, **fields}),
                            files=files)


def timeline(session: Any, case_id: int) -> list[str]:
    return list(session.scalars(select(TimelineEntry.summary).where(TimelineEntry.case_id == case_id,
                                                                    TimelineEntry.kind == EntryKind.PLAYBOOK)
                                .order_by(TimelineEntry.id)))


# ---------------------------------------------------------------- the DAG


def test_the_steps_open_as_their_dependencies_finish(session, case_id):
    store_version(session, playbook(DAG))
    run = runs.start_run(session, who(session, "ana"), case_id, StartRun(playbook="test-pb"))
    assert states(run) == {"triage": "ready", "scope": "pending", "notify": "pending", "contain": "pending",
                           "eradicate": "pending"}
    act(session, "ana", run, "triage", "start")
    act(session, "ana", run, "triage", "complete", note="Looked at the headers.")
    assert states(run)["scope"] == states(run)["notify"] == "ready"  # two ready at once
    assert runs.run_view(run).ready == ["scope", "notify"]
    act(session, "ana", run, "scope", "complete")
    assert states(run)["contain"] == "pending"  # still waits for notify
    act(session, "ben", run, "notify", "skip", reason="Nobody to notify")
    assert states(run)["contain"] == "ready"
    view = runs.run_view(run)
    assert (view.finished, view.total) == (3, 5)
    assert [p for p, _ in view.phases] == ["identification", "containment", "eradication"]
    act(session, "ana", run, "contain", "complete")
    act(session, "ana", run, "eradicate", "complete")
    assert run.status == "completed"
    lines = timeline(session, case_id)
    assert lines[0] == f"Playbook Test playbook test-pb 1.0.0 started (run {run.id})"
    assert "Playbook step Triage: completed by ana" in lines
    assert "Playbook step Notify: skipped by ben" in lines
    assert lines[-1] == f"Playbook Test playbook test-pb 1.0.0 completed (run {run.id})"
    notes = session.scalars(select(TimelineEntry.body).where(TimelineEntry.summary == "Playbook step Notify: "
                                                             "skipped by ben")).one()
    assert notes == "Nobody to notify"


def test_a_failed_dependency_holds_the_steps_after_it(session, case_id):
    store_version(session, playbook(DAG))
    run = runs.start_run(session, who(session, "ana"), case_id, StartRun(playbook="test-pb"))
    act(session, "ana", run, "triage", "fail", reason="The mailbox is gone")
    assert states(run)["scope"] == "pending"
    with pytest.raises(Invalid, match="reason: a reason is required to skip"):
        act(session, "ana", run, "triage", "skip")
    act(session, "ana", run, "triage", "skip", reason="Triage done by phone")
    assert states(run)["scope"] == "ready"


def test_the_engine_is_a_pure_function():
    pb = playbook([step("a"), step("b", depends_on=["a"], condition="a.found == true"),
                   step("c", depends_on=["b"])])
    first = runs.next_states(pb, {"a": S.PENDING, "b": S.PENDING, "c": S.PENDING}, {})
    assert first == {"a": S.READY, "b": S.PENDING, "c": S.PENDING}
    assert runs.next_states(pb, {**first, "a": S.DONE}, {"a.found": True})["b"] == S.READY
    skipped = runs.next_states(pb, {**first, "a": S.DONE}, {"a.found": False})
    assert skipped == {"a": S.DONE, "b": S.NOT_APPLICABLE, "c": S.READY}  # not applicable propagates


# ---------------------------------------------------------------- conditions


def test_conditions_branch_on_inputs_and_case_fields(session, case_id):
    pb = playbook([
        step("triage", inputs=[{"id": "ransom_note", "label": "Ransom note found", "type": "boolean"}]),
        step("ransom", depends_on=["triage"], condition="triage.ransom_note"),
        step("phish_only", depends_on=["triage"], condition="case.category == 'fraud' and not triage.ransom_note"),
        step("severe", depends_on=["triage"], condition="case.severity in ['critical']"),
        step("close", depends_on=["ransom", "phish_only", "severe"])])
    store_version(session, pb)
    run = runs.start_run(session, who(session, "ana"), case_id, StartRun(playbook="test-pb"))
    act(session, "ana", run, "triage", "complete", inputs={"ransom_note": "no"})
    assert states(run) == {"triage": "done", "ransom": "not_applicable", "phish_only": "ready",
                           "severe": "not_applicable", "close": "pending"}
    assert next(s for s in run.steps if s.step_id == "triage").inputs == {"ransom_note": False}
    act(session, "ana", run, "phish_only", "complete")
    assert states(run)["close"] == "ready"
    assert "Playbook step Ransom: not applicable (its condition is false)" in timeline(session, case_id)


# ---------------------------------------------------------------- automated actions


def test_each_automated_action(session, case_id):
    pb = playbook([
        step("triage", actions=[{"at": "ready", "transition": "triage"},
                                {"at": "ready", "timeline": "Playbook triage opened"}]),
        step("contain", "containment", depends_on=["triage"],
             inputs=[{"id": "iocs", "label": "Indicators", "type": "indicators"}],
             actions=[{"at": "completed", "set_field": {"field": "impact", "value": "high"}},
                      {"at": "completed", "add_indicators": "iocs"},
                      {"at": "completed", "transition": "investigating"}])])
    store_version(session, pb)
    run = runs.start_run(session, who(session, "ana"), case_id, StartRun(playbook="test-pb"))
    case = session.get(Case, case_id)
    assert case.status == CaseStatus.TRIAGE  # the ready action moved the case
    events = session.scalars(select(TimelineEntry.summary).where(TimelineEntry.case_id == case_id,
                                                                 TimelineEntry.kind == EntryKind.EVENT)).all()
    assert events == ["Playbook triage opened"]
    act(session, "ana", run, "triage", "complete")
    act(session, "ana", run, "contain", "complete", inputs={"iocs": "evil.example.com\n203.0.113.50\n"})
    assert case.impact == "high"
    assert case.status == CaseStatus.INVESTIGATING
    recorded = next(s for s in run.steps if s.step_id == "contain").inputs["iocs"]
    assert [(r["type"], r["value"]) for r in recorded] == [("domain-name", "evil.example.com"),
                                                           ("ipv4-addr", "203.0.113.50")]
    values = set(session.scalars(select(StixObject.value).where(StixObject.case_id == case_id,
                                                               StixObject.type == "indicator")))
    assert values == {"evil.example.com", "203.0.113.50"}


def test_a_transition_the_lifecycle_refuses_fails_the_step_and_changes_nothing(session, case_id):
    pb = playbook([step("triage", actions=[{"at": "completed", "transition": "recovery"}])])
    store_version(session, pb)
    run = runs.start_run(session, who(session, "ana"), case_id, StartRun(playbook="test-pb"))
    with pytest.raises(Conflict, match="step triage: the automated action transition failed: a new case cannot "
                                       "move to recovery"):
        act(session, "ana", run, "triage", "complete")


# ---------------------------------------------------------------- inputs


INPUTS = [{"id": "summary", "label": "Summary", "type": "text"},
          {"id": "confirmed", "label": "Confirmed", "type": "boolean"},
          {"id": "vector", "label": "Vector", "type": "choice", "choices": ["email", "web"]},
          {"id": "hosts", "label": "Hosts", "type": "number"},
          {"id": "seen_at", "label": "First seen", "type": "datetime"},
          {"id": "mail", "label": "The e-mail", "type": "evidence"},
          {"id": "iocs", "label": "Indicators", "type": "indicators"},
          {"id": "extra", "label": "Anything else", "type": "text", "required": False}]
GOOD = {"summary": "<script>alert(1)</script> invoice", "confirmed": True, "vector": "email", "hosts": "3",
        "seen_at": "2026-01-02T03:04:05+01:00", "iocs": ["evil.example.net"]}


class OneFile:
    filename = "mail.eml"

    def chunks(self):
        yield b"From: attacker@example.com\r\n\r\nPay this invoice"

    def command(self):
        return NewEvidence(description="the phishing mail")


@pytest.fixture
def input_run(session, case_id):
    store_version(session, playbook([step("record", inputs=INPUTS)]))
    return runs.start_run(session, who(session, "ana"), case_id, StartRun(playbook="test-pb"))


@pytest.mark.parametrize(("name", "value", "message"), [
    ("summary", None, "inputs.summary: Summary is required to complete step record"),
    ("confirmed", "maybe", "inputs.confirmed: Confirmed must be yes or no"),
    ("vector", "phone", "inputs.vector: Vector must be one of: email, web"),
    ("hosts", "many", "inputs.hosts: Hosts must be a number"),
    ("seen_at", "yesterday", "inputs.seen_at: First seen must be a date and time"),
    ("mail", 999999, "inputs.mail: The e-mail must be an evidence item of case"),
    ("mail", None, "inputs.mail: The e-mail is required"),
    ("iocs", "not an indicator at all", "inputs.iocs: Indicators line 1: 'not an indicator at all' is not one"),
    ("unknown", "x", "inputs.unknown: step record has no input 'unknown'"),
])
def test_a_bad_or_missing_input_is_refused_naming_it(session, input_run, name, value, message):
    given = {**GOOD, "mail": None, name: value}
    files = {} if name == "mail" else {"mail": OneFile()}
    with pytest.raises(Invalid, match=message.replace("(", r"\(")) as refused:
        act(session, "ana", input_run, "record", "complete", inputs=given, files=files)
    assert refused.value.field == f"inputs.{name}"
    assert states(input_run)["record"] == "ready"


def test_every_input_type_is_recorded(session, case_id, input_run):
    act(session, "ana", input_run, "record", "complete", inputs=GOOD, files={"mail": OneFile()})
    row = input_run.steps[0]
    assert row.state == S.DONE
    recorded = dict(row.inputs)
    assert isinstance(recorded.pop("mail"), int)
    assert recorded.pop("iocs")[0]["value"] == "evil.example.net"
    assert recorded == {"summary": "<script>alert(1)</script> invoice", "confirmed": True, "vector": "email",
                        "hosts": 3, "seen_at": "2026-01-02T02:04:05+00:00"}
    from casemgr.evidence import service as evidence

    item = evidence.get_item(session, who(session, "ana"), row.inputs["mail"])
    assert (item.case_id, item.filename) == (case_id, "mail.eml")


def test_an_evidence_input_may_name_an_item_already_on_the_case(session, case_id):
    from casemgr.evidence import service as evidence

    store_version(session, playbook([step("record", inputs=[INPUTS[5]])]))
    item = evidence.add_evidence(session, who(session, "ana"), case_id, OneFile())
    run = runs.start_run(session, who(session, "ana"), case_id, StartRun(playbook="test-pb"))
    act(session, "ana", run, "record", "complete", inputs={"mail": str(item.id)})
    assert run.steps[0].inputs == {"mail": item.id}


# ---------------------------------------------------------------- who


def test_who_rules_permission_team_and_incident_role(session, case_id):
    teams.create_team(session, Actor.system("test"), NewTeam(name="Network", members=["ben"]))
    pb = playbook([step("approve_budget", who={"permission": "case.close"}),
                   step("block_ips", who={"team": "network"}),
                   step("decide", who={"incident_role": "incident_commander"})])
    store_version(session, pb)
    run = runs.start_run(session, who(session, "ana"), case_id, StartRun(playbook="test-pb"))
    with pytest.raises(Forbidden, match="step approve_budget may be worked only by holders of the permission "
                                        "case.close"):
        act(session, "ana", run, "approve_budget", "complete")
    act(session, "mia", run, "approve_budget", "complete")
    with pytest.raises(Forbidden, match="step block_ips may be worked only by members of the team network"):
        act(session, "ana", run, "block_ips", "start")
    act(session, "ben", run, "block_ips", "complete")
    with pytest.raises(Forbidden, match="only by the case's incident commander"):
        act(session, "ana", run, "decide", "complete")
    incident_roles.assign(session, who(session, "mia"), case_id, "incident_commander", RoleAssignment(user="ana"))
    act(session, "ana", run, "decide", "complete")
    assert run.status == "completed"


def test_read_only_roles_may_not_run_playbooks(session, case_id):
    store_version(session, playbook(DAG))
    with pytest.raises(Forbidden, match="auditors"):
        runs.start_run(session, who(session, "aud"), case_id, StartRun(playbook="test-pb"))


def test_assigning_a_step(session, case_id):
    store_version(session, playbook(DAG))
    run = runs.start_run(session, who(session, "ana"), case_id, StartRun(playbook="test-pb"))
    act(session, "ana", run, "triage", "assign", assignee="ben")
    assert runs.run_view(run).working == {"ben": ["triage"]}
    with pytest.raises(Invalid, match="assignee: aud cannot work case"):
        act(session, "ana", run, "triage", "assign", assignee="aud")


# ---------------------------------------------------------------- versions, locking, run states


def test_a_run_keeps_the_version_it_started_with(session, case_id):
    first = store_version(session, playbook(DAG))
    run = runs.start_run(session, who(session, "ana"), case_id, StartRun(playbook="test-pb"))
    store_version(session, playbook([step("other")], version="2.0.0"))
    assert (run.version_id, run.content_hash) == (first.id, first.content_hash)
    act(session, "ana", run, "triage", "complete")
    assert set(states(run)) == {"triage", "scope", "notify", "contain", "eradicate"}
    with pytest.raises(Conflict, match="has a active run of test-pb already"):
        runs.start_run(session, who(session, "ana"), case_id, StartRun(playbook="test-pb"))
    with pytest.raises(NotFound, match="has no version 9.9.9"):
        runs.start_run(session, who(session, "ana"), case_id, StartRun(playbook="test-pb", version="9.9.9"))
    with pytest.raises(NotFound, match="there is no playbook 'nothing'"):
        runs.start_run(session, who(session, "ana"), case_id, StartRun(playbook="nothing"))


def test_two_playbooks_may_run_on_one_case(session, case_id):
    store_version(session, playbook(DAG))
    store_version(session, playbook([step("encrypt_check")], id="ransomware-addon"))
    runs.start_run(session, who(session, "ana"), case_id, StartRun(playbook="test-pb"))
    runs.start_run(session, who(session, "ana"), case_id, StartRun(playbook="ransomware-addon"))
    assert len(runs.runs_of_case(session, who(session, "ana"), case_id)) == 2


def test_a_stale_version_is_refused_with_the_current_one(session, case_id):
    store_version(session, playbook(DAG))
    run = runs.start_run(session, who(session, "ana"), case_id, StartRun(playbook="test-pb"))
    triage = run.steps[0]
    stale = triage.version
    act(session, "ana", run, "triage", "start")
    with pytest.raises(Conflict) as refused:
        runs.act_on_step(session, who(session, "ben"), run.id, "triage",
                         StepAction(action="complete", version=stale))
    assert refused.value.details["current_version"] == triage.version
    assert "was changed by someone else" in refused.value.message


def test_paused_and_aborted_runs_refuse_step_actions(session, case_id):
    store_version(session, playbook(DAG))
    run = runs.start_run(session, who(session, "ana"), case_id, StartRun(playbook="test-pb"))
    runs.change_run(session, who(session, "ana"), run.id, RunChange(action="pause", version=run.version,
                                                                   reason="waiting for legal"))
    with pytest.raises(Conflict, match="is paused .waiting for legal.; resume it first"):
        act(session, "ana", run, "triage", "start")
    runs.change_run(session, who(session, "ana"), run.id, RunChange(action="resume", version=run.version))
    act(session, "ana", run, "triage", "start")
    with pytest.raises(Invalid, match="reason: a reason is required to abort"):
        runs.change_run(session, who(session, "ana"), run.id, RunChange(action="abort", version=run.version))
    with pytest.raises(Conflict, match="you sent version 1"):
        runs.change_run(session, who(session, "ana"), run.id, RunChange(action="abort", version=1, reason="x"))
    runs.change_run(session, who(session, "ana"), run.id, RunChange(action="abort", version=run.version,
                                                                   reason="false positive"))
    with pytest.raises(Conflict, match="is aborted .false positive.; its steps can no longer change"):
        act(session, "ana", run, "triage", "complete")
    assert runs.start_run(session, who(session, "ana"), case_id, StartRun(playbook="test-pb")).id != run.id


# ---------------------------------------------------------------- approvals and the next lifecycle state


def test_an_approval_holds_the_steps_after_it(session, case_id):
    pb = playbook([step("isolate", "containment", actions=[{"require_approval": "Isolate the file server?"}]),
                   step("wipe", "eradication", depends_on=["isolate"])])
    store_version(session, pb)
    run = runs.start_run(session, who(session, "ana"), case_id, StartRun(playbook="test-pb"))
    act(session, "ana", run, "isolate", "complete")
    assert states(run) == {"isolate": "blocked", "wipe": "pending"}
    assert run.steps[0].approval_asked == "Isolate the file server?"
    with pytest.raises(Forbidden, match="only managers .playbook.approve. may approve"):
        act(session, "ana", run, "isolate", "approve")
    act(session, "mia", run, "isolate", "reject", reason="Not yet: the backup runs")
    assert states(run)["isolate"] == "in_progress"
    act(session, "ana", run, "isolate", "complete")
    act(session, "mia", run, "isolate", "approve")
    assert states(run) == {"isolate": "done", "wipe": "ready"}
    assert run.steps[0].approved_by_name == "mia"


def test_the_next_state_is_offered_when_containment_is_finished(session, case_id):
    store_version(session, playbook(DAG))
    run = runs.start_run(session, who(session, "ana"), case_id, StartRun(playbook="test-pb"))
    for to in ("triage", "containment"):
        cases.transition(session, who(session, "ana"), case_id, Transition(to=to))
    for step_id in ("triage", "scope", "notify"):
        act(session, "ana", run, step_id, "complete")
    assert runs.run_view(run).offer_state is None
    act(session, "ana", run, "contain", "complete")
    assert runs.run_view(run).offer_state == CaseStatus.ERADICATION
