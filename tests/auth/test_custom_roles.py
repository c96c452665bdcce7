"""Custom roles (casemgr/auth/roles.py): admins define them from the permission registry on every path, accounts
get them, the registry resolves them at each request, need-to-know still applies, and every change is audited.

The examples are the issue's: a tier-1 analyst (works cases, may not download evidence or close cases) and legal
(reads cases, restricted ones only as a member)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select

from casemgr.audit.models import AuditEntry
from casemgr.auth import roles
from casemgr.auth.permissions import BUILT_IN, Permission
from casemgr.auth.role_schemas import NewRole, RoleUpdate
from casemgr.errors import Conflict, Forbidden, Invalid, NotFound
from casemgr.evidence.keyring import KEYRING_FILE, Keyring
from tests.evidence.conftest import upload

# The analyst's set without evidence.download (and, like an analyst's, without case.close).
TIER1 = sorted(p.value for p in BUILT_IN["analyst"] - {Permission.EVIDENCE_DOWNLOAD})  # type: ignore[index]
LEFT_OUT = sorted({p.value for p in Permission} - set(TIER1))
CASE = {"title": "Phishing wave", "description": "Reported by staff.", "category": "fraud", "impact": "low",
        "urgency": "low"}


@pytest.fixture(autouse=True)
def keyring(instance_dir: Path) -> Keyring:
    return Keyring.create(instance_dir / KEYRING_FILE)


def _audit(db, action):
    with db.transaction() as s:
        return [e.summary for e in s.scalars(select(AuditEntry).where(AuditEntry.action == action)
                                             .order_by(AuditEntry.seq))]


@pytest.fixture
def tier1(db, system):
    with db.transaction() as s:
        roles.create_role(s, system, NewRole(code="tier-1", name="Tier-1 analyst",
                                             description="Works cases; no evidence download", permissions=TIER1))
    return "tier-1"


@pytest.fixture
def legal(db, system):
    with db.transaction() as s:
        roles.create_role(s, system, NewRole(code="legal", name="Legal", permissions=["case.view"]))
    return "legal"


# ---------------------------------------------------------------- the service

def test_a_role_is_created_changed_and_deleted_and_each_change_names_the_permissions(db, system, make_user):
    with db.transaction() as s:
        made = roles.create_role(s, system, NewRole(code="Triage", name="Triage", permissions=[
            "case.view", "case.edit", "case.view"]))
        assert (made.code, made.permission_names, made.built_in, made.users) == (
            "triage", ["case.view", "case.edit"], False, 0)  # codes are lower case; repeats count once
    with db.transaction() as s:
        changed = roles.update_role(s, system, "triage", RoleUpdate(permissions=["case.view", "case.create"]))
        assert changed.permission_names == ["case.view", "case.create"]
    assert _audit(db, "role.create")[-1]["permissions_added"] == ["case.edit", "case.view"]
    update = _audit(db, "role.update")[-1]
    assert (update["permissions_added"], update["permissions_removed"]) == (["case.create"], ["case.edit"])

    make_user("triage", "tina")
    with db.transaction() as s, pytest.raises(Conflict, match=r"role of 1 account\(s\)") as refused:
        roles.delete_role(s, system, "triage")
    assert refused.value.details["users"] == 1
    with db.transaction() as s:
        roles.create_role(s, system, NewRole(code="spare", name="Spare"))
    with db.transaction() as s:
        assert roles.delete_role(s, system, "spare").code == "spare"
    assert _audit(db, "role.delete")[-1]["code"] == "spare"
    with db.transaction() as s, pytest.raises(NotFound):
        roles.get_role(s, system, "spare")


def test_unknown_permissions_are_refused_naming_the_field_and_nothing_is_written(db, system):
    with db.transaction() as s, pytest.raises(Invalid, match="evidence.burn") as refused:
        roles.create_role(s, system, NewRole(code="arsonist", name="Arsonist", permissions=["evidence.burn"]))
    assert refused.value.field == "permissions"
    with db.transaction() as s:
        assert [r.code for r in roles.list_roles(s, system)] == ["analyst", "manager", "auditor", "admin"]


@pytest.mark.parametrize("code", ["analyst", "manager", "auditor", "admin"])
def test_built_in_roles_are_neither_changed_nor_deleted_nor_shadowed(db, system, code):
    with db.transaction() as s:
        with pytest.raises(Conflict, match="built-in"):
            roles.update_role(s, system, code, RoleUpdate(permissions=[]))
        with pytest.raises(Conflict, match="built-in"):
            roles.delete_role(s, system, code)
        with pytest.raises(Conflict, match="built-in"):
            roles.create_role(s, system, NewRole(code=code, name="Mine"))
        assert roles.get_role(s, system, code).permission_names == [
            p.value for p in Permission if p in BUILT_IN[code]]  # type: ignore[index]


def test_only_role_managers_define_roles(db, make_user):
    from casemgr.auth.actor import Actor

    manager = Actor(user=make_user("manager"), via="web")
    with db.transaction() as s:
        with pytest.raises(Forbidden):
            roles.create_role(s, manager, NewRole(code="mine", name="Mine", permissions=["case.view_all"]))
        with pytest.raises(Forbidden):
            roles.list_roles(s, manager)


def test_the_last_account_manager_keeps_user_manage(db, system, make_user):
    with db.transaction() as s:
        roles.create_role(s, system, NewRole(code="ops", name="Ops", permissions=["user.manage", "role.manage"]))
    make_user("ops", "olga")  # the only account that manages accounts: there is no admin
    with db.transaction() as s, pytest.raises(Conflict, match="user.manage") as refused:
        roles.update_role(s, system, "ops", RoleUpdate(permissions=["role.manage"]))
    assert refused.value.field == "permissions"
    make_user("admin", "adam")
    with db.transaction() as s:
        assert roles.update_role(s, system, "ops", RoleUpdate(permissions=["role.manage"])).permission_names == [
            "role.manage"]


def test_export_and_apply_config_round_trip(db, system, tier1):
    with db.transaction() as s:
        exported = roles.export_config(s)
    assert exported == [{"code": "tier-1", "name": "Tier-1 analyst", "description": "Works cases; no evidence "
                         "download", "permissions": sorted(TIER1)}]
    items = [{**exported[0], "permissions": [*TIER1, "case.close"]},
             {"code": "legal", "name": "Legal", "description": "", "permissions": ["case.view"]}]
    with db.transaction() as s:
        summary = roles.apply_config(s, system, items)
    assert summary == ["updated role tier-1 +case.close", "created role legal (1 permissions)"]
    with db.transaction() as s:
        assert roles.apply_config(s, system, items) == []  # already matching: nothing to do
    with db.transaction() as s, pytest.raises(Invalid) as refused:
        roles.apply_config(s, system, [items[1], {"code": "bad", "name": "Bad", "permissions": ["case.nope"]}])
    assert (refused.value.field, refused.value.details["index"]) == ("permissions", 1)


# ---------------------------------------------------------------- a tier-1 analyst, on every path

def test_tier1_is_refused_exactly_what_the_role_leaves_out_through_the_api(api, tier1, open_case):
    analyst = api("analyst", "opener")
    case = open_case(analyst, **CASE)
    item = upload(analyst, case["id"], b"mail headers\n").get_json()
    t1 = api(tier1, "tom")
    assert t1.get(f"/api/v1/cases/{case['id']}").status_code == 200  # case.view
    assert open_case(t1, **CASE)["id"]  # case.create
    assert t1.post(f"/api/v1/cases/{case['id']}/notes", json={"body": "looked"}).status_code == 201  # case.edit
    assert upload(t1, case["id"], b"more\n").status_code == 201  # evidence.upload
    assert t1.get(f"/api/v1/evidence/{item['id']}").status_code == 200  # the record, not the content
    refused = t1.get(f"/api/v1/evidence/{item['id']}/content?purpose=triage")  # evidence.download: left out
    assert refused.status_code == 403, refused.get_json()
    assert analyst.get(f"/api/v1/evidence/{item['id']}/content?purpose=triage").status_code == 200
    assert t1.get("/api/v1/roles").status_code == 403
    assert t1.get("/api/v1/me").get_json()["role"] == "tier-1"


def test_tier1_in_the_web_ui(login, api, tier1, open_case):
    analyst = api("analyst", "opener")
    case = open_case(analyst, **CASE)
    item = upload(analyst, case["id"], b"mail headers\n").get_json()
    web = login(tier1, "tess")
    page = web.get(f"/evidence/{item['id']}")
    assert page.status_code == 200
    assert "may verify this item but not download" in page.get_data(as_text=True)
    assert web.post(f"/evidence/{item['id']}/download", {"purpose": "triage"}).status_code == 403
    assert web.post(f"/cases/{case['id']}/notes", {"body": "seen"}).status_code == 302
    assert "(tier-1)" in web.get("/").get_data(as_text=True)
    assert web.get("/admin/roles").status_code == 403


def test_tier1_at_the_cli(run_cli, api, make_user, tier1, open_case):
    analyst = api("analyst", "opener")
    case = open_case(analyst, **CASE)
    make_user(tier1, "tim")
    make_user("analyst", "ann")
    shown = run_cli("case", "show", case["reference"], "--as", "tim")
    assert shown.exit_code == 0
    assert case["reference"] in shown.output
    refused = run_cli("case", "role", "assign", case["reference"], "scribe", "ann", "--as", "tim")  # case.assign
    assert refused.exit_code == 1
    assert "error" in refused.output


# ---------------------------------------------------------------- the next request, without signing in again

def test_a_change_holds_from_the_next_request_of_a_signed_in_session_and_a_token(login, api, tier1, open_case):
    analyst = api("analyst", "opener")
    case = open_case(analyst, **CASE)
    item = upload(analyst, case["id"], b"headers\n").get_json()
    web = login(tier1, "tess")
    token = api(tier1, "toby")
    admin = api("admin", "adam")
    assert web.post(f"/evidence/{item['id']}/download", {"purpose": "triage"}).status_code == 403
    assert token.get(f"/api/v1/evidence/{item['id']}/content?purpose=triage").status_code == 403

    granted = admin.patch("/api/v1/roles/tier-1", json={"permissions": [*TIER1, "evidence.download"]})
    assert granted.status_code == 200, granted.get_json()
    assert web.post(f"/evidence/{item['id']}/download", {"purpose": "triage"}).status_code == 200
    assert token.get(f"/api/v1/evidence/{item['id']}/content?purpose=triage").status_code == 200

    admin.patch("/api/v1/roles/tier-1", json={"permissions": ["case.view"]})
    assert web.post(f"/cases/{case['id']}/notes", {"body": "again"}).status_code == 403
    assert token.post(f"/api/v1/cases/{case['id']}/notes", json={"body": "again"}).status_code == 403
    assert web.get(f"/cases/{case['id']}").status_code == 200
    summary = _audit(web.client.application.extensions["casemgr.db"], "role.update")[-1]
    assert "evidence.download" in summary["permissions_removed"]
    assert summary["permissions_added"] == []


# ---------------------------------------------------------------- need-to-know on top of any role

def test_legal_reads_cases_but_restricted_ones_only_as_a_member(api, legal, open_case):
    analyst = api("analyst", "opener")
    plain = open_case(analyst, **CASE)
    restricted = open_case(analyst, **CASE, restricted=True)
    counsel = api(legal, "lena")
    assert counsel.get(f"/api/v1/cases/{plain['id']}").status_code == 200
    assert counsel.get(f"/api/v1/cases/{restricted['id']}").status_code == 404
    listed = [c["id"] for c in counsel.get("/api/v1/cases").get_json()["items"]]
    assert plain["id"] in listed
    assert restricted["id"] not in listed
    assert counsel.post(f"/api/v1/cases/{plain['id']}/notes", json={"body": "x"}).status_code == 403
    assert counsel.post("/api/v1/cases", json=CASE).status_code == 403


# ---------------------------------------------------------------- accounts, the API, the pages, the CLI

def test_accounts_get_a_custom_role_through_the_api_and_an_unknown_one_is_refused(api, tier1):
    admin = api("admin", "adam")
    made = admin.post("/api/v1/users", json={"username": "tara", "role": "tier-1",
                                             "password": "a long enough passphrase 7"})
    assert (made.status_code, made.get_json()["role"]) == (201, "tier-1")
    unknown = admin.post("/api/v1/users", json={"username": "tony", "role": "tier-9",
                                                "password": "a long enough passphrase 7"})
    assert (unknown.status_code, unknown.get_json()["error"]["field"]) == (422, "role")
    assert admin.patch("/api/v1/users/tara", json={"role": "analyst"}).get_json()["role"] == "analyst"


def test_the_roles_api_lists_in_pages_and_names_bad_fields(api, tier1):
    admin = api("admin", "adam")
    first = admin.get("/api/v1/roles?per_page=2").get_json()
    assert (first["total"], [r["code"] for r in first["items"]]) == (5, ["analyst", "manager"])
    last = admin.get("/api/v1/roles?per_page=2&page=3").get_json()
    assert [r["code"] for r in last["items"]] == ["tier-1"]
    bad = admin.post("/api/v1/roles", json={"code": "x1", "name": "X", "permissions": ["case.fly"]})
    assert (bad.status_code, bad.get_json()["error"]["field"]) == (422, "permissions")
    taken = admin.post("/api/v1/roles", json={"code": "admin", "name": "X"})
    assert (taken.status_code, taken.get_json()["error"]["field"]) == (409, "code")
    assert admin.delete("/api/v1/roles/analyst").status_code == 409
    assert admin.get("/api/v1/roles/nope").status_code == 404


def test_the_role_pages_create_and_edit_with_a_checkbox_per_permission(login, db):
    admin = login("admin", "adam")
    page = admin.get("/admin/roles").get_data(as_text=True)
    assert len(re.findall(r'name="permissions" value="', page)) == len(Permission)
    for p in Permission:
        assert p.description.replace("'", "&#39;") in page
    made = admin.post("/admin/roles", {"code": "legal", "name": "Legal", "description": "",
                                       "permissions": ["case.view"]})
    assert made.status_code == 302
    assert made.headers["Location"].endswith("/admin/roles/legal")
    edit = admin.get("/admin/roles/legal").get_data(as_text=True)
    assert 'value="case.view" checked' in edit
    saved = admin.post("/admin/roles/legal", {"name": "Legal team", "description": "Counsel",
                                              "permissions": ["case.view", "indicator.export"]})
    assert saved.status_code == 302
    with db.transaction() as s:
        from casemgr.auth.actor import Actor
        assert roles.get_role(s, Actor.system(), "legal").permission_names == ["case.view", "indicator.export"]
    bad = admin.post("/admin/roles/legal", {"name": "Legal", "permissions": ["case.view", "case.smash"]})
    assert bad.status_code == 422
    assert 'data-field="permissions"' in bad.get_data(as_text=True)
    assert "Legal team" in admin.get("/admin/roles").get_data(as_text=True)  # nothing half-written
    users = admin.get("/admin/users").get_data(as_text=True)
    assert '<option value="legal"' in users
    assert admin.post("/admin/roles/legal/delete", {}).status_code == 302
    assert admin.get("/admin/roles/legal").status_code == 404


def test_a_built_in_role_page_is_read_only(login):
    admin = login("admin", "adam")
    page = admin.get("/admin/roles/analyst").get_data(as_text=True)
    assert 'data-testid="role-built-in"' in page
    assert 'data-testid="role-form"' not in page


def test_the_cli_defines_changes_lists_and_deletes_roles(run_cli, make_user, db):
    assert run_cli("role", "create", "tier-1", "--name", "Tier-1 analyst", *[
        a for p in TIER1 for a in ("--permission", p)]).exit_code == 0
    assert "tier-1" in run_cli("role", "list").output
    assert run_cli("role", "update", "tier-1", "--grant", "case.close", "--revoke", "evidence.handle").exit_code == 0
    shown = run_cli("role", "show", "tier-1").output
    assert "case.close" in shown
    assert "evidence.handle" not in shown
    bad = run_cli("role", "update", "tier-1", "--grant", "case.teleport")
    assert bad.exit_code == 1
    assert "permissions" in bad.output
    make_user("analyst", "ann")
    assert run_cli("user", "set-role", "ann", "tier-1").output == "ann now has the role tier-1\n"
    in_use = run_cli("role", "delete", "tier-1")
    assert in_use.exit_code == 1
    assert "1 account(s)" in in_use.output
    assert run_cli("user", "set-role", "ann", "analyst").exit_code == 0
    assert run_cli("role", "delete", "tier-1").output == "deleted role tier-1\n"
    assert run_cli("role", "delete", "admin").exit_code == 1


# ---------------------------------------------------------------- the second-factor policy by role code

def test_the_mfa_policy_names_custom_roles(api, login, tier1):
    admin = api("admin", "adam")
    saved = admin.put("/api/v1/settings/mfa", json={"required_roles": ["tier-1"]})
    assert (saved.status_code, saved.get_json()) == (200, {"required_roles": ["tier-1"]})
    web = login(tier1, "tess")
    assert web.get("/").headers["Location"].endswith("/login/mfa")  # a second factor first, then the rest
    unknown = admin.put("/api/v1/settings/mfa", json={"required_roles": ["tier-7"]})
    assert (unknown.status_code, unknown.get_json()["error"]["field"]) == (422, "required_roles")
    admin.put("/api/v1/settings/mfa", json={"required_roles": []})


def test_lists_of_accounts_by_permission_count_custom_roles(db, system, make_user, tier1, legal):
    """Who may own a case (case.edit) is asked of every role, custom ones included."""
    from casemgr.cases import service as cases

    make_user(tier1, "tom")
    make_user(legal, "lena")
    make_user("analyst", "ann")
    with db.transaction() as s:
        names = [u.username for u in cases.assignable_users(s, system)]
    assert "tom" in names
    assert "ann" in names
    assert "lena" not in names


def test_a_stored_name_the_registry_no_longer_holds_grants_nothing():
    from casemgr.auth import permissions

    assert permissions.from_names(["case.view", "case.retired_long_ago"]) == frozenset({Permission.CASE_VIEW})
