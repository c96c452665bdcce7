"""The runs API (casemgr/playbooks/runs_api.py) and concurrent step completion on PostgreSQL."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import func, select

from casemgr.auth.actor import Actor
from casemgr.auth.models import User
from casemgr.cases.models import EntryKind, TimelineEntry
from casemgr.db import Database
from casemgr.playbooks import runs
from casemgr.playbooks.models import PlaybookRun, RunStep
from casemgr.playbooks.runs_schemas import StartRun, StepAction
from tests.playbooks.test_runs import DAG, playbook, step, store_version


@pytest.fixture
def stored(db: Database) -> None:
    with db.transaction() as s:
        store_version(s, playbook(DAG))


def _steps(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["step_id"]: s for s in run["steps"]}


def test_a_run_through_the_api(api, open_case, stored):
    ana = api("analyst")
    case = open_case(ana)
    started = ana.post(f"/api/v1/cases/{case['id']}/playbook-runs", json={"playbook": "test-pb"})
    assert started.status_code == 201, started.get_json()
    run = started.get_json()
    assert (run["playbook"], run["playbook_version"], run["status"], run["ready"]) == ("test-pb", "1.0.0", "active",
                                                                                        ["triage"])
    assert len(run["content_hash"]) == 64
    triage = _steps(run)["triage"]
    done = ana.post(f"/api/v1/playbook-runs/{run['id']}/steps/triage",
                    json={"action": "complete", "version": triage["version"], "note": "**ok**"})
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["ready"] == ["scope", "notify"]
    assert _steps(done.get_json())["triage"]["completed_by"] == ana.user.username
    stale = ana.post(f"/api/v1/playbook-runs/{run['id']}/steps/triage",
                     json={"action": "skip", "version": triage["version"], "reason": "x"})
    assert stale.status_code == 409
    assert stale.get_json()["error"]["current_version"] == _steps(done.get_json())["triage"]["version"]
    listed = ana.get(f"/api/v1/cases/{case['id']}/playbook-runs").get_json()
    assert [r["id"] for r in listed["items"]] == [run["id"]]
    assert ana.get(f"/api/v1/playbook-runs/{run['id']}").get_json()["finished"] == 1
    twice = ana.post(f"/api/v1/cases/{case['id']}/playbook-runs", json={"playbook": "test-pb"})
    assert twice.status_code == 409
    paused = ana.post(f"/api/v1/playbook-runs/{run['id']}", json={"action": "pause",
                                                                   "version": done.get_json()["version"]})
    assert paused.status_code == 200, paused.get_json()
    refused = ana.post(f"/api/v1/playbook-runs/{run['id']}/steps/scope",
                       json={"action": "start", "version": _steps(paused.get_json())["scope"]["version"]})
    assert refused.status_code == 409
    assert "resume it first" in refused.get_json()["error"]["message"]
    aborted = ana.post(f"/api/v1/playbook-runs/{run['id']}", json={"action": "abort",
                                                                    "version": paused.get_json()["version"]})
    assert aborted.status_code == 422
    assert aborted.get_json()["error"]["field"] == "reason"


def test_bad_requests(api, open_case, stored):
    ana, aud, other = api("analyst"), api("auditor"), api("analyst")
    case = open_case(ana, restricted=True)
    assert ana.post(f"/api/v1/cases/{case['id']}/playbook-runs", json={"playbook": "nope"}).status_code == 404
    assert ana.post(f"/api/v1/cases/{case['id']}/playbook-runs", json={}).status_code == 422
    assert aud.post(f"/api/v1/cases/{case['id']}/playbook-runs", json={"playbook": "test-pb"}).status_code == 403
    assert other.post(f"/api/v1/cases/{case['id']}/playbook-runs", json={"playbook": "test-pb"}).status_code == 404
    run = ana.post(f"/api/v1/cases/{case['id']}/playbook-runs", json={"playbook": "test-pb"}).get_json()
    assert other.get(f"/api/v1/playbook-runs/{run['id']}").status_code == 404  # the case is hidden from them
    assert aud.get(f"/api/v1/playbook-runs/{run['id']}").status_code == 200
    url = f"/api/v1/playbook-runs/{run['id']}/steps"
    assert ana.post(f"{url}/nothing", json={"action": "start", "version": 1}).status_code == 404
    assert ana.post(f"{url}/triage", json={"action": "dance", "version": 1}).status_code == 422
    wrong_state = ana.post(f"{url}/contain", json={"action": "complete", "version": 1})
    assert wrong_state.status_code == 409
    assert wrong_state.get_json()["error"]["message"] == "step contain is pending: it cannot be completed now"
    version = _steps(run)["triage"]["version"]
    unknown = ana.post(f"{url}/triage", json={"action": "complete", "version": version, "inputs": {"x": "1"}})
    assert unknown.status_code == 422
    assert unknown.get_json()["error"]["field"] == "inputs.x"
    assert aud.post(f"{url}/triage", json={"action": "start", "version": version}).status_code == 403
    document = ana.get("/api/v1/openapi.json").get_json()
    assert {"/api/v1/cases/{case_id}/playbook-runs", "/api/v1/playbook-runs/{run_id}",
            "/api/v1/playbook-runs/{run_id}/steps/{step_id}"} <= set(document["paths"])


# ---------------------------------------------------------------- two analysts at once (PostgreSQL)


@pytest.mark.postgres_only
def test_two_parallel_steps_completed_at_once_open_the_next_step_once(db, make_user, is_postgres):
    if not is_postgres:
        pytest.skip("SQLite runs one write transaction at a time: there is no 'at once'")
    names = [make_user("analyst", n).username for n in ("ana", "ben")]
    with db.transaction() as s:
        from casemgr.cases import service as cases
        from casemgr.cases.schemas import NewCase

        store_version(s, playbook([step("a"), step("left", depends_on=["a"]), step("right", depends_on=["a"]),
                                   step("join", depends_on=["left", "right"])]))
        ana = Actor(user=s.scalars(select(User).where(User.username == "ana")).one(), via="test")
        case_id = cases.create_case(s, ana, NewCase(title="Two at once", category="fraud", impact="low",
                                                    urgency="low")).id
        run = runs.start_run(s, ana, case_id, StartRun(playbook="test-pb"))
        runs.act_on_step(s, ana, run.id, "a", StepAction(action="complete", version=run.steps[0].version))
        run_id = run.id
        versions = {r.step_id: r.version for r in run.steps}
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def complete(username: str, step_id: str) -> None:
        s = db.session(write=True)
        try:
            actor = Actor(user=s.scalars(select(User).where(User.username == username)).one(), via="test")
            barrier.wait(10)
            runs.act_on_step(s, actor, run_id, step_id, StepAction(action="complete", version=versions[step_id]))
            s.commit()
        except BaseException as exc:  # noqa: BLE001 (reported by the test)
            errors.append(exc)
            s.rollback()
        finally:
            s.close()

    threads = [threading.Thread(target=complete, args=(n, sid)) for n, sid in zip(names, ("left", "right"),
                                                                                     strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    with db.transaction() as s:
        rows = {r.step_id: r.state.value for r in s.scalars(select(RunStep).where(RunStep.run_id == run_id))}
        assert rows == {"a": "done", "left": "done", "right": "done", "join": "ready"}
        opened = s.scalar(select(func.count()).select_from(TimelineEntry).where(
            TimelineEntry.case_id == case_id, TimelineEntry.kind == EntryKind.PLAYBOOK,
            TimelineEntry.summary == "Playbook step Join: ready"))
        assert opened == 1
        assert s.get(PlaybookRun, run_id).version == 4  # start, a, left, right: no update lost


def test_the_cli_starts_shows_and_works_a_run(run_cli, api, open_case, stored):
    case = open_case(api("analyst"))
    started = run_cli("playbook", "run", "start", case["reference"], "test-pb")
    assert started.exit_code == 0, started.output
    run_id = started.output.split()[1]
    assert "triage" in started.output
    assert "ready" in started.output
    done = run_cli("playbook", "run", "step", run_id, "triage", "complete", "--note", "done by the operator")
    assert done.exit_code == 0, done.output
    assert "1/5 finished" in done.output
    refused = run_cli("playbook", "run", "step", run_id, "notify", "skip")
    assert refused.exit_code != 0
    assert "reason: a reason is required to skip" in refused.output
    shown = run_cli("playbook", "run", "show", run_id)
    assert "containment:" in shown.output


def test_the_case_timeline_shows_the_run(api, login, open_case, stored):
    ana = api("analyst")
    case = open_case(ana)
    run = ana.post(f"/api/v1/cases/{case['id']}/playbook-runs", json={"playbook": "test-pb"}).get_json()
    ana.post(f"/api/v1/playbook-runs/{run['id']}/steps/triage",
             json={"action": "skip", "version": run["steps"][0]["version"], "reason": "<b>not needed</b>"})
    page = login("manager").get(f"/cases/{case['id']}/timeline")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f"Playbook Test playbook test-pb 1.0.0 started (run {run['id']})" in html
    assert f"Playbook step Triage: skipped by {ana.user.username}" in html
    assert "<b>not needed</b>" not in html  # the reason is shown as text, inert
