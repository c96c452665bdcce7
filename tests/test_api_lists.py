"""Every list the API answers comes in the one envelope (casemgr.api.listing): {"items", "total"} and, for a
list in pages (casemgr.paging), its "page" and "per_page", the pages following each other without overlap."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from casemgr import create_app
from casemgr.api import API_PREFIX
from casemgr.config import Settings
from tests.conftest import _wipe
from tests.world import World, build_world


@dataclass(frozen=True)
class Route:
    who: str  # who asks (a key of tests.world.ROLES)
    path: str  # with {case} for the seeded case's id
    paged: bool = True
    extra: frozenset[str] = frozenset()  # the list's own members beside the envelope
    body: dict[str, Any] | None = None  # for a POST


LISTS: dict[tuple[str, str], Route] = {
    ("GET", "/cases"): Route("member", "/cases"),
    ("GET", "/cases/<int:case_id>/timeline"): Route("member", "/cases/{case}/timeline"),
    ("GET", "/escalations"): Route("manager", "/escalations"),
    ("GET", "/tokens"): Route("member", "/tokens"),
    ("GET", "/users"): Route("admin", "/users"),
    ("GET", "/audit"): Route("auditor", "/audit"),
    ("GET", "/cases/<int:case_id>/indicators"): Route("member", "/cases/{case}/indicators"),
    ("GET", "/cases/<int:case_id>/stix/objects"): Route("member", "/cases/{case}/stix/objects",
                                                        extra=frozenset({"types"})),
    ("GET", "/teams"): Route("member", "/teams"),
    ("GET", "/roles"): Route("admin", "/roles"),  # the four built-in roles and tier-1 (tests/world.py)
    ("GET", "/case-fields"): Route("member", "/case-fields"),
    ("GET", "/indicators"): Route("member", "/indicators?value=203.0.113.0/24", extra=frozenset({"cases"})),
    # Two whole lists: the items of one case, and what one request added.
    ("GET", "/cases/<int:case_id>/evidence"): Route("member", "/cases/{case}/evidence", paged=False),
    ("GET", "/cases/<int:case_id>/playbook-runs"): Route("member", "/cases/{case}/playbook-runs", paged=False),
    ("POST", "/cases/<int:case_id>/indicators/accept"): Route(
        "member", "/cases/{case}/indicators/accept", paged=False,
        body={"items": [{"type": "domain-name", "value": "evil.example.com"},
                        {"type": "ipv4-addr", "value": "198.51.100.4"}]}),
}


@pytest.fixture(scope="module")
def world(migrated: str, instance_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, World]]:
    """tests/world.py, with three escalations waiting on the first case, two teams and two custom fields (so that
    they come in pages)."""
    settings = Settings.from_env({"CASEMGR_INSTANCE_DIR": str(instance_dir), "CASEMGR_DATABASE_URL": migrated,
                                  "CASEMGR_EVIDENCE_DIR": str(tmp_path_factory.mktemp("lists") / "evidence")})
    _wipe(migrated)
    app = create_app(settings)
    app.config["TESTING"] = True
    built = build_world(app)
    client = app.test_client()
    for n in range(3):
        raised = client.post(f"/api/v1/cases/{built.cases['case'].id}/escalate", json={
            "kind": "hierarchical", "reason": f"decision {n}"}, headers=_auth(built, "member"))
        assert raised.status_code == 201, raised.get_json()
    for name in ("SOC", "CERT"):
        made = client.post("/api/v1/teams", json={"name": name}, headers=_auth(built, "admin"))
        assert made.status_code == 201, made.get_json()
    for code in ("backup_status", "business_service"):  # two custom fields, in pages of one
        made = client.post("/api/v1/case-fields", json={"code": code, "label": code, "type": "text"},
                           headers=_auth(built, "admin"))
        assert made.status_code == 201, made.get_json()
    from tests.playbooks.test_runs import DAG, playbook, store_version

    with app.extensions["casemgr.db"].transaction() as s:  # a playbook run on the first case
        store_version(s, playbook(DAG))
    started = client.post(f"/api/v1/cases/{built.cases['case'].id}/playbook-runs", json={"playbook": "test-pb"},
                          headers=_auth(built, "member"))
    assert started.status_code == 201, started.get_json()
    try:
        yield app, built
    finally:
        app.extensions["casemgr.db"].dispose()
        _wipe(migrated)


def _auth(world: World, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.tokens[who]}"}


def test_every_list_operation_is_covered(app):
    """A new list operation (is_list) gets a row in LISTS, so that its envelope is checked below."""
    document = app.test_client().get(f"{API_PREFIX}/openapi.json").get_json()
    listed = {(method.upper(), path.removeprefix(API_PREFIX)) for path, operations in document["paths"].items()
              for method, op in operations.items()
              if op["responses"].get(next(iter(op["responses"])), {}).get("content", {}).get(
                  "application/json", {}).get("schema", {}).get("required") == ["items", "total"]}
    rules = {(m, _openapi(rule)) for m, rule in LISTS}
    assert len(listed) == 14  # every is_list operation (the search declares its own model)
    assert listed <= rules, f"list operations without a row in LISTS: {sorted(listed - rules)}"


def _openapi(rule: str) -> str:
    return rule.replace("<int:case_id>", "{case_id}")


@pytest.mark.parametrize("operation", list(LISTS), ids=[f"{m} {r}" for m, r in LISTS])
def test_each_list_answers_the_one_envelope(world, operation):
    app, built = world
    method, _ = operation
    route = LISTS[operation]
    client = app.test_client()
    url = API_PREFIX + route.path.format(case=built.cases["case"].id)

    def ask(**params: int) -> dict[str, Any]:
        query = "&".join(f"{k}={v}" for k, v in params.items())
        full = url + (("&" if "?" in url else "?") + query if query else "")
        response = client.open(full, method=method, json=route.body, headers=_auth(built, route.who))
        assert response.status_code in {200, 201}, response.get_data(as_text=True)
        assert response.mimetype == "application/json"
        return response.get_json()  # type: ignore[no-any-return]

    whole = ask()
    assert isinstance(whole["items"], list)
    assert whole["items"], "the seeded instance has something in every list"
    assert isinstance(whole["total"], int)
    if not route.paged:
        assert set(whole) == {"items", "total"} | route.extra
        assert whole["total"] == len(whole["items"])
        return
    assert set(whole) == {"items", "total", "page", "per_page"} | route.extra
    assert (whole["page"], whole["per_page"]) == (1, 50)
    assert len(whole["items"]) == min(whole["total"], 50)
    # Pages of one: each holds the next item of the list (the first ten here), and a page past the end none.
    shown = min(whole["total"], 10)
    pages = [ask(page=n, per_page=1) for n in [*range(1, shown + 1), whole["total"] + 1]]
    for n, page in zip([*range(1, shown + 1), whole["total"] + 1], pages, strict=True):
        assert set(page) == set(whole)
        assert (page["page"], page["per_page"], page["total"]) == (n, 1, whole["total"])
    assert [_key(item) for page in pages for item in page["items"]] == [_key(i) for i in whole["items"][:shown]]
    assert pages[-1]["items"] == []


def _key(item: dict[str, Any]) -> Any:
    """What tells the items apart (their other fields may change as they are read: a token's last use)."""
    for key in ("seq", "id", "code"):  # audit entries, most records, roles
        if key in item:
            return item[key]
    raise KeyError(f"no key in {sorted(item)}")
