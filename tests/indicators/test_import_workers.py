"""Large bundles are validated in worker processes: the outcome is exactly that of checking in the server
process, in bundle order, and a worker that dies costs time, not objects."""

from __future__ import annotations

import json
import logging
import os
import signal
from typing import Any

import pytest
import requests
from sqlalchemy import select

from casemgr.auth.actor import Actor
from casemgr.cases import service as cases
from casemgr.cases.models import Level
from casemgr.cases.schemas import NewCase
from casemgr.indicators import imports
from casemgr.indicators.models import StixObject
from tests.conftest import ApiClient, fork_server_children
from tests.indicators.conftest import bundle_of, indicator, post_bundle

WORKERS = 2  # whatever this machine's CPU count: the pool is what is under test


def ip(n: int) -> str:
    return f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"


def large_bundle(size: int) -> dict[str, Any]:
    """`size` indicators for distinct addresses, with trouble spread over several chunks."""
    objects: list[Any] = [indicator(f"[ipv4-addr:value = '{ip(n)}']", name=f"item {n}") for n in range(size)]
    objects[3] = indicator("[ipv4-addr:value = '10.9.9.9'")  # unbalanced bracket: the full pattern validator
    objects[1234] = {k: v for k, v in objects[1234].items() if k != "valid_from"}  # a required property missing
    objects[1999] = 42  # not an object
    objects[2100] = indicator(f"[ipv4-addr:value = '{ip(10)}']")  # the value of object 10 under another id
    objects[2500] = {**objects[20], "modified": "2026-02-01T00:00:00.000Z", "name": "revised"}  # object 20, newer
    objects[2501] = {**objects[30], "modified": "2025-12-01T00:00:00.000Z"}  # object 30, older
    return bundle_of(*objects)


def client_on(app: Any, client: ApiClient) -> ApiClient:
    return ApiClient(app.test_client(), client.token, client.user)


def stored(db: Any, case: dict[str, Any]) -> set[tuple[str, str | None, str]]:
    with db.transaction() as s:
        return {(sid, value, text) for sid, value, text in s.execute(
            select(StixObject.stix_id, StixObject.value, StixObject.stix_json).where(StixObject.case_id == case["id"]))}


def test_a_large_bundle_checked_by_workers_imports_exactly_as_in_one_process(api, open_case, make_app, db):
    analyst = api("analyst")
    bundle = large_bundle(imports.PARALLEL_FROM + 700)
    outcomes = {}
    for workers in (1, WORKERS):
        client = client_on(make_app(import_workers=workers), analyst)
        case = open_case(client, title=f"Feed, {workers} worker(s)")
        response = post_bundle(client, case, bundle, partial="true")
        assert response.status_code == 200, response.get_json()
        report = response.get_json()
        del report["bundle_id"]
        outcomes[workers] = report, stored(db, case)
    report, rows = outcomes[WORKERS]
    assert outcomes[1] == outcomes[WORKERS]
    assert [(r["index"], r["id"]) for r in report["rejected"]] == [
        (3, bundle["objects"][3]["id"]), (1234, bundle["objects"][1234]["id"]), (1999, None)]
    assert "valid_from" in report["rejected"][1]["reason"]
    assert report["added"] == {"indicator": len(bundle["objects"]) - 3 - 3}
    assert report["duplicates"] == {"indicator": 1}
    assert report["new_versions"] == {"indicator": 1}
    assert report["old_versions"] == {"indicator": 1}
    revised = {json.loads(text)["name"] for sid, _, text in rows if sid == bundle["objects"][20]["id"]}
    assert revised == {"revised"}


def test_a_large_bundle_with_an_invalid_object_is_refused_whole_by_workers(api, open_case, make_app, db):
    client = client_on(make_app(import_workers=WORKERS), api("analyst"))
    case = open_case(client)
    bundle = large_bundle(imports.PARALLEL_FROM + 700)
    response = post_bundle(client, case, bundle)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "bundle_rejected"
    assert [r["index"] for r in error["rejected"]] == [3, 1234, 1999]
    assert stored(db, case) == set()


def test_a_large_mixed_stix20_bundle_is_refused_by_workers(api, open_case, make_app, db):
    client = client_on(make_app(import_workers=WORKERS), api("analyst"))
    case = open_case(client)
    objects = [{k: v for k, v in indicator(f"[ipv4-addr:value = '{ip(n)}']").items() if k != "spec_version"}
               for n in range(imports.PARALLEL_FROM + 10)]
    # STIX 2.0 throughout would be converted; with one STIX 2.1 object at the end it is a mixed bundle
    objects.append(indicator("[ipv4-addr:value = '198.51.100.1']"))
    response = post_bundle(client, case, bundle_of(*objects))
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "unsupported_stix_version"
    assert "object 0" in response.get_json()["error"]["message"]
    assert stored(db, case) == set()


def test_a_worker_killed_mid_import_costs_nothing_but_time(make_app, open_case, api, db, caplog):
    app = make_app(import_workers=WORKERS)
    database = app.extensions["casemgr.db"]
    system = Actor.system("test")
    with database.transaction() as s:
        case_id = cases.create_case(s, system, NewCase(title="Feed", category="malicious-code",
                                                      impact=Level.LOW, urgency=Level.LOW)).id
    size = 3 * imports.BATCH
    data = json.dumps(bundle_of(*(indicator(f"[domain-name:value = 'host{n}.example']") for n in range(size))))
    killed: list[int] = []

    def kill_workers(done: int, total: int) -> None:
        if not killed:
            killed.extend(fork_server_children())
            for pid in killed:
                os.kill(pid, signal.SIGKILL)

    with caplog.at_level(logging.WARNING, logger="casemgr.parallel"), database.transaction() as s:
        report = imports.import_bundle(s, system, case_id, data, progress=kill_workers)
    assert len(killed) == WORKERS
    assert report.added == {"indicator": size}
    assert not report.rejected
    assert "its work goes on in this process" in caplog.text
    with database.transaction() as s:
        values = set(s.scalars(select(StixObject.value).where(StixObject.case_id == case_id)))
    assert values == {f"host{n}.example" for n in range(size)}


@pytest.fixture
def served_env() -> dict[str, str]:
    return {"CASEMGR_IMPORT_WORKERS": str(WORKERS)}


def test_a_large_import_through_the_server_as_deployed(served, api, open_case):
    # gunicorn's threaded worker process starts the fork server and the validation workers.
    analyst = api("analyst")
    case = open_case(analyst)
    bundle = large_bundle(imports.PARALLEL_FROM + 700)
    response = requests.post(f"{served}/api/v1/cases/{case['id']}/stix?partial=true", json=bundle, timeout=120,
                             headers={"Authorization": f"Bearer {analyst.token}"})
    assert response.status_code == 200, response.text
    report = response.json()
    assert [r["index"] for r in report["rejected"]] == [3, 1234, 1999]
    assert report["added"] == {"indicator": len(bundle["objects"]) - 3 - 3}
